//! Migration between the formats (contract §8): what one source item becomes.
//!
//! [`to_main`] takes one item scanned from a `v0.1` table and says what a
//! `main` table must hold for it, as the `main` store would have written the
//! same entity. [`to_v0_1`] is the way back (`migrate sync --reverse`, which
//! carries what was written to the `main` table after cutover back to the
//! old `v0.1` table, so that a rollback loses nothing). Pure: no I/O, no
//! clock. The rules were learnt by running one MLflow workload through both
//! stores and diffing the tables (`scripts/migrate/workload.py`);
//! `tests/migrate.rs` keeps that diff, both ways, so a rule removed here
//! fails it.
//!
//! # Division of work
//!
//! - **Source items** (META, tags, params, metrics, RANK, aliases, …) are
//!   [`Transformed::Copy`]: put these items, most of them unchanged, some
//!   with new keys or attributes (the rules below).
//! - **Derived items** are not copied: FTS items ([`Transformed::Derived`])
//!   are rebuilt in the target's layout by the planner
//!   ([`crate::plan::plan_target`] with the target's profile) once the copy
//!   is done, and every denormalized map a META item carries is replaced by
//!   an empty map here, for the same planner to fill with the target's rules
//!   (`main`: every experiment tag, `tags_lower`, `tags_lower_rev`,
//!   `mlflow.runName` → `run_name`; `v0.1`: pattern-filtered `tags` only).
//!   So nothing one format derived survives into the other unchecked.
//! - **Seeds** each store writes itself when it creates its table
//!   (`WORKSPACE#default/META`, whose description differs between the two)
//!   and this suite's bookkeeping (`OPS#…`) are [`Transformed::Skip`].
//! - **`main`-only families** (logged models, evaluation datasets, gateway
//!   items, scorers, sessions, spans, trace metrics, webhooks, jobs, …) have
//!   no place in a `v0.1` table: [`to_v0_1`] says
//!   [`Transformed::NoEquivalent`], the caller counts and reports them and
//!   copies nothing (the `v0.1` store would not read them, and a later
//!   forward migration must not meet them as unknown items).
//! - **Unknown families** are [`Transformed::Unknown`]: copied unchanged by
//!   the caller, and counted.
//!
//! # Rules (`v0.1` item → `main` item, [`to_main`])
//!
//! | family | rule |
//! |---|---|
//! | any item | `lsi2sk` is a Number (`main` declares it N): a numeric string becomes N |
//! | `E#META` (not `EXP#0`) | + `name_lower`, `name_rev`, `name_lower_rev`; `tags`, `tags_lower`, `tags_lower_rev` = `{}` |
//! | `EXP#0/E#META` | unchanged (the seed is the same in both formats) |
//! | `R#<run>` | `status` int → name, `lsi3sk` `<status>#<run>`; `lsi2sk` N (`9999999999999` while not ended); `lsi4sk` = lowered name, omitted when the name is empty; `tags` = `{}`; + tag item `mlflow.runName` (put only if absent) |
//! | `R#<run>#MHIST#<k>#<step>#<ts>` | SK gains `#<value>` (Python `str(Decimal(str(value)))`) |
//! | `T#<trace>` | `lsi1sk`, `lsi5sk` 20-digit strings, `lsi3sk` `<state>#<20 digits>`; `lsi4sk` `~` dropped; + `trace_name` (from the `mlflow.traceName` map entry); `tags`, `feedbacks`, `expectations` = `{}` |
//! | `T#<trace>#ASSESS#<id>` | + `name`, `assessment_type`, `created_timestamp`, `numeric_value` from `data` |
//! | `M#META` | `gsi2sk` `<20-digit creation ms>#<name>`; `tags` = `{}` |
//! | `V#<ver>` | + `storage_location` (= `source`, `""` for `models:/` URIs); `tags` = `{}`; raises `M#META.next_version` to the version ([`Floor`]) |
//! | `M#ALIAS#<alias>` | `version` string → Number |
//! | FTS items | dropped: rebuilt by the planner |
//! | everything else known (tags, params, metrics, RANK, NAME_REV, CONFIG, inputs, RMETA) | unchanged |
//!
//! # Rules (`main` item → `v0.1` item, [`to_v0_1`])
//!
//! What the 0.1.0 store would have written for the same entity, in a form a
//! `v0.1` table **on DynamoDB** accepts: it declares every index key S and,
//! like any table, refuses an empty string in one. Where 0.1.0 itself writes
//! something else (a Number for a trace's `lsi1sk`/`lsi2sk`/`lsi5sk`, `""`
//! for the `lsi4sk` of a run without a name: the emulator takes both,
//! DynamoDB refuses both), the reverse writes the nearest value DynamoDB
//! takes. Attributes only `main` writes are dropped: `v0.1` would never
//! update them, so they would go stale (a restored run keeping its
//! `deleted_time`, a renamed experiment its `name_lower`), and [`to_main`]
//! derives them again on the way forward.
//!
//! | family | rule |
//! |---|---|
//! | any item | every index key (`lsi1sk`…`lsi5sk`, `gsi1pk`…`gsi5sk`) holding a Number becomes the same digits as a string; an attribute `main` moved to S3 (`{"_s3_ref": …}`) is an error ([`TransformError::Overflow`]): resolve it first |
//! | `E#META` | − `name_lower`, `name_rev`, `name_lower_rev`, `tags_lower`, `tags_lower_rev`; `tags` = `{}` (`EXP#0`: only if it has one, the seed has none) |
//! | `R#<run>` | `status` name → MLflow's int (what 0.1.0 stores after `update_run_info`), except `RUNNING`, kept as the string `create_run` writes; `lsi3sk` `<status>#<run>` to match; `lsi2sk` `9999999999999` (not ended) removed, 0.1.0 writes none; `lsi4sk` left absent when `main` omitted it (no name); − `deleted_time`; `tags` = `{}` |
//! | `R#<run>#TAG#mlflow.runName` | unchanged: the tag item `main` writes for every run stays a tag item (0.1.0 never writes it but reads it as any tag) |
//! | `R#<run>#MHIST#<k>#<step>#<ts>#<value>` | SK drops `#<value>` |
//! | `R#<run>#METRIC#…`, `MHIST`, `RANK#…` with `value_special` (NaN, ±Infinity) | no equivalent: 0.1.0 cannot store a non-finite value (its `Decimal` write fails), and the item's `value` is a placeholder `0` |
//! | `T#<trace>` | `lsi3sk` `<state>#<ms>` (padding dropped); `lsi1sk`, `lsi5sk` kept as `main`'s 20-digit strings (0.1.0 writes Numbers, which its S-typed indexes refuse; 0.1.0 sorts these in Python, and padded strings sort as the numbers do); `lsi4sk` `~` when absent (no name); − `trace_name`, `feedbacks`, `expectations`; `tags` = `{}` |
//! | `T#<trace>#ASSESS#<id>` | − `name`, `assessment_type`, `created_timestamp`, `numeric_value` |
//! | `M#META` | `gsi2sk` `<creation ms>#<name>` (padding dropped); − `next_version` (0.1.0 counts `V#` items); `tags` = `{}` |
//! | `V#<ver>` | − `storage_location`; `lsi5sk` `#<ver>` when absent (no run: 0.1.0 writes `<run_id or ''>#<ver>`); `tags` = `{}` |
//! | `M#ALIAS#<alias>` | `version` Number → string |
//! | FTS items | dropped: rebuilt by the planner in `v0.1`'s profile |
//! | `WORKSPACE#default/META` | skipped: the `v0.1` table has its own seed |
//! | `LM#…`, `RANK#lm#…`, `RANK#lmd#…`, `R#<run>#OUTPUT#…`, `T#<trace>#SPAN#…`/`#SMETRIC#…`/`#TMETRIC#…`, `SCOR#…`, `SESS#…`; partitions `DS#`, `GW_*`, `WH#`, `JOB#`, `TMCACHE#`, `OVERFLOW#`, other workspaces | [`Transformed::NoEquivalent`] |
//! | everything else known (tags, params, metrics, RANK, NAME_REV, CONFIG, inputs, RMETA, `#SPANS`, `EXP#0`) | unchanged |

