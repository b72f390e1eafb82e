//! Level-triggered reconciliation, pure.
//!
//! For one *target* (a META item that receives derived state) the planner
//! compares what the table holds with what the sources say it should hold,
//! and returns the writes that close the gap. It is level-triggered: it
//! never looks at what changed, only at the current state, so replaying or
//! duplicating stream records converges, and a target that is already right
//! costs zero writes (co-existence with the reference store, which
//! materializes inline, must be free).
//!
//! # How a consumer uses it
//!
//! 1. [`targets_of`] a decoded [`Change`] → the target keys it touches
//!    (deduplicate over a batch).
//! 2. [`reads_for`] a target → the Queries to make. Read the target item
//!    first (GetItem, strongly consistent), then the source and FTS prefixes
//!    (Query, strongly consistent, all pages): sources read after the target
//!    are at least as new, so a plan never writes an older value than the
//!    one it read. A later change re-triggers the target anyway.
//! 3. [`plan_target`] the [`TargetSnapshot`] → a [`TargetPlan`].
//! 4. Execute: every map update carries `attribute_exists(PK)` (never
//!    resurrect a deleted target; a failed condition means "target gone"),
//!    and may carry the `expected` entry values as optimistic-concurrency
//!    conditions (a failure then means "re-read and re-plan").
//!    `needs_map` means: first `SET #m = if_not_exists(#m, :empty)` in its
//!    own request (contract §3). Large updates may be split (DynamoDB limits
//!    an expression to 4 KB); every entry is independent.
//!
//! # Tag-map policy
//!
//! - A tag item whose key the format and configuration denormalize and whose
//!   map entry is missing or differs: the entry is set.
//! - A map entry with no tag item any more (deleted tag): removed, whatever
//!   the patterns say now.
//! - An entry whose tag item exists but whose key no longer matches a
//!   pattern: left alone (the reference never removes those either).
//!
//! # FTS policy
//!
//! Desired token sets per (entity, field), contract §4: experiment and model
//! names always; run name when non-empty; run tag values, run param values,
//! trace tag values when `FTS_TRIGRAM_FIELDS` enables them; assessment values
//! always (field `assess_<id>`, see [`assessment_fts_text`]); `main`: the
//! run's `artifact_uri` (field `artifact_uri`).
//!
//! Ownership, per field (the reverse items are grouped by field; a run tag
//! and a run param with the same key share one field):
//! - A field none of whose possible source kinds is enabled is left alone
//!   (e.g. run tag fields while `run_tag_value` is off: the reference leaves
//!   them, so do we). An empty or `NULL` run name is such a case: the store
//!   writes `run_name = NULL` when a run ends (MLflow passes `run_name=None`)
//!   and keeps the name's tokens; we cannot know the name, so we keep them.
//! - Otherwise the missing tokens are put, and the extra tokens deleted,
//!   unless the field is *blocked*: a source of a disabled kind currently
//!   maps to it (a run param `k` while only `run_tag_value` is on), the
//!   field is the store's own (`spans`, span names the store indexes when
//!   it reads a trace), or a source could not be read (wrong attribute
//!   type, unrenderable assessment). A blocked field only gets puts.
//! - An enabled field with no source (deleted tag, deleted assessment) has
//!   an empty desired set: its tokens are deleted. So are stale tokens after
//!   a value change (a reference quirk we do not reproduce).
//!
//! Put items carry exactly the reference's attributes: `gsi2pk`/`gsi2sk` for
//! experiments and models (workspace from the item's `workspace`, default
//! `default`), and the target's `ttl` for traces and — a deliberate addition
//! — for soft-deleted runs (the reference sets the run's ttl on its FTS
//! items when it soft-deletes it; without it, tokens we add to a deleted
//! run would outlive it). The ttl of existing FTS items is not reconciled.
//!
//! Limits: the forward item of an existing reverse item is assumed to exist
//! (forward items cannot be listed per entity); FTS items are compared by
//! key only.
//!
//! [`Change`]: crate::stream::Change

mod assessment;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use assessment::{assessment_fts_text, py_float_repr, Unrenderable};

use crate::config::{Config, FtsField};
use crate::format::{reverse_prefix, FtsEntityType, Profile};
use crate::fts::{token_set, FtsTarget, TokenSet, TTL};
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};
use crate::keys::{ItemKind, SK_EXPERIMENT_META};
use crate::stream::{Change, EventName};
use crate::tags::{
    desired_entries, is_denormalized, is_overflow_ref, map_attrs, run_name_sync,
    tag_kind_of_target, tag_prefix, tag_target, RUN_NAME_TAG,
};

