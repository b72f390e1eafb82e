//! The crate's one error type, and the one place that decides whether an
//! error is worth retrying ([`classify`]).

use std::error::Error as StdError;
use std::fmt;

use mlflow_ddb_core::item::ItemKey;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Every failure of the adapter. Carries the AWS operation and, when known,
/// the item key it is about; never an attribute value.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// A request failed: the service answered with an error, or the request
    /// never got an answer (connect refused, timeout, unreadable response).
    #[error("{op}{}: {failure}", At(.key))]
    Request {
        op: &'static str,
        key: Option<ItemKey>,
        /// Boxed to keep `Result<_, AwsError>` small.
        failure: Box<Failure>,
        #[source]
        source: Option<BoxError>,
    },
    /// Items or keys still unprocessed (or statements still throttled) when
    /// the retry budget ran out.
    #[error("{op}: {remaining} of {total} still unprocessed after {attempts} attempts{}", At(.first_key))]
    RetriesExhausted {
        op: &'static str,
        remaining: usize,
        total: usize,
        attempts: u32,
        first_key: Option<ItemKey>,
    },
    /// The service returned an attribute of a type this SDK cannot name.
    #[error("{op}{}: attribute {path} has a type unknown to the SDK", At(.key))]
    UnknownType {
        op: &'static str,
        key: Option<ItemKey>,
        path: String,
    },
    /// The caller asked for something the adapter refuses before sending
    /// (an item without string `PK`/`SK`, two different writes of one key...).
    #[error("{op}{}: {reason}", At(.key))]
    Invalid {
        op: &'static str,
        key: Option<ItemKey>,
        reason: String,
    },
    /// Client configuration could not be completed (no region, no endpoint).
    #[error("AWS client configuration: {0}")]
    Config(String),
    /// A table or stream did not reach the wanted state in time.
    #[error("{op} {table}: {what} not reached within {waited_ms} ms")]
    WaitTimeout {
        op: &'static str,
        table: String,
        what: &'static str,
        waited_ms: u128,
    },
    /// A table exists but cannot be used as asked (e.g. its stream has
    /// another view type, which cannot be changed in place).
    #[error("{op} {table}: {reason}")]
    Table {
        op: &'static str,
        table: String,
        reason: String,
    },
}

/// What went wrong with one request, without the request's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The service answered with an error shape.
    Service {
        /// Error code (`ProvisionedThroughputExceededException`,
        /// `ValidationException`, `AWS.SimpleQueueService.NonExistentQueue`,
        /// or a BatchExecuteStatement code such as `ConditionalCheckFailed`).
        code: String,
        message: String,
        /// HTTP status, when there was an HTTP response.
        status: Option<u16>,
    },
    /// The attempt (or the whole operation) timed out in the SDK.
    Timeout,
    /// The request could not be sent or its answer not received.
    Dispatch { kind: DispatchKind },
    /// An answer came but could not be read as the operation's response.
    Response { status: u16 },
    /// The SDK could not build the request.
    Construction,
}

/// The connector's own kind of dispatch failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchKind {
    /// Connect refused, reset, closed early.
    Io,
    Timeout,
    /// A user/configuration error (bad endpoint URL, TLS config...).
    User,
    Other,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Service {
                code,
                message,
                status,
            } => {
                write!(f, "{code}")?;
                if let Some(s) = status {
                    write!(f, " (HTTP {s})")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Failure::Timeout => f.write_str("timed out"),
            Failure::Dispatch { kind } => write!(f, "dispatch failure ({kind:?})"),
            Failure::Response { status } => write!(f, "unreadable response (HTTP {status})"),
            Failure::Construction => f.write_str("request could not be built"),
        }
    }
}

struct At<'a>(&'a Option<ItemKey>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(k) => write!(f, " [{k}]"),
            None => Ok(()),
        }
    }
}

/// Whether retrying the same request later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, connection trouble: retry later.
    Transient,
    /// The request itself is wrong or cannot succeed (validation, missing
    /// table, access denied, item too large): a retry fails the same way.
    Permanent,
}

/// A class and a short reason, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub class: ErrorClass,
    pub reason: &'static str,
}

impl Classification {
    fn transient(reason: &'static str) -> Self {
        Self {
            class: ErrorClass::Transient,
            reason,
        }
    }
    fn permanent(reason: &'static str) -> Self {
        Self {
            class: ErrorClass::Permanent,
            reason,
        }
    }
    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }
}

/// Service error codes that mean "too fast, slow down", across DynamoDB,
/// DynamoDB Streams, SQS and BatchExecuteStatement's per-statement codes.
const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ProvisionedThroughputExceeded",
    "ThrottlingException",
    "ThrottlingError",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "AWS.SimpleQueueService.RequestThrottled",
    "KmsThrottled",
    "KMS.ThrottlingException",
];

