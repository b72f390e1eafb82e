//! The configuration items under `PK = CONFIG` (contract §2), typed.
//!
//! [`Config::from_items`] builds a snapshot from the CONFIG items of a table
//! with the reference `ConfigReader`'s rules:
//! - `DENORMALIZE_TAGS`: absent item or absent `patterns` → `["mlflow.*"]`;
//!   `mlflow.*` is always in force, whatever the item says.
//! - `DENORMALIZE_TAGS#EXP#<id>`: absent → no extra patterns. An experiment's
//!   effective patterns are the global ones plus its own.
//! - `FTS_TRIGRAM_FIELDS`: absent → none; strings we do not know are ignored.
//! - `TTL_POLICY`: each absent attribute keeps its default (90, 30, 365
//!   days); 0 disables a category.
//!
//! Where the reference would raise on an attribute of the wrong type
//! (`list(None)`, `int("x")`, `fnmatch` on a number), we return
//! [`CoreError::MalformedConfig`] naming the item key and attribute: a
//! consumer must not guess a configuration. Two deliberate narrowings: a
//! `patterns` or `fields` attribute that is a plain string (which Python's
//! `list("abc")` would split into characters) is malformed, and a TTL
//! attribute must be a number or a string holding an integer (Python's
//! `int()` also takes booleans and `1_000`).

use std::collections::HashMap;

use crate::error::CoreError;
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};
use crate::pattern::Pattern;

/// Partition of every configuration item.
pub const CONFIG_PK: &str = "CONFIG";
pub const DENORMALIZE_TAGS_SK: &str = "DENORMALIZE_TAGS";
pub const EXPERIMENT_DENORMALIZE_TAGS_PREFIX: &str = "DENORMALIZE_TAGS#EXP#";
pub const FTS_TRIGRAM_FIELDS_SK: &str = "FTS_TRIGRAM_FIELDS";
pub const TTL_POLICY_SK: &str = "TTL_POLICY";
/// The global pattern that is always in force.
pub const ALWAYS_DENORMALIZED: &str = "mlflow.*";

const PATTERNS: &str = "patterns";
const FIELDS: &str = "fields";
const SECONDS_PER_DAY: i64 = 86_400;

/// A configuration item's key, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigKey {
    /// `CONFIG` / `DENORMALIZE_TAGS`: global tag patterns.
    DenormalizeTags,
    /// `CONFIG` / `DENORMALIZE_TAGS#EXP#<experiment_id>`.
    ExperimentDenormalizeTags(String),
    /// `CONFIG` / `FTS_TRIGRAM_FIELDS`.
    FtsTrigramFields,
    /// `CONFIG` / `TTL_POLICY`.
    TtlPolicy,
}

impl ConfigKey {
    /// The configuration item `(pk, sk)` names, if any; other SKs under
    /// `CONFIG` are not read by the reference and give `None`.
    pub fn parse(pk: &str, sk: &str) -> Option<ConfigKey> {
        if pk != CONFIG_PK {
            return None;
        }
        match sk {
            DENORMALIZE_TAGS_SK => Some(ConfigKey::DenormalizeTags),
            FTS_TRIGRAM_FIELDS_SK => Some(ConfigKey::FtsTrigramFields),
            TTL_POLICY_SK => Some(ConfigKey::TtlPolicy),
            _ => sk
                .strip_prefix(EXPERIMENT_DENORMALIZE_TAGS_PREFIX)
                .filter(|id| !id.is_empty())
                .map(|id| ConfigKey::ExperimentDenormalizeTags(id.to_owned())),
        }
    }

    pub fn item_key(&self) -> ItemKey {
        let sk = match self {
            ConfigKey::DenormalizeTags => DENORMALIZE_TAGS_SK.to_owned(),
            ConfigKey::ExperimentDenormalizeTags(id) => {
                format!("{EXPERIMENT_DENORMALIZE_TAGS_PREFIX}{id}")
            }
            ConfigKey::FtsTrigramFields => FTS_TRIGRAM_FIELDS_SK.to_owned(),
            ConfigKey::TtlPolicy => TTL_POLICY_SK.to_owned(),
        };
        ItemKey::new(CONFIG_PK, sk)
    }
}

/// Whether `(pk, sk)` is a configuration item the reference reads: a change
/// to it changes a [`Config`].
pub fn is_config_key(pk: &str, sk: &str) -> bool {
    ConfigKey::parse(pk, sk).is_some()
}

/// Which tag keys get copied into their target's `tags` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenormalizeConfig {
    global: Vec<Pattern>,
    per_experiment: HashMap<String, Vec<Pattern>>,
}