use std::collections::HashMap;

use crate::format::{Profile, TableFormat};
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};
use crate::keys::{ItemKind, RunChildKind, TagKey};
use crate::plan::py_float_repr;
use crate::tags::{python_lower, RUN_NAME_TAG};

/// Attribute names the transform reads or writes.
const LSI1_SK: &str = "lsi1sk";
const LSI2_SK: &str = "lsi2sk";
const LSI3_SK: &str = "lsi3sk";
const LSI4_SK: &str = "lsi4sk";
const LSI5_SK: &str = "lsi5sk";
const GSI2_SK: &str = "gsi2sk";
const TAGS: &str = "tags";
const TAGS_LOWER: &str = "tags_lower";
const TAGS_LOWER_REV: &str = "tags_lower_rev";
const NAME: &str = "name";
const TTL: &str = "ttl";
/// `main`'s `lsi2sk` of a run that has not ended.
pub const RUN_NOT_ENDED_LSI2SK: &str = "9999999999999";
/// `v0.1`'s `lsi4sk` of a trace without a name.
const TRACE_NO_NAME_LSI4SK: &str = "~";
/// The attribute of `M#META` that `main` counts versions with.
pub const NEXT_VERSION: &str = "next_version";
/// `main`'s marker of a non-finite metric value (`NaN`, `Infinity`, …).
const VALUE_SPECIAL: &str = "value_special";
/// The default workspace's partition (its `META` item is a seed).
const DEFAULT_WORKSPACE_PK: &str = "WORKSPACE#default";
/// Every index key attribute; `v0.1` declares them all S.
const INDEX_KEYS: [&str; 15] = [
    LSI1_SK, LSI2_SK, LSI3_SK, LSI4_SK, LSI5_SK, "gsi1pk", "gsi1sk", "gsi2pk", GSI2_SK, "gsi3pk",
    "gsi3sk", "gsi4pk", "gsi4sk", "gsi5pk", "gsi5sk",
];

/// What one source item becomes in the other format's table.
#[derive(Debug, Clone, PartialEq)]
pub enum Transformed {
    /// Write these items (see [`Copy`](struct@Copy)).
    Copy(Copy),
    /// A derived item of the source (FTS): not copied, the planner rebuilds
    /// the target's after the copy.
    Derived,
    /// Not copied, for the reason given.
    Skip(Skip),
    /// An item of a family we do not know: copy it unchanged, count it.
    Unknown,
    /// [`to_v0_1`] only: an item of a family only `main` has (logged models,
    /// evaluation datasets, gateway items, spans, …). A `v0.1` table has no
    /// place for it: not copied; the caller counts it and reports it (a
    /// rollback to `v0.1` loses these entities, and the report says which).
    NoEquivalent,
}

/// The writes for one source item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Copy {
    /// Put, replacing what is there (usually exactly one item).
    pub puts: Vec<Item>,
    /// Put only when no item has that key (`attribute_not_exists(PK)`): an
    /// item `main` derives from this one, which a copied source item of the
    /// same key must win over (the run's `mlflow.runName` tag item).
    pub puts_if_absent: Vec<Item>,
    /// Counters to raise after the puts of the whole copy (a later put of
    /// the counter's item would overwrite an earlier raise).
    pub floors: Vec<Floor>,
}

/// `SET attr = at_least` on `target` when the item exists and its `attr` is
/// absent or smaller (`main`'s `M#META.next_version`, which allocates the
/// next version number: without it a new version would overwrite `V#…1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    pub target: ItemKey,
    pub attr: &'static str,
    pub at_least: u64,
}

/// Why a source item is not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A seed the target's store writes when it creates its table
    /// (`WORKSPACE#default/META`: each format has its own).
    Seed,
    /// This suite's own bookkeeping (`OPS#…`): it belongs to the source.
    Bookkeeping,
}

/// An item the transform cannot turn into what `main` would accept. Names
/// the item key and attribute, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error("item without a string PK and SK")]
    NoKey,
    #[error("{key}: attribute {attribute:?} {problem}")]
    Attribute {
        key: ItemKey,
        attribute: &'static str,
        problem: &'static str,
    },
    /// `main` stored this attribute's value in S3 (`{"_s3_ref": …}`, a
    /// string over 350,000 bytes); `v0.1` would read the map as the value.
    /// The caller may read the object, put the string back and transform
    /// again.
    #[error("{key}: attribute {attribute:?} is stored in S3 (_s3_ref), which v0.1 cannot read")]
    Overflow { key: ItemKey, attribute: String },
}

/// The items the `main` store seeds a table with when it deploys it, which a
/// table the migration creates must hold too (the store opened with
/// `?deploy=false` never writes them): the default workspace. (The default
/// experiment `EXP#0` and the `CONFIG` items are the source's, copied.)
pub fn main_seeds() -> Vec<Item> {
    let mut ws = key_item(&ItemKey::new("WORKSPACE#default", "META"));
    ws.insert("name".into(), s("default"));
    ws.insert(
        "description".into(),
        s("Default workspace for legacy resources"),
    );
    ws.insert("gsi2pk".into(), s("WORKSPACES"));
    ws.insert("gsi2sk".into(), s("default"));
    vec![ws]
}

