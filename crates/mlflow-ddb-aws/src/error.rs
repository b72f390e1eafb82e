//! SDK errors into the ports' error ([`AwsError`], defined with its
//! classification in `mlflow-ddb-ports`, which names no SDK type): the one
//! place the adapter reads an `SdkError`.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use mlflow_ddb_core::item::ItemKey;

pub use mlflow_ddb_ports::error::*;

/// An error from any SDK operation of the three services (the gate's, and
/// callers that make an SDK call of their own, e.g. preflight checks).
pub fn from_sdk<E>(
    op: &'static str,
    key: Option<ItemKey>,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let failure = match &err {
        // No error code: the body was not an AWS error shape at all
        // (truncated, HTML from a proxy...): an unreadable response.
        SdkError::ServiceError(se) => match se.err().code() {
            Some(code) => Failure::Service {
                code: code.to_owned(),
                message: se.err().message().unwrap_or_default().to_owned(),
                status: Some(se.raw().status().as_u16()),
            },
            None => Failure::Response {
                status: se.raw().status().as_u16(),
            },
        },
        SdkError::TimeoutError(_) => Failure::Timeout,
        SdkError::DispatchFailure(d) => Failure::Dispatch {
            kind: if d.is_io() {
                DispatchKind::Io
            } else if d.is_timeout() {
                DispatchKind::Timeout
            } else if d.is_user() {
                DispatchKind::User
            } else {
                DispatchKind::Other
            },
        },
        SdkError::ResponseError(r) => Failure::Response {
            status: r.raw().status().as_u16(),
        },
        SdkError::ConstructionFailure(_) => Failure::Construction,
        _ => Failure::Dispatch {
            kind: DispatchKind::Other,
        },
    };
    AwsError::Request {
        op,
        key,
        failure: Box::new(failure),
        // Only the inner error: the raw HTTP response (kept by
        // SdkError) may hold a body with attribute values.
        source: Some(err.into_source().unwrap_or_else(|e| Box::new(e))),
    }
}
