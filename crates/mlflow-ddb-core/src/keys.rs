//! Keys of the table: newtypes for ids, and the one parse of a primary key
//! into the kind of item it names.
//!
//! [`ItemKind::parse`] never fails: a key we do not recognise is
//! [`ItemKind::Other`]. [`ItemKind::key`] formats a kind back to the exact
//! strings it was parsed from (`parse(pk, sk).key() == (pk, sk)` for every
//! pair of strings; property-tested).
//!
//! Ids (experiment, run, trace, model, version, assessment ...) are non-empty
//! and never contain `#`; tag, param and alias keys may be any string
//! (`#`, `.`, `/`, spaces, Unicode, empty): a tag key is everything after the
//! `#TAG#` marker that follows the id.

use std::fmt;

use crate::config::ConfigKey;
use crate::format::{FtsKey, Profile, TableFormat, FTS_PREFIX, FTS_REV_PREFIX};
use crate::item::ItemKey;

/// Partition of an experiment and of its runs and traces: `EXP#<e>`.
pub const PK_EXPERIMENT_PREFIX: &str = "EXP#";
/// Partition of a registered model and its versions: `RM#<m>`.
pub const PK_MODEL_PREFIX: &str = "RM#";
/// Partition of the configuration items (defined with them in `config`).
pub use crate::config::CONFIG_PK as PK_CONFIG;
/// Partitions reserved for this suite's own bookkeeping (checkpoints).
pub const PK_OPS_PREFIX: &str = "OPS#";
/// `main`: partition of an evaluation dataset, `DS#<id>`.
pub const PK_DATASET_PREFIX: &str = "DS#";
/// `main`: partition of a gateway endpoint, `GW_ENDPOINT#<id>`.
pub const PK_GATEWAY_ENDPOINT_PREFIX: &str = "GW_ENDPOINT#";