/// Attribute names the planner reads on targets.
const NAME: &str = "name";
const RUN_NAME: &str = "run_name";
/// The run's name, lowered: `main` keeps it in sync with `run_name`.
const LSI4_SK: &str = "lsi4sk";
const ARTIFACT_URI: &str = "artifact_uri";
const WORKSPACE: &str = "workspace";
const VALUE: &str = "value";
const DATA: &str = "data";
/// Field of span-name tokens, written by the store itself.
const SPANS_FIELD: &str = "spans";
/// Field prefix of assessment tokens: `assess_<assessment id>`.
const ASSESS_FIELD_PREFIX: &str = "assess_";

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

/// What to read for one target, besides the target item itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReads {
    pub target: ItemKey,
    /// SK prefixes to Query under `target.pk` (all pages): tag items, params,
    /// assessments.
    pub source_prefixes: Vec<String>,
    /// SK prefix of the target's reverse FTS items (`FTS_REV#<t>#<id>#`),
    /// when the target has FTS.
    pub fts_reverse_prefix: Option<String>,
}

/// The Queries that feed [`plan_target`] for `target`; `None` when the key is
/// not a target in this format.
pub fn reads_for(profile: &Profile, config: &Config, target: &ItemKey) -> Option<TargetReads> {
    let kind = ItemKind::parse_key(profile, target);
    let mut source_prefixes = Vec::new();
    if let Some(tag_kind) = tag_kind_of_target(&kind) {
        if profile.denormalize_rule(tag_kind).is_some() || fts_entity(&kind).is_some() {
            source_prefixes.extend(tag_prefix(&kind));
        }
    }
    match &kind {
        ItemKind::RunMeta { .. } if reads_params(profile, config) => {
            source_prefixes.push(format!("{}{}", target.sk, crate::keys::PARAM_MARKER));
        }
        ItemKind::TraceMeta { .. } => {
            source_prefixes.push(format!("{}{}", target.sk, crate::keys::ASSESS_MARKER));
        }
        _ => {}
    }
    let fts_reverse_prefix = fts_entity(&kind).map(|(t, id)| reverse_prefix(t, id, None));
    if source_prefixes.is_empty() && fts_reverse_prefix.is_none() {
        return None;
    }
    Some(TargetReads {
        target: target.clone(),
        source_prefixes,
        fts_reverse_prefix,
    })
}

/// Params matter when a field they can share is indexed.
fn reads_params(profile: &Profile, config: &Config) -> bool {
    config.trigram(FtsField::RunTagValue)
        || config.trigram(FtsField::RunParamValue)
        || profile.indexes_run_artifact_uri()
}

/// The FTS entity a target indexes, if any.
fn fts_entity(kind: &ItemKind) -> Option<(FtsEntityType, &str)> {
    match kind {
        ItemKind::ExperimentMeta { experiment } => Some((FtsEntityType::E, experiment.as_str())),
        ItemKind::RunMeta { run, .. } => Some((FtsEntityType::R, run.as_str())),
        ItemKind::TraceMeta { trace, .. } => Some((FtsEntityType::T, trace.as_str())),
        ItemKind::ModelMeta { model } => Some((FtsEntityType::M, model.as_str())),
        _ => None,
    }
}

/// The FTS item pairs of a run or trace rewritten with the target's current
/// `ttl` (`target_item`'s; none when it has none), from its reverse items
/// (`FTS_REV#<t>#<id>#…`, whole items or keys). The planner leaves the ttl
/// of existing FTS items alone, since the reference store sets it itself
/// when it soft-deletes or restores a run; a migration carrying that change
/// from another table must set it too (the source's own FTS writes are not
/// copied). Experiments and models carry no ttl on their FTS items: empty.
pub fn fts_with_target_ttl(
    profile: &Profile,
    target: &ItemKey,
    target_item: &Item,
    reverse: &[Item],
) -> Vec<Item> {
    let kind = ItemKind::parse_key(profile, target);
    let Some((entity, id)) = fts_entity(&kind) else {
        return Vec::new();
    };
    if !matches!(entity, FtsEntityType::R | FtsEntityType::T) {
        return Vec::new();
    }
    let ttl = target_item.get(TTL).and_then(epoch_seconds);
    let mut out = Vec::new();
    for rev in reverse {
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (rev.get(PK), rev.get(SK))
        else {
            continue;
        };
        if *pk != target.pk {
            continue;
        }
        let Some(fts) = profile.parse_reverse_sk(sk) else {
            continue;
        };
        if fts.entity_type != entity || fts.entity_id != id {
            continue;
        }
        let t = FtsTarget::new(&target.pk, entity, id, fts.field.as_deref()).with_ttl(ttl);
        out.extend(t.item_pair(profile, fts.level, &fts.token));
    }
    out
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

/// What was read for one target (see [`reads_for`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSnapshot {
    pub target: ItemKey,
    /// The target item; `None` = gone (nothing is planned).
    pub item: Option<Item>,
    /// Every item the source Queries returned (others are ignored).
    pub sources: Vec<Item>,
    /// Every item the reverse FTS Query returned.
    pub fts_reverse: Vec<Item>,
}

