//! Table formats: the one place where `v0.1` and `main` differ.
//!
//! Every rule that depends on the table format lives here, behind a
//! [`Profile`]; the rest of the crate asks the profile instead of matching on
//! [`TableFormat`] itself. Contract §4 describes `v0.1`, §7 lists what `main`
//! changes.

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;

/// SK prefix of a forward FTS item.
pub const FTS_PREFIX: &str = "FTS#";
/// SK prefix of a reverse FTS item.
pub const FTS_REV_PREFIX: &str = "FTS_REV#";
/// Prefix of `gsi2pk` on forward FTS items of experiments and models.
pub const GSI2_FTS_NAMES_PREFIX: &str = "FTS_NAMES#";
/// The only workspace `v0.1` knows.
pub const DEFAULT_WORKSPACE: &str = "default";
/// Attribute names of the second global secondary index.
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";

/// Which writer's table layout we serve. One setting, chosen once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TableFormat {
    /// The released package, PyPI `mlflow-dynamodbstore==0.1.0`.
    #[default]
    V0_1,
    /// The development branch at commit `3ccbc9e`.
    Main,
}

impl TableFormat {
    pub const ALL: [TableFormat; 2] = [TableFormat::V0_1, TableFormat::Main];

    pub fn as_str(self) -> &'static str {
        match self {
            TableFormat::V0_1 => "v0.1",
            TableFormat::Main => "main",
        }
    }

    /// The rules of this format.
    pub fn profile(self) -> &'static Profile {
        Profile::of(self)
    }
}

impl fmt::Display for TableFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TableFormat {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v0.1" => Ok(TableFormat::V0_1),
            "main" => Ok(TableFormat::Main),
            other => Err(CoreError::UnknownTableFormat(other.to_owned())),
        }
    }
}

impl serde::Serialize for TableFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TableFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An FTS index level: the kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FtsLevel {
    /// Stemmed whole words, stop words dropped.
    W,
    /// Every 3-character window of every word.
    Three,
    /// `main` only: the last two characters of every word of length >= 2.
    Two,
}

impl FtsLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            FtsLevel::W => "W",
            FtsLevel::Three => "3",
            FtsLevel::Two => "2",
        }
    }

    pub fn parse(s: &str) -> Option<FtsLevel> {
        match s {
            "W" => Some(FtsLevel::W),
            "3" => Some(FtsLevel::Three),
            "2" => Some(FtsLevel::Two),
            _ => None,
        }
    }
}

impl fmt::Display for FtsLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entity an FTS item indexes, written as one uppercase letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FtsEntityType {
    /// Experiment (name).
    E,
    /// Registered model (name).
    M,
    /// Run (name, tag values, param values).
    R,
    /// Trace (tag values, assessments).
    T,
}

impl FtsEntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            FtsEntityType::E => "E",
            FtsEntityType::M => "M",
            FtsEntityType::R => "R",
            FtsEntityType::T => "T",
        }
    }

    pub fn parse(s: &str) -> Option<FtsEntityType> {
        match s {
            "E" => Some(FtsEntityType::E),
            "M" => Some(FtsEntityType::M),
            "R" => Some(FtsEntityType::R),
            "T" => Some(FtsEntityType::T),
            _ => None,
        }
    }

    /// Forward items of experiments and models also carry `gsi2pk`/`gsi2sk`,
    /// so that one GSI2 query searches names across partitions.
    pub fn has_gsi2(self) -> bool {
        matches!(self, FtsEntityType::E | FtsEntityType::M)
    }
}

impl fmt::Display for FtsEntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One FTS key, parsed from a forward or reverse SK.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FtsKey {
    pub level: FtsLevel,
    pub token: String,
    pub entity_type: FtsEntityType,
    pub entity_id: String,
    /// The field suffix (tag key, param key, `assess_<id>`); may contain `#`.
    pub field: Option<String>,
}