/// Server-side trouble and races that clear by themselves.
const SERVER: &[&str] = &[
    "InternalServerError",
    "InternalServerErrorException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionConflict",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ReplicatedWriteConflictException",
    "OverLimit",
    "ExpiredTokenException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Decide whether an error is worth retrying. Pure: a function of the error
/// value only. Every error of the adapter goes through here, whatever the
/// service, so retry policy lives in one place.
pub fn classify(err: &AwsError) -> Classification {
    match err {
        AwsError::Request { failure, .. } => classify_failure(failure.as_ref()),
        AwsError::RetriesExhausted { .. } => Classification::transient("retry budget exhausted"),
        AwsError::UnknownType { .. } => {
            Classification::permanent("attribute type unknown to the SDK")
        }
        AwsError::Invalid { .. } => Classification::permanent("invalid request"),
        AwsError::Config(_) => Classification::permanent("client configuration"),
        AwsError::WaitTimeout { .. } => Classification::transient("state not reached in time"),
        AwsError::Table { .. } => Classification::permanent("table unusable as asked"),
    }
}

fn classify_failure(failure: &Failure) -> Classification {
    match failure {
        Failure::Timeout => Classification::transient("timeout"),
        Failure::Dispatch { kind } => match kind {
            DispatchKind::Io => Classification::transient("connection failure"),
            DispatchKind::Timeout => Classification::transient("connect/read timeout"),
            DispatchKind::Other => Classification::transient("dispatch failure"),
            DispatchKind::User => Classification::permanent("client misconfigured (dispatch)"),
        },
        Failure::Response { status } if *status < 500 && *status >= 400 => {
            Classification::permanent("unreadable 4xx response")
        }
        Failure::Response { .. } => Classification::transient("unreadable response"),
        Failure::Construction => Classification::permanent("request could not be built"),
        Failure::Service {
            code,
            message,
            status,
        } => classify_service(code, message, *status),
    }
}

fn classify_service(code: &str, message: &str, status: Option<u16>) -> Classification {
    if THROTTLING.contains(&code) {
        return Classification::transient("throttled");
    }
    if SERVER.contains(&code) {
        return Classification::transient("server-side error");
    }
    match code {
        "ConditionalCheckFailedException" | "ConditionalCheckFailed" => {
            return Classification::permanent("condition failed")
        }
        "ValidationException" | "ValidationError" => {
            // Item and request size limits come back as validation errors.
            let reason = if message.contains("size has exceeded")
                || message.contains("Item size")
                || message.contains("maximum allowed size")
            {
                "item too large"
            } else {
                "validation error"
            };
            return Classification::permanent(reason);
        }
        "ItemCollectionSizeLimitExceededException" | "ItemCollectionSizeLimitExceeded" => {
            return Classification::permanent("item collection over 10 GB (LSI limit)")
        }
        "ResourceNotFoundException"
        | "ResourceNotFound"
        | "QueueDoesNotExist"
        | "AWS.SimpleQueueService.NonExistentQueue" => {
            return Classification::permanent("resource not found")
        }
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken"
        | "IncompleteSignature"
        | "KMS.AccessDeniedException" => return Classification::permanent("access denied"),
        "ExpiredIteratorException" => {
            return Classification::permanent("shard iterator expired: get a new one")
        }
        "TrimmedDataAccessException" => {
            return Classification::permanent("stream records trimmed (older than 24 h)")
        }
        "SerializationException" | "InvalidParameterValue" | "InvalidAttributeValue" => {
            return Classification::permanent("malformed request")
        }
        _ => {}
    }
    match status {
        Some(s) if s >= 500 => Classification::transient("HTTP 5xx"),
        Some(429) => Classification::transient("HTTP 429"),
        _ => Classification::permanent("service error"),
    }
}

impl AwsError {
    /// [`classify`] of this error.
    pub fn classify(&self) -> Classification {
        classify(self)
    }

    /// Shorthand for `classify(self).class == Transient`.
    pub fn is_transient(&self) -> bool {
        classify(self).is_transient()
    }

    /// Whether the error says the endpoint is saturated (throttling, a
    /// timeout, 503): the [`Gate`](crate::Gate) halves its in-flight limit
    /// on these. A 500 or a refused connection is transient but says
    /// nothing about load.
    pub fn is_overload(&self) -> bool {
        match self.failure() {
            Some(Failure::Timeout)
            | Some(Failure::Dispatch {
                kind: DispatchKind::Timeout,
            }) => true,
            Some(Failure::Service { code, status, .. }) => {
                THROTTLING.contains(&code.as_str())
                    || *status == Some(503)
                    || *status == Some(429)
                    || code.starts_with("ServiceUnavailable")
            }
            _ => false,
        }
    }

    /// The service error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self.failure() {
            Some(Failure::Service { code, .. }) => Some(code),
            _ => None,
        }
    }

    /// DynamoDB refused a write because an index key attribute has the
    /// other type (`ValidationException`, "Type mismatch for Index Key"):
    /// the table under this name is not in the format we planned for.
    pub fn is_index_type_mismatch(&self) -> bool {
        matches!(self.failure(), Some(Failure::Service { code, message, .. })
            if code == "ValidationException" && message.contains("Type mismatch for Index Key"))
    }

    /// What went wrong with the request, for [`AwsError::Request`].
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            AwsError::Request { failure, .. } => Some(failure),
            _ => None,
        }
    }

    /// The item key the error is about, when known.
    pub fn key(&self) -> Option<&ItemKey> {
        match self {
            AwsError::Request { key, .. }
            | AwsError::UnknownType { key, .. }
            | AwsError::Invalid { key, .. } => key.as_ref(),
            AwsError::RetriesExhausted { first_key, .. } => first_key.as_ref(),
            _ => None,
        }
    }

    /// True for the service error `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    pub fn message(&self) -> Option<&str> {
        match self.failure() {
            Some(Failure::Service { message, .. }) => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, message: &str, status: u16) -> AwsError {
        AwsError::Request {
            op: "Test",
            key: None,
            failure: Box::new(Failure::Service {
                code: code.into(),
                message: message.into(),
                status: Some(status),
            }),
            source: None,
        }
    }

    fn check(err: AwsError, class: ErrorClass, reason: &str) {
        let c = classify(&err);
        assert_eq!((c.class, c.reason), (class, reason), "{err}");
    }

    #[test]
    fn classifies_service_errors() {
        use ErrorClass::*;
        let cases: &[(&str, &str, u16, ErrorClass, &str)] = &[
            (
                "ProvisionedThroughputExceededException",
                "slow",
                400,
                Transient,
                "throttled",
            ),
            (
                "ThrottlingException",
                "Rate exceeded",
                400,
                Transient,
                "throttled",
            ),
            ("RequestLimitExceeded", "", 400, Transient, "throttled"),
            ("ThrottlingError", "", 400, Transient, "throttled"),
            ("LimitExceededException", "", 400, Transient, "throttled"),
            (
                "AWS.SimpleQueueService.RequestThrottled",
                "",
                403,
                Transient,
                "throttled",
            ),
            (
                "InternalServerError",
                "",
                500,
                Transient,
                "server-side error",
            ),
            (
                "ServiceUnavailable",
                "",
                503,
                Transient,
                "server-side error",
            ),
            ("SomethingNew", "", 502, Transient, "HTTP 5xx"),
            ("SomethingNew", "", 429, Transient, "HTTP 429"),
            ("SomethingNew", "", 400, Permanent, "service error"),
            (
                "ValidationException",
                "Invalid UpdateExpression",
                400,
                Permanent,
                "validation error",
            ),
            (
                "ValidationError",
                "Number of parameters",
                400,
                Permanent,
                "validation error",
            ),
            (
                "ValidationException",
                "Item size has exceeded the maximum allowed size",
                400,
                Permanent,
                "item too large",
            ),
            (
                "ItemCollectionSizeLimitExceededException",
                "",
                400,
                Permanent,
                "item collection over 10 GB (LSI limit)",
            ),
            (
                "ResourceNotFoundException",
                "",
                400,
                Permanent,
                "resource not found",
            ),
            (
                "AWS.SimpleQueueService.NonExistentQueue",
                "",
                400,
                Permanent,
                "resource not found",
            ),
            ("AccessDeniedException", "", 400, Permanent, "access denied"),
            (
                "ConditionalCheckFailedException",
                "",
                400,
                Permanent,
                "condition failed",
            ),
            (
                "ExpiredIteratorException",
                "",
                400,
                Permanent,
                "shard iterator expired: get a new one",
            ),
        ];
        for (code, msg, status, class, reason) in cases {
            check(service(code, msg, *status), *class, reason);
        }
    }

    #[test]
    fn classifies_non_service_failures() {
        use ErrorClass::*;
        let req = |failure| AwsError::Request {
            op: "Test",
            key: None,
            failure: Box::new(failure),
            source: None,
        };
        check(req(Failure::Timeout), Transient, "timeout");
        check(
            req(Failure::Dispatch {
                kind: DispatchKind::Io,
            }),
            Transient,
            "connection failure",
        );
        check(
            req(Failure::Dispatch {
                kind: DispatchKind::User,
            }),
            Permanent,
            "client misconfigured (dispatch)",
        );
        check(
            req(Failure::Response { status: 502 }),
            Transient,
            "unreadable response",
        );
        check(
            req(Failure::Response { status: 404 }),
            Permanent,
            "unreadable 4xx response",
        );
        check(
            req(Failure::Construction),
            Permanent,
            "request could not be built",
        );
        check(
            AwsError::RetriesExhausted {
                op: "BatchWriteItem",
                remaining: 3,
                total: 30,
                attempts: 8,
                first_key: None,
            },
            Transient,
            "retry budget exhausted",
        );
        check(
            AwsError::Invalid {
                op: "BatchWriteItem",
                key: None,
                reason: "x".into(),
            },
            Permanent,
            "invalid request",
        );
    }

    #[test]
    fn display_names_op_and_key_but_no_values() {
        let err = AwsError::Request {
            op: "UpdateItem",
            key: Some(ItemKey::new("EXP#1", "E#META")),
            failure: Box::new(Failure::Service {
                code: "ValidationException".into(),
                message: "bad".into(),
                status: Some(400),
            }),
            source: None,
        };
        assert_eq!(
            err.to_string(),
            "UpdateItem [EXP#1/E#META]: ValidationException (HTTP 400): bad"
        );
    }
}
