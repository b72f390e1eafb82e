//! Table administration: create a table like the reference's CloudFormation
//! template, enable its stream, describe it.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, PointInTimeRecoverySpecification, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use tokio::time::{sleep, Instant};

use crate::AwsError;
use mlflow_ddb_core::format::{FormatEvidence, DEFAULT_WORKSPACE, GSI2_FTS_NAMES_PREFIX, GSI2_PK};

/// A control-plane request through the control gate (the one retry policy).
macro_rules! control {
    ($op:expr, $req:expr $(,)?) => {
        crate::gated!(crate::retry::control_gate(), $op, None, $req)
    };
}

/// How long [`create_table`] and [`enable_stream`] wait for a table to
/// become ACTIVE (a table with 5 GSIs can take minutes on AWS).
pub const ACTIVE_WAIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(5);

/// Name of the TTL attribute of the reference table.
pub const TTL_ATTRIBUTE: &str = "ttl";

/// What [`describe_table`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub name: String,
    /// `ACTIVE`, `CREATING`, `UPDATING`...
    pub status: String,
    /// DynamoDB's approximate item count (refreshed about every 6 hours on AWS).
    pub item_count: i64,
    /// Whether a stream is enabled now.
    pub stream_enabled: bool,
    /// The current stream's ARN (`None` when no stream is enabled).
    pub stream_arn: Option<String>,
    /// `NEW_AND_OLD_IMAGES`, `KEYS_ONLY`... when a stream is enabled.
    pub stream_view_type: Option<String>,
    /// TTL attribute, when TTL is enabled or being enabled.
    pub ttl_attribute: Option<String>,
    /// `ENABLED`, `ENABLING`, `DISABLED`, `DISABLING`.
    pub ttl_status: Option<String>,
    /// Declared attribute types (`PK` → `S`, `lsi2sk` → `S` or `N`...).
    pub attribute_types: BTreeMap<String, String>,
    /// LSI and GSI names, sorted.
    pub indexes: Vec<String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: Option<String>,
}

/// The table formats the reference template comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    V01,
    Main,
}

impl Layout {
    fn parse(format: &str) -> Option<Self> {
        match format {
            "v0.1" => Some(Layout::V01),
            "main" => Some(Layout::Main),
            _ => None,
        }
    }

    /// Declared type of a secondary key attribute: `main` stores `lsi2sk` as
    /// a Number (timestamps), everything else is a String.
    fn type_of(self, attr: &str) -> ScalarAttributeType {
        if self == Layout::Main && attr == "lsi2sk" {
            ScalarAttributeType::N
        } else {
            ScalarAttributeType::S
        }
    }
}

fn build_err(op: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError::Invalid {
        op,
        key: None,
        reason: e.to_string(),
    }
}

fn key(name: &str, kt: KeyType) -> Result<KeySchemaElement, AwsError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kt)
        .build()
        .map_err(|e| build_err("CreateTable", e))
}

/// Create `name` as the reference's CloudFormation template does for
/// `format` (`"v0.1"` or `"main"`): key `PK`/`SK` (S), LSIs `lsi1..5` on
/// (`PK`, `lsiNsk`), GSIs `gsi1..5` on (`gsiNpk`, `gsiNsk`), projections ALL,
/// on-demand billing; then TTL on `ttl` and point-in-time recovery. With
/// `stream`, also a `NEW_AND_OLD_IMAGES` stream (the reference has none).
/// Waits until the table is ACTIVE. Seed items are not written: that is the
/// store's business, not the adapter's.
pub async fn create_table(
    client: &Client,
    name: &str,
    format: &str,
    stream: bool,
) -> Result<TableSummary, AwsError> {
    let layout = Layout::parse(format).ok_or_else(|| AwsError::Table {
        op: "CreateTable",
        table: name.to_owned(),
        reason: format!("unknown table format {format:?} (expected \"v0.1\" or \"main\")"),
    })?;
    let mut attrs = vec![
        ("PK".to_owned(), ScalarAttributeType::S),
        ("SK".to_owned(), ScalarAttributeType::S),
    ];
    for i in 1..=5 {
        let a = format!("lsi{i}sk");
        let t = layout.type_of(&a);
        attrs.push((a, t));
    }
    for i in 1..=5 {
        attrs.push((format!("gsi{i}pk"), ScalarAttributeType::S));
        attrs.push((format!("gsi{i}sk"), ScalarAttributeType::S));
    }
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?);
    for (a, t) in attrs {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(t)
                .build()
                .map_err(|e| build_err("CreateTable", e))?,
        );
    }
    let all = || {
        Projection::builder()
            .projection_type(ProjectionType::All)
            .build()
    };
    for i in 1..=5 {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(format!("lsi{i}"))
                .key_schema(key("PK", KeyType::Hash)?)
                .key_schema(key(&format!("lsi{i}sk"), KeyType::Range)?)
                .projection(all())
                .build()
                .map_err(|e| build_err("CreateTable", e))?,
        );
    }
    for i in 1..=5 {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(format!("gsi{i}"))
                .key_schema(key(&format!("gsi{i}pk"), KeyType::Hash)?)
                .key_schema(key(&format!("gsi{i}sk"), KeyType::Range)?)
                .projection(all())
                .build()
                .map_err(|e| build_err("CreateTable", e))?,
        );
    }
    if stream {
        req = req.stream_specification(new_and_old_images()?);
    }
    crate::gated!(crate::retry::control_gate(), "CreateTable", None, req)?;
    wait_for(client, name, "ACTIVE", |s| s.status == "ACTIVE").await?;

    control!(
        "UpdateTimeToLive",
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(|e| build_err("UpdateTimeToLive", e))?,
            )
    )?;

    enable_pitr(client, name).await?;
    describe_table(client, name).await
}