/// The kinds of tag items a store writes, by source SK (contract §3, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    /// `EXP#<e>` / `E#TAG#<key>` → `E#META`.
    Experiment,
    /// `EXP#<e>` / `R#<run>#TAG#<key>` → `R#<run>`.
    Run,
    /// `EXP#<e>` / `T#<trace>#TAG#<key>` → `T#<trace>`.
    Trace,
    /// `RM#<m>` / `M#TAG#<key>` → `M#META`.
    RegisteredModel,
    /// `RM#<m>` / `V#<ver>#TAG#<key>` → `V#<ver>`.
    ModelVersion,
    /// `main`: `LM#<id>#TAG#<key>` (logged models).
    LoggedModel,
    /// `main`: `DS#TAG#<key>` → `DS#META`.
    Dataset,
    /// `main`: `GW#TAG#<key>` → `GW#META`.
    GatewayEndpoint,
}

/// Which tags of a kind get copied into the target's `tags` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenormalizeRule {
    /// Keys matching the global `DENORMALIZE_TAGS` patterns.
    GlobalPatterns,
    /// Keys matching the global patterns or those of the tag's experiment.
    GlobalAndExperimentPatterns,
    /// Every key.
    Always,
}

/// The format rules of one [`TableFormat`]. Obtain with [`Profile::of`].
#[derive(Debug)]
pub struct Profile {
    format: TableFormat,
    levels: &'static [FtsLevel],
    /// `main` puts the entity type letter before the token in forward SKs.
    type_before_token: bool,
    denormalized: &'static [(TagKind, DenormalizeRule)],
    writes_tags_lower: bool,
    syncs_run_name_from_tag: bool,
    indexes_run_artifact_uri: bool,
}

static V0_1: Profile = Profile {
    format: TableFormat::V0_1,
    levels: &[FtsLevel::W, FtsLevel::Three],
    type_before_token: false,
    denormalized: &[
        (TagKind::Experiment, DenormalizeRule::GlobalPatterns),
        (TagKind::Run, DenormalizeRule::GlobalAndExperimentPatterns),
        (TagKind::Trace, DenormalizeRule::GlobalAndExperimentPatterns),
        (TagKind::RegisteredModel, DenormalizeRule::GlobalPatterns),
        (TagKind::ModelVersion, DenormalizeRule::GlobalPatterns),
    ],
    writes_tags_lower: false,
    syncs_run_name_from_tag: false,
    indexes_run_artifact_uri: false,
};

static MAIN: Profile = Profile {
    format: TableFormat::Main,
    levels: &[FtsLevel::W, FtsLevel::Three, FtsLevel::Two],
    type_before_token: true,
    denormalized: &[
        (TagKind::Experiment, DenormalizeRule::Always),
        (TagKind::Run, DenormalizeRule::GlobalAndExperimentPatterns),
        (TagKind::Trace, DenormalizeRule::GlobalAndExperimentPatterns),
        (TagKind::RegisteredModel, DenormalizeRule::GlobalPatterns),
        (TagKind::ModelVersion, DenormalizeRule::GlobalPatterns),
        (TagKind::LoggedModel, DenormalizeRule::Always),
        (TagKind::Dataset, DenormalizeRule::Always),
        (TagKind::GatewayEndpoint, DenormalizeRule::Always),
    ],
    writes_tags_lower: true,
    syncs_run_name_from_tag: true,
    indexes_run_artifact_uri: true,
};