/// The `main` items for one `v0.1` item. See the module docs for the rules.
pub fn to_main(item: &Item) -> Result<Transformed, TransformError> {
    let key = item_key(item).ok_or(TransformError::NoKey)?;
    let kind = ItemKind::parse(Profile::of(TableFormat::V0_1), &key.pk, &key.sk);
    let bad = |attribute: &'static str, problem: &'static str| TransformError::Attribute {
        key: key.clone(),
        attribute,
        problem,
    };
    let mut out = item.clone();
    let mut copy = Copy::default();
    match &kind {
        ItemKind::FtsForward { .. } | ItemKind::FtsReverse { .. } => {
            return Ok(Transformed::Derived)
        }
        ItemKind::Ops { .. } => return Ok(Transformed::Skip(Skip::Bookkeeping)),
        ItemKind::Other(k) if k.pk == "WORKSPACE#default" && k.sk == "META" => {
            return Ok(Transformed::Skip(Skip::Seed))
        }
        // main-only families: a v0.1 table has none, so whatever this is,
        // it is not something we know how to transform.
        ItemKind::Other(_)
        | ItemKind::LoggedModelMeta { .. }
        | ItemKind::LoggedModelTag { .. }
        | ItemKind::LoggedModelChild { .. }
        | ItemKind::EvalDatasetMeta { .. }
        | ItemKind::EvalDatasetTag { .. }
        | ItemKind::GatewayEndpointMeta { .. }
        | ItemKind::GatewayEndpointTag { .. } => return Ok(Transformed::Unknown),
        ItemKind::ExperimentMeta { experiment } => {
            if experiment.as_str() != "0" {
                let name = s_attr(item, NAME).ok_or_else(|| bad(NAME, "is not a string"))?;
                let lower = python_lower(name);
                out.insert("name_lower_rev".into(), s(reversed(&lower)));
                out.insert("name_lower".into(), s(lower));
                out.insert("name_rev".into(), s(reversed(name)));
                for attr in [TAGS, TAGS_LOWER, TAGS_LOWER_REV] {
                    out.insert(attr.into(), empty_map());
                }
            }
        }
        ItemKind::RunMeta { run, .. } => {
            if let Some(AttributeValue::N(n)) = item.get("status") {
                let status = run_status_name(n).ok_or_else(|| bad("status", "is no run status"))?;
                out.insert(LSI3_SK.into(), s(format!("{status}#{run}")));
                out.insert("status".into(), s(status));
            }
            if !item.contains_key(LSI2_SK) {
                out.insert(LSI2_SK.into(), n(RUN_NOT_ENDED_LSI2SK));
            }
            match s_attr(item, "run_name").filter(|name| !name.is_empty()) {
                Some(name) => {
                    out.insert(LSI4_SK.into(), s(python_lower(name)));
                    let tag = ItemKind::RunTag {
                        experiment: kind.experiment_id().cloned().ok_or(TransformError::NoKey)?,
                        run: run.clone(),
                        key: TagKey::new(RUN_NAME_TAG),
                    }
                    .key();
                    let mut tag_item = key_item(&tag);
                    tag_item.insert("key".into(), s(RUN_NAME_TAG));
                    tag_item.insert("value".into(), s(name));
                    if let Some(ttl) = item.get(TTL) {
                        tag_item.insert(TTL.into(), ttl.clone());
                    }
                    copy.puts_if_absent.push(tag_item);
                }
                None => {
                    out.remove(LSI4_SK);
                }
            }
            out.insert(TAGS.into(), empty_map());
        }
        ItemKind::RunChild { .. } => {
            if kind.run_child_kind() == Some(RunChildKind::MetricHistory) {
                let value = match item.get("value") {
                    Some(AttributeValue::N(v)) => v,
                    _ => return Err(bad("value", "is not a number")),
                };
                let value = python_decimal_str(value)
                    .ok_or_else(|| bad("value", "is not a finite number"))?;
                out.insert(SK.into(), s(format!("{}#{value}", key.sk)));
            }
        }
        ItemKind::TraceMeta { .. } => {
            for attr in [LSI1_SK, LSI5_SK] {
                if let Some(v) = item.get(attr) {
                    let v = integer(v).ok_or_else(|| bad(attr, "is not an integer"))?;
                    out.insert(attr.into(), s(format!("{v:020}")));
                }
            }
            if let Some(lsi3) = s_attr(item, LSI3_SK) {
                if let Some((state, time)) = lsi3.rsplit_once('#') {
                    let time: u64 = time
                        .parse()
                        .map_err(|_| bad(LSI3_SK, "does not end in a time"))?;
                    out.insert(LSI3_SK.into(), s(format!("{state}#{time:020}")));
                }
            }
            if s_attr(item, LSI4_SK) == Some(TRACE_NO_NAME_LSI4SK) {
                out.remove(LSI4_SK);
            }
            let trace_name = match item.get(TAGS) {
                Some(AttributeValue::M(m)) => m.get("mlflow.traceName"),
                _ => None,
            };
            if let Some(AttributeValue::S(name)) = trace_name {
                if !name.is_empty() {
                    out.insert("trace_name".into(), s(name));
                }
            }
            for attr in [TAGS, "feedbacks", "expectations"] {
                out.insert(attr.into(), empty_map());
            }
        }
        ItemKind::TraceAssessment { .. } => {
            if let Some(AttributeValue::M(data)) = item.get("data") {
                denormalize_assessment(&mut out, data);
            }
        }
        ItemKind::ModelMeta { .. } => {
            if let Some(gsi2sk) = s_attr(item, GSI2_SK) {
                if let Some((time, name)) = gsi2sk.split_once('#') {
                    let time: u64 = time
                        .parse()
                        .map_err(|_| bad(GSI2_SK, "does not start with a time"))?;
                    out.insert(GSI2_SK.into(), s(format!("{time:020}#{name}")));
                }
            }
            out.insert(TAGS.into(), empty_map());
        }
        ItemKind::ModelVersion { model, version } => {
            let source = s_attr(item, "source").unwrap_or_default();
            let storage = if source.starts_with("models:/") {
                ""
            } else {
                source
            };
            out.insert("storage_location".into(), s(storage));
            out.insert(TAGS.into(), empty_map());
            let number: u64 = version
                .as_str()
                .parse()
                .map_err(|_| bad("SK", "has no version number"))?;
            copy.floors.push(Floor {
                target: ItemKind::ModelMeta {
                    model: model.clone(),
                }
                .key(),
                attr: NEXT_VERSION,
                at_least: number,
            });
        }
        ItemKind::ModelAlias { .. } => {
            if let Some(AttributeValue::S(v)) = item.get("version") {
                let v: u64 = v.parse().map_err(|_| bad("version", "is not a number"))?;
                out.insert("version".into(), n(v.to_string()));
            }
        }
        ItemKind::ExperimentNameRev { .. }
        | ItemKind::ExperimentTag { .. }
        | ItemKind::RunTag { .. }
        | ItemKind::RunParam { .. }
        | ItemKind::TraceTag { .. }
        | ItemKind::TraceChild { .. }
        | ItemKind::Rank { .. }
        | ItemKind::Dataset { .. }
        | ItemKind::DatasetLink { .. }
        | ItemKind::ModelNameRev { .. }
        | ItemKind::ModelTag { .. }
        | ItemKind::VersionTag { .. }
        | ItemKind::Config(_) => {}
    }
    // main declares lsi2sk a Number (contract §7): whatever item carries it.
    if let Some(AttributeValue::S(v)) = out.get(LSI2_SK) {
        if v.parse::<i64>().is_err() {
            return Err(bad(LSI2_SK, "is not an integer"));
        }
        let v = v.clone();
        out.insert(LSI2_SK.into(), n(v));
    }
    copy.puts.insert(0, out);
    Ok(Transformed::Copy(copy))
}