pub const SK_EXPERIMENT_META: &str = "E#META";
pub const SK_EXPERIMENT_NAME_REV: &str = "E#NAME_REV";
pub const SK_EXPERIMENT_TAG_PREFIX: &str = "E#TAG#";
pub const SK_RUN_PREFIX: &str = "R#";
pub const SK_TRACE_PREFIX: &str = "T#";
pub const SK_RANK_PREFIX: &str = "RANK#";
pub const SK_DATASET_PREFIX: &str = "D#";
pub const SK_DLINK_PREFIX: &str = "DLINK#";
/// `main`: experiment-scoped logged model, `LM#<id>`.
pub const SK_LOGGED_MODEL_PREFIX: &str = "LM#";
pub const SK_MODEL_META: &str = "M#META";
pub const SK_MODEL_NAME_REV: &str = "M#NAME_REV";
pub const SK_MODEL_TAG_PREFIX: &str = "M#TAG#";
pub const SK_MODEL_ALIAS_PREFIX: &str = "M#ALIAS#";
pub const SK_VERSION_PREFIX: &str = "V#";
/// `main`: evaluation dataset META and tags.
pub const SK_EVAL_DATASET_META: &str = "DS#META";
pub const SK_EVAL_DATASET_TAG_PREFIX: &str = "DS#TAG#";
/// `main`: gateway endpoint META and tags.
pub const SK_GATEWAY_META: &str = "GW#META";
pub const SK_GATEWAY_TAG_PREFIX: &str = "GW#TAG#";
/// The marker between an id and a tag key: `R#<run>#TAG#<key>`.
pub const TAG_MARKER: &str = "#TAG#";
/// The marker between a run id and a param key: `R#<run>#PARAM#<key>`.
pub const PARAM_MARKER: &str = "#PARAM#";
/// The marker between a trace id and an assessment id.
pub const ASSESS_MARKER: &str = "#ASSESS#";

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// Non-empty and free of `#` (that is what lets a key be split).
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// `None` when `s` is empty or contains `#`.
            pub fn parse(s: &str) -> Option<Self> {
                (!s.is_empty() && !s.contains('#')).then(|| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

macro_rules! key_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// Any string: `#`, `.`, `/`, spaces, Unicode, even empty.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype!(
    /// An experiment id (`EXP#<e>`; a ULID, or `0` for the default experiment).
    ExperimentId
);
id_newtype!(
    /// A run id (`R#<run>`).
    RunId
);
id_newtype!(
    /// A trace id (`T#<trace>`, e.g. `tr-…`).
    TraceId
);
id_newtype!(
    /// A registered model id (the ULID after `RM#`).
    ModelId
);
id_newtype!(
    /// A model version as written in the key (`V#<ver>`, zero-padded).
    VersionId
);
id_newtype!(
    /// An assessment id (`T#<trace>#ASSESS#<id>`).
    AssessmentId
);
id_newtype!(
    /// `main`: a logged model id (`LM#<id>`).
    LoggedModelId
);
id_newtype!(
    /// `main`: an evaluation dataset id (`DS#<id>`).
    DatasetId
);
id_newtype!(
    /// `main`: a gateway endpoint id (`GW_ENDPOINT#<id>`).
    GatewayEndpointId
);

key_newtype!(
    /// A tag key (also used for param keys).
    TagKey
);
key_newtype!(
    /// A model alias (`M#ALIAS#<alias>`).
    Alias
);

/// A partition key. Constructors for the partitions the suite addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pk(String);

impl Pk {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn experiment(e: &ExperimentId) -> Self {
        Self(format!("{PK_EXPERIMENT_PREFIX}{e}"))
    }
    pub fn model(m: &ModelId) -> Self {
        Self(format!("{PK_MODEL_PREFIX}{m}"))
    }
    pub fn config() -> Self {
        Self(PK_CONFIG.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
    /// The experiment of an `EXP#<e>` partition.
    pub fn experiment_id(&self) -> Option<ExperimentId> {
        self.0
            .strip_prefix(PK_EXPERIMENT_PREFIX)
            .and_then(ExperimentId::parse)
    }
}

impl fmt::Display for Pk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sk(String);

impl Sk {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Sk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a child of a run (`R#<run>#<rest>`, other than tags and params) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunChildKind {
    /// `#METRIC#<key>`: latest metric value.
    Metric,
    /// `#MHIST#<key>#<step>#<ts>`: metric history.
    MetricHistory,
    /// `#INPUT#<uuid>` and `#INPUT#<uuid>#ITAG#<key>`: dataset inputs.
    Input,
    /// `#LM#…`: logged model (v2 layout).
    LoggedModel,
    /// `main`: `#OUTPUT#…`.
    Output,
    /// Anything else.
    Unknown,
}

/// What a child of a trace (`T#<trace>#<rest>`, other than tags and
/// assessments) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceChildKind {
    /// `#RMETA#<key>`: request metadata.
    RequestMetadata,
    /// `#CLIENTPTR`: client request id pointer.
    ClientPointer,
    /// `#SPANS` (cached span blob) and `main`'s `#SPAN#…`, `#SMETRIC#…`.
    Spans,
    /// `main`: `#TMETRIC#…`.
    Metric,
    /// Anything else.
    Unknown,
}

/// Every item kind the suite distinguishes, parsed from `(PK, SK)`.
///
/// Each variant keeps exactly what is needed to format its key back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemKind {
    // ----- EXP#<e> ---------------------------------------------------------
    /// `EXP#<e>` / `E#META`.
    ExperimentMeta { experiment: ExperimentId },
    /// `EXP#<e>` / `E#NAME_REV`.
    ExperimentNameRev { experiment: ExperimentId },
    /// `EXP#<e>` / `E#TAG#<key>`.
    ExperimentTag {
        experiment: ExperimentId,
        key: TagKey,
    },
    /// `EXP#<e>` / `R#<run>` (exactly: nothing after the id).
    RunMeta {
        experiment: ExperimentId,
        run: RunId,
    },
    /// `EXP#<e>` / `R#<run>#TAG#<key>`.
    RunTag {
        experiment: ExperimentId,
        run: RunId,
        key: TagKey,
    },
    /// `EXP#<e>` / `R#<run>#PARAM#<key>`.
    RunParam {
        experiment: ExperimentId,
        run: RunId,
        key: TagKey,
    },
    /// `EXP#<e>` / `R#<run>#<rest>`: metrics, metric history, inputs, …
    RunChild {
        experiment: ExperimentId,
        run: RunId,
        /// Everything after `R#<run>#`.
        rest: String,
    },
    /// `EXP#<e>` / `T#<trace>`.
    TraceMeta {
        experiment: ExperimentId,
        trace: TraceId,
    },
    /// `EXP#<e>` / `T#<trace>#TAG#<key>`.
    TraceTag {
        experiment: ExperimentId,
        trace: TraceId,
        key: TagKey,
    },
    /// `EXP#<e>` / `T#<trace>#ASSESS#<assessment>`.
    TraceAssessment {
        experiment: ExperimentId,
        trace: TraceId,
        assessment: AssessmentId,
    },
    /// `EXP#<e>` / `T#<trace>#<rest>`: request metadata, client pointer, spans, …
    TraceChild {
        experiment: ExperimentId,
        trace: TraceId,
        /// Everything after `T#<trace>#`.
        rest: String,
    },
    /// `EXP#<e>` / `RANK#<rest>`: metric and param rank items.
    Rank {
        experiment: ExperimentId,
        rest: String,
    },
    /// `EXP#<e>` / `D#<rest>`: v2 dataset items.
    Dataset {
        experiment: ExperimentId,
        rest: String,
    },
    /// `EXP#<e>` / `DLINK#<rest>`: dataset-run link items.
    DatasetLink {
        experiment: ExperimentId,
        rest: String,
    },
    /// `main`: `EXP#<e>` / `LM#<id>`.
    LoggedModelMeta {
        experiment: ExperimentId,
        model: LoggedModelId,
    },
    /// `main`: `EXP#<e>` / `LM#<id>#TAG#<key>`.
    LoggedModelTag {
        experiment: ExperimentId,
        model: LoggedModelId,
        key: TagKey,
    },
    /// `main`: `EXP#<e>` / `LM#<id>#<rest>` (params, metrics).
    LoggedModelChild {
        experiment: ExperimentId,
        model: LoggedModelId,
        rest: String,
    },

    // ----- RM#<m> ----------------------------------------------------------
    /// `RM#<m>` / `M#META`.
    ModelMeta { model: ModelId },
    /// `RM#<m>` / `M#NAME_REV`.
    ModelNameRev { model: ModelId },
    /// `RM#<m>` / `M#TAG#<key>`.
    ModelTag { model: ModelId, key: TagKey },
    /// `RM#<m>` / `M#ALIAS#<alias>`.
    ModelAlias { model: ModelId, alias: Alias },
    /// `RM#<m>` / `V#<ver>`.
    ModelVersion { model: ModelId, version: VersionId },
    /// `RM#<m>` / `V#<ver>#TAG#<key>`.
    VersionTag {
        model: ModelId,
        version: VersionId,
        key: TagKey,
    },

    // ----- main: DS#<id>, GW_ENDPOINT#<id> ---------------------------------
    /// `main`: `DS#<id>` / `DS#META`.
    EvalDatasetMeta { dataset: DatasetId },
    /// `main`: `DS#<id>` / `DS#TAG#<key>`.
    EvalDatasetTag { dataset: DatasetId, key: TagKey },
    /// `main`: `GW_ENDPOINT#<id>` / `GW#META`.
    GatewayEndpointMeta { endpoint: GatewayEndpointId },
    /// `main`: `GW_ENDPOINT#<id>` / `GW#TAG#<key>`.
    GatewayEndpointTag {
        endpoint: GatewayEndpointId,
        key: TagKey,
    },

    // ----- any partition ---------------------------------------------------
    /// A forward FTS item (`FTS#…`), parsed by the profile of `format`.
    FtsForward {
        pk: String,
        fts: FtsKey,
        format: TableFormat,
    },
    /// A reverse FTS item (`FTS_REV#…`), parsed by the profile of `format`.
    FtsReverse {
        pk: String,
        fts: FtsKey,
        format: TableFormat,
    },
    /// `CONFIG` / one of the items the reference reads (other SKs under
    /// `CONFIG` are [`ItemKind::Other`]).
    Config(ConfigKey),
    /// `OPS#…` / …: this suite's own bookkeeping.
    Ops { pk: String, sk: String },
    /// Anything else (workspaces, users, unknown or malformed keys).
    Other(ItemKey),
}

/// How a change to an item of some kind concerns the suite (cheap, from the
/// key alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relevance {
    /// A tag, param or assessment item: derived state of some target depends
    /// on it.
    Source,
    /// An item that receives derived state (META items): its creation or a
    /// change of an indexed attribute (name) matters.
    Target,
    /// An item our suite derives (FTS items) or keeps for itself (`OPS#`):
    /// skip, or the consumer loops.
    Derived,
    /// A `CONFIG` item: reload the configuration.
    Config,
    /// Nothing derives from it (metrics, metric history, RANK, spans, …).
    Irrelevant,
}

impl ItemKind {
    /// Parse a primary key. Never fails: an unknown key is [`ItemKind::Other`].
    pub fn parse(profile: &Profile, pk: &str, sk: &str) -> ItemKind {
        let kind = parse_inner(profile, pk, sk);
        // Belt and braces: a kind must format back to exactly these strings;
        // anything that would not is not that kind.
        match &kind {
            ItemKind::FtsForward { .. } | ItemKind::FtsReverse { .. } => {
                let k = kind.key();
                if k.pk == pk && k.sk == sk {
                    kind
                } else {
                    ItemKind::Other(ItemKey::new(pk, sk))
                }
            }
            _ => kind,
        }
    }

    /// [`ItemKind::parse`] of an [`ItemKey`].
    pub fn parse_key(profile: &Profile, key: &ItemKey) -> ItemKind {
        Self::parse(profile, &key.pk, &key.sk)
    }

    /// The primary key of this item, exactly the strings it was parsed from.
    pub fn key(&self) -> ItemKey {
        use ItemKind::*;
        fn exp(e: &ExperimentId) -> String {
            [PK_EXPERIMENT_PREFIX, e.as_str()].concat()
        }
        fn rm(m: &ModelId) -> String {
            [PK_MODEL_PREFIX, m.as_str()].concat()
        }
        match self {
            ExperimentMeta { experiment } => ItemKey::new(exp(experiment), SK_EXPERIMENT_META),
            ExperimentNameRev { experiment } => {
                ItemKey::new(exp(experiment), SK_EXPERIMENT_NAME_REV)
            }
            ExperimentTag { experiment, key } => ItemKey::new(
                exp(experiment),
                [SK_EXPERIMENT_TAG_PREFIX, key.as_str()].concat(),
            ),
            RunMeta { experiment, run } => {
                ItemKey::new(exp(experiment), [SK_RUN_PREFIX, run.as_str()].concat())
            }
            RunTag {
                experiment,
                run,
                key,
            } => ItemKey::new(
                exp(experiment),
                [SK_RUN_PREFIX, run.as_str(), TAG_MARKER, key.as_str()].concat(),
            ),
            RunParam {
                experiment,
                run,
                key,
            } => ItemKey::new(
                exp(experiment),
                [SK_RUN_PREFIX, run.as_str(), PARAM_MARKER, key.as_str()].concat(),
            ),
            RunChild {
                experiment,
                run,
                rest,
            } => ItemKey::new(
                exp(experiment),
                [SK_RUN_PREFIX, run.as_str(), "#", rest.as_str()].concat(),
            ),
            TraceMeta { experiment, trace } => {
                ItemKey::new(exp(experiment), [SK_TRACE_PREFIX, trace.as_str()].concat())
            }
            TraceTag {
                experiment,
                trace,
                key,
            } => ItemKey::new(
                exp(experiment),
                [SK_TRACE_PREFIX, trace.as_str(), TAG_MARKER, key.as_str()].concat(),
            ),
            TraceAssessment {
                experiment,
                trace,
                assessment,
            } => ItemKey::new(
                exp(experiment),
                [
                    SK_TRACE_PREFIX,
                    trace.as_str(),
                    ASSESS_MARKER,
                    assessment.as_str(),
                ]
                .concat(),
            ),
            TraceChild {
                experiment,
                trace,
                rest,
            } => ItemKey::new(
                exp(experiment),
                [SK_TRACE_PREFIX, trace.as_str(), "#", rest.as_str()].concat(),
            ),
            Rank { experiment, rest } => {
                ItemKey::new(exp(experiment), [SK_RANK_PREFIX, rest.as_str()].concat())
            }
            Dataset { experiment, rest } => {
                ItemKey::new(exp(experiment), [SK_DATASET_PREFIX, rest.as_str()].concat())
            }
            DatasetLink { experiment, rest } => {
                ItemKey::new(exp(experiment), [SK_DLINK_PREFIX, rest.as_str()].concat())
            }
            LoggedModelMeta { experiment, model } => ItemKey::new(
                exp(experiment),
                [SK_LOGGED_MODEL_PREFIX, model.as_str()].concat(),
            ),
            LoggedModelTag {
                experiment,
                model,
                key,
            } => ItemKey::new(
                exp(experiment),
                [
                    SK_LOGGED_MODEL_PREFIX,
                    model.as_str(),
                    TAG_MARKER,
                    key.as_str(),
                ]
                .concat(),
            ),
            LoggedModelChild {
                experiment,
                model,
                rest,
            } => ItemKey::new(
                exp(experiment),
                [SK_LOGGED_MODEL_PREFIX, model.as_str(), "#", rest.as_str()].concat(),
            ),
            ModelMeta { model } => ItemKey::new(rm(model), SK_MODEL_META),
            ModelNameRev { model } => ItemKey::new(rm(model), SK_MODEL_NAME_REV),
            ModelTag { model, key } => {
                ItemKey::new(rm(model), [SK_MODEL_TAG_PREFIX, key.as_str()].concat())
            }
            ModelAlias { model, alias } => {
                ItemKey::new(rm(model), [SK_MODEL_ALIAS_PREFIX, alias.as_str()].concat())
            }
            ModelVersion { model, version } => {
                ItemKey::new(rm(model), [SK_VERSION_PREFIX, version.as_str()].concat())
            }
            VersionTag {
                model,
                version,
                key,
            } => ItemKey::new(
                rm(model),
                [
                    SK_VERSION_PREFIX,
                    version.as_str(),
                    TAG_MARKER,
                    key.as_str(),
                ]
                .concat(),
            ),
            EvalDatasetMeta { dataset } => ItemKey::new(
                [PK_DATASET_PREFIX, dataset.as_str()].concat(),
                SK_EVAL_DATASET_META,
            ),
            EvalDatasetTag { dataset, key } => ItemKey::new(
                [PK_DATASET_PREFIX, dataset.as_str()].concat(),
                [SK_EVAL_DATASET_TAG_PREFIX, key.as_str()].concat(),
            ),
            GatewayEndpointMeta { endpoint } => ItemKey::new(
                [PK_GATEWAY_ENDPOINT_PREFIX, endpoint.as_str()].concat(),
                SK_GATEWAY_META,
            ),
            GatewayEndpointTag { endpoint, key } => ItemKey::new(
                [PK_GATEWAY_ENDPOINT_PREFIX, endpoint.as_str()].concat(),
                [SK_GATEWAY_TAG_PREFIX, key.as_str()].concat(),
            ),
            FtsForward { pk, fts, format } => ItemKey::new(
                pk.clone(),
                Profile::of(*format).forward_sk(
                    fts.level,
                    &fts.token,
                    fts.entity_type,
                    &fts.entity_id,
                    fts.field.as_deref(),
                ),
            ),
            FtsReverse { pk, fts, format } => ItemKey::new(
                pk.clone(),
                Profile::of(*format).reverse_sk(
                    fts.level,
                    &fts.token,
                    fts.entity_type,
                    &fts.entity_id,
                    fts.field.as_deref(),
                ),
            ),
            Config(c) => c.item_key(),
            Ops { pk, sk } => ItemKey::new(pk.clone(), sk.clone()),
            Other(key) => key.clone(),
        }
    }

    /// The experiment whose partition holds this item, if any.
    pub fn experiment_id(&self) -> Option<&ExperimentId> {
        use ItemKind::*;
        match self {
            ExperimentMeta { experiment }
            | ExperimentNameRev { experiment }
            | ExperimentTag { experiment, .. }
            | RunMeta { experiment, .. }
            | RunTag { experiment, .. }
            | RunParam { experiment, .. }
            | RunChild { experiment, .. }
            | TraceMeta { experiment, .. }
            | TraceTag { experiment, .. }
            | TraceAssessment { experiment, .. }
            | TraceChild { experiment, .. }
            | Rank { experiment, .. }
            | Dataset { experiment, .. }
            | DatasetLink { experiment, .. }
            | LoggedModelMeta { experiment, .. }
            | LoggedModelTag { experiment, .. }
            | LoggedModelChild { experiment, .. } => Some(experiment),
            _ => None,
        }
    }

    /// The run this item belongs to (its META item, tags, params, children).
    pub fn run_id(&self) -> Option<&RunId> {
        match self {
            ItemKind::RunMeta { run, .. }
            | ItemKind::RunTag { run, .. }
            | ItemKind::RunParam { run, .. }
            | ItemKind::RunChild { run, .. } => Some(run),
            _ => None,
        }
    }

    /// The trace this item belongs to (its META item, tags, assessments,
    /// children).
    pub fn trace_id(&self) -> Option<&TraceId> {
        match self {
            ItemKind::TraceMeta { trace, .. }
            | ItemKind::TraceTag { trace, .. }
            | ItemKind::TraceAssessment { trace, .. }
            | ItemKind::TraceChild { trace, .. } => Some(trace),
            _ => None,
        }
    }

    /// The kind of a run child (`None` for other kinds).
    pub fn run_child_kind(&self) -> Option<RunChildKind> {
        let ItemKind::RunChild { rest, .. } = self else {
            return None;
        };
        let head = rest.split('#').next().unwrap_or_default();
        Some(match head {
            "METRIC" => RunChildKind::Metric,
            "MHIST" => RunChildKind::MetricHistory,
            "INPUT" => RunChildKind::Input,
            "LM" => RunChildKind::LoggedModel,
            "OUTPUT" => RunChildKind::Output,
            _ => RunChildKind::Unknown,
        })
    }

    /// The kind of a trace child (`None` for other kinds).
    pub fn trace_child_kind(&self) -> Option<TraceChildKind> {
        let ItemKind::TraceChild { rest, .. } = self else {
            return None;
        };
        let head = rest.split('#').next().unwrap_or_default();
        Some(match head {
            "RMETA" => TraceChildKind::RequestMetadata,
            "CLIENTPTR" => TraceChildKind::ClientPointer,
            "SPANS" | "SPAN" | "SMETRIC" => TraceChildKind::Spans,
            "TMETRIC" => TraceChildKind::Metric,
            _ => TraceChildKind::Unknown,
        })
    }

    /// Items our suite writes as derived state: FTS items (which the
    /// reference store writes too) and our own `OPS#` bookkeeping. A change
    /// to one of them never needs work.
    pub fn is_derived(&self) -> bool {
        matches!(
            self,
            ItemKind::FtsForward { .. } | ItemKind::FtsReverse { .. } | ItemKind::Ops { .. }
        )
    }

    /// Cheap classification from the key alone, to skip records early.
    /// Whether a `Source` or `Target` change needs work depends on the
    /// configuration and the images: see `plan::targets_of`.
    pub fn relevance(&self) -> Relevance {
        use ItemKind::*;
        match self {
            ExperimentTag { .. }
            | RunTag { .. }
            | RunParam { .. }
            | TraceTag { .. }
            | TraceAssessment { .. }
            | LoggedModelTag { .. }
            | ModelTag { .. }
            | VersionTag { .. }
            | EvalDatasetTag { .. }
            | GatewayEndpointTag { .. } => Relevance::Source,
            ExperimentMeta { .. }
            | RunMeta { .. }
            | TraceMeta { .. }
            | LoggedModelMeta { .. }
            | ModelMeta { .. }
            | ModelVersion { .. }
            | EvalDatasetMeta { .. }
            | GatewayEndpointMeta { .. } => Relevance::Target,
            FtsForward { .. } | FtsReverse { .. } | Ops { .. } => Relevance::Derived,
            Config(_) => Relevance::Config,
            ExperimentNameRev { .. }
            | RunChild { .. }
            | TraceChild { .. }
            | Rank { .. }
            | Dataset { .. }
            | DatasetLink { .. }
            | LoggedModelChild { .. }
            | ModelNameRev { .. }
            | ModelAlias { .. }
            | Other(_) => Relevance::Irrelevant,
        }
    }
}

/// `<id>` then optionally `#<rest>`: ids never contain `#`.
fn split_id(s: &str) -> (&str, Option<&str>) {
    match s.split_once('#') {
        Some((id, rest)) => (id, Some(rest)),
        None => (s, None),
    }
}

fn parse_inner(profile: &Profile, pk: &str, sk: &str) -> ItemKind {
    let other = || ItemKind::Other(ItemKey::new(pk, sk));

    if pk.starts_with(PK_OPS_PREFIX) {
        return ItemKind::Ops {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
        };
    }
    if pk == PK_CONFIG {
        return ConfigKey::parse(pk, sk).map_or_else(other, ItemKind::Config);
    }
    // FTS items may live under any entity partition.
    if sk.starts_with(FTS_REV_PREFIX) {
        return match profile.parse_reverse_sk(sk) {
            Some(fts) => ItemKind::FtsReverse {
                pk: pk.to_owned(),
                fts,
                format: profile.format(),
            },
            None => other(),
        };
    }
    if sk.starts_with(FTS_PREFIX) {
        return match profile.parse_forward_sk(sk) {
            Some(fts) => ItemKind::FtsForward {
                pk: pk.to_owned(),
                fts,
                format: profile.format(),
            },
            None => other(),
        };
    }
    if let Some(e) = pk.strip_prefix(PK_EXPERIMENT_PREFIX) {
        return match ExperimentId::parse(e) {
            Some(experiment) => parse_experiment_sk(experiment, sk).unwrap_or_else(other),
            None => other(),
        };
    }
    if let Some(m) = pk.strip_prefix(PK_MODEL_PREFIX) {
        return match ModelId::parse(m) {
            Some(model) => parse_model_sk(model, sk).unwrap_or_else(other),
            None => other(),
        };
    }
    if let Some(d) = pk.strip_prefix(PK_DATASET_PREFIX) {
        let Some(dataset) = DatasetId::parse(d) else {
            return other();
        };
        if sk == SK_EVAL_DATASET_META {
            return ItemKind::EvalDatasetMeta { dataset };
        }
        if let Some(key) = sk.strip_prefix(SK_EVAL_DATASET_TAG_PREFIX) {
            return ItemKind::EvalDatasetTag {
                dataset,
                key: TagKey::new(key),
            };
        }
        return other();
    }
    if let Some(g) = pk.strip_prefix(PK_GATEWAY_ENDPOINT_PREFIX) {
        let Some(endpoint) = GatewayEndpointId::parse(g) else {
            return other();
        };
        if sk == SK_GATEWAY_META {
            return ItemKind::GatewayEndpointMeta { endpoint };
        }
        if let Some(key) = sk.strip_prefix(SK_GATEWAY_TAG_PREFIX) {
            return ItemKind::GatewayEndpointTag {
                endpoint,
                key: TagKey::new(key),
            };
        }
        return other();
    }
    other()
}

fn parse_experiment_sk(experiment: ExperimentId, sk: &str) -> Option<ItemKind> {
    if sk == SK_EXPERIMENT_META {
        return Some(ItemKind::ExperimentMeta { experiment });
    }
    if sk == SK_EXPERIMENT_NAME_REV {
        return Some(ItemKind::ExperimentNameRev { experiment });
    }
    if let Some(key) = sk.strip_prefix(SK_EXPERIMENT_TAG_PREFIX) {
        return Some(ItemKind::ExperimentTag {
            experiment,
            key: TagKey::new(key),
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_RUN_PREFIX) {
        let (run, rest) = split_id(rest);
        let run = RunId::parse(run)?;
        return Some(match rest {
            None => ItemKind::RunMeta { experiment, run },
            Some(rest) => {
                if let Some(key) = rest.strip_prefix(&TAG_MARKER[1..]) {
                    ItemKind::RunTag {
                        experiment,
                        run,
                        key: TagKey::new(key),
                    }
                } else if let Some(key) = rest.strip_prefix(&PARAM_MARKER[1..]) {
                    ItemKind::RunParam {
                        experiment,
                        run,
                        key: TagKey::new(key),
                    }
                } else {
                    ItemKind::RunChild {
                        experiment,
                        run,
                        rest: rest.to_owned(),
                    }
                }
            }
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_TRACE_PREFIX) {
        let (trace, rest) = split_id(rest);
        let trace = TraceId::parse(trace)?;
        return Some(match rest {
            None => ItemKind::TraceMeta { experiment, trace },
            Some(rest) => {
                if let Some(key) = rest.strip_prefix(&TAG_MARKER[1..]) {
                    ItemKind::TraceTag {
                        experiment,
                        trace,
                        key: TagKey::new(key),
                    }
                } else if let Some(assessment) = rest
                    .strip_prefix(&ASSESS_MARKER[1..])
                    .and_then(AssessmentId::parse)
                {
                    ItemKind::TraceAssessment {
                        experiment,
                        trace,
                        assessment,
                    }
                } else {
                    ItemKind::TraceChild {
                        experiment,
                        trace,
                        rest: rest.to_owned(),
                    }
                }
            }
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_RANK_PREFIX) {
        return Some(ItemKind::Rank {
            experiment,
            rest: rest.to_owned(),
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_DLINK_PREFIX) {
        return Some(ItemKind::DatasetLink {
            experiment,
            rest: rest.to_owned(),
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_DATASET_PREFIX) {
        return Some(ItemKind::Dataset {
            experiment,
            rest: rest.to_owned(),
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_LOGGED_MODEL_PREFIX) {
        let (model, rest) = split_id(rest);
        let model = LoggedModelId::parse(model)?;
        return Some(match rest {
            None => ItemKind::LoggedModelMeta { experiment, model },
            Some(rest) => match rest.strip_prefix(&TAG_MARKER[1..]) {
                Some(key) => ItemKind::LoggedModelTag {
                    experiment,
                    model,
                    key: TagKey::new(key),
                },
                None => ItemKind::LoggedModelChild {
                    experiment,
                    model,
                    rest: rest.to_owned(),
                },
            },
        });
    }
    None
}

fn parse_model_sk(model: ModelId, sk: &str) -> Option<ItemKind> {
    if sk == SK_MODEL_META {
        return Some(ItemKind::ModelMeta { model });
    }
    if sk == SK_MODEL_NAME_REV {
        return Some(ItemKind::ModelNameRev { model });
    }
    if let Some(key) = sk.strip_prefix(SK_MODEL_TAG_PREFIX) {
        return Some(ItemKind::ModelTag {
            model,
            key: TagKey::new(key),
        });
    }
    if let Some(alias) = sk.strip_prefix(SK_MODEL_ALIAS_PREFIX) {
        return Some(ItemKind::ModelAlias {
            model,
            alias: Alias::new(alias),
        });
    }
    if let Some(rest) = sk.strip_prefix(SK_VERSION_PREFIX) {
        let (version, rest) = split_id(rest);
        let version = VersionId::parse(version)?;
        return match rest {
            None => Some(ItemKind::ModelVersion { model, version }),
            Some(rest) => rest
                .strip_prefix(&TAG_MARKER[1..])
                .map(|key| ItemKind::VersionTag {
                    model,
                    version,
                    key: TagKey::new(key),
                }),
        };
    }
    None
}