impl Profile {
    /// The rules of `format`.
    pub fn of(format: TableFormat) -> &'static Profile {
        match format {
            TableFormat::V0_1 => &V0_1,
            TableFormat::Main => &MAIN,
        }
    }

    pub fn format(&self) -> TableFormat {
        self.format
    }

    /// FTS levels written for every indexed text, in write order.
    pub fn levels(&self) -> &'static [FtsLevel] {
        self.levels
    }

    pub fn has_level(&self, level: FtsLevel) -> bool {
        self.levels.contains(&level)
    }

    // ----- tag denormalization -------------------------------------------

    /// Tag kinds this format denormalizes, with the rule that selects keys.
    /// Kinds absent here are never copied.
    pub fn denormalized_kinds(&self) -> &'static [(TagKind, DenormalizeRule)] {
        self.denormalized
    }

    /// The rule for one tag kind; `None` = this format does not denormalize it.
    pub fn denormalize_rule(&self, kind: TagKind) -> Option<DenormalizeRule> {
        self.denormalized
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, rule)| *rule)
    }

    /// `main`: every experiment tag is copied, whatever the patterns
    /// (contract §7); `v0.1`: only keys matching the global patterns (§3).
    pub fn experiment_tags_always_denormalized(&self) -> bool {
        self.denormalize_rule(TagKind::Experiment) == Some(DenormalizeRule::Always)
    }

    /// `main`: experiment tags also go to `tags_lower` (Python-lowered value)
    /// and `tags_lower_rev` (its code-point reversal). `v0.1`: never.
    pub fn writes_tags_lower(&self) -> bool {
        self.writes_tags_lower
    }

    /// `main`: the `mlflow.runName` tag sets the run's `run_name` and `lsi4sk`.
    pub fn syncs_run_name_from_tag(&self) -> bool {
        self.syncs_run_name_from_tag
    }

    /// `main`: a run's `artifact_uri` is FTS-indexed (field `artifact_uri`).
    pub fn indexes_run_artifact_uri(&self) -> bool {
        self.indexes_run_artifact_uri
    }

    // ----- FTS keys -------------------------------------------------------

    /// Forward SK: `v0.1` `FTS#<l>#<tok>#<t>#<id>[#<f>]`,
    /// `main` `FTS#<l>#<t>#<tok>#<id>[#<f>]`.
    ///
    /// An empty field is no field (the reference tests `if field`).
    pub fn forward_sk(
        &self,
        level: FtsLevel,
        token: &str,
        entity: FtsEntityType,
        id: &str,
        field: Option<&str>,
    ) -> String {
        let mut sk = String::with_capacity(FTS_PREFIX.len() + self.gsi2_sk_len(token, id, field));
        sk.push_str(FTS_PREFIX);
        self.push_gsi2_sk(&mut sk, level, token, entity, id, field);
        sk
    }

    /// Reverse SK, the same in both formats: `FTS_REV#<t>#<id>[#<f>]#<l>#<tok>`.
    pub fn reverse_sk(
        &self,
        level: FtsLevel,
        token: &str,
        entity: FtsEntityType,
        id: &str,
        field: Option<&str>,
    ) -> String {
        let mut sk = reverse_prefix(entity, id, field);
        sk.push_str(level.as_str());
        sk.push('#');
        sk.push_str(token);
        sk
    }

    /// `gsi2pk` of a forward item of an experiment or model:
    /// `FTS_NAMES#<workspace>`.
    pub fn gsi2_pk(&self, workspace: &str) -> String {
        format!("{GSI2_FTS_NAMES_PREFIX}{workspace}")
    }

    /// `gsi2sk` of a forward item: the forward SK without its `FTS#`.
    pub fn gsi2_sk(
        &self,
        level: FtsLevel,
        token: &str,
        entity: FtsEntityType,
        id: &str,
        field: Option<&str>,
    ) -> String {
        let mut sk = String::with_capacity(self.gsi2_sk_len(token, id, field));
        self.push_gsi2_sk(&mut sk, level, token, entity, id, field);
        sk
    }

    /// `(gsi2pk, gsi2sk)` for a forward item, or `None` for entity types
    /// whose forward items carry no GSI2 attributes (runs, traces).
    pub fn gsi2(
        &self,
        level: FtsLevel,
        token: &str,
        entity: FtsEntityType,
        id: &str,
        field: Option<&str>,
        workspace: &str,
    ) -> Option<(String, String)> {
        entity.has_gsi2().then(|| {
            (
                self.gsi2_pk(workspace),
                self.gsi2_sk(level, token, entity, id, field),
            )
        })
    }

    fn gsi2_sk_len(&self, token: &str, id: &str, field: Option<&str>) -> usize {
        // "<l>#<tok>#<t>#<id>" plus "#<f>"
        1 + 1 + token.len() + 1 + 1 + 1 + id.len() + field.map_or(0, |f| 1 + f.len())
    }

    fn push_gsi2_sk(
        &self,
        sk: &mut String,
        level: FtsLevel,
        token: &str,
        entity: FtsEntityType,
        id: &str,
        field: Option<&str>,
    ) {
        sk.push_str(level.as_str());
        sk.push('#');
        if self.type_before_token {
            sk.push_str(entity.as_str());
            sk.push('#');
            sk.push_str(token);
        } else {
            sk.push_str(token);
            sk.push('#');
            sk.push_str(entity.as_str());
        }
        sk.push('#');
        sk.push_str(id);
        push_field(sk, field);
    }

    /// Parse a forward SK of this format. `None` if `sk` is not one (including
    /// an SK of the other format, a level this format does not write, or an
    /// empty token, id or field).
    pub fn parse_forward_sk(&self, sk: &str) -> Option<FtsKey> {
        let rest = sk.strip_prefix(FTS_PREFIX)?;
        let (level, rest) = rest.split_once('#')?;
        let level = FtsLevel::parse(level).filter(|l| self.has_level(*l))?;
        let (first, rest) = rest.split_once('#')?;
        let (second, rest) = rest.split_once('#')?;
        let (type_letter, token) = if self.type_before_token {
            (first, second)
        } else {
            (second, first)
        };
        let entity_type = FtsEntityType::parse(type_letter)?;
        if !is_token(token) {
            return None;
        }
        let (entity_id, field) = split_id_field(rest)?;
        Some(FtsKey {
            level,
            token: token.to_owned(),
            entity_type,
            entity_id: entity_id.to_owned(),
            field: field.map(str::to_owned),
        })
    }

    /// Parse a reverse SK (`FTS_REV#<t>#<id>[#<f>]#<l>#<tok>`). The token and
    /// level never contain `#`, so they are split off the right; what lies
    /// between the id and them is the field, which may contain `#`.
    pub fn parse_reverse_sk(&self, sk: &str) -> Option<FtsKey> {
        let rest = sk.strip_prefix(FTS_REV_PREFIX)?;
        let (type_letter, rest) = rest.split_once('#')?;
        let entity_type = FtsEntityType::parse(type_letter)?;
        let (rest, token) = rest.rsplit_once('#')?;
        let (rest, level) = rest.rsplit_once('#')?;
        let level = FtsLevel::parse(level).filter(|l| self.has_level(*l))?;
        if !is_token(token) {
            return None;
        }
        let (entity_id, field) = split_id_field(rest)?;
        Some(FtsKey {
            level,
            token: token.to_owned(),
            entity_type,
            entity_id: entity_id.to_owned(),
            field: field.map(str::to_owned),
        })
    }
}

