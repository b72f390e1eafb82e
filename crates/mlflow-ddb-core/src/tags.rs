//! Tag denormalization: which META item a tag item is copied into, under
//! which patterns, and which map entries it should produce (contract §3,
//! and §7 through the [`Profile`]'s flags).
//!
//! `v0.1` (implemented fully):
//!
//! | tag item | target | rule |
//! |---|---|---|
//! | `EXP#<e>` / `E#TAG#<key>` | `E#META` | global patterns |
//! | `EXP#<e>` / `R#<run>#TAG#<key>` | `R#<run>` | global + experiment `<e>` patterns |
//! | `EXP#<e>` / `T#<trace>#TAG#<key>` | `T#<trace>` | global + experiment `<e>` patterns |
//! | `RM#<m>` / `M#TAG#<key>` | `M#META` | global patterns |
//! | `RM#<m>` / `V#<ver>#TAG#<key>` | `V#<ver>` | global patterns |
//!
//! The value is copied unchanged into the `tags` map.
//!
//! `main` (what the profile flags say): experiment tags always, also into
//! `tags_lower` (Python-lowered value) and `tags_lower_rev` (its code-point
//! reversal); logged model (`LM#<id>#TAG#` → `LM#<id>`), evaluation dataset
//! (`DS#TAG#` → `DS#META`) and gateway endpoint (`GW#TAG#` → `GW#META`) tags
//! always. `main` also syncs a run's `run_name` and `lsi4sk` from its
//! `mlflow.runName` tag ([`run_name_sync`]: attributes, not map entries).
//! Lowering is [`python_lower`]: Python's `str.lower()` (full Unicode
//! mapping, final sigma) as CPython 3.11-3.13 has it, proven against the
//! reference's vectors over every code point.

use crate::config::Config;
use crate::format::{DenormalizeRule, Profile, TagKind};
use crate::item::{AttributeValue, ItemKey};
use crate::keys::{ExperimentId, ItemKind, TagKey};

/// A denormalized map attribute of a target item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapAttr {
    /// `tags`: the value, unchanged.
    Tags,
    /// `main`, experiments: `tags_lower`, the Python-lowered value.
    TagsLower,
    /// `main`, experiments: `tags_lower_rev`, the lowered value reversed.
    TagsLowerRev,
}

impl MapAttr {
    pub fn as_str(self) -> &'static str {
        match self {
            MapAttr::Tags => "tags",
            MapAttr::TagsLower => "tags_lower",
            MapAttr::TagsLowerRev => "tags_lower_rev",
        }
    }
}

const TAGS_ONLY: &[MapAttr] = &[MapAttr::Tags];
const TAGS_AND_LOWER: &[MapAttr] = &[MapAttr::Tags, MapAttr::TagsLower, MapAttr::TagsLowerRev];

/// Where a tag item is denormalized to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagTarget {
    /// The META item whose maps receive the tag (same partition).
    pub target: ItemKey,
    /// The experiment whose extra patterns apply (runs, traces, logged
    /// models); `None` = global patterns only.
    pub experiment_id: Option<ExperimentId>,
    /// The tag key: everything after the `#TAG#` marker.
    pub key: TagKey,
    pub kind: TagKind,
}