/// Changes to one map attribute of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct MapUpdate {
    pub target: ItemKey,
    /// The map attribute (`tags`; `main` also `tags_lower`, `tags_lower_rev`).
    pub attr: String,
    /// `SET #m.#k = :v` for each entry.
    pub set: BTreeMap<String, AttributeValue>,
    /// `REMOVE #m.#k` for each key.
    pub remove: BTreeSet<String>,
    /// The map attribute is missing: create it first, in its own request
    /// (`SET #m = if_not_exists(#m, :empty)`). Also set when the attribute
    /// exists but is not a map; `if_not_exists` keeps such a value and the
    /// nested `SET` then fails with a ValidationException (a poison record:
    /// no writer we know produces it).
    pub needs_map: bool,
    /// The value each touched entry had when read (`None` = absent), for
    /// optional optimistic-concurrency conditions.
    pub expected: BTreeMap<String, Option<AttributeValue>>,
}

/// Top-level attributes of one target to set (`main`: the run's
/// `run_name` and `lsi4sk` from its `mlflow.runName` tag).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrUpdate {
    pub target: ItemKey,
    /// `SET #a = :v` for each attribute, conditional on the target existing.
    pub set: BTreeMap<String, AttributeValue>,
    /// The value each attribute had when read (`None` = absent).
    pub expected: BTreeMap<String, Option<AttributeValue>>,
}

/// The writes that bring one target's derived state in line.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    pub target: ItemKey,
    /// Attributes of the target itself to set (executed before the maps).
    pub attrs: Option<AttrUpdate>,
    /// At most one per map attribute (in `v0.1`, at most one: `tags`).
    pub maps: Vec<MapUpdate>,
    /// FTS items to put (forward and reverse pairs), sorted by key.
    pub puts: Vec<Item>,
    /// FTS items to delete (forward and reverse pairs), sorted.
    pub deletes: Vec<ItemKey>,
}

impl TargetPlan {
    /// A plan with nothing to write.
    pub fn empty(target: ItemKey) -> TargetPlan {
        TargetPlan {
            target,
            attrs: None,
            maps: Vec::new(),
            puts: Vec::new(),
            deletes: Vec::new(),
        }
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_none()
            && self.maps.is_empty()
            && self.puts.is_empty()
            && self.deletes.is_empty()
    }

    /// Number of write requests if executed one per item, one per map
    /// update (plus one per `needs_map`) and one for the attributes.
    pub fn write_count(&self) -> usize {
        usize::from(self.attrs.is_some())
            + self
                .maps
                .iter()
                .map(|m| 1 + usize::from(m.needs_map))
                .sum::<usize>()
            + self.puts.len()
            + self.deletes.len()
    }

    /// The drift this plan repairs.
    pub fn drift(&self) -> Drift {
        Drift::from(self)
    }
}

/// Plan one target. Pure; see the module docs for the policy.
pub fn plan_target(profile: &Profile, config: &Config, snap: &TargetSnapshot) -> TargetPlan {
    let mut plan = TargetPlan::empty(snap.target.clone());
    let Some(item) = &snap.item else {
        return plan;
    };
    let target_kind = ItemKind::parse_key(profile, &snap.target);
    let sources = Sources::collect(profile, &snap.target, &target_kind, &snap.sources);

    let (attrs, run_name) = plan_run_name(profile, &snap.target, &target_kind, item, &sources);
    plan.attrs = attrs;
    plan.maps = plan_maps(profile, config, &snap.target, item, &sources);
    if let Some((entity, id)) = fts_entity(&target_kind) {
        let text = IndexedText {
            item,
            run_name: run_name.as_deref(),
        };
        let (puts, deletes) = plan_fts(profile, config, snap, &text, entity, id, &sources);
        plan.puts = puts;
        plan.deletes = deletes;
    }
    plan
}

/// The source items of one target, sorted out.
struct Sources<'a> {
    /// Tag key → (TagTarget, value): tag items of this target.
    tags: BTreeMap<String, (crate::tags::TagTarget, Option<&'a AttributeValue>)>,
    /// Param key → value.
    params: BTreeMap<String, Option<&'a AttributeValue>>,
    /// Assessment id → `data` attribute.
    assessments: BTreeMap<String, Option<&'a AttributeValue>>,
}