/// Prefix of every reverse SK of one entity (and field):
/// `FTS_REV#<t>#<id>[#<f>]#`. Note that without a field, the prefix also
/// matches the entity's field items (contract §4).
pub fn reverse_prefix(entity: FtsEntityType, id: &str, field: Option<&str>) -> String {
    let mut sk = String::with_capacity(
        FTS_REV_PREFIX.len() + 2 + id.len() + field.map_or(0, |f| 1 + f.len()) + 1 + 8,
    );
    sk.push_str(FTS_REV_PREFIX);
    sk.push_str(entity.as_str());
    sk.push('#');
    sk.push_str(id);
    push_field(&mut sk, field);
    sk.push('#');
    sk
}

/// Tell the table format from one forward FTS SK (contract §7): in `v0.1`
/// the uppercase type letter follows the token, in `main` it precedes it.
/// Tokens are `[a-z0-9]+`, so an uppercase letter is never a token.
pub fn detect_format_from_forward_sk(sk: &str) -> Option<TableFormat> {
    TableFormat::ALL
        .into_iter()
        .find(|f| Profile::of(*f).parse_forward_sk(sk).is_some())
}

/// Whether `sk` is an FTS item that this table's writer never writes but the
/// other format's does: a forward SK in the other format's layout, or a
/// reverse SK of a level only the other format writes. Such items are
/// drift of their own kind (`foreign-format`): no search of this format
/// reads them.
pub fn is_foreign_fts_sk(profile: &Profile, sk: &str) -> bool {
    let other = Profile::of(profile.format().other());
    if sk.starts_with(FTS_REV_PREFIX) {
        return profile.parse_reverse_sk(sk).is_none() && other.parse_reverse_sk(sk).is_some();
    }
    sk.starts_with(FTS_PREFIX)
        && profile.parse_forward_sk(sk).is_none()
        && other.parse_forward_sk(sk).is_some()
}

