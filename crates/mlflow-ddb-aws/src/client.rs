//! SDK clients built once, from the standard AWS environment.
//!
//! Endpoint: `AWS_ENDPOINT_URL` (and the service-specific
//! `AWS_ENDPOINT_URL_DYNAMODB`, `..._DYNAMODB_STREAMS`, `..._SQS`, and
//! profile `endpoint_url`) are honoured natively by `aws-config`; the
//! integration tests run against moto through exactly that variable.
//! Region: the standard chain; when an endpoint is configured and no region
//! is found, `us-east-1` (emulators accept any region, the SDK needs one).
//!
//! Retries: one layer. The SDK's own retries are **off**
//! ([`RetryConfig::disabled`]); every request goes out through the
//! service's [`Gate`] (module [`retry`](crate::retry)): one attempt budget
//! per logical request (partial successes included), exponential backoff
//! with full jitter, bounded by the invocation's deadline, and an adaptive
//! limit on requests in flight. Persistent trouble surfaces as an
//! [`AwsError`](crate::AwsError) classified `Transient`, and the function
//! reports it (cuts the batch, fails the invocation): nothing above the
//! adapter retries a request.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::retry::{Gate, GateOptions};
use crate::AwsError;

/// Region used when an endpoint is configured but no region is.
pub const DEFAULT_EMULATOR_REGION: &str = "us-east-1";

/// How the SDK clients retry and time out.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The retry budget and in-flight limits of every request (one
    /// [`Gate`] per service, built from these).
    pub gate: GateOptions,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one attempt of a DynamoDB or DynamoDB Streams request.
    pub attempt_timeout: Duration,
    /// Timeout of one attempt of an SQS request; longer than the 20 s long poll.
    pub sqs_attempt_timeout: Duration,
    /// Send every request here instead of the configured endpoint (tests: the
    /// fault proxy; a dead port).
    pub endpoint_url: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            gate: GateOptions::default(),
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            sqs_attempt_timeout: Duration::from_secs(25),
            endpoint_url: None,
        }
    }
}

impl ClientOptions {
    /// The SDK's own retries: none (the [`Gate`] is the one retry layer).
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig::disabled()
    }

    pub(crate) fn timeout_config(&self, attempt: Duration) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(attempt)
            .build()
    }
}

/// The three service clients, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ddb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Where every request of each service goes out (retry budget,
    /// backoff, in-flight limit), shared by every store and reader built
    /// from these clients.
    pub ddb_gate: Gate,
    pub streams_gate: Gate,
    pub sqs_gate: Gate,
    endpoint_url: Option<String>,
    region: String,
}

impl Clients {
    /// Load the standard environment (`aws_config::defaults`) and build the
    /// clients. Call once per process (Lambda init), never per event.
    pub async fn from_env(opts: &ClientOptions) -> Result<Self, AwsError> {
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(opts.retry_config())
            .load()
            .await;
        Self::from_sdk_config(conf, opts)
    }

    /// Build the clients from an already loaded configuration, applying the
    /// options (retry, timeouts, endpoint override) and the region default.
    pub fn from_sdk_config(conf: SdkConfig, opts: &ClientOptions) -> Result<Self, AwsError> {
        let mut builder = conf.into_builder();
        builder.set_retry_config(Some(opts.retry_config()));
        if let Some(url) = &opts.endpoint_url {
            builder.set_endpoint_url(Some(url.clone()));
        }
        let conf = builder.build();
        let conf = with_region_default(conf);
        let region = conf
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| {
                AwsError::Config(
                    "no region: set AWS_REGION (or AWS_ENDPOINT_URL for a local endpoint)".into(),
                )
            })?;
        let endpoint_url = conf.endpoint_url().map(str::to_owned);