/// The `v0.1` items for one `main` item: what the 0.1.0 store would have
/// written for the same entity, in a form a `v0.1` table on DynamoDB
/// accepts. See the module docs for the rules. Never returns `puts_if_absent`
/// or `floors`: `v0.1` derives nothing from one item into another beyond
/// its maps and FTS items, which the planner rebuilds.
pub fn to_v0_1(item: &Item) -> Result<Transformed, TransformError> {
    let key = item_key(item).ok_or(TransformError::NoKey)?;
    let kind = ItemKind::parse(Profile::of(TableFormat::Main), &key.pk, &key.sk);
    let bad = |attribute: &'static str, problem: &'static str| TransformError::Attribute {
        key: key.clone(),
        attribute,
        problem,
    };
    let mut out = item.clone();
    match &kind {
        ItemKind::FtsForward { .. } | ItemKind::FtsReverse { .. } => {
            return Ok(Transformed::Derived)
        }
        ItemKind::Ops { .. } => return Ok(Transformed::Skip(Skip::Bookkeeping)),
        ItemKind::Other(k) if k.pk == DEFAULT_WORKSPACE_PK && k.sk == "META" => {
            return Ok(Transformed::Skip(Skip::Seed))
        }
        ItemKind::Other(k) if main_only_key(k) => return Ok(Transformed::NoEquivalent),
        ItemKind::Other(_) => return Ok(Transformed::Unknown),
        ItemKind::LoggedModelMeta { .. }
        | ItemKind::LoggedModelTag { .. }
        | ItemKind::LoggedModelChild { .. }
        | ItemKind::EvalDatasetMeta { .. }
        | ItemKind::EvalDatasetTag { .. }
        | ItemKind::GatewayEndpointMeta { .. }
        | ItemKind::GatewayEndpointTag { .. } => return Ok(Transformed::NoEquivalent),
        ItemKind::ExperimentMeta { experiment } => {
            for attr in [
                "name_lower",
                "name_rev",
                "name_lower_rev",
                TAGS_LOWER,
                TAGS_LOWER_REV,
            ] {
                out.remove(attr);
            }
            // The seeded Default experiment has no map in v0.1 (contract §1).
            if experiment.as_str() != "0" || out.contains_key(TAGS) {
                out.insert(TAGS.into(), empty_map());
            }
        }
        ItemKind::RunMeta { run, .. } => {
            if let Some(AttributeValue::S(name)) = item.get("status") {
                // 0.1.0's create_run writes the string RUNNING, its
                // update_run_info whatever MLflow passes: the enum's int.
                let (status, text) = if name == RUNNING {
                    (s(RUNNING), RUNNING)
                } else {
                    let number =
                        run_status_number(name).ok_or_else(|| bad("status", "is no run status"))?;
                    (n(number), number)
                };
                out.insert(LSI3_SK.into(), s(format!("{text}#{run}")));
                out.insert("status".into(), status);
            }
            let not_ended = matches!(
                item.get(LSI2_SK),
                Some(AttributeValue::N(v) | AttributeValue::S(v)) if v == RUN_NOT_ENDED_LSI2SK
            );
            if not_ended {
                out.remove(LSI2_SK);
            }
            out.remove("deleted_time");
            out.insert(TAGS.into(), empty_map());
        }
        ItemKind::RunChild { .. } => match kind.run_child_kind() {
            Some(RunChildKind::Output) => return Ok(Transformed::NoEquivalent),
            Some(RunChildKind::Metric) if item.contains_key(VALUE_SPECIAL) => {
                return Ok(Transformed::NoEquivalent)
            }
            Some(RunChildKind::MetricHistory) => {
                if item.contains_key(VALUE_SPECIAL) {
                    return Ok(Transformed::NoEquivalent);
                }
                let sk = strip_history_value(&key.sk)
                    .ok_or_else(|| bad("SK", "is not main's metric-history key"))?;
                out.insert(SK.into(), s(sk));
            }
            _ => {}
        },
        ItemKind::Rank { rest, .. } => {
            if rest.starts_with("lm#")
                || rest.starts_with("lmd#")
                || item.contains_key(VALUE_SPECIAL)
            {
                return Ok(Transformed::NoEquivalent);
            }
        }
        ItemKind::TraceMeta { .. } => {
            if let Some(lsi3) = s_attr(item, LSI3_SK) {
                if let Some((state, time)) = lsi3.rsplit_once('#') {
                    let time: u64 = time
                        .parse()
                        .map_err(|_| bad(LSI3_SK, "does not end in a time"))?;
                    out.insert(LSI3_SK.into(), s(format!("{state}#{time}")));
                }
            }
            if !item.contains_key(LSI4_SK) {
                out.insert(LSI4_SK.into(), s(TRACE_NO_NAME_LSI4SK));
            }
            for attr in ["trace_name", "feedbacks", "expectations"] {
                out.remove(attr);
            }
            out.insert(TAGS.into(), empty_map());
        }
        ItemKind::TraceAssessment { .. } => {
            for attr in [
                NAME,
                "assessment_type",
                "created_timestamp",
                "numeric_value",
            ] {
                out.remove(attr);
            }
        }
        ItemKind::TraceChild { rest, .. } => {
            let head = rest.split('#').next().unwrap_or_default();
            if matches!(head, "SPAN" | "SMETRIC" | "TMETRIC") {
                return Ok(Transformed::NoEquivalent);
            }
        }
        ItemKind::ModelMeta { .. } => {
            if let Some(gsi2sk) = s_attr(item, GSI2_SK) {
                if let Some((time, name)) = gsi2sk.split_once('#') {
                    let time: u64 = time
                        .parse()
                        .map_err(|_| bad(GSI2_SK, "does not start with a time"))?;
                    out.insert(GSI2_SK.into(), s(format!("{time}#{name}")));
                }
            }
            out.remove(NEXT_VERSION);
            out.insert(TAGS.into(), empty_map());
        }
        ItemKind::ModelVersion { version, .. } => {
            out.remove("storage_location");
            if !item.contains_key(LSI5_SK) {
                out.insert(LSI5_SK.into(), s(format!("#{version}")));
            }
            out.insert(TAGS.into(), empty_map());
        }
        ItemKind::ModelAlias { .. } => {
            if let Some(AttributeValue::N(v)) = item.get("version") {
                let v = v.clone();
                out.insert("version".into(), s(v));
            }
        }
        ItemKind::ExperimentNameRev { .. }
        | ItemKind::ExperimentTag { .. }
        | ItemKind::RunTag { .. }
        | ItemKind::RunParam { .. }
        | ItemKind::TraceTag { .. }
        | ItemKind::Dataset { .. }
        | ItemKind::DatasetLink { .. }
        | ItemKind::ModelNameRev { .. }
        | ItemKind::ModelTag { .. }
        | ItemKind::VersionTag { .. }
        | ItemKind::Config(_) => {}
    }
    // After the rules: an attribute they drop may have been moved to S3.
    if let Some((attribute, _)) = out.iter().find(|(_, v)| is_overflow_ref(v)) {
        return Err(TransformError::Overflow {
            key,
            attribute: attribute.clone(),
        });
    }
    // v0.1 declares every index key S (contract §1).
    for attr in INDEX_KEYS {
        if let Some(AttributeValue::N(v)) = out.get(attr) {
            let v = v.clone();
            out.insert(attr.into(), s(v));
        }
    }
    Ok(Transformed::Copy(Copy {
        puts: vec![out],
        ..Copy::default()
    }))
}