// ---------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------

/// What `TABLE_FORMAT` asks for: follow the table (`auto`, the default), or
/// one format, which the table must then be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FormatSetting {
    #[default]
    Auto,
    Fixed(TableFormat),
}

impl FromStr for FormatSetting {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "auto" => Ok(FormatSetting::Auto),
            other => other.parse().map(FormatSetting::Fixed),
        }
    }
}

impl fmt::Display for FormatSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatSetting::Auto => f.write_str("auto"),
            FormatSetting::Fixed(t) => t.fmt(f),
        }
    }
}

/// What a table shows of its format, read by the adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatEvidence {
    /// DescribeTable's declared type of `lsi2sk` (`S` in `v0.1`, `N` in
    /// `main`); `None` when the table declares no such attribute.
    pub lsi2sk_type: Option<String>,
    /// Forward FTS SKs sampled from the table (may be empty).
    pub forward_sks: Vec<String>,
}

/// The format a table is in, how we know, and what looked wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Detection {
    pub format: TableFormat,
    /// One line for an operator: which facts decided.
    pub evidence: String,
    /// Sampled forward FTS keys in the other format's layout (a table a
    /// wrong-format run wrote into): `indexer verify` lists them as
    /// `foreign-format`, `indexer backfill --remove-foreign` removes them.
    pub foreign_samples: Vec<String>,
}

impl Detection {
    pub fn profile(&self) -> &'static Profile {
        self.format.profile()
    }
}

impl TableFormat {
    /// The declared type of `lsi2sk` in this format's table: the one
    /// schema fact that tells the formats apart (an LSI cannot change).
    pub fn lsi2sk_type(self) -> &'static str {
        match self {
            TableFormat::V0_1 => "S",
            TableFormat::Main => "N",
        }
    }

    /// The format that is not this one.
    pub fn other(self) -> TableFormat {
        match self {
            TableFormat::V0_1 => TableFormat::Main,
            TableFormat::Main => TableFormat::V0_1,
        }
    }
}