/// Which META item a tag item would denormalize into (structure only: see
/// [`is_denormalized`] for whether the format and config want it). `None`
/// for items that are not tag items.
pub fn tag_target(kind: &ItemKind) -> Option<TagTarget> {
    let tt = |target: ItemKind, experiment_id: Option<&ExperimentId>, key: &TagKey, kind| {
        Some(TagTarget {
            target: target.key(),
            experiment_id: experiment_id.cloned(),
            key: key.clone(),
            kind,
        })
    };
    match kind {
        ItemKind::ExperimentTag { experiment, key } => tt(
            ItemKind::ExperimentMeta {
                experiment: experiment.clone(),
            },
            None,
            key,
            TagKind::Experiment,
        ),
        ItemKind::RunTag {
            experiment,
            run,
            key,
        } => tt(
            ItemKind::RunMeta {
                experiment: experiment.clone(),
                run: run.clone(),
            },
            Some(experiment),
            key,
            TagKind::Run,
        ),
        ItemKind::TraceTag {
            experiment,
            trace,
            key,
        } => tt(
            ItemKind::TraceMeta {
                experiment: experiment.clone(),
                trace: trace.clone(),
            },
            Some(experiment),
            key,
            TagKind::Trace,
        ),
        ItemKind::ModelTag { model, key } => tt(
            ItemKind::ModelMeta {
                model: model.clone(),
            },
            None,
            key,
            TagKind::RegisteredModel,
        ),
        ItemKind::VersionTag {
            model,
            version,
            key,
        } => tt(
            ItemKind::ModelVersion {
                model: model.clone(),
                version: version.clone(),
            },
            None,
            key,
            TagKind::ModelVersion,
        ),
        ItemKind::LoggedModelTag {
            experiment,
            model,
            key,
        } => tt(
            ItemKind::LoggedModelMeta {
                experiment: experiment.clone(),
                model: model.clone(),
            },
            Some(experiment),
            key,
            TagKind::LoggedModel,
        ),
        ItemKind::EvalDatasetTag { dataset, key } => tt(
            ItemKind::EvalDatasetMeta {
                dataset: dataset.clone(),
            },
            None,
            key,
            TagKind::Dataset,
        ),
        ItemKind::GatewayEndpointTag { endpoint, key } => tt(
            ItemKind::GatewayEndpointMeta {
                endpoint: endpoint.clone(),
            },
            None,
            key,
            TagKind::GatewayEndpoint,
        ),
        _ => None,
    }
}

/// The tag kind whose items denormalize into `target` (a META item), if any.
pub fn tag_kind_of_target(target: &ItemKind) -> Option<TagKind> {
    Some(match target {
        ItemKind::ExperimentMeta { .. } => TagKind::Experiment,
        ItemKind::RunMeta { .. } => TagKind::Run,
        ItemKind::TraceMeta { .. } => TagKind::Trace,
        ItemKind::ModelMeta { .. } => TagKind::RegisteredModel,
        ItemKind::ModelVersion { .. } => TagKind::ModelVersion,
        ItemKind::LoggedModelMeta { .. } => TagKind::LoggedModel,
        ItemKind::EvalDatasetMeta { .. } => TagKind::Dataset,
        ItemKind::GatewayEndpointMeta { .. } => TagKind::GatewayEndpoint,
        _ => return None,
    })
}

/// SK prefix of the tag items of `target` (e.g. `R#<run>#TAG#`), for a Query
/// under the target's PK.
pub fn tag_prefix(target: &ItemKind) -> Option<String> {
    let key = target.key();
    Some(match target {
        ItemKind::ExperimentMeta { .. } => crate::keys::SK_EXPERIMENT_TAG_PREFIX.to_owned(),
        ItemKind::ModelMeta { .. } => crate::keys::SK_MODEL_TAG_PREFIX.to_owned(),
        ItemKind::EvalDatasetMeta { .. } => crate::keys::SK_EVAL_DATASET_TAG_PREFIX.to_owned(),
        ItemKind::GatewayEndpointMeta { .. } => crate::keys::SK_GATEWAY_TAG_PREFIX.to_owned(),
        ItemKind::RunMeta { .. }
        | ItemKind::TraceMeta { .. }
        | ItemKind::ModelVersion { .. }
        | ItemKind::LoggedModelMeta { .. } => format!("{}{}", key.sk, crate::keys::TAG_MARKER),
        _ => return None,
    })
}

/// The map attributes targets of `kind` carry in this format (empty when
/// the format does not denormalize the kind).
pub fn map_attrs(profile: &Profile, kind: TagKind) -> &'static [MapAttr] {
    match profile.denormalize_rule(kind) {
        None => &[],
        Some(_) if kind == TagKind::Experiment && profile.writes_tags_lower() => TAGS_AND_LOWER,
        Some(_) => TAGS_ONLY,
    }
}

/// Whether the format and configuration want this tag in its target's maps.
/// An empty key never is: DynamoDB rejects an empty attribute name.
pub fn is_denormalized(profile: &Profile, config: &Config, tt: &TagTarget) -> bool {
    let key = tt.key.as_str();
    if key.is_empty() {
        return false;
    }
    match profile.denormalize_rule(tt.kind) {
        None => false,
        Some(DenormalizeRule::Always) => true,
        Some(DenormalizeRule::GlobalPatterns) => config.should_denormalize(None, key),
        Some(DenormalizeRule::GlobalAndExperimentPatterns) => {
            config.should_denormalize(tt.experiment_id.as_ref().map(|e| e.as_str()), key)
        }
    }
}