impl<'a> Sources<'a> {
    fn collect(
        profile: &Profile,
        target: &ItemKey,
        target_kind: &ItemKind,
        items: &'a [Item],
    ) -> Sources<'a> {
        let mut out = Sources {
            tags: BTreeMap::new(),
            params: BTreeMap::new(),
            assessments: BTreeMap::new(),
        };
        for item in items {
            let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (item.get(PK), item.get(SK))
            else {
                continue;
            };
            if pk != &target.pk {
                continue;
            }
            let kind = ItemKind::parse(profile, pk, sk);
            if let Some(tt) = tag_target(&kind) {
                if tt.target == *target {
                    let key = tt.key.as_str().to_owned();
                    out.tags.insert(key, (tt, item.get(VALUE)));
                }
                continue;
            }
            match (&kind, target_kind) {
                (
                    ItemKind::RunParam {
                        experiment,
                        run,
                        key,
                    },
                    ItemKind::RunMeta {
                        experiment: te,
                        run: tr,
                    },
                ) if experiment == te && run == tr => {
                    out.params.insert(key.as_str().to_owned(), item.get(VALUE));
                }
                (
                    ItemKind::TraceAssessment {
                        experiment,
                        trace,
                        assessment,
                    },
                    ItemKind::TraceMeta {
                        experiment: te,
                        trace: tt,
                    },
                ) if experiment == te && trace == tt => {
                    out.assessments
                        .insert(assessment.as_str().to_owned(), item.get(DATA));
                }
                _ => {}
            }
        }
        out
    }
}

/// A run's name as its FTS items should index it, and in `main` the
/// `run_name` / `lsi4sk` writes its `mlflow.runName` tag asks for (contract
/// §7). The tag is the newer truth: `main` writes it after, or instead of,
/// the run's `run_name`. Where `main` itself forgets the name's tokens (a
/// rename through the tag), this name is what they are computed from.
fn plan_run_name<'a>(
    profile: &Profile,
    target: &ItemKey,
    target_kind: &ItemKind,
    item: &'a Item,
    sources: &Sources<'a>,
) -> (Option<AttrUpdate>, Option<std::borrow::Cow<'a, str>>) {
    let stored = match item.get(RUN_NAME) {
        Some(AttributeValue::S(s)) if !s.is_empty() => Some(std::borrow::Cow::Borrowed(s.as_str())),
        _ => None,
    };
    if !matches!(target_kind, ItemKind::RunMeta { .. }) {
        return (None, stored);
    }
    let sync = sources
        .tags
        .get(RUN_NAME_TAG)
        .and_then(|(_, v)| *v)
        .and_then(|v| run_name_sync(profile, RUN_NAME_TAG, v));
    let Some(sync) = sync else {
        return (None, stored);
    };
    let mut update = AttrUpdate {
        target: target.clone(),
        set: BTreeMap::new(),
        expected: BTreeMap::new(),
    };
    for (attr, want) in [(RUN_NAME, &sync.run_name), (LSI4_SK, &sync.lsi4sk)] {
        let have = item.get(attr);
        if have != Some(&AttributeValue::S(want.clone())) {
            update.expected.insert(attr.to_owned(), have.cloned());
            update
                .set
                .insert(attr.to_owned(), AttributeValue::S(want.clone()));
        }
    }
    let attrs = (!update.set.is_empty()).then_some(update);
    (attrs, Some(std::borrow::Cow::Owned(sync.run_name)))
}

fn plan_maps(
    profile: &Profile,
    config: &Config,
    target: &ItemKey,
    item: &Item,
    sources: &Sources<'_>,
) -> Vec<MapUpdate> {
    let Some(tag_kind) = tag_kind_of_target(&ItemKind::parse_key(profile, target)) else {
        return Vec::new();
    };
    let mut updates = Vec::new();
    for attr in map_attrs(profile, tag_kind) {
        let actual = match item.get(attr.as_str()) {
            Some(AttributeValue::M(m)) => Some(m),
            _ => None,
        };
        let get = |k: &str| actual.and_then(|m| m.get(k));
        let mut update = MapUpdate {
            target: target.clone(),
            attr: attr.as_str().to_owned(),
            set: BTreeMap::new(),
            remove: BTreeSet::new(),
            needs_map: false,
            expected: BTreeMap::new(),
        };
        for (key, (tt, value)) in &sources.tags {
            let Some(value) = value.filter(|v| !is_overflow_ref(v)) else {
                // A tag item without a value, or `main`'s overflow pointer to
                // one in S3: nothing to copy (an existing entry stays).
                continue;
            };
            if !is_denormalized(profile, config, tt) {
                continue;
            }
            let want = desired_entries(profile, tag_kind, value)
                .into_iter()
                .find_map(|(a, v)| (a == *attr).then_some(v));
            if let Some(want) = want {
                if get(key) != Some(&want) {
                    update.expected.insert(key.clone(), get(key).cloned());
                    update.set.insert(key.clone(), want);
                }
            }
        }
        if let Some(actual) = actual {
            // An empty key cannot be named in an expression; no writer
            // produces one.
            for (key, value) in actual.iter().filter(|(k, _)| !k.is_empty()) {
                if !sources.tags.contains_key(key) {
                    update.expected.insert(key.clone(), Some(value.clone()));
                    update.remove.insert(key.clone());
                }
            }
        }
        update.needs_map = !update.set.is_empty() && actual.is_none();
        if !update.set.is_empty() || !update.remove.is_empty() {
            updates.push(update);
        }
    }
    updates
}