impl Default for DenormalizeConfig {
    fn default() -> Self {
        DenormalizeConfig {
            global: vec![Pattern::new(ALWAYS_DENORMALIZED)],
            per_experiment: HashMap::new(),
        }
    }
}

impl DenormalizeConfig {
    /// Set the global patterns; `mlflow.*` is added first when missing.
    pub fn set_global<S: AsRef<str>>(&mut self, patterns: impl IntoIterator<Item = S>) {
        let mut global: Vec<Pattern> = patterns
            .into_iter()
            .map(|p| Pattern::new(p.as_ref()))
            .collect();
        if !global.iter().any(|p| p.as_str() == ALWAYS_DENORMALIZED) {
            global.insert(0, Pattern::new(ALWAYS_DENORMALIZED));
        }
        self.global = global;
    }

    /// Set (or, with `None`, forget) the extra patterns of one experiment.
    pub fn set_experiment<S: AsRef<str>>(
        &mut self,
        experiment_id: &str,
        patterns: Option<impl IntoIterator<Item = S>>,
    ) {
        match patterns {
            Some(ps) => {
                let ps = ps.into_iter().map(|p| Pattern::new(p.as_ref())).collect();
                self.per_experiment.insert(experiment_id.to_owned(), ps);
            }
            None => {
                self.per_experiment.remove(experiment_id);
            }
        }
    }

    /// The global patterns in force (always including `mlflow.*`).
    pub fn global_patterns(&self) -> &[Pattern] {
        &self.global
    }

    /// The extra patterns of one experiment (not merged with the global ones).
    pub fn experiment_patterns(&self, experiment_id: &str) -> &[Pattern] {
        self.per_experiment
            .get(experiment_id)
            .map_or(&[], Vec::as_slice)
    }

    /// The reference's `should_denormalize(experiment_id, tag_key)`: does
    /// `key` match a global pattern, or (with an experiment) one of its own?
    pub fn should_denormalize(&self, experiment_id: Option<&str>, key: &str) -> bool {
        self.global.iter().any(|p| p.matches(key))
            || experiment_id
                .is_some_and(|e| self.experiment_patterns(e).iter().any(|p| p.matches(key)))
    }
}

/// A source text the store may FTS-index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FtsField {
    /// Always indexed.
    ExperimentName,
    /// Always indexed.
    RunName,
    /// Always indexed.
    ModelName,
    /// Indexed when configured in `FTS_TRIGRAM_FIELDS`.
    RunTagValue,
    /// Indexed when configured in `FTS_TRIGRAM_FIELDS`.
    RunParamValue,
    /// Indexed when configured in `FTS_TRIGRAM_FIELDS`.
    TraceTagValue,
}

impl FtsField {
    pub const ALL: [FtsField; 6] = [
        FtsField::ExperimentName,
        FtsField::RunName,
        FtsField::ModelName,
        FtsField::RunTagValue,
        FtsField::RunParamValue,
        FtsField::TraceTagValue,
    ];

    /// The name the reference uses (`should_trigram(<name>)`).
    pub fn as_str(self) -> &'static str {
        match self {
            FtsField::ExperimentName => "experiment_name",
            FtsField::RunName => "run_name",
            FtsField::ModelName => "model_name",
            FtsField::RunTagValue => "run_tag_value",
            FtsField::RunParamValue => "run_param_value",
            FtsField::TraceTagValue => "trace_tag_value",
        }
    }

    pub fn parse(s: &str) -> Option<FtsField> {
        FtsField::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Entity names are indexed whatever the configuration says.
    pub fn is_always_indexed(self) -> bool {
        matches!(
            self,
            FtsField::ExperimentName | FtsField::RunName | FtsField::ModelName
        )
    }
}

/// The opt-in FTS fields of `FTS_TRIGRAM_FIELDS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FtsTrigramFields {
    configured: [bool; FtsField::ALL.len()],
}

impl FtsTrigramFields {
    /// From the strings of the item's `fields`; unknown strings are ignored.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut out = FtsTrigramFields::default();
        for field in names
            .into_iter()
            .filter_map(|n| FtsField::parse(n.as_ref()))
        {
            out.configured[field as usize] = true;
        }
        out
    }

    /// The reference's `should_trigram(field)`: always for entity names,
    /// otherwise when configured.
    pub fn contains(&self, field: FtsField) -> bool {
        field.is_always_indexed() || self.configured[field as usize]
    }
}