fn new_and_old_images() -> Result<StreamSpecification, AwsError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(|e| build_err("UpdateTable", e))
}

/// Point-in-time recovery on. AWS refuses it for a short while after
/// creation (`ContinuousBackupsUnavailableException`): polled.
async fn enable_pitr(client: &Client, name: &str) -> Result<(), AwsError> {
    let start = Instant::now();
    let mut delay = POLL;
    loop {
        let res = control!(
            "UpdateContinuousBackups",
            client
                .update_continuous_backups()
                .table_name(name)
                .point_in_time_recovery_specification(
                    PointInTimeRecoverySpecification::builder()
                        .point_in_time_recovery_enabled(true)
                        .build()
                        .map_err(|e| build_err("UpdateContinuousBackups", e))?,
                )
        );
        match res {
            Ok(_) => return Ok(()),
            Err(e) => {
                if !e.has_code("ContinuousBackupsUnavailableException")
                    || start.elapsed() > ACTIVE_WAIT
                {
                    return Err(e);
                }
            }
        }
        sleep(delay).await;
        delay = (delay * 2).min(POLL_MAX);
    }
}

/// Whether point-in-time recovery is enabled.
pub async fn point_in_time_recovery(client: &Client, name: &str) -> Result<bool, AwsError> {
    let out = control!(
        "DescribeContinuousBackups",
        client.describe_continuous_backups().table_name(name)
    )?;
    Ok(out
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        .is_some_and(|s| s.as_str() == "ENABLED"))
}

/// Make sure `name` has a `NEW_AND_OLD_IMAGES` stream and return its ARN.
/// Idempotent: an existing stream of that view type is kept. A stream of
/// another view type is an error (it cannot be changed in place: disable,
/// wait, re-enable, which loses the old stream's records — a human decision).
pub async fn enable_stream(client: &Client, name: &str) -> Result<String, AwsError> {
    let s = wait_for(client, name, "ACTIVE", |s| s.status == "ACTIVE").await?;
    if s.stream_enabled {
        return match (s.stream_view_type.as_deref(), s.stream_arn) {
            (Some("NEW_AND_OLD_IMAGES"), Some(arn)) => Ok(arn),
            (view, _) => Err(AwsError::Table {
                op: "UpdateTable",
                table: name.to_owned(),
                reason: format!(
                    "stream enabled with view type {}; NEW_AND_OLD_IMAGES is needed (disable the stream first)",
                    view.unwrap_or("?")
                ),
            }),
        };
    }
    control!(
        "UpdateTable",
        client
            .update_table()
            .table_name(name)
            .stream_specification(new_and_old_images()?)
    )?;
    let s = wait_for(client, name, "ACTIVE with a stream", |s| {
        s.status == "ACTIVE" && s.stream_enabled && s.stream_arn.is_some()
    })
    .await?;
    s.stream_arn.ok_or_else(|| AwsError::Table {
        op: "UpdateTable",
        table: name.to_owned(),
        reason: "no stream ARN after enabling the stream".into(),
    })
}