/// Decide which format `table` is in (contract §7), and refuse a setting
/// that contradicts it. Pure: the adapter reads the evidence.
///
/// The declared type of `lsi2sk` decides: an LSI cannot change, and neither
/// store can write into the other's table. Sampled forward FTS keys decide
/// only when the table declares no `lsi2sk` (a table not made by the
/// reference's template); keys that contradict the declared type are
/// reported, not obeyed (they are what a wrong-format run left behind).
/// With nothing to tell from, an explicit setting is trusted and `auto`
/// is refused.
pub fn detect_format(
    setting: FormatSetting,
    table: &str,
    ev: &FormatEvidence,
) -> Result<Detection, CoreError> {
    let by_schema = TableFormat::ALL
        .into_iter()
        .find(|f| ev.lsi2sk_type.as_deref() == Some(f.lsi2sk_type()));
    let mut counts = [0usize; 2];
    for sk in &ev.forward_sks {
        match detect_format_from_forward_sk(sk) {
            Some(TableFormat::V0_1) => counts[0] += 1,
            Some(TableFormat::Main) => counts[1] += 1,
            None => {}
        }
    }
    let count_of = |f: TableFormat| counts[usize::from(f == TableFormat::Main)];
    let sampled = |f: TableFormat| {
        format!(
            "{} of {} sampled forward FTS keys in {f} layout",
            count_of(f),
            ev.forward_sks.len()
        )
    };
    let schema_words = match &ev.lsi2sk_type {
        Some(t) => format!("lsi2sk declared {t}"),
        None => "no lsi2sk attribute declared".to_owned(),
    };
    let (format, evidence) = match by_schema {
        Some(f) => {
            let mut e = schema_words;
            if !ev.forward_sks.is_empty() {
                e.push_str(&format!("; {}", sampled(f)));
            }
            (Some(f), e)
        }
        None => {
            let f = match (counts[0], counts[1]) {
                (0, 0) => None,
                (_, 0) => Some(TableFormat::V0_1),
                (0, _) => Some(TableFormat::Main),
                _ => None,
            };
            let e = match f {
                Some(f) => format!("{schema_words}; {}", sampled(f)),
                None => format!(
                    "{schema_words}; {} v0.1 and {} main forward FTS keys sampled",
                    counts[0], counts[1]
                ),
            };
            (f, e)
        }
    };
    let format = match (setting, format) {
        (FormatSetting::Fixed(configured), Some(detected)) if configured != detected => {
            return Err(CoreError::FormatMismatch {
                table: table.to_owned(),
                configured,
                detected,
                evidence,
            })
        }
        (_, Some(detected)) => detected,
        (FormatSetting::Fixed(configured), None) => {
            return Ok(Detection {
                format: configured,
                evidence: format!("{evidence}; TABLE_FORMAT={configured} trusted"),
                foreign_samples: Vec::new(),
            })
        }
        (FormatSetting::Auto, None) => {
            return Err(CoreError::FormatUndetectable {
                table: table.to_owned(),
                evidence,
            })
        }
    };
    let foreign_samples = ev
        .forward_sks
        .iter()
        .filter(|sk| is_foreign_fts_sk(format.profile(), sk))
        .cloned()
        .collect();
    Ok(Detection {
        format,
        evidence,
        foreign_samples,
    })
}

fn push_field(sk: &mut String, field: Option<&str>) {
    if let Some(f) = field.filter(|f| !f.is_empty()) {
        sk.push('#');
        sk.push_str(f);
    }
}