/// Retention days of `TTL_POLICY`; 0 disables a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    pub soft_deleted_retention_days: i64,
    pub trace_retention_days: i64,
    pub metric_history_retention_days: i64,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            soft_deleted_retention_days: 90,
            trace_retention_days: 30,
            metric_history_retention_days: 365,
        }
    }
}

impl TtlPolicy {
    const SOFT_DELETED: &'static str = "soft_deleted_retention_days";
    const TRACE: &'static str = "trace_retention_days";
    const METRIC_HISTORY: &'static str = "metric_history_retention_days";

    /// Seconds a soft-deleted experiment or run is kept; `None` = disabled.
    pub fn soft_deleted_ttl_seconds(&self) -> Option<i64> {
        seconds(self.soft_deleted_retention_days)
    }

    /// Seconds a trace is kept; `None` = disabled.
    pub fn trace_ttl_seconds(&self) -> Option<i64> {
        seconds(self.trace_retention_days)
    }

    /// Seconds metric history is kept; `None` = disabled.
    pub fn metric_history_ttl_seconds(&self) -> Option<i64> {
        seconds(self.metric_history_retention_days)
    }
}

/// `days * 86400`, `None` for 0. The reference does not reject negative
/// days (they give a ttl in the past); neither do we. Values were range
/// checked when parsed, so this cannot overflow.
fn seconds(days: i64) -> Option<i64> {
    (days != 0).then(|| days.saturating_mul(SECONDS_PER_DAY))
}

/// A snapshot of every configuration item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub denormalize: DenormalizeConfig,
    pub trigram_fields: FtsTrigramFields,
    pub ttl: TtlPolicy,
}

impl Config {
    /// Build a snapshot from the items under `PK = CONFIG` (items with other
    /// keys are ignored; absent items keep their defaults).
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a Item>) -> Result<Config, CoreError> {
        let mut config = Config::default();
        for item in items {
            config.apply_item(item)?;
        }
        Ok(config)
    }

    /// Apply one new or changed item (e.g. the new image of a stream
    /// record). Returns whether it was a configuration item.
    pub fn apply_item(&mut self, item: &Item) -> Result<bool, CoreError> {
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
            (item.get(PK), item.get(SK))
        else {
            return Ok(false);
        };
        let Some(config_key) = ConfigKey::parse(pk, sk) else {
            return Ok(false);
        };
        let key = || ItemKey::new(pk.as_str(), sk.as_str());
        match &config_key {
            ConfigKey::DenormalizeTags => match string_list(item, PATTERNS, &key)? {
                Some(ps) => self.denormalize.set_global(ps),
                None => self.denormalize.set_global([ALWAYS_DENORMALIZED]),
            },
            ConfigKey::ExperimentDenormalizeTags(id) => {
                let ps = string_list(item, PATTERNS, &key)?;
                self.denormalize
                    .set_experiment(id, Some(ps.unwrap_or_default()));
            }
            ConfigKey::FtsTrigramFields => {
                // The reference tests membership only, so non-strings in
                // the list never match and never fail.
                self.trigram_fields = match item.get(FIELDS) {
                    None => FtsTrigramFields::default(),
                    Some(AttributeValue::L(values)) => {
                        FtsTrigramFields::from_names(values.iter().filter_map(|v| match v {
                            AttributeValue::S(s) => Some(s.as_str()),
                            _ => None,
                        }))
                    }
                    Some(AttributeValue::Ss(values)) => FtsTrigramFields::from_names(values),
                    Some(_) => return Err(malformed(key(), FIELDS, "is not a list")),
                }
            }
            ConfigKey::TtlPolicy => {
                let mut ttl = TtlPolicy::default();
                for (name, slot) in [
                    (
                        TtlPolicy::SOFT_DELETED,
                        &mut ttl.soft_deleted_retention_days,
                    ),
                    (TtlPolicy::TRACE, &mut ttl.trace_retention_days),
                    (
                        TtlPolicy::METRIC_HISTORY,
                        &mut ttl.metric_history_retention_days,
                    ),
                ] {
                    if let Some(v) = item.get(name) {
                        *slot = days(v)
                            .ok_or_else(|| malformed(key(), name, "is not a number of days"))?;
                    }
                }
                self.ttl = ttl;
            }
        }
        Ok(true)
    }

    /// Forget one item (e.g. a stream REMOVE): back to its default.
    pub fn remove(&mut self, key: &ConfigKey) {
        match key {
            ConfigKey::DenormalizeTags => self.denormalize.set_global([ALWAYS_DENORMALIZED]),
            ConfigKey::ExperimentDenormalizeTags(id) => {
                self.denormalize.set_experiment(id, None::<[&str; 0]>)
            }
            ConfigKey::FtsTrigramFields => self.trigram_fields = FtsTrigramFields::default(),
            ConfigKey::TtlPolicy => self.ttl = TtlPolicy::default(),
        }
    }

    /// See [`DenormalizeConfig::should_denormalize`].
    pub fn should_denormalize(&self, experiment_id: Option<&str>, key: &str) -> bool {
        self.denormalize.should_denormalize(experiment_id, key)
    }

    /// Whether the store FTS-indexes `field` (the reference's `should_trigram`).
    pub fn trigram(&self, field: FtsField) -> bool {
        self.trigram_fields.contains(field)
    }
}