/// The target item and the run name its FTS items index (the
/// `mlflow.runName` tag's in `main`, see [`plan_run_name`]).
struct IndexedText<'a> {
    item: &'a Item,
    run_name: Option<&'a str>,
}

/// One field's FTS state.
#[derive(Default)]
struct FieldState {
    desired: TokenSet,
    actual: TokenSet,
    blocked: bool,
}

fn plan_fts(
    profile: &Profile,
    config: &Config,
    snap: &TargetSnapshot,
    text_of: &IndexedText<'_>,
    entity: FtsEntityType,
    id: &str,
    sources: &Sources<'_>,
) -> (Vec<Item>, Vec<ItemKey>) {
    let item = text_of.item;
    let mut fields: BTreeMap<Option<String>, FieldState> = BTreeMap::new();
    // Contribute the tokens of `value` to `field` if `enabled`; a source of a
    // disabled kind, or one we cannot read, blocks deletions.
    let mut contribute = |field: Option<String>, enabled: bool, value: Result<&str, ()>| {
        let state = fields.entry(field).or_default();
        match (enabled, value) {
            (true, Ok(s)) => state.desired.extend(token_set(profile, s)),
            _ => state.blocked = true,
        }
    };

    let run_name = text_of.run_name;
    match entity {
        FtsEntityType::E | FtsEntityType::M => contribute(None, true, text(item.get(NAME))),
        FtsEntityType::R => {
            if let Some(name) = run_name {
                contribute(None, true, Ok(name));
            }
            let tag_on = config.trigram(FtsField::RunTagValue);
            let param_on = config.trigram(FtsField::RunParamValue);
            for (key, (_, value)) in nonempty(&sources.tags) {
                contribute(Some(key.clone()), tag_on, text(*value));
            }
            for (key, value) in nonempty(&sources.params) {
                contribute(Some(key.clone()), param_on, text(*value));
            }
            if profile.indexes_run_artifact_uri() {
                match item.get(ARTIFACT_URI) {
                    None | Some(AttributeValue::Null(_)) => {}
                    v => contribute(Some(ARTIFACT_URI.to_owned()), true, text(v)),
                }
            }
        }
        FtsEntityType::T => {
            let tag_on = config.trigram(FtsField::TraceTagValue);
            for (key, (_, value)) in nonempty(&sources.tags) {
                contribute(Some(key.clone()), tag_on, text(*value));
            }
            for (assessment, data) in &sources.assessments {
                let field = Some(format!("{ASSESS_FIELD_PREFIX}{assessment}"));
                match data.map(assessment_fts_text) {
                    Some(Ok(Some(t))) => contribute(field, true, Ok(&t)),
                    Some(Ok(None)) => contribute(field, true, Ok("")),
                    Some(Err(Unrenderable)) | None => contribute(field, true, Err(())),
                }
            }
        }
    }

    for rev in &snap.fts_reverse {
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (rev.get(PK), rev.get(SK))
        else {
            continue;
        };
        if *pk != snap.target.pk {
            continue;
        }
        let Some(fts) = profile.parse_reverse_sk(sk) else {
            continue;
        };
        if fts.entity_type != entity || fts.entity_id != id {
            continue;
        }
        fields
            .entry(fts.field)
            .or_default()
            .actual
            .insert((fts.level, fts.token));
    }

    let workspace = match item.get(WORKSPACE) {
        Some(AttributeValue::S(w)) if entity.has_gsi2() => Some(w.as_str()),
        _ => None,
    };
    let ttl = match entity {
        FtsEntityType::T | FtsEntityType::R => item.get(TTL).and_then(epoch_seconds),
        FtsEntityType::E | FtsEntityType::M => None,
    };

    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    for (field, state) in &fields {
        let f = field.as_deref();
        if !field_enabled(profile, config, entity, f, run_name.is_some()) {
            continue;
        }
        let blocked = state.blocked || (entity == FtsEntityType::T && f == Some(SPANS_FIELD));
        let target = FtsTarget::new(&snap.target.pk, entity, id, f)
            .with_workspace(workspace)
            .with_ttl(ttl);
        for (level, token) in state.desired.difference(&state.actual) {
            puts.extend(target.item_pair(profile, *level, token));
        }
        if !blocked {
            for (level, token) in state.actual.difference(&state.desired) {
                deletes.extend(target.key_pair(profile, *level, token));
            }
        }
    }
    puts.sort_by(|a, b| item_sk(a).cmp(item_sk(b)));
    deletes.sort();
    (puts, deletes)
}