/// `main`'s `_denormalize_assessment_item`: top-level copies of what the
/// assessment's `data` holds, for filters.
fn denormalize_assessment(out: &mut Item, data: &HashMap<String, AttributeValue>) {
    let name = match data.get("assessment_name") {
        Some(AttributeValue::S(n)) => n.as_str(),
        _ => "",
    };
    out.insert(NAME.into(), s(name));
    let feedback = data.get("feedback");
    let kind = if feedback.is_some() {
        "feedback"
    } else {
        "expectation"
    };
    out.insert("assessment_type".into(), s(kind));
    let body = match feedback.or_else(|| data.get("expectation")) {
        Some(AttributeValue::M(m)) => Some(m),
        _ => None,
    };
    if let Some(v) = body.and_then(|b| b.get("value")).and_then(numeric_value) {
        out.insert("numeric_value".into(), n(v));
    }
    if let Some(AttributeValue::S(t)) = data.get("create_time") {
        if let Some(ms) = iso_millis(t) {
            out.insert("created_timestamp".into(), n(ms.to_string()));
        }
    }
}

/// `main`'s `_parse_assessment_numeric_value` of one value: booleans and
/// yes/no as 1/0, numbers and numeric strings as themselves.
fn numeric_value(v: &AttributeValue) -> Option<String> {
    match v {
        AttributeValue::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        AttributeValue::N(n) => Some(n.clone()),
        AttributeValue::S(t) => match t.as_str() {
            "True" | "true" | "yes" => Some("1".to_owned()),
            "False" | "false" | "no" => Some("0".to_owned()),
            t => {
                let t = t.trim();
                is_decimal_literal(t).then(|| t.to_owned())
            }
        },
        _ => None,
    }
}

/// A finite decimal literal as Python's `Decimal` reads it.
fn is_decimal_literal(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() || !frac.is_empty())
        && digits(int)
        && digits(frac)
        && exp.is_none_or(|e| !e.is_empty() && digits(e))
}

/// Milliseconds since the epoch of an ISO 8601 time as `main` parses it
/// (`datetime.fromisoformat` after `Z` → `+00:00`), for the forms MLflow
/// writes: `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`.
fn iso_millis(t: &str) -> Option<i64> {
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_min) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?),
        )
    } else {
        return None;
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut h = hms.splitn(3, ':');
    let (hh, mm, ss): (i64, i64, i64) = (
        h.next()?.parse().ok()?,
        h.next()?.parse().ok()?,
        h.next()?.parse().ok()?,
    );
    if !frac.bytes().all(|b| b.is_ascii_digit()) || !(1..=12).contains(&mo) {
        return None;
    }
    let millis: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// MLflow's `RunStatus` enum: number and name.
const RUN_STATUSES: [(&str, &str); 5] = [
    ("1", RUNNING),
    ("2", "SCHEDULED"),
    ("3", "FINISHED"),
    ("4", "FAILED"),
    ("5", "KILLED"),
];
const RUNNING: &str = "RUNNING";

/// `RunStatus.to_string` of MLflow's enum number (`v0.1` stores the number
/// when MLflow passes it, `main` always the name).
fn run_status_name(n: &str) -> Option<&'static str> {
    RUN_STATUSES
        .iter()
        .find(|(number, _)| *number == n)
        .map(|(_, name)| *name)
}

/// `RunStatus.from_string`: the number `v0.1` stores for a status name.
fn run_status_number(name: &str) -> Option<&'static str> {
    RUN_STATUSES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(number, _)| *number)
}

/// `R#<run>#MHIST#<key>#<P|N>#<step>#<ts>#<value>` (`main`) without its
/// `#<value>`; `None` if `sk` does not end that way. Parsed from the right:
/// nothing is assumed about the metric key.
fn strip_history_value(sk: &str) -> Option<&str> {
    let (head, _value) = sk.rsplit_once('#')?;
    let mut parts = head.rsplitn(4, '#');
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let ts = parts.next()?;
    let step = parts.next()?;
    let sign = parts.next()?;
    let prefix = parts.next()?;
    (digits(ts) && digits(step) && matches!(sign, "P" | "N") && prefix.contains("#MHIST#"))
        .then_some(head)
}

/// Keys of families only `main` writes that [`ItemKind`] does not name
/// (contract §7): whole partitions, and experiment children.
fn main_only_key(key: &ItemKey) -> bool {
    const PARTITIONS: [&str; 6] = ["DS#", "GW_", "WH#", "JOB#", "TMCACHE#", "OVERFLOW#"];
    const EXPERIMENT_CHILDREN: [&str; 3] = ["SCOR#", "SESS#", "LM#"];
    let other_workspace = key.pk.starts_with("WORKSPACE#") && key.pk != DEFAULT_WORKSPACE_PK;
    other_workspace
        || PARTITIONS.iter().any(|p| key.pk.starts_with(p))
        || (key.pk.starts_with("EXP#") && EXPERIMENT_CHILDREN.iter().any(|c| key.sk.starts_with(c)))
}

/// `main`'s reference to a value it moved to S3.
fn is_overflow_ref(v: &AttributeValue) -> bool {
    matches!(v, AttributeValue::M(m) if m.contains_key("_s3_ref"))
}

/// What `main` appends to a metric-history SK for a value stored as the
/// DynamoDB number `n`: `str(Decimal(str(value)))` of the Python float.
///
/// Limit: a metric logged as a Python `int` (`1`) is stored as N `1` and
/// rendered `1.0` here; `main` would have written `1`. Reads are unaffected
/// (the value is read from the attribute, the SK only keeps points apart).
pub fn python_decimal_str(n: &str) -> Option<String> {
    let x: f64 = n.trim().parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    let repr = py_float_repr(x);
    let (sign, body) = match repr.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", repr.as_str()),
    };
    // Coefficient digits and exponent of the literal, as Decimal keeps them.
    let (mantissa, exp) = match body.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut coeff: String = format!("{int}{frac}").trim_start_matches('0').to_owned();
    if coeff.is_empty() {
        coeff.push('0');
    }
    let exp = exp - frac.len() as i64;
    let len = coeff.len() as i64;
    let adjusted = exp + len - 1;
    let out = if exp <= 0 && adjusted >= -6 {
        if exp == 0 {
            coeff
        } else if len > -exp {
            let (a, b) = coeff.split_at((len + exp) as usize);
            format!("{a}.{b}")
        } else {
            format!("0.{}{coeff}", "0".repeat((-exp - len) as usize))
        }
    } else {
        let (a, b) = coeff.split_at(1);
        let dot = if b.is_empty() {
            String::new()
        } else {
            format!(".{b}")
        };
        format!(
            "{a}{dot}E{}{}",
            if adjusted < 0 { '-' } else { '+' },
            adjusted.abs()
        )
    };
    Some(format!("{sign}{out}"))
}

