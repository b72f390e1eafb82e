//! Lambda event source mappings, read-only (feature `lambda-admin`).
//!
//! Only the preflight tool needs this (does a mapping from the table's
//! stream to the materializer exist?), so the Lambda SDK is an optional
//! dependency that no function binary compiles in.

use crate::{AwsError, ClientOptions};

/// What preflight needs to know of one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceMapping {
    pub uuid: String,
    /// The function's ARN.
    pub function_arn: String,
    /// The stream (or queue) ARN the mapping reads.
    pub event_source_arn: String,
    /// `Enabled`, `Creating`, `Enabling`, `Disabled`, `Updating`...
    pub state: String,
}

/// A Lambda client used only to list event source mappings.
#[derive(Debug, Clone)]
pub struct Mappings {
    client: aws_sdk_lambda::Client,
}

impl Mappings {
    /// From the standard AWS environment (`AWS_ENDPOINT_URL` honoured), with
    /// the timeout settings of `opts`, like [`crate::Clients`]; requests go
    /// through the control-plane [`Gate`](crate::Gate) (the one retry policy).
    pub async fn from_env(opts: &ClientOptions) -> Result<Self, AwsError> {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(opts.retry_config())
            .load()
            .await;
        let mut builder = conf.into_builder();
        if let Some(url) = &opts.endpoint_url {
            builder.set_endpoint_url(Some(url.clone()));
        }
        let conf = crate::client::with_region_default(builder.build());
        if conf.region().is_none() {
            return Err(AwsError::Config(
                "no region: set AWS_REGION (or AWS_ENDPOINT_URL for a local endpoint)".into(),
            ));
        }
        let mut lambda = aws_sdk_lambda::config::Builder::from(&conf)
            .timeout_config(opts.timeout_config(opts.attempt_timeout));
        if opts.endpoint_url.is_some() {
            lambda.set_endpoint_url(opts.endpoint_url.clone());
        }
        Ok(Self {
            client: aws_sdk_lambda::Client::from_conf(lambda.build()),
        })
    }

    /// Every mapping that reads `event_source_arn`, optionally only those of
    /// `function` (a name or ARN), all pages.
    pub async fn list(
        &self,
        event_source_arn: &str,
        function: Option<&str>,
    ) -> Result<Vec<EventSourceMapping>, AwsError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = crate::gated!(
                crate::retry::control_gate(),
                "ListEventSourceMappings",
                None,
                self.client
                    .list_event_source_mappings()
                    .event_source_arn(event_source_arn)
                    .set_function_name(function.map(str::to_owned))
                    .set_marker(marker.take())
            )?;
            for m in page.event_source_mappings.unwrap_or_default() {
                out.push(EventSourceMapping {
                    uuid: m.uuid.unwrap_or_default(),
                    function_arn: m.function_arn.unwrap_or_default(),
                    event_source_arn: m.event_source_arn.unwrap_or_default(),
                    state: m.state.unwrap_or_default(),
                });
            }
            match page.next_marker {
                Some(next) if !next.is_empty() => marker = Some(next),
                _ => return Ok(out),
            }
        }
    }
}