/// Entries with a non-empty key: an empty key cannot be a field (the
/// reference would write it as no field at all).
fn nonempty<V>(map: &BTreeMap<String, V>) -> impl Iterator<Item = (&String, &V)> {
    map.iter().filter(|(k, _)| !k.is_empty())
}

/// Whether any source kind that can map to `field` of `entity` is enabled.
fn field_enabled(
    profile: &Profile,
    config: &Config,
    entity: FtsEntityType,
    field: Option<&str>,
    has_run_name: bool,
) -> bool {
    match (entity, field) {
        (FtsEntityType::E | FtsEntityType::M, None) => true,
        (FtsEntityType::E | FtsEntityType::M, Some(_)) => false,
        (FtsEntityType::R, None) => has_run_name,
        (FtsEntityType::R, Some(f)) => {
            config.trigram(FtsField::RunTagValue)
                || config.trigram(FtsField::RunParamValue)
                || (f == ARTIFACT_URI && profile.indexes_run_artifact_uri())
        }
        (FtsEntityType::T, None) => false,
        (FtsEntityType::T, Some(f)) => {
            config.trigram(FtsField::TraceTagValue) || f.starts_with(ASSESS_FIELD_PREFIX)
        }
    }
}

/// A source's text: only a string attribute can be indexed.
fn text(v: Option<&AttributeValue>) -> Result<&str, ()> {
    match v {
        Some(AttributeValue::S(s)) => Ok(s.as_str()),
        _ => Err(()),
    }
}

fn item_sk(item: &Item) -> &str {
    match item.get(SK) {
        Some(AttributeValue::S(s)) => s,
        _ => "",
    }
}

/// A `ttl` attribute as epoch seconds (`N`, integral or not).
fn epoch_seconds(v: &AttributeValue) -> Option<i64> {
    let AttributeValue::N(n) = v else {
        return None;
    };
    n.parse::<i64>().ok().or_else(|| {
        n.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && f.abs() < 9.0e18)
            .map(|f| f as i64)
    })
}

// ---------------------------------------------------------------------------
// Drift
// ---------------------------------------------------------------------------

/// What is wrong with one target's derived state (the indexer's verify
/// mode), derived from the plan that repairs it. Names map attributes and
/// tag keys, never values or tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub target: ItemKey,
    /// `(attr, key)` entries that should exist and do not.
    pub missing_map_entries: BTreeSet<(String, String)>,
    /// `(attr, key)` entries whose value differs from the tag item's.
    pub wrong_map_values: BTreeSet<(String, String)>,
    /// `(attr, key)` entries whose tag item is gone.
    pub stale_map_entries: BTreeSet<(String, String)>,
    /// Attributes of the target itself that its sources say differently
    /// (`main`: `run_name`, `lsi4sk` after a `mlflow.runName` tag).
    pub stale_attributes: BTreeSet<String>,
    /// FTS items (forward and reverse counted apart) that should exist.
    pub missing_fts_items: usize,
    /// FTS items that should not exist.
    pub extra_fts_items: usize,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.missing_map_entries.is_empty()
            && self.wrong_map_values.is_empty()
            && self.stale_map_entries.is_empty()
            && self.stale_attributes.is_empty()
            && self.missing_fts_items == 0
            && self.extra_fts_items == 0
    }
}

impl From<&TargetPlan> for Drift {
    fn from(plan: &TargetPlan) -> Drift {
        let mut d = Drift {
            target: plan.target.clone(),
            missing_map_entries: BTreeSet::new(),
            wrong_map_values: BTreeSet::new(),
            stale_map_entries: BTreeSet::new(),
            stale_attributes: plan
                .attrs
                .iter()
                .flat_map(|a| a.set.keys().cloned())
                .collect(),
            missing_fts_items: plan.puts.len(),
            extra_fts_items: plan.deletes.len(),
        };
        for m in &plan.maps {
            for key in m.set.keys() {
                let entry = (m.attr.clone(), key.clone());
                match m.expected.get(key) {
                    Some(Some(_)) => d.wrong_map_values.insert(entry),
                    _ => d.missing_map_entries.insert(entry),
                };
            }
            for key in &m.remove {
                d.stale_map_entries.insert((m.attr.clone(), key.clone()));
            }
        }
        d
    }
}