/// DescribeTable + DescribeTimeToLive, summarized.
pub async fn describe_table(client: &Client, name: &str) -> Result<TableSummary, AwsError> {
    let out = control!("DescribeTable", client.describe_table().table_name(name))?;
    let t = out.table.ok_or_else(|| AwsError::Table {
        op: "DescribeTable",
        table: name.to_owned(),
        reason: "no table description in the answer".into(),
    })?;
    let ttl = control!(
        "DescribeTimeToLive",
        client.describe_time_to_live().table_name(name)
    )?
    .time_to_live_description;
    let stream_enabled = t
        .stream_specification
        .as_ref()
        .is_some_and(|s| s.stream_enabled);
    let mut indexes: Vec<String> = t
        .local_secondary_indexes
        .iter()
        .flatten()
        .filter_map(|i| i.index_name.clone())
        .chain(
            t.global_secondary_indexes
                .iter()
                .flatten()
                .filter_map(|i| i.index_name.clone()),
        )
        .collect();
    indexes.sort();
    let ttl_status = ttl
        .as_ref()
        .and_then(|d| d.time_to_live_status.as_ref())
        .map(|s| s.as_str().to_owned());
    Ok(TableSummary {
        name: name.to_owned(),
        status: t.table_status.as_ref().map_or_else(
            || "UNKNOWN".to_owned(),
            |s: &TableStatus| s.as_str().to_owned(),
        ),
        item_count: t.item_count.unwrap_or(0),
        stream_enabled,
        stream_arn: if stream_enabled {
            t.latest_stream_arn.clone()
        } else {
            None
        },
        stream_view_type: if stream_enabled {
            t.stream_specification
                .as_ref()
                .and_then(|s| s.stream_view_type.as_ref())
                .map(|v| v.as_str().to_owned())
        } else {
            None
        },
        ttl_attribute: ttl.and_then(|d| d.attribute_name),
        ttl_status,
        attribute_types: t
            .attribute_definitions
            .iter()
            .flatten()
            .map(|a| {
                (
                    a.attribute_name.clone(),
                    a.attribute_type.as_str().to_owned(),
                )
            })
            .collect(),
        indexes,
        billing_mode: t
            .billing_mode_summary
            .and_then(|b| b.billing_mode)
            .map(|b| b.as_str().to_owned()),
    })
}

/// How many forward FTS keys [`format_evidence`] samples.
pub use mlflow_ddb_ports::FORMAT_SAMPLE;

/// What `name` shows of its format: the declared type of `lsi2sk`
/// (DescribeTable, the one call every function's role may make besides its
/// data calls) and up to [`FORMAT_SAMPLE`] forward FTS keys of experiment
/// and model names (one Query of `gsi2` for the default workspace, keys
/// only). The schema decides; a sample that fails (no permission on the
/// index, a table without `gsi2`) is logged and left empty.
pub async fn format_evidence(client: &Client, name: &str) -> Result<FormatEvidence, AwsError> {
    let out = control!("DescribeTable", client.describe_table().table_name(name))?;
    let lsi2sk_type = out
        .table
        .iter()
        .flat_map(|t| t.attribute_definitions.iter().flatten())
        .find(|a| a.attribute_name == "lsi2sk")
        .map(|a| a.attribute_type.as_str().to_owned());
    let sample = control!(
        "Query",
        client
            .query()
            .table_name(name)
            .index_name("gsi2")
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", GSI2_PK)
            .expression_attribute_names("#sk", "SK")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "{GSI2_FTS_NAMES_PREFIX}{DEFAULT_WORKSPACE}"
                )),
            )
            .projection_expression("#sk")
            .limit(FORMAT_SAMPLE)
    );
    let forward_sks = match sample {
        Ok(out) => out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| match i.remove("SK") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) => Some(sk),
                _ => None,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(table = %name, error = %e, "format detection: no FTS key sample; the schema decides");
            Vec::new()
        }
    };
    Ok(FormatEvidence {
        lsi2sk_type,
        forward_sks,
    })
}

/// Poll [`describe_table`] until `done`, backing off from 100 ms to 5 s.
async fn wait_for(
    client: &Client,
    name: &str,
    what: &'static str,
    done: impl Fn(&TableSummary) -> bool,
) -> Result<TableSummary, AwsError> {
    let start = Instant::now();
    let mut delay = POLL;
    loop {
        let s = describe_table(client, name).await?;
        if done(&s) {
            return Ok(s);
        }
        if start.elapsed() > ACTIVE_WAIT {
            return Err(AwsError::WaitTimeout {
                op: "DescribeTable",
                table: name.to_owned(),
                what,
                waited_ms: start.elapsed().as_millis(),
            });
        }
        sleep(delay).await;
        delay = (delay * 2).min(POLL_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_differ_only_in_lsi2sk() {
        for attr in ["lsi1sk", "lsi3sk", "gsi2pk", "gsi5sk"] {
            assert_eq!(
                Layout::V01.type_of(attr),
                Layout::Main.type_of(attr),
                "{attr}"
            );
        }
        assert_eq!(Layout::V01.type_of("lsi2sk"), ScalarAttributeType::S);
        assert_eq!(Layout::Main.type_of("lsi2sk"), ScalarAttributeType::N);
        assert_eq!(Layout::parse("v0.2"), None);
    }
}