/// `<id>` or `<id>#<field>`: ids never contain `#`, fields may.
fn split_id_field(rest: &str) -> Option<(&str, Option<&str>)> {
    let (id, field) = match rest.split_once('#') {
        Some((id, field)) => (id, Some(field)),
        None => (rest, None),
    };
    if id.is_empty() || field.is_some_and(str::is_empty) {
        return None;
    }
    Some((id, field))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PV: &Profile = &V0_1;
    const PM: &Profile = &MAIN;

    fn key(l: FtsLevel, tok: &str, t: FtsEntityType, id: &str, f: Option<&str>) -> FtsKey {
        FtsKey {
            level: l,
            token: tok.into(),
            entity_type: t,
            entity_id: id.into(),
            field: f.map(Into::into),
        }
    }

    /// Build forward, reverse and gsi2sk, compare, and parse them back.
    fn check(p: &Profile, k: &FtsKey, forward: &str, reverse: &str, gsi2sk: &str) {
        let f = k.field.as_deref();
        assert_eq!(
            p.forward_sk(k.level, &k.token, k.entity_type, &k.entity_id, f),
            forward
        );
        assert_eq!(
            p.reverse_sk(k.level, &k.token, k.entity_type, &k.entity_id, f),
            reverse
        );
        assert_eq!(
            p.gsi2_sk(k.level, &k.token, k.entity_type, &k.entity_id, f),
            gsi2sk
        );
        assert_eq!(p.parse_forward_sk(forward).as_ref(), Some(k), "{forward}");
        assert_eq!(p.parse_reverse_sk(reverse).as_ref(), Some(k), "{reverse}");
        assert_eq!(detect_format_from_forward_sk(forward), Some(p.format()));
    }

    #[test]
    fn v0_1_keys() {
        use FtsEntityType::*;
        use FtsLevel::*;
        check(
            PV,
            &key(W, "bold", E, "12", None),
            "FTS#W#bold#E#12",
            "FTS_REV#E#12#W#bold",
            "W#bold#E#12",
        );
        check(
            PV,
            &key(Three, "abc", R, "r1", Some("mlflow.note#x y")),
            "FTS#3#abc#R#r1#mlflow.note#x y",
            "FTS_REV#R#r1#mlflow.note#x y#3#abc",
            "3#abc#R#r1#mlflow.note#x y",
        );
        check(
            PV,
            &key(W, "w", T, "tr-1", Some("#")),
            "FTS#W#w#T#tr-1##",
            "FTS_REV#T#tr-1###W#w",
            "W#w#T#tr-1##",
        );
    }

    #[test]
    fn main_keys() {
        use FtsEntityType::*;
        use FtsLevel::*;
        check(
            PM,
            &key(Two, "ld", M, "m-1", None),
            "FTS#2#M#ld#m-1",
            "FTS_REV#M#m-1#2#ld",
            "2#M#ld#m-1",
        );
        check(
            PM,
            &key(W, "x1", R, "r", Some("a#W#b")),
            "FTS#W#R#x1#r#a#W#b",
            "FTS_REV#R#r#a#W#b#W#x1",
            "W#R#x1#r#a#W#b",
        );
    }

    #[test]
    fn empty_field_is_no_field() {
        assert_eq!(
            PV.forward_sk(FtsLevel::W, "a1", FtsEntityType::R, "r", Some("")),
            "FTS#W#a1#R#r"
        );
    }

    #[test]
    fn rejects_what_no_writer_produces() {
        for sk in [
            "FTS#W#bold#E",
            "FTS#W#Bold#E#1",
            "FTS#2#ab#E#1", // level 2 is not v0.1
            "FTS#W#bold#X#1",
            "FTS#W#bold#E#1#",
            "FTS#W#bold#E##f",
            "FTS_REV#E#1#W#bold",
            "E#META",
            "FTS#W##E#1",
        ] {
            assert_eq!(PV.parse_forward_sk(sk), None, "{sk}");
        }
        for sk in [
            "FTS_REV#E#1#W#",
            "FTS_REV#E#1#X#a",
            "FTS_REV#E##W#a",
            "FTS#W#a#E#1",
        ] {
            assert_eq!(PV.parse_reverse_sk(sk), None, "{sk}");
        }
        assert_eq!(PM.parse_forward_sk("FTS#W#bold#E#1"), None);
        assert_eq!(PV.parse_forward_sk("FTS#W#E#bold#1"), None);
        assert_eq!(detect_format_from_forward_sk("FTS_REV#E#1#W#a"), None);
    }

    #[test]
    fn format_names_round_trip() {
        for f in TableFormat::ALL {
            assert_eq!(f.as_str().parse::<TableFormat>().ok(), Some(f));
            assert_eq!(f.to_string(), f.as_str());
            let json = serde_json::to_string(&f).unwrap_or_default();
            assert_eq!(json, format!("\"{f}\""));
            assert_eq!(serde_json::from_str::<TableFormat>(&json).ok(), Some(f));
        }
        let err = "v0.2".parse::<TableFormat>().err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(
            msg.contains("v0.2") && msg.contains("v0.1") && msg.contains("main"),
            "{msg}"
        );
        assert_eq!(TableFormat::default(), TableFormat::V0_1);
    }

    #[test]
    fn flags() {
        assert_eq!(PV.levels(), &[FtsLevel::W, FtsLevel::Three]);
        assert_eq!(PM.levels(), &[FtsLevel::W, FtsLevel::Three, FtsLevel::Two]);
        assert!(!PV.experiment_tags_always_denormalized());
        assert!(PM.experiment_tags_always_denormalized());
        assert!(!PV.writes_tags_lower() && PM.writes_tags_lower());
        assert_eq!(PV.denormalize_rule(TagKind::Dataset), None);
        assert_eq!(
            PV.denormalize_rule(TagKind::Run),
            Some(DenormalizeRule::GlobalAndExperimentPatterns)
        );
        assert_eq!(
            PM.denormalize_rule(TagKind::GatewayEndpoint),
            Some(DenormalizeRule::Always)
        );
    }

    fn ev(lsi2sk: Option<&str>, sks: &[&str]) -> FormatEvidence {
        FormatEvidence {
            lsi2sk_type: lsi2sk.map(Into::into),
            forward_sks: sks.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `detect_format` gives `Ok(format)` or an error whose text contains
    /// every one of `words`.
    fn check_detect(
        setting: &str,
        evidence: FormatEvidence,
        want: Result<TableFormat, &[&str]>,
    ) -> Option<Detection> {
        let setting: FormatSetting = setting.parse().expect("setting");
        let got = detect_format(setting, "t1", &evidence);
        match (want, got) {
            (Ok(f), Ok(d)) => {
                assert_eq!(d.format, f, "{evidence:?}");
                Some(d)
            }
            (Err(words), Err(e)) => {
                let msg = e.to_string();
                for w in words {
                    assert!(msg.contains(w), "{msg:?} lacks {w:?}");
                }
                None
            }
            (want, got) => panic!("{setting} {evidence:?}: want {want:?}, got {got:?}"),
        }
    }

    #[test]
    fn detection_follows_the_declared_lsi2sk_type() {
        use TableFormat::*;
        let v = "FTS#W#bold#E#1";
        let m = "FTS#W#E#bold#1";
        check_detect("auto", ev(Some("S"), &[]), Ok(V0_1));
        check_detect("", ev(Some("N"), &[m]), Ok(Main));
        check_detect("v0.1", ev(Some("S"), &[v]), Ok(V0_1));
        check_detect("main", ev(Some("N"), &[]), Ok(Main));
        // The wrong setting is refused, naming both formats and the evidence.
        check_detect(
            "v0.1",
            ev(Some("N"), &[m]),
            Err(&[
                "t1",
                "main",
                "TABLE_FORMAT=v0.1",
                "lsi2sk declared N",
                "1 of 1 sampled",
            ]),
        );
        check_detect(
            "main",
            ev(Some("S"), &[]),
            Err(&["format v0.1", "TABLE_FORMAT=main"]),
        );
        // Keys that contradict the schema are reported, not obeyed.
        let d = check_detect("auto", ev(Some("N"), &[m, v, v]), Ok(Main)).expect("detected");
        assert_eq!(d.foreign_samples, vec![v.to_owned(), v.to_owned()]);
        assert!(d.evidence.contains("1 of 3 sampled"), "{}", d.evidence);
        // No lsi2sk declared: the keys decide when they agree.
        check_detect("auto", ev(None, &[m, m]), Ok(Main));
        check_detect("auto", ev(None, &[v]), Ok(V0_1));
        check_detect("main", ev(None, &[v]), Err(&["format v0.1"]));
        // Nothing to tell from: a setting is trusted, auto is refused.
        let d = check_detect("main", ev(None, &[]), Ok(Main)).expect("trusted");
        assert!(d.evidence.contains("trusted"), "{}", d.evidence);
        check_detect(
            "auto",
            ev(None, &[]),
            Err(&["cannot tell", "TABLE_FORMAT=v0.1"]),
        );
        check_detect("auto", ev(None, &[m, v]), Err(&["1 v0.1 and 1 main"]));
        assert!("v0.2".parse::<FormatSetting>().is_err());
        assert_eq!(FormatSetting::default().to_string(), "auto");
    }

    #[test]
    fn foreign_items_are_the_other_formats_layout_only() {
        assert!(is_foreign_fts_sk(PV, "FTS#W#E#bold#1"));
        assert!(is_foreign_fts_sk(PV, "FTS_REV#E#1#2#ld"));
        assert!(!is_foreign_fts_sk(PV, "FTS_REV#E#1#W#bold"));
        assert!(!is_foreign_fts_sk(PV, "FTS#W#bold#E#1"));
        assert!(is_foreign_fts_sk(PM, "FTS#W#bold#E#1"));
        assert!(!is_foreign_fts_sk(PM, "FTS_REV#E#1#2#ld"));
        assert!(!is_foreign_fts_sk(PM, "E#META"));
        assert!(!is_foreign_fts_sk(PM, "FTS#junk"));
    }
}