fn malformed(key: ItemKey, attribute: &'static str, problem: &'static str) -> CoreError {
    CoreError::MalformedConfig {
        key,
        attribute,
        problem,
    }
}

/// A list of strings (`L` of `S`, or `SS`); `None` when absent.
fn string_list<'a>(
    item: &'a Item,
    attribute: &'static str,
    key: &impl Fn() -> ItemKey,
) -> Result<Option<Vec<&'a str>>, CoreError> {
    match item.get(attribute) {
        None => Ok(None),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.as_str()),
                _ => Err(malformed(
                    key(),
                    attribute,
                    "holds a value that is not a string",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(AttributeValue::Ss(values)) => Ok(Some(values.iter().map(String::as_str).collect())),
        Some(_) => Err(malformed(key(), attribute, "is not a list of strings")),
    }
}

/// Python's `int(value)` for a DynamoDB number (truncating toward zero) or
/// an integer string; `None` when unusable or when `days * 86400` would not
/// fit an `i64`.
fn days(value: &AttributeValue) -> Option<i64> {
    let days = match value {
        AttributeValue::N(n) => n.parse::<i64>().ok().or_else(|| {
            let f = n.parse::<f64>().ok()?;
            (f.is_finite() && f.abs() < 9.0e18).then(|| f.trunc() as i64)
        })?,
        AttributeValue::S(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    days.checked_mul(SECONDS_PER_DAY).map(|_| days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn item(sk: &str, attrs: &[(&str, AttributeValue)]) -> Item {
        let mut m: HashMap<String, AttributeValue> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        m.insert(PK.into(), s(CONFIG_PK));
        m.insert(SK.into(), s(sk));
        Item::from(m)
    }

    fn list(ps: &[&str]) -> AttributeValue {
        AttributeValue::L(ps.iter().map(|p| s(p)).collect())
    }

    fn config(items: &[Item]) -> Config {
        match Config::from_items(items) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// `(experiment_id, key, expected)` against a config built from `items`.
    fn check(items: &[Item], cases: &[(Option<&str>, &str, bool)]) {
        let c = config(items);
        for (exp, key, expected) in cases {
            assert_eq!(
                c.should_denormalize(*exp, key),
                *expected,
                "{exp:?} {key:?}"
            );
        }
    }

    #[test]
    fn mlflow_star_is_always_in_force() {
        check(&[], &[(None, "mlflow.user", true), (None, "team", false)]);
        check(
            &[item(DENORMALIZE_TAGS_SK, &[(PATTERNS, list(&[]))])],
            &[(None, "mlflow.user", true), (Some("1"), "mlflow.x", true)],
        );
        check(
            &[item(DENORMALIZE_TAGS_SK, &[(PATTERNS, list(&["team.*"]))])],
            &[
                (None, "mlflow.user", true),
                (None, "team.a", true),
                (None, "x", false),
            ],
        );
        check(
            &[item(DENORMALIZE_TAGS_SK, &[])],
            &[(None, "mlflow.note", true)],
        );
    }

    #[test]
    fn experiment_patterns_add_to_global_for_that_experiment_only() {
        let items = [
            item(DENORMALIZE_TAGS_SK, &[(PATTERNS, list(&["g*"]))]),
            item("DENORMALIZE_TAGS#EXP#7", &[(PATTERNS, list(&["owner"]))]),
        ];
        check(
            &items,
            &[
                (Some("7"), "owner", true),
                (Some("7"), "gpu", true),
                (Some("8"), "owner", false),
                (None, "owner", false),
                (Some("7"), "mlflow.user", true),
            ],
        );
        let mut c = config(&items);
        c.remove(&ConfigKey::ExperimentDenormalizeTags("7".into()));
        assert!(!c.should_denormalize(Some("7"), "owner"));
        c.remove(&ConfigKey::DenormalizeTags);
        assert!(!c.should_denormalize(Some("7"), "gpu"));
        assert!(c.should_denormalize(Some("7"), "mlflow.x"));
    }

    #[test]
    fn trigram_fields() {
        let c = config(&[item(
            FTS_TRIGRAM_FIELDS_SK,
            &[(
                FIELDS,
                AttributeValue::L(vec![
                    s("run_param_value"),
                    s("bogus"),
                    AttributeValue::N("1".into()),
                ]),
            )],
        )]);
        assert!(c.trigram(FtsField::RunParamValue));
        assert!(!c.trigram(FtsField::RunTagValue));
        assert!(!c.trigram(FtsField::TraceTagValue));
        assert!(c.trigram(FtsField::RunName));
        let c = config(&[]);
        assert!(!c.trigram(FtsField::RunParamValue));
        assert!(c.trigram(FtsField::ExperimentName));
    }

    #[test]
    fn ttl_policy() {
        let c = config(&[]);
        assert_eq!(c.ttl.soft_deleted_ttl_seconds(), Some(90 * 86_400));
        assert_eq!(c.ttl.trace_ttl_seconds(), Some(30 * 86_400));
        assert_eq!(c.ttl.metric_history_ttl_seconds(), Some(365 * 86_400));
        let c = config(&[item(
            TTL_POLICY_SK,
            &[
                ("trace_retention_days", AttributeValue::N("0".into())),
                (
                    "soft_deleted_retention_days",
                    AttributeValue::N("7.9".into()),
                ),
                ("metric_history_retention_days", s(" 2 ")),
            ],
        )]);
        assert_eq!(c.ttl.trace_ttl_seconds(), None);
        assert_eq!(c.ttl.soft_deleted_retention_days, 7);
        assert_eq!(c.ttl.metric_history_retention_days, 2);
    }

    #[test]
    fn malformed_items_name_their_key_and_attribute() {
        for (it, attribute) in [
            (
                item(DENORMALIZE_TAGS_SK, &[(PATTERNS, s("mlflow.*"))]),
                PATTERNS,
            ),
            (
                item(
                    "DENORMALIZE_TAGS#EXP#3",
                    &[(
                        PATTERNS,
                        AttributeValue::L(vec![AttributeValue::N("1".into())]),
                    )],
                ),
                PATTERNS,
            ),
            (
                item(
                    FTS_TRIGRAM_FIELDS_SK,
                    &[(FIELDS, AttributeValue::Null(true))],
                ),
                FIELDS,
            ),
            (
                item(TTL_POLICY_SK, &[("trace_retention_days", s("thirty"))]),
                "trace_retention_days",
            ),
            (
                item(
                    TTL_POLICY_SK,
                    &[("trace_retention_days", AttributeValue::N("1e30".into()))],
                ),
                "trace_retention_days",
            ),
        ] {
            match Config::from_items([&it]) {
                Err(CoreError::MalformedConfig {
                    key, attribute: a, ..
                }) => {
                    assert_eq!(key.pk, CONFIG_PK);
                    assert_eq!(Some(&s(&key.sk)), it.get(SK));
                    assert_eq!(a, attribute);
                }
                other => panic!("expected MalformedConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn config_keys() {
        assert!(is_config_key("CONFIG", "DENORMALIZE_TAGS"));
        assert!(is_config_key("CONFIG", "DENORMALIZE_TAGS#EXP#12"));
        assert!(is_config_key("CONFIG", "TTL_POLICY"));
        assert!(is_config_key("CONFIG", "FTS_TRIGRAM_FIELDS"));
        assert!(!is_config_key("CONFIG", "DENORMALIZE_TAGS#EXP#"));
        assert!(!is_config_key("CONFIG", "OTHER"));
        assert!(!is_config_key("EXP#1", "DENORMALIZE_TAGS"));
        for k in [
            ConfigKey::DenormalizeTags,
            ConfigKey::ExperimentDenormalizeTags("5".into()),
            ConfigKey::FtsTrigramFields,
            ConfigKey::TtlPolicy,
        ] {
            let ik = k.item_key();
            assert_eq!(ConfigKey::parse(&ik.pk, &ik.sk), Some(k));
        }
    }

    #[test]
    fn non_config_items_are_ignored() {
        let mut m = HashMap::new();
        m.insert(PK.to_string(), s("EXP#1"));
        m.insert(SK.to_string(), s("DENORMALIZE_TAGS"));
        m.insert(PATTERNS.to_string(), s("junk"));
        assert_eq!(Config::from_items([&Item::from(m)]), Ok(Config::default()));
    }
}