        // The override is set on each service config too: an endpoint that
        // came from the environment is otherwise re-resolved per service
        // (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL) and would win.
        let over = &opts.endpoint_url;
        let mut ddb = aws_sdk_dynamodb::config::Builder::from(&conf)
            .timeout_config(opts.timeout_config(opts.attempt_timeout));
        if over.is_some() {
            ddb.set_endpoint_url(over.clone());
        }
        let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&conf)
            .timeout_config(opts.timeout_config(opts.attempt_timeout));
        if over.is_some() {
            streams.set_endpoint_url(over.clone());
        }
        let mut sqs = aws_sdk_sqs::config::Builder::from(&conf)
            .timeout_config(opts.timeout_config(opts.sqs_attempt_timeout));
        if over.is_some() {
            sqs.set_endpoint_url(over.clone());
        }
        let (ddb, streams, sqs) = (ddb.build(), streams.build(), sqs.build());
        Ok(Self {
            ddb: aws_sdk_dynamodb::Client::from_conf(ddb),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            ddb_gate: Gate::new(GateOptions {
                slow_after: opts.attempt_timeout / 2,
                ..opts.gate
            }),
            streams_gate: Gate::new(GateOptions {
                slow_after: opts.attempt_timeout / 2,
                ..opts.gate
            }),
            // A long poll waits up to 20 s by design: never "slow", and
            // its latency says nothing about a queue.
            sqs_gate: Gate::new(GateOptions {
                slow_after: opts.sqs_attempt_timeout,
                latency_signal: false,
                ..opts.gate
            }),
            endpoint_url,
            region,
        })
    }

    /// The endpoint every client was pointed at, when one was configured
    /// (`AWS_ENDPOINT_URL` or [`ClientOptions::endpoint_url`]); `None` on AWS.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// The region the clients sign for.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// `us-east-1` when an endpoint is set and no region is; otherwise unchanged.
pub fn with_region_default(conf: SdkConfig) -> SdkConfig {
    if conf.region().is_none() && conf.endpoint_url().is_some() {
        conf.into_builder()
            .region(Region::new(DEFAULT_EMULATOR_REGION))
            .build()
    } else {
        conf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(region: Option<&'static str>, endpoint: Option<&str>, expected: Option<&str>) {
        let mut b = SdkConfig::builder().behavior_version(BehaviorVersion::latest());
        b.set_region(region.map(Region::new));
        b.set_endpoint_url(endpoint.map(str::to_owned));
        let conf = with_region_default(b.build());
        assert_eq!(
            conf.region().map(|r| r.as_ref()),
            expected,
            "{region:?} {endpoint:?}"
        );
    }

    #[test]
    fn region_defaults_only_for_an_endpoint() {
        check(None, Some("http://127.0.0.1:1"), Some("us-east-1"));
        check(
            Some("eu-west-1"),
            Some("http://127.0.0.1:1"),
            Some("eu-west-1"),
        );
        check(Some("eu-west-1"), None, Some("eu-west-1"));
        check(None, None, None);
    }

    #[test]
    fn no_region_on_aws_is_a_config_error() {
        let conf = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let err = Clients::from_sdk_config(conf, &ClientOptions::default()).unwrap_err();
        assert!(matches!(err, AwsError::Config(_)), "{err}");
    }

    #[test]
    fn options_reach_the_clients() {
        let conf = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        let mut opts = ClientOptions {
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..ClientOptions::default()
        };
        opts.gate.retry.max_attempts = 5;
        let c = Clients::from_sdk_config(conf, &opts).unwrap();
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:9"));
        assert_eq!(c.region(), "eu-west-1");
        let rc = c.ddb.config().retry_config().unwrap();
        assert_eq!(
            rc.max_attempts(),
            1,
            "the SDK does not retry: the gate does"
        );
        assert_eq!(c.ddb_gate.policy().max_attempts, 5);
        let tc = c.sqs.config().timeout_config().unwrap();
        assert_eq!(
            tc.operation_attempt_timeout(),
            Some(Duration::from_secs(25))
        );
    }
}
