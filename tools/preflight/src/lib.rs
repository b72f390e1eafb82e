//! Upgrade preflight for a table of the reference store.
//!
//! [`gather`] reads what the upgrade depends on (DescribeTable,
//! DescribeTimeToLive, DescribeContinuousBackups, the `CONFIG` items and,
//! when a function is named, Lambda's event source mappings on the table's
//! stream); [`assess`] turns those facts into a [`Report`], a pure function
//! tested on its own. [`enable_stream`] is the one write: the idempotent
//! "turn on a `NEW_AND_OLD_IMAGES` stream" step.
//!
//! The mapping check is opt-in (`--function`): the mapping is created by the
//! deploy that this preflight comes before, so requiring it would make every
//! pre-deploy check fail; after the deploy, naming the materializer checks
//! that its mapping reads the table's *current* stream (re-enabling a stream
//! gives it a new ARN, and an old mapping keeps reading the dead one).

use std::fmt;

use mlflow_ddb_aws::mappings::{EventSourceMapping, Mappings};
use mlflow_ddb_aws::table::{self, TableSummary, TTL_ATTRIBUTE};
use mlflow_ddb_aws::{AwsError, Clients, Store};
use mlflow_ddb_core::config::{
    Config, CONFIG_PK, DENORMALIZE_TAGS_SK, EXPERIMENT_DENORMALIZE_TAGS_PREFIX,
    FTS_TRIGRAM_FIELDS_SK, TTL_POLICY_SK,
};
use mlflow_ddb_core::format::{
    detect_format, Detection, FormatEvidence, FormatSetting, TableFormat,
};
use mlflow_ddb_core::item::{AttributeValue, Item, SK};
use serde::Serialize;

/// The stream view type the materializer needs (old images for tag deletes
/// and name changes).
pub const NEEDED_VIEW_TYPE: &str = "NEW_AND_OLD_IMAGES";

/// The CONFIG items the reference store seeds in every table it creates.
pub const SEEDED_CONFIG: [&str; 3] = [DENORMALIZE_TAGS_SK, TTL_POLICY_SK, FTS_TRIGRAM_FIELDS_SK];

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("table {table}: {source}")]
    Aws {
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("event source mappings of {stream_arn}: {source}")]
    Mappings {
        stream_arn: String,
        #[source]
        source: AwsError,
    },
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In place.
    Ok,
    /// Not blocking, but worth acting on (e.g. no point-in-time recovery).
    Warn,
    /// Not in place: the table is not ready for (or not upgraded to) v2.
    Fail,
    /// Not checked (the mapping check without `--function`).
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `table`, `stream`, `ttl`, `config`, `pitr`, `mapping`.
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// The command that fixes a `fail` or `warn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The whole preflight answer (`--json` prints it as is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub table: String,
    /// The current stream's ARN (what `--context table-stream-arn=` of the
    /// CDK app wants), when a stream is enabled.
    pub stream_arn: Option<String>,
    pub stream_view_type: Option<String>,
    /// The table's format (`v0.1`, `main`), when it could be told, and how.
    pub format: Option<TableFormat>,
    pub format_evidence: Option<String>,
    /// True when no check failed (warnings and skipped checks allowed).
    pub is_up_to_date: bool,
    pub checks: Vec<Check>,
}

/// The mapping facts, when a function was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFacts {
    pub function: String,
    /// Mappings of that function reading the current stream (empty when the
    /// table has no stream: nothing was listed).
    pub mappings: Vec<EventSourceMapping>,
}

/// Everything [`assess`] looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub summary: TableSummary,
    /// Point-in-time recovery on.
    pub pitr: bool,
    /// The items under `PK = CONFIG`.
    pub config_items: Vec<Item>,
    /// `None`: mapping check not asked for.
    pub mapping: Option<MappingFacts>,
    /// What `TABLE_FORMAT` says, and what the table shows of its format.
    pub format_setting: FormatSetting,
    pub format_evidence: FormatEvidence,
}