// ---------------------------------------------------------------------------
// Targets of a change
// ---------------------------------------------------------------------------

/// The targets whose derived state may be wrong after `change` (empty when
/// nothing needs doing). Deduplicate over a batch before reading.
///
/// - tag items: their target when the format and config denormalize the
///   key or index its value (any REMOVE of a denormalized kind: an entry may
///   have to go);
/// - run params: the run when `run_param_value` is on (or `main`'s
///   `artifact_uri` field could be shared);
/// - assessments: their trace;
/// - META items: themselves when inserted, and experiments / models / runs
///   when their indexed text changes (a run's name only to a non-empty one);
/// - everything else (FTS, CONFIG, metrics, spans, removals of targets):
///   nothing. TTL removals of `E#META` are the sweeper's, see
///   [`cascade_partition`].
pub fn targets_of(profile: &Profile, config: &Config, change: &Change) -> Vec<ItemKey> {
    if change.is_noop() || change.kind.is_derived() {
        return Vec::new();
    }
    let kind = &change.kind;
    if let Some(tt) = tag_target(kind) {
        let format_denormalizes = profile.denormalize_rule(tt.kind).is_some();
        let indexed = match tt.kind {
            crate::format::TagKind::Run => config.trigram(FtsField::RunTagValue),
            crate::format::TagKind::Trace => config.trigram(FtsField::TraceTagValue),
            _ => false,
        };
        let renames = tt.kind == crate::format::TagKind::Run
            && profile.syncs_run_name_from_tag()
            && tt.key.as_str() == RUN_NAME_TAG;
        let wanted = is_denormalized(profile, config, &tt)
            || indexed
            || renames
            || (change.event == EventName::Remove && format_denormalizes);
        return if wanted { vec![tt.target] } else { Vec::new() };
    }
    let this = || vec![change.key.clone()];
    match kind {
        ItemKind::RunParam { key, .. } => {
            let shared = profile.indexes_run_artifact_uri() && key.as_str() == ARTIFACT_URI;
            if config.trigram(FtsField::RunParamValue) || shared {
                run_of(kind)
            } else {
                Vec::new()
            }
        }
        ItemKind::TraceAssessment {
            experiment, trace, ..
        } => vec![ItemKind::TraceMeta {
            experiment: experiment.clone(),
            trace: trace.clone(),
        }
        .key()],
        ItemKind::ExperimentMeta { .. } | ItemKind::ModelMeta { .. } => match change.event {
            EventName::Insert => this(),
            EventName::Modify if change.attr_changed(NAME) => this(),
            _ => Vec::new(),
        },
        ItemKind::RunMeta { .. } => match change.event {
            EventName::Insert => this(),
            EventName::Modify => {
                let renamed = change.attr_changed(RUN_NAME)
                    && change.new_s(RUN_NAME).is_some_and(|n| !n.is_empty());
                let uri = profile.indexes_run_artifact_uri() && change.attr_changed(ARTIFACT_URI);
                if renamed || uri {
                    this()
                } else {
                    Vec::new()
                }
            }
            EventName::Remove => Vec::new(),
        },
        ItemKind::TraceMeta { .. }
        | ItemKind::ModelVersion { .. }
        | ItemKind::LoggedModelMeta { .. }
        | ItemKind::EvalDatasetMeta { .. }
        | ItemKind::GatewayEndpointMeta { .. } => {
            let has_reads = reads_for(profile, config, &change.key).is_some();
            if change.event == EventName::Insert && has_reads {
                this()
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

fn run_of(kind: &ItemKind) -> Vec<ItemKey> {
    match (kind.experiment_id(), kind.run_id()) {
        (Some(experiment), Some(run)) => vec![ItemKind::RunMeta {
            experiment: experiment.clone(),
            run: run.clone(),
        }
        .key()],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// TTL cascade
// ---------------------------------------------------------------------------

/// The partition to expire when `change` is the TTL service removing an
/// experiment's `E#META` (contract §5): every item left under that
/// `EXP#<e>` is an orphan.
pub fn cascade_partition(change: &Change) -> Option<&str> {
    (change.by_ttl_service
        && change.event == EventName::Remove
        && matches!(change.kind, ItemKind::ExperimentMeta { .. }))
    .then_some(change.key.pk.as_str())
}

/// `SET ttl = :now` on each of `keys`. Execute every update with the
/// condition `attribute_exists(PK) AND (attribute_not_exists(ttl) OR
/// ttl > :now)` (never re-create an item deleted meanwhile; never delay one
/// that expires sooner); a failed condition means "nothing to do".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpirePlan {
    pub pk: String,
    /// The value to set: `now`, epoch seconds.
    pub ttl: i64,
    pub keys: Vec<ItemKey>,
}

/// Plan the expiry of an orphaned experiment partition from the items a
/// Query of `pk` listed, at `now` (epoch seconds).
///
/// Empty when the listing contains `E#META` (the experiment exists: nothing
/// is an orphan). Items already expiring (`ttl <= now`) are skipped, so
/// re-running costs nothing; an item whose `ttl` is not a number counts as
/// having none.
pub fn ttl_cascade(pk: &str, items: &[Item], now: i64) -> ExpirePlan {
    let mut plan = ExpirePlan {
        pk: pk.to_owned(),
        ttl: now,
        keys: Vec::new(),
    };
    let mut keys = Vec::new();
    for item in items {
        let (Some(AttributeValue::S(ipk)), Some(AttributeValue::S(sk))) =
            (item.get(PK), item.get(SK))
        else {
            continue;
        };
        if ipk != pk {
            continue;
        }
        if sk == SK_EXPERIMENT_META {
            return plan;
        }
        if item
            .get(TTL)
            .and_then(epoch_seconds)
            .is_some_and(|t| t <= now)
        {
            continue;
        }
        keys.push(ItemKey::new(ipk.clone(), sk.clone()));
    }
    keys.sort();
    keys.dedup();
    plan.keys = keys;
    plan
}

// ---------------------------------------------------------------------------
// In-memory execution (the semantics of a plan)
// ---------------------------------------------------------------------------

/// A table in memory, and how plans act on it: the reference semantics for
/// tests and for the adapter's memory fake.
pub mod memory {
    use super::*;

    /// A whole table: key → item.
    pub type Table = BTreeMap<ItemKey, Item>;

    /// Execute `plan` as the adapter does: map updates only on an existing
    /// target (`attribute_exists(PK)`) whose touched entries still hold their
    /// `expected` values; `needs_map` creates a missing map; puts replace,
    /// deletes remove.
    pub fn apply(table: &mut Table, plan: &TargetPlan) {
        if let Some(a) = &plan.attrs {
            if let Some(item) = table.get_mut(&a.target) {
                for (k, v) in &a.set {
                    item.insert(k.clone(), v.clone());
                }
            }
        }
        for update in &plan.maps {
            let Some(item) = table.get_mut(&update.target) else {
                continue;
            };
            if update.needs_map && item.get(&update.attr).is_none() {
                item.insert(update.attr.clone(), AttributeValue::M(HashMap::new()));
            }
            let Some(AttributeValue::M(map)) = item.get_mut(&update.attr) else {
                // SET of a nested path fails on a missing or non-map
                // attribute (ValidationException).
                continue;
            };
            let holds = update
                .expected
                .iter()
                .all(|(k, want)| map.get(k) == want.as_ref());
            if !holds {
                continue;
            }
            for (k, v) in &update.set {
                map.insert(k.clone(), v.clone());
            }
            for k in &update.remove {
                map.remove(k);
            }
        }
        for item in &plan.puts {
            if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (item.get(PK), item.get(SK))
            {
                table.insert(ItemKey::new(pk.clone(), sk.clone()), item.clone());
            }
        }
        for key in &plan.deletes {
            table.remove(key);
        }
    }

    /// Apply an [`ExpirePlan`] with its condition.
    pub fn apply_expire(table: &mut Table, plan: &ExpirePlan) {
        for key in &plan.keys {
            if let Some(item) = table.get_mut(key) {
                let later = item
                    .get(TTL)
                    .and_then(epoch_seconds)
                    .is_none_or(|t| t > plan.ttl);
                if later {
                    item.insert(TTL.to_owned(), AttributeValue::N(plan.ttl.to_string()));
                }
            }
        }
    }

    /// Build the [`TargetSnapshot`] the adapter would read for `target`.
    pub fn snapshot(
        profile: &Profile,
        config: &Config,
        table: &Table,
        target: &ItemKey,
    ) -> TargetSnapshot {
        let mut snap = TargetSnapshot {
            target: target.clone(),
            item: table.get(target).cloned(),
            sources: Vec::new(),
            fts_reverse: Vec::new(),
        };
        let Some(reads) = reads_for(profile, config, target) else {
            return snap;
        };
        let query = |prefix: &str| -> Vec<Item> {
            table
                .range(ItemKey::new(target.pk.clone(), prefix.to_owned())..)
                .take_while(|(k, _)| k.pk == target.pk && k.sk.starts_with(prefix))
                .map(|(_, v)| v.clone())
                .collect()
        };
        for prefix in &reads.source_prefixes {
            snap.sources.extend(query(prefix));
        }
        if let Some(prefix) = &reads.fts_reverse_prefix {
            snap.fts_reverse = query(prefix);
        }
        snap
    }
}