/// The map entries a tag item whose `value` attribute is `value` produces,
/// one per attribute of [`map_attrs`].
///
/// `tags` gets the value unchanged. `tags_lower` gets
/// `value.lower() if value else ""` as the reference computes it (a
/// non-string value is treated as empty), `tags_lower_rev` its reversal.
pub fn desired_entries(
    profile: &Profile,
    kind: TagKind,
    value: &AttributeValue,
) -> Vec<(MapAttr, AttributeValue)> {
    map_attrs(profile, kind)
        .iter()
        .map(|attr| {
            let v = match attr {
                MapAttr::Tags => value.clone(),
                MapAttr::TagsLower => AttributeValue::S(lower(value)),
                MapAttr::TagsLowerRev => AttributeValue::S(lower(value).chars().rev().collect()),
            };
            (*attr, v)
        })
        .collect()
}

fn lower(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => python_lower(s),
        _ => String::new(),
    }
}

/// Letters whose lowercase mapping came with Unicode 16 or 17: Rust's
/// `to_lowercase` (Unicode 17) lowers them, CPython 3.11-3.13 (Unicode
/// 14-15.1, where they are unassigned) leaves them as they are. Found by the
/// parity vectors' sweep of every code point (`tests/fixtures/parity`).
const NOT_LOWERED_BY_PYTHON: &[(char, char)] = &[
    ('\u{1C89}', '\u{1C89}'),
    ('\u{A7CB}', '\u{A7CC}'),
    ('\u{A7CE}', '\u{A7CE}'),
    ('\u{A7D2}', '\u{A7D2}'),
    ('\u{A7D4}', '\u{A7D4}'),
    ('\u{A7DA}', '\u{A7DA}'),
    ('\u{A7DC}', '\u{A7DC}'),
    ('\u{10D50}', '\u{10D65}'),
    ('\u{16EA0}', '\u{16EB8}'),
];

fn not_lowered_by_python(c: char) -> bool {
    NOT_LOWERED_BY_PYTHON
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Python's `str.lower()` as the reference store runs it (CPython
/// 3.11-3.13): Rust's `str::to_lowercase` (full mappings, final sigma)
/// except for [`NOT_LOWERED_BY_PYTHON`], which stay unchanged. For CPython
/// such a letter is unassigned, neither cased nor case-ignorable, so it also
/// bounds the final-sigma context: lowering the text between them piece by
/// piece gives exactly that.
pub fn python_lower(s: &str) -> String {
    if !s.chars().any(not_lowered_by_python) {
        return s.to_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if not_lowered_by_python(c) {
            out.push_str(&s[start..i].to_lowercase());
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    out.push_str(&s[start..].to_lowercase());
    out
}

/// The run tag whose value `main` copies into the run's `run_name`.
pub const RUN_NAME_TAG: &str = "mlflow.runName";

/// The run attributes a `mlflow.runName` tag sets in `main` (contract §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNameSync {
    /// `run_name`: the tag's value, unchanged.
    pub run_name: String,
    /// `lsi4sk`: the value Python-lowered (the store sorts names through it).
    pub lsi4sk: String,
}

/// What the run tag `key` = `value` makes of its run's `run_name` and
/// `lsi4sk`: `main`'s `_write_run_tag` sets both when the key is
/// `mlflow.runName` and the value a non-empty string; `v0.1` never does.
pub fn run_name_sync(profile: &Profile, key: &str, value: &AttributeValue) -> Option<RunNameSync> {
    if !profile.syncs_run_name_from_tag() || key != RUN_NAME_TAG {
        return None;
    }
    match value {
        AttributeValue::S(name) if !name.is_empty() => Some(RunNameSync {
            run_name: name.clone(),
            lsi4sk: python_lower(name),
        }),
        _ => None,
    }
}

/// `main`: a string attribute over 350,000 bytes is stored as
/// `{"_s3_ref": "s3://<bucket>/.overflow/..."}` (contract §7). Such a value
/// is a pointer, not the value: it is never copied into a map nor
/// tokenized.
pub fn is_overflow_ref(value: &AttributeValue) -> bool {
    matches!(value, AttributeValue::M(m) if m.contains_key(OVERFLOW_REF))
}

/// The attribute of an overflow reference (see [`is_overflow_ref`]).
pub const OVERFLOW_REF: &str = "_s3_ref";