fn sk_of(item: &Item) -> Option<&str> {
    match item.get(SK) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// Mapping states that mean "it is, or is becoming, active".
const LIVE_STATES: [&str; 4] = ["Enabled", "Enabling", "Creating", "Updating"];

/// The report for `facts`. Pure.
pub fn assess(facts: &Facts) -> Report {
    let s = &facts.summary;
    let t = &s.name;
    let mut checks = Vec::new();

    checks.push(if s.status == "ACTIVE" {
        Check {
            name: "table",
            status: Status::Ok,
            detail: format!("ACTIVE, about {} items", s.item_count),
            fix: None,
        }
    } else {
        Check {
            name: "table",
            status: Status::Fail,
            detail: format!("status {}", s.status),
            fix: Some(format!(
                "wait until it is ACTIVE: aws dynamodb wait table-exists --table-name {t}"
            )),
        }
    });

    let view = s.stream_view_type.as_deref();
    checks.push(match (s.stream_enabled, view) {
        (true, Some(NEEDED_VIEW_TYPE)) => Check {
            name: "stream",
            status: Status::Ok,
            detail: format!(
                "{NEEDED_VIEW_TYPE}, {}",
                s.stream_arn.as_deref().unwrap_or("(no ARN yet)")
            ),
            fix: None,
        },
        (true, other) => Check {
            name: "stream",
            status: Status::Fail,
            detail: format!(
                "enabled with view type {}; {NEEDED_VIEW_TYPE} is needed",
                other.unwrap_or("?")
            ),
            fix: Some(format!(
                "a view type cannot be changed in place: aws dynamodb update-table --table-name {t} \
                 --stream-specification StreamEnabled=false, wait, then make enable-stream TABLE={t} \
                 (records of the old stream are lost; its consumers must move)"
            )),
        },
        (false, _) => Check {
            name: "stream",
            status: Status::Fail,
            detail: "no stream".into(),
            fix: Some(format!("make enable-stream TABLE={t}")),
        },
    });

    let ttl_on = matches!(s.ttl_status.as_deref(), Some("ENABLED"));
    let ttl_attr = s.ttl_attribute.as_deref();
    checks.push(if ttl_on && ttl_attr == Some(TTL_ATTRIBUTE) {
        Check {
            name: "ttl",
            status: Status::Ok,
            detail: format!("enabled on `{TTL_ATTRIBUTE}`"),
            fix: None,
        }
    } else {
        Check {
            name: "ttl",
            status: Status::Fail,
            detail: format!(
                "TTL {} on {}",
                s.ttl_status.as_deref().unwrap_or("DISABLED"),
                ttl_attr.map_or_else(|| "no attribute".to_owned(), |a| format!("`{a}`")),
            ),
            fix: Some(format!(
                "aws dynamodb update-time-to-live --table-name {t} \
                 --time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}"
            )),
        }
    });

    checks.push(config_check(t, &facts.config_items));

    checks.push(if facts.pitr {
        Check {
            name: "pitr",
            status: Status::Ok,
            detail: "point-in-time recovery enabled".into(),
            fix: None,
        }
    } else {
        Check {
            name: "pitr",
            status: Status::Warn,
            detail: "point-in-time recovery disabled: no restore point before the upgrade".into(),
            fix: Some(format!(
                "aws dynamodb update-continuous-backups --table-name {t} \
                 --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true \
                 (or aws dynamodb create-backup --table-name {t} --backup-name {t}-before-v2)"
            )),
        }
    });

    let detection = detect_format(facts.format_setting, t, &facts.format_evidence);
    checks.push(format_check(t, facts.format_setting, &detection));

    checks.push(match &facts.mapping {
        None => Check {
            name: "mapping",
            status: Status::Skipped,
            detail: "not checked (pass --function <materializer function> after the deploy)".into(),
            fix: None,
        },
        Some(m) => mapping_check(s, m),
    });

    Report {
        table: t.clone(),
        stream_arn: s.stream_arn.clone(),
        stream_view_type: s.stream_view_type.clone(),
        format: detection.as_ref().ok().map(|d| d.format),
        format_evidence: detection.as_ref().ok().map(|d| d.evidence.clone()),
        is_up_to_date: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    }
}

/// The table's format: which one, the evidence, and a refused setting or
/// leftovers of a wrong-format run.
fn format_check(
    table: &str,
    setting: FormatSetting,
    detection: &Result<Detection, mlflow_ddb_core::CoreError>,
) -> Check {
    match detection {
        Ok(d) if d.foreign_samples.is_empty() => Check {
            name: "format",
            status: Status::Ok,
            detail: format!("{} ({}; TABLE_FORMAT={setting})", d.format, d.evidence),
            fix: None,
        },
        Ok(d) => Check {
            name: "format",
            status: Status::Warn,
            detail: format!(
                "{} ({}), but FTS items in the {} layout were found, e.g. {}",
                d.format,
                d.evidence,
                d.format.other(),
                d.foreign_samples[0]
            ),
            fix: Some(format!(
                "indexer verify --table {table}, then indexer backfill --table {table} --remove-foreign"
            )),
        },
        Err(e) => Check {
            name: "format",
            status: Status::Fail,
            detail: e.to_string(),
            fix: Some(match setting {
                FormatSetting::Fixed(_) => "unset TABLE_FORMAT (auto follows the table), or point the functions at a table of that format".into(),
                FormatSetting::Auto => "set TABLE_FORMAT=v0.1 or TABLE_FORMAT=main for this table".into(),
            }),
        },
    }
}

fn config_check(table: &str, items: &[Item]) -> Check {
    let sks: Vec<&str> = items.iter().filter_map(sk_of).collect();
    let missing: Vec<&str> = SEEDED_CONFIG
        .iter()
        .copied()
        .filter(|want| !sks.contains(want))
        .collect();
    let per_experiment = sks
        .iter()
        .filter(|sk| sk.starts_with(EXPERIMENT_DENORMALIZE_TAGS_PREFIX))
        .count();
    if !missing.is_empty() {
        return Check {
            name: "config",
            status: Status::Fail,
            detail: format!(
                "missing CONFIG items: {} (was the table created by mlflow-dynamodbstore?)",
                missing.join(", ")
            ),
            fix: Some(format!(
                "start the tracking server once on the table (it seeds them), or set them with \
                 mlflow-dynamodbstore denormalize-tags / fts-trigrams / ttl-policy --table {table}"
            )),
        };
    }
    match Config::from_items(items.iter()) {
        Ok(_) => Check {
            name: "config",
            status: Status::Ok,
            detail: format!(
                "{} present, {per_experiment} per-experiment pattern item(s)",
                SEEDED_CONFIG.join(", ")
            ),
            fix: None,
        },
        Err(e) => Check {
            name: "config",
            status: Status::Fail,
            detail: format!("CONFIG item unreadable: {e}"),
            fix: Some("rewrite it with the reference CLI (mlflow-dynamodbstore ...)".into()),
        },
    }
}

fn mapping_check(s: &TableSummary, m: &MappingFacts) -> Check {
    let f = &m.function;
    let Some(arn) = s.stream_arn.as_deref() else {
        return Check {
            name: "mapping",
            status: Status::Fail,
            detail: format!("no stream, so no mapping to {f}"),
            fix: Some(format!(
                "make enable-stream TABLE={}, then deploy with --context streams=true",
                s.name
            )),
        };
    };
    let live: Vec<&EventSourceMapping> = m
        .mappings
        .iter()
        .filter(|x| x.event_source_arn == arn && LIVE_STATES.contains(&x.state.as_str()))
        .collect();
    match live.as_slice() {
        [] if m.mappings.is_empty() => Check {
            name: "mapping",
            status: Status::Fail,
            detail: format!("no event source mapping from the current stream to {f}"),
            fix: Some(format!(
                "deploy infra/ with --context streams=true --context table={} --context table-stream-arn={arn}",
                s.name
            )),
        },
        [] => Check {
            name: "mapping",
            status: Status::Fail,
            detail: format!(
                "mapping(s) to {f} on the current stream not enabled: {}",
                m.mappings
                    .iter()
                    .map(|x| format!("{} {}", x.uuid, x.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            fix: Some(format!(
                "aws lambda update-event-source-mapping --uuid {} --enabled",
                m.mappings[0].uuid
            )),
        },
        [one] => Check {
            name: "mapping",
            status: Status::Ok,
            detail: format!("{} {} -> {}", one.uuid, one.state, one.function_arn),
            fix: None,
        },
        many => Check {
            name: "mapping",
            status: Status::Warn,
            detail: format!(
                "{} live mappings from the current stream to {f}: every record is processed once per mapping",
                many.len()
            ),
            fix: Some("delete all but one: aws lambda delete-event-source-mapping --uuid <uuid>".into()),
        },
    }
}

/// Read the facts for `table`. With `mapping = Some((client, function))`,
/// also list `function`'s mappings on the table's current stream.
pub async fn gather(
    clients: &Clients,
    store: &dyn Store,
    table: &str,
    mapping: Option<(&Mappings, &str)>,
    format_setting: FormatSetting,
) -> Result<Facts, PreflightError> {
    let aws = |source| PreflightError::Aws {
        table: table.to_owned(),
        source,
    };
    let summary = table::describe_table(&clients.ddb, table)
        .await
        .map_err(aws)?;
    let pitr = table::point_in_time_recovery(&clients.ddb, table)
        .await
        .map_err(aws)?;
    let format_evidence = table::format_evidence(&clients.ddb, table)
        .await
        .map_err(aws)?;
    let config_items = store
        .query_prefix(CONFIG_PK, "", true, None)
        .await
        .map_err(aws)?;
    let mapping = match mapping {
        None => None,
        Some((client, function)) => {
            let mappings = match summary.stream_arn.as_deref() {
                None => Vec::new(),
                Some(arn) => client.list(arn, Some(function)).await.map_err(|source| {
                    PreflightError::Mappings {
                        stream_arn: arn.to_owned(),
                        source,
                    }
                })?,
            };
            Some(MappingFacts {
                function: function.to_owned(),
                mappings,
            })
        }
    };
    Ok(Facts {
        summary,
        pitr,
        config_items,
        mapping,
        format_setting,
        format_evidence,
    })
}

/// [`gather`] then [`assess`].
pub async fn check(
    clients: &Clients,
    store: &dyn Store,
    table: &str,
    mapping: Option<(&Mappings, &str)>,
    format_setting: FormatSetting,
) -> Result<Report, PreflightError> {
    Ok(assess(
        &gather(clients, store, table, mapping, format_setting).await?,
    ))
}

/// What [`enable_stream`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEnabled {
    pub table: String,
    pub stream_arn: String,
    pub stream_view_type: &'static str,
    /// False when the stream was already on (nothing was changed).
    pub changed: bool,
}

/// Turn on a `NEW_AND_OLD_IMAGES` stream on `table`, waiting until it is
/// ACTIVE with its stream. Idempotent: an existing stream of that view type
/// is kept (`changed = false`); one of another view type is an error, never
/// replaced (that would drop its records and strand its consumers).
pub async fn enable_stream(
    clients: &Clients,
    table: &str,
) -> Result<StreamEnabled, PreflightError> {
    let aws = |source| PreflightError::Aws {
        table: table.to_owned(),
        source,
    };
    let before = table::describe_table(&clients.ddb, table)
        .await
        .map_err(aws)?;
    let stream_arn = table::enable_stream(&clients.ddb, table)
        .await
        .map_err(aws)?;
    Ok(StreamEnabled {
        table: table.to_owned(),
        changed: !(before.stream_enabled
            && before.stream_arn.as_deref() == Some(stream_arn.as_str())),
        stream_arn,
        stream_view_type: NEEDED_VIEW_TYPE,
    })
}

/// The report as text, one line per check, fixes indented below.
pub fn render(report: &Report) -> String {
    let mut out = format!("preflight: table {}\n", report.table);
    for c in &report.checks {
        out.push_str(&format!("  {:<5} {:<8} {}\n", c.status, c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("        fix: {fix}\n"));
        }
    }
    out.push_str(&format!(
        "up to date: {}\n",
        if report.is_up_to_date { "yes" } else { "no" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn summary() -> TableSummary {
        TableSummary {
            name: "mlflow".into(),
            status: "ACTIVE".into(),
            item_count: 42,
            stream_enabled: true,
            stream_arn: Some("arn:stream/1".into()),
            stream_view_type: Some(NEEDED_VIEW_TYPE.into()),
            ttl_attribute: Some("ttl".into()),
            ttl_status: Some("ENABLED".into()),
            attribute_types: BTreeMap::new(),
            indexes: Vec::new(),
            billing_mode: Some("PAY_PER_REQUEST".into()),
        }
    }

    fn config_item(sk: &str) -> Item {
        let mut i = Item::default();
        i.insert("PK".into(), AttributeValue::S(CONFIG_PK.into()));
        i.insert("SK".into(), AttributeValue::S(sk.into()));
        i
    }

    fn seeded() -> Vec<Item> {
        SEEDED_CONFIG.iter().map(|sk| config_item(sk)).collect()
    }

    fn facts() -> Facts {
        Facts {
            summary: summary(),
            pitr: true,
            config_items: seeded(),
            mapping: None,
            format_setting: FormatSetting::Auto,
            format_evidence: FormatEvidence {
                lsi2sk_type: Some("S".into()),
                forward_sks: Vec::new(),
            },
        }
    }

    fn mapping(uuid: &str, arn: &str, state: &str) -> EventSourceMapping {
        EventSourceMapping {
            uuid: uuid.into(),
            function_arn: "arn:function:materializer".into(),
            event_source_arn: arn.into(),
            state: state.into(),
        }
    }

    /// `facts` → (status of each check by name, is_up_to_date).
    fn check(facts: Facts, expected: &[(&str, Status)], up_to_date: bool) {
        let r = assess(&facts);
        let got: Vec<(&str, Status)> = r.checks.iter().map(|c| (c.name, c.status)).collect();
        for want in expected {
            assert!(
                got.contains(want),
                "{want:?} not in {got:?}\n{}",
                render(&r)
            );
        }
        assert_eq!(r.is_up_to_date, up_to_date, "{}", render(&r));
        for c in &r.checks {
            let needs_fix = matches!(c.status, Status::Fail | Status::Warn);
            assert_eq!(c.fix.is_some(), needs_fix, "fix of {c:?}");
        }
    }

    #[test]
    fn the_format_is_reported_with_its_evidence_and_a_wrong_setting_fails() {
        let r = assess(&facts());
        assert_eq!(r.format, Some(TableFormat::V0_1));
        assert!(
            render(&r).contains("v0.1 (lsi2sk declared S"),
            "{}",
            render(&r)
        );

        let mut main = facts();
        main.format_evidence = FormatEvidence {
            lsi2sk_type: Some("N".into()),
            forward_sks: vec!["FTS#W#E#bold#1".into(), "FTS#W#bold#E#2".into()],
        };
        check(main.clone(), &[("format", Status::Warn)], true);
        let r = assess(&main);
        assert_eq!(r.format, Some(TableFormat::Main));
        assert!(render(&r).contains("--remove-foreign"), "{}", render(&r));

        main.format_setting = FormatSetting::Fixed(TableFormat::V0_1);
        check(main, &[("format", Status::Fail)], false);
    }

    #[test]
    fn a_ready_table_is_up_to_date() {
        check(
            facts(),
            &[
                ("table", Status::Ok),
                ("stream", Status::Ok),
                ("ttl", Status::Ok),
                ("config", Status::Ok),
                ("pitr", Status::Ok),
                ("mapping", Status::Skipped),
            ],
            true,
        );
    }

    #[test]
    fn the_reference_table_without_stream_is_not() {
        let mut f = facts();
        f.summary.stream_enabled = false;
        f.summary.stream_arn = None;
        f.summary.stream_view_type = None;
        check(f.clone(), &[("stream", Status::Fail)], false);
        let r = assess(&f);
        assert_eq!(
            r.checks[1].fix.as_deref(),
            Some("make enable-stream TABLE=mlflow")
        );
        // Asking for the mapping on a table without a stream fails that check too.
        f.mapping = Some(MappingFacts {
            function: "materializer".into(),
            mappings: vec![],
        });
        check(f, &[("mapping", Status::Fail)], false);
    }

    #[test]
    fn other_view_types_ttl_and_status_fail() {
        let mut f = facts();
        f.summary.stream_view_type = Some("KEYS_ONLY".into());
        check(f, &[("stream", Status::Fail)], false);

        let mut f = facts();
        f.summary.ttl_status = Some("DISABLED".into());
        check(f, &[("ttl", Status::Fail)], false);

        let mut f = facts();
        f.summary.ttl_attribute = Some("expires_at".into());
        check(f, &[("ttl", Status::Fail)], false);

        let mut f = facts();
        f.summary.status = "UPDATING".into();
        check(f, &[("table", Status::Fail)], false);
    }

    #[test]
    fn config_items_must_be_there_and_readable() {
        let mut f = facts();
        f.config_items.retain(|i| sk_of(i) != Some(TTL_POLICY_SK));
        let r = assess(&f);
        assert!(r.checks[3].detail.contains("TTL_POLICY"), "{}", render(&r));
        check(f, &[("config", Status::Fail)], false);

        let mut f = facts();
        let mut bad = config_item(DENORMALIZE_TAGS_SK);
        bad.insert("patterns".into(), AttributeValue::S("mlflow.*".into()));
        f.config_items[0] = bad;
        check(f, &[("config", Status::Fail)], false);
    }

    #[test]
    fn no_pitr_warns_without_blocking() {
        let mut f = facts();
        f.pitr = false;
        check(f, &[("pitr", Status::Warn)], true);
    }

    #[test]
    fn the_mapping_must_read_the_current_stream() {
        let with = |ms: Vec<EventSourceMapping>| {
            let mut f = facts();
            f.mapping = Some(MappingFacts {
                function: "materializer".into(),
                mappings: ms,
            });
            f
        };
        check(with(vec![]), &[("mapping", Status::Fail)], false);
        check(
            with(vec![mapping("u1", "arn:stream/1", "Enabled")]),
            &[("mapping", Status::Ok)],
            true,
        );
        check(
            with(vec![mapping("u1", "arn:stream/1", "Creating")]),
            &[("mapping", Status::Ok)],
            true,
        );
        check(
            with(vec![mapping("u1", "arn:stream/1", "Disabled")]),
            &[("mapping", Status::Fail)],
            false,
        );
        // A mapping on an older stream of the table does not count.
        check(
            with(vec![mapping("u0", "arn:stream/0", "Enabled")]),
            &[("mapping", Status::Fail)],
            false,
        );
        check(
            with(vec![
                mapping("u1", "arn:stream/1", "Enabled"),
                mapping("u2", "arn:stream/1", "Enabled"),
            ]),
            &[("mapping", Status::Warn)],
            true,
        );
    }

    #[test]
    fn text_report_lines_up_and_shows_fixes() {
        let mut f = facts();
        f.summary.stream_enabled = false;
        f.summary.stream_arn = None;
        let text = render(&assess(&f));
        assert!(
            text.contains("  ok    table    ACTIVE, about 42 items\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  FAIL  stream   no stream\n        fix: make enable-stream TABLE=mlflow\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("up to date: no\n"), "{text}");
    }

    #[test]
    fn json_names_the_fields_the_runbook_reads() {
        let v = serde_json::to_value(assess(&facts())).unwrap();
        assert_eq!(v["is_up_to_date"], true);
        assert_eq!(v["stream_arn"], "arn:stream/1");
        assert_eq!(v["checks"][0]["name"], "table");
        assert_eq!(v["checks"][5]["name"], "format");
        assert_eq!(v["format"], "v0.1");
        assert!(v["format_evidence"]
            .as_str()
            .is_some_and(|e| e.contains("lsi2sk declared S")));
        assert_eq!(v["checks"][6]["status"], "skipped");
    }
}
