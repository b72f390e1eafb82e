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
//! always. Not done here for `main`: the `mlflow.runName` → `run_name` /
//! `lsi4sk` sync (an attribute write, not a map entry). Lowering uses Rust's
//! `str::to_lowercase` (full Unicode mapping, final sigma), which matches
//! Python's `str.lower()` except where their Unicode versions differ.

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
        AttributeValue::S(s) => s.to_lowercase(),
        _ => String::new(),
    }
}