fn item_key(item: &Item) -> Option<ItemKey> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(ItemKey::new(pk, sk)),
        _ => None,
    }
}

fn key_item(key: &ItemKey) -> Item {
    let mut m = HashMap::new();
    m.insert(PK.to_owned(), s(&key.pk));
    m.insert(SK.to_owned(), s(&key.sk));
    Item::from(m)
}

fn s_attr<'a>(item: &'a Item, attr: &str) -> Option<&'a str> {
    match item.get(attr) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// An integer stored as N or S.
fn integer(v: &AttributeValue) -> Option<u64> {
    match v {
        AttributeValue::N(x) | AttributeValue::S(x) => x.parse().ok(),
        _ => None,
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl Into<String>) -> AttributeValue {
    AttributeValue::N(v.into())
}

fn empty_map() -> AttributeValue {
    AttributeValue::M(HashMap::new())
}

/// Code-point reversal (Python `s[::-1]`).
fn reversed(s: &str) -> String {
    s.chars().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pk: &str, sk: &str, attrs: &[(&str, AttributeValue)]) -> Item {
        let mut it = key_item(&ItemKey::new(pk, sk));
        for (k, v) in attrs {
            it.insert((*k).to_owned(), v.clone());
        }
        it
    }

    fn map(entries: &[(&str, &str)]) -> AttributeValue {
        AttributeValue::M(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), s(*v)))
                .collect(),
        )
    }

    /// `to_main(input)` is `expected`.
    fn check(input: Item, expected: Result<Transformed, TransformError>) {
        assert_eq!(to_main(&input), expected, "{:?}", item_key(&input));
    }

    fn put(items: Vec<Item>) -> Result<Transformed, TransformError> {
        Ok(Transformed::Copy(Copy {
            puts: items,
            ..Copy::default()
        }))
    }

    const E: &str = "EXP#01e";

    #[test]
    fn metric_history_sk_gains_the_value_as_main_renders_it() {
        let hist = |v: &str| {
            item(
                E,
                "R#r1#MHIST#acc#P#00000000000000000002#1700000000000",
                &[("value", n(v))],
            )
        };
        let want = |v: &str, suffix: &str| {
            let mut it = hist(v);
            it.insert(
                SK.into(),
                s(format!(
                    "R#r1#MHIST#acc#P#00000000000000000002#1700000000000#{suffix}"
                )),
            );
            put(vec![it])
        };
        for (stored, suffix) in [
            ("0.5", "0.5"),
            ("1", "1.0"),
            ("-2.25", "-2.25"),
            ("0.00001", "0.00001"),
            ("1E-7", "1E-7"),
            ("0.000015", "0.000015"),
            ("1E+16", "1E+16"),
            ("12345678901234567", "12345678901234568"),
            ("1.5E+17", "1.5E+17"),
            ("0", "0.0"),
        ] {
            check(hist(stored), want(stored, suffix));
        }
        check(
            item(E, "R#r1#MHIST#acc#P#00000000000000000002#1", &[]),
            Err(TransformError::Attribute {
                key: ItemKey::new(E, "R#r1#MHIST#acc#P#00000000000000000002#1"),
                attribute: "value",
                problem: "is not a number",
            }),
        );
    }

    #[test]
    fn run_meta() {
        let run = item(
            E,
            "R#r1",
            &[
                ("status", n("3")),
                ("lsi3sk", s("3#r1")),
                ("lsi2sk", s("1700000005000")),
                ("run_name", s("Brave-Owl")),
                ("lsi4sk", s("brave-owl")),
                ("tags", map(&[("mlflow.user", "ana")])),
                ("ttl", n("99")),
            ],
        );
        let want = item(
            E,
            "R#r1",
            &[
                ("status", s("FINISHED")),
                ("lsi3sk", s("FINISHED#r1")),
                ("lsi2sk", n("1700000005000")),
                ("run_name", s("Brave-Owl")),
                ("lsi4sk", s("brave-owl")),
                ("tags", empty_map()),
                ("ttl", n("99")),
            ],
        );
        let tag = item(
            E,
            "R#r1#TAG#mlflow.runName",
            &[
                ("key", s("mlflow.runName")),
                ("value", s("Brave-Owl")),
                ("ttl", n("99")),
            ],
        );
        check(
            run,
            Ok(Transformed::Copy(Copy {
                puts: vec![want],
                puts_if_absent: vec![tag],
                floors: vec![],
            })),
        );
        // Not ended, no name: the sentinel, no lsi4sk, no tag item.
        check(
            item(
                E,
                "R#r2",
                &[
                    ("status", s("RUNNING")),
                    ("run_name", s("")),
                    ("lsi4sk", s("")),
                ],
            ),
            put(vec![item(
                E,
                "R#r2",
                &[
                    ("status", s("RUNNING")),
                    ("run_name", s("")),
                    ("lsi2sk", n(RUN_NOT_ENDED_LSI2SK)),
                    ("tags", empty_map()),
                ],
            )]),
        );
    }

    #[test]
    fn experiment_meta_gains_name_forms_and_empty_maps() {
        let want = |e: &str| {
            item(
                &format!("EXP#{e}"),
                "E#META",
                &[
                    ("name", s("Churn ΑΣ")),
                    ("lsi2sk", n("17")),
                    ("name_lower", s("churn ας")),
                    ("name_rev", s("ΣΑ nruhC")),
                    ("name_lower_rev", s("ςα nruhc")),
                    ("tags", empty_map()),
                    ("tags_lower", empty_map()),
                    ("tags_lower_rev", empty_map()),
                ],
            )
        };
        check(
            item(
                "EXP#1",
                "E#META",
                &[
                    ("name", s("Churn ΑΣ")),
                    ("lsi2sk", s("17")),
                    ("tags", map(&[("a", "b")])),
                ],
            ),
            put(vec![want("1")]),
        );
        // The seeded Default experiment is the same in both formats.
        let seed = item("EXP#0", "E#META", &[("name", s("Default"))]);
        check(seed.clone(), put(vec![seed]));
    }

    #[test]
    fn trace_meta_and_assessment() {
        check(
            item(
                E,
                "T#tr-1",
                &[
                    ("lsi1sk", n("1700000000000")),
                    ("lsi2sk", n("1700000000012")),
                    ("lsi3sk", s("OK#1700000000000")),
                    ("lsi4sk", s("~")),
                    ("lsi5sk", n("12")),
                    ("tags", map(&[("mlflow.traceName", "Predict")])),
                ],
            ),
            put(vec![item(
                E,
                "T#tr-1",
                &[
                    ("lsi1sk", s("00000001700000000000")),
                    ("lsi2sk", n("1700000000012")),
                    ("lsi3sk", s("OK#00000001700000000000")),
                    ("lsi5sk", s("00000000000000000012")),
                    ("trace_name", s("Predict")),
                    ("tags", empty_map()),
                    ("feedbacks", empty_map()),
                    ("expectations", empty_map()),
                ],
            )]),
        );
        let data = |value: AttributeValue| {
            AttributeValue::M(
                [
                    ("assessment_name".to_owned(), s("quality")),
                    ("create_time".to_owned(), s("2026-01-01T00:00:31.250Z")),
                    (
                        "feedback".to_owned(),
                        AttributeValue::M([("value".to_owned(), value)].into()),
                    ),
                ]
                .into(),
            )
        };
        for (value, numeric) in [
            (s("Mostly right"), None),
            (s("0.75"), Some("0.75")),
            (s("yes"), Some("1")),
            (AttributeValue::Bool(false), Some("0")),
        ] {
            let sk = "T#tr-1#ASSESS#a1";
            let mut want = item(
                E,
                sk,
                &[
                    ("data", data(value.clone())),
                    ("name", s("quality")),
                    ("assessment_type", s("feedback")),
                    ("created_timestamp", n("1767225631250")),
                ],
            );
            if let Some(v) = numeric {
                want.insert("numeric_value".into(), n(v));
            }
            check(item(E, sk, &[("data", data(value))]), put(vec![want]));
        }
        assert_eq!(iso_millis("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(iso_millis("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(iso_millis("yesterday"), None);
    }

    #[test]
    fn registry_items() {
        check(
            item(
                "RM#m1",
                "M#META",
                &[
                    ("gsi2sk", s("1700000000000#churn")),
                    ("lsi2sk", s("5")),
                    ("tags", map(&[])),
                ],
            ),
            put(vec![item(
                "RM#m1",
                "M#META",
                &[
                    ("gsi2sk", s("00000001700000000000#churn")),
                    ("lsi2sk", n("5")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        check(
            item("RM#m1", "V#00000003", &[("source", s("models:/a/1"))]),
            Ok(Transformed::Copy(Copy {
                puts: vec![item(
                    "RM#m1",
                    "V#00000003",
                    &[
                        ("source", s("models:/a/1")),
                        ("storage_location", s("")),
                        ("tags", empty_map()),
                    ],
                )],
                puts_if_absent: vec![],
                floors: vec![Floor {
                    target: ItemKey::new("RM#m1", "M#META"),
                    attr: NEXT_VERSION,
                    at_least: 3,
                }],
            })),
        );
        check(
            item("RM#m1", "M#ALIAS#champion", &[("version", s("2"))]),
            put(vec![item(
                "RM#m1",
                "M#ALIAS#champion",
                &[("version", n("2"))],
            )]),
        );
    }

    #[test]
    fn what_is_not_copied_and_what_is_copied_unchanged() {
        check(item(E, "FTS#W#churn#E#01e", &[]), Ok(Transformed::Derived));
        check(item(E, "FTS_REV#R#r1#W#owl", &[]), Ok(Transformed::Derived));
        check(
            item("WORKSPACE#default", "META", &[]),
            Ok(Transformed::Skip(Skip::Seed)),
        );
        check(
            item("OPS#ttl-sweeper", "CHECKPOINT", &[]),
            Ok(Transformed::Skip(Skip::Bookkeeping)),
        );
        check(item("USER#ana", "META", &[]), Ok(Transformed::Unknown));
        for sk in [
            "R#r1#TAG#k#1 é",
            "R#r1#PARAM#lr",
            "R#r1#METRIC#acc",
            "RANK#m#acc#1#r1",
        ] {
            let it = item(E, sk, &[("value", s("v"))]);
            check(it.clone(), put(vec![it]));
        }
        // A value that main's table would refuse: the error names the key
        // and attribute, not the value.
        let err = to_main(&item(E, "D#x", &[("lsi2sk", s("secret"))]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "EXP#01e/D#x: attribute \"lsi2sk\" is not an integer");
        assert_eq!(
            to_main(&Item::from(HashMap::<String, AttributeValue>::new())),
            Err(TransformError::NoKey)
        );
    }

    // ----- to_v0_1 ---------------------------------------------------------

    /// `to_v0_1(input)` is `expected`.
    fn check_back(input: Item, expected: Result<Transformed, TransformError>) {
        assert_eq!(to_v0_1(&input), expected, "{:?}", item_key(&input));
    }

    #[test]
    fn run_meta_back() {
        check_back(
            item(
                E,
                "R#r1",
                &[
                    ("status", s("FINISHED")),
                    ("lsi3sk", s("FINISHED#r1")),
                    ("lsi2sk", n("1700000005000")),
                    ("lsi4sk", s("brave-owl")),
                    ("deleted_time", n("1700000006000")),
                    ("tags", map(&[("mlflow.runName", "Brave-Owl")])),
                ],
            ),
            put(vec![item(
                E,
                "R#r1",
                &[
                    ("status", n("3")),
                    ("lsi3sk", s("3#r1")),
                    ("lsi2sk", s("1700000005000")),
                    ("lsi4sk", s("brave-owl")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        // Running, no name: the string create_run writes, no end time, and
        // no empty lsi4sk (DynamoDB refuses one).
        check_back(
            item(
                E,
                "R#r2",
                &[
                    ("status", s("RUNNING")),
                    ("lsi3sk", s("RUNNING#r2")),
                    ("lsi2sk", n(RUN_NOT_ENDED_LSI2SK)),
                    ("run_name", s("")),
                ],
            ),
            put(vec![item(
                E,
                "R#r2",
                &[
                    ("status", s("RUNNING")),
                    ("lsi3sk", s("RUNNING#r2")),
                    ("run_name", s("")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        check_back(
            item(E, "R#r3", &[("status", s("PAUSED"))]),
            Err(TransformError::Attribute {
                key: ItemKey::new(E, "R#r3"),
                attribute: "status",
                problem: "is no run status",
            }),
        );
        // The tag item main writes for every run stays a tag item.
        let tag = item(
            E,
            "R#r1#TAG#mlflow.runName",
            &[("key", s("mlflow.runName")), ("value", s("Brave-Owl"))],
        );
        check_back(tag.clone(), put(vec![tag]));
    }

    #[test]
    fn metric_history_sk_drops_the_value() {
        let sk = "R#r1#MHIST#acc#P#00000000000000000002#1700000000000";
        check_back(
            item(E, &format!("{sk}#1.5E+17"), &[("value", n("1.5E+17"))]),
            put(vec![item(E, sk, &[("value", n("1.5E+17"))])]),
        );
        let negative = "R#r1#MHIST#acc#N#99999999999999999998#1700000000000";
        check_back(
            item(E, &format!("{negative}#-0.5"), &[("value", n("-0.5"))]),
            put(vec![item(E, negative, &[("value", n("-0.5"))])]),
        );
        check_back(
            item(E, sk, &[("value", n("0.5"))]),
            Err(TransformError::Attribute {
                key: ItemKey::new(E, sk),
                attribute: "SK",
                problem: "is not main's metric-history key",
            }),
        );
        // A non-finite value: v0.1 cannot store it, main's `value` is a 0.
        for sk in [format!("{sk}#NaN"), "R#r1#METRIC#acc".to_owned()] {
            check_back(
                item(E, &sk, &[("value", n("0")), ("value_special", s("NaN"))]),
                Ok(Transformed::NoEquivalent),
            );
        }
    }

    #[test]
    fn trace_meta_and_assessment_back() {
        check_back(
            item(
                E,
                "T#tr-1",
                &[
                    ("lsi1sk", s("00000001700000000000")),
                    ("lsi2sk", n("1700000000012")),
                    ("lsi3sk", s("OK#00000001700000000000")),
                    ("lsi5sk", s("00000000000000000012")),
                    ("trace_name", s("")),
                    ("tags", map(&[("mlflow.traceName", "")])),
                    ("feedbacks", map(&[("quality", "good")])),
                    ("expectations", empty_map()),
                ],
            ),
            put(vec![item(
                E,
                "T#tr-1",
                &[
                    ("lsi1sk", s("00000001700000000000")),
                    ("lsi2sk", s("1700000000012")),
                    ("lsi3sk", s("OK#1700000000000")),
                    ("lsi4sk", s("~")),
                    ("lsi5sk", s("00000000000000000012")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        let sk = "T#tr-1#ASSESS#a1";
        let data = AttributeValue::M([("assessment_name".to_owned(), s("quality"))].into());
        check_back(
            item(
                E,
                sk,
                &[
                    ("data", data.clone()),
                    ("name", s("quality")),
                    ("assessment_type", s("feedback")),
                    ("created_timestamp", n("1767225631250")),
                    ("numeric_value", n("1")),
                ],
            ),
            put(vec![item(E, sk, &[("data", data)])]),
        );
    }

    #[test]
    fn registry_and_experiment_items_back() {
        check_back(
            item(
                "RM#m1",
                "M#META",
                &[
                    ("gsi2sk", s("00000001700000000000#churn #2")),
                    ("lsi2sk", n("5")),
                    ("next_version", n("3")),
                    ("tags", map(&[("a", "b")])),
                ],
            ),
            put(vec![item(
                "RM#m1",
                "M#META",
                &[
                    ("gsi2sk", s("1700000000000#churn #2")),
                    ("lsi2sk", s("5")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        // No run: main omits lsi5sk, 0.1.0 writes `#<version>`.
        check_back(
            item(
                "RM#m1",
                "V#00000003",
                &[("storage_location", s("s3://b/m")), ("lsi2sk", n("7"))],
            ),
            put(vec![item(
                "RM#m1",
                "V#00000003",
                &[
                    ("lsi2sk", s("7")),
                    ("lsi5sk", s("#00000003")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        check_back(
            item("RM#m1", "M#ALIAS#champion", &[("version", n("2"))]),
            put(vec![item(
                "RM#m1",
                "M#ALIAS#champion",
                &[("version", s("2"))],
            )]),
        );
        check_back(
            item(
                "EXP#1",
                "E#META",
                &[
                    ("name", s("Churn")),
                    ("lsi2sk", n("17")),
                    ("name_lower", s("churn")),
                    ("name_rev", s("nruhC")),
                    ("name_lower_rev", s("nruhc")),
                    ("tags", map(&[("a", "b")])),
                    ("tags_lower", map(&[("a", "b")])),
                    ("tags_lower_rev", map(&[("a", "b")])),
                ],
            ),
            put(vec![item(
                "EXP#1",
                "E#META",
                &[
                    ("name", s("Churn")),
                    ("lsi2sk", s("17")),
                    ("tags", empty_map()),
                ],
            )]),
        );
        // The seeded Default experiment has no map in v0.1: none is added.
        let seed = item("EXP#0", "E#META", &[("name", s("Default"))]);
        check_back(seed.clone(), put(vec![seed]));
    }

    #[test]
    fn what_v0_1_has_no_place_for() {
        for (pk, sk) in [
            (E, "LM#m-1"),
            (E, "LM#m-1#TAG#k"),
            (E, "LM#m-1#PARAM#p"),
            (E, "RANK#lm#acc#0001#m-1"),
            (E, "RANK#lmd#ds#acc#0001#m-1"),
            (E, "R#r1#OUTPUT#m-1"),
            (E, "T#tr-1#SPAN#s1"),
            (E, "T#tr-1#SMETRIC#s1#input_tokens"),
            (E, "T#tr-1#TMETRIC#input_tokens"),
            (E, "SCOR#s1"),
            (E, "SESS#abc"),
            ("DS#d1", "DS#META"),
            ("DS#d1", "DS#TAG#k"),
            ("DS#d1", "DS#REC#r1"),
            ("GW_ENDPOINT#g1", "GW#META"),
            ("GW_ENDPOINT#g1", "GW#TAG#k"),
            ("GW_SECRET#s1", "GW#META"),
            ("WH#w1", "WH#META"),
            ("JOB#j1", "JOB#META"),
            ("TMCACHE#x", "RESULT"),
            ("OVERFLOW#x", "PAGE#1"),
            ("WORKSPACE#team-a", "META"),
        ] {
            check_back(item(pk, sk, &[]), Ok(Transformed::NoEquivalent));
        }
    }

    #[test]
    fn what_is_not_copied_back_and_what_is_copied_unchanged() {
        check_back(item(E, "FTS#W#E#churn#01e", &[]), Ok(Transformed::Derived));
        check_back(item(E, "FTS_REV#R#r1#2#wl", &[]), Ok(Transformed::Derived));
        check_back(
            item("WORKSPACE#default", "META", &[]),
            Ok(Transformed::Skip(Skip::Seed)),
        );
        check_back(
            item("OPS#ttl-sweeper", "CHECKPOINT", &[]),
            Ok(Transformed::Skip(Skip::Bookkeeping)),
        );
        check_back(item("USER#ana", "META", &[]), Ok(Transformed::Unknown));
        for sk in [
            "R#r1#TAG#k#1 é",
            "R#r1#PARAM#lr",
            "R#r1#METRIC#acc",
            "RANK#m#acc#1#r1",
            "T#tr-1#SPANS",
            "T#tr-1#RMETA#mlflow.sourceRun",
            "T#tr-1#TAG#mlflow.artifactLocation",
            "E#TAG#team",
        ] {
            let it = item(E, sk, &[("value", s("v"))]);
            check_back(it.clone(), put(vec![it]));
        }
        // A value main moved to S3: an error naming the attribute, never
        // the reference or the value.
        let overflow =
            AttributeValue::M([("_s3_ref".to_owned(), s("s3://b/.overflow/secret"))].into());
        let tag = item(E, "R#r1#TAG#notes", &[("value", overflow.clone())]);
        let err = to_v0_1(&tag).err();
        assert_eq!(
            err,
            Some(TransformError::Overflow {
                key: ItemKey::new(E, "R#r1#TAG#notes"),
                attribute: "value".to_owned(),
            })
        );
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("\"value\"") && !msg.contains("secret"),
            "{msg}"
        );
        // One the rules drop anyway is no error.
        check_back(
            item(E, "T#tr-1", &[("trace_name", overflow), ("lsi4sk", s("p"))]),
            put(vec![item(
                E,
                "T#tr-1",
                &[("lsi4sk", s("p")), ("tags", empty_map())],
            )]),
        );
    }
}
