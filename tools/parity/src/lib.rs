//! Parity with the reference store: replay the vectors that
//! `scripts/gen_vectors.py` records from the reference's own functions
//! (`tests/fixtures/parity/README.md`) and count where we differ.
//!
//! Pure: callers read (and decompress) the JSON Lines; this module parses
//! and compares. Used by `tests/parity.rs` and the `parity-report` binary.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;

use mlflow_ddb_core::config::{Config, DENORMALIZE_TAGS_SK, EXPERIMENT_DENORMALIZE_TAGS_PREFIX};
use mlflow_ddb_core::format::{FtsEntityType, FtsLevel, Profile, TableFormat, TagKind};
use mlflow_ddb_core::fts::{self, FtsTarget, TokenSet};
use mlflow_ddb_core::item::{AttributeValue, Item, PK, SK};
use mlflow_ddb_core::pattern::Pattern;
use mlflow_ddb_core::tags::{self, MapAttr, RunNameSync};

/// Mismatches kept in detail per category (all are counted).
pub const DETAILS_KEPT: usize = 5;

/// One kind of vector file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Tokens,
    Stems,
    Fnmatch,
    Denormalize,
    FtsItems,
    FtsDiff,
    /// `main`: an experiment tag's entries in the `tags`, `tags_lower` and
    /// `tags_lower_rev` maps of `E#META`.
    TagMaps,
    /// `main`: what a run tag does to the run's `run_name` and `lsi4sk`.
    RunNameSync,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Tokens => "tokens",
            Category::Stems => "stems",
            Category::Fnmatch => "fnmatch",
            Category::Denormalize => "denormalize",
            Category::FtsItems => "fts_items",
            Category::FtsDiff => "fts_diff",
            Category::TagMaps => "tag_maps",
            Category::RunNameSync => "run_name_sync",
        }
    }

    /// File name under `tests/fixtures/parity/<format>/`.
    pub fn file_name(self) -> String {
        format!("{}.jsonl.gz", self.as_str())
    }

    /// The categories recorded for a format (stems, fnmatch and denormalize
    /// do not depend on it and are recorded for `v0.1` only; tag maps and
    /// run-name sync exist in `main` only, and their checks also assert that
    /// `v0.1` writes the plain `tags` entry and no run-name sync).
    pub fn for_format(format: TableFormat) -> &'static [Category] {
        match format {
            TableFormat::V0_1 => &[
                Category::Tokens,
                Category::Stems,
                Category::Fnmatch,
                Category::Denormalize,
                Category::FtsItems,
                Category::FtsDiff,
            ],
            TableFormat::Main => &[
                Category::Tokens,
                Category::FtsItems,
                Category::FtsDiff,
                Category::TagMaps,
                Category::RunNameSync,
            ],
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One vector we disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based line number in the file.
    pub line: usize,
    pub detail: String,
}

/// The result of replaying one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryReport {
    pub format: TableFormat,
    pub category: Category,
    pub vectors: usize,
    pub mismatches: usize,
    /// The first [`DETAILS_KEPT`] mismatches.
    pub details: Vec<Mismatch>,
}

impl CategoryReport {
    pub fn is_clean(&self) -> bool {
        self.mismatches == 0 && self.vectors > 0
    }
}

impl fmt::Display for CategoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}/{} mismatches",
            self.format, self.category, self.mismatches, self.vectors
        )
    }
}

/// Replay every line of one JSON Lines file (blank lines are skipped).
pub fn check_jsonl(format: TableFormat, category: Category, jsonl: &str) -> CategoryReport {
    let profile = Profile::of(format);
    let mut report = CategoryReport {
        format,
        category,
        vectors: 0,
        mismatches: 0,
        details: Vec::new(),
    };
    for (n, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        report.vectors += 1;
        if let Err(detail) = check_line(profile, category, line) {
            report.mismatches += 1;
            if report.details.len() < DETAILS_KEPT {
                report.details.push(Mismatch {
                    line: n + 1,
                    detail,
                });
            }
        }
    }
    report
}

fn check_line(profile: &Profile, category: Category, line: &str) -> Result<(), String> {
    match category {
        Category::Tokens => check_tokens(profile, parse(line)?),
        Category::Stems => check_stem(parse(line)?),
        Category::Fnmatch => check_fnmatch(parse(line)?),
        Category::Denormalize => check_denormalize(parse(line)?),
        Category::FtsItems => check_fts_items(profile, parse(line)?),
        Category::FtsDiff => check_fts_diff(parse(line)?),
        Category::TagMaps => check_tag_maps(profile, parse(line)?),
        Category::RunNameSync => check_run_name_sync(profile, parse(line)?),
    }
}

fn parse<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, String> {
    serde_json::from_str(line).map_err(|e| format!("unreadable vector: {e}"))
}

fn expect_eq<T: PartialEq + fmt::Debug>(what: &str, ours: T, theirs: T) -> Result<(), String> {
    if ours == theirs {
        Ok(())
    } else {
        Err(format!(
            "{what}\n    ours:      {ours:?}\n    reference: {theirs:?}"
        ))
    }
}

#[derive(Deserialize)]
struct TokensVector {
    text: String,
    #[serde(flatten)]
    levels: HashMap<String, Vec<String>>,
}

fn check_tokens(profile: &Profile, v: TokensVector) -> Result<(), String> {
    let mut expected: Vec<(&str, &Vec<String>)> =
        v.levels.iter().map(|(l, t)| (l.as_str(), t)).collect();
    expected.sort();
    let ours_levels: Vec<&str> = {
        let mut ls: Vec<&str> = profile.levels().iter().map(|l| l.as_str()).collect();
        ls.sort();
        ls
    };
    let theirs_levels: Vec<&str> = expected.iter().map(|(l, _)| *l).collect();
    expect_eq("levels", ours_levels, theirs_levels)?;
    for (level, tokens) in expected {
        let level = FtsLevel::parse(level).ok_or_else(|| format!("unknown level {level:?}"))?;
        let ours: Vec<String> = fts::tokens(profile, level, &v.text).into_iter().collect();
        expect_eq(&format!("level {level} of {:?}", v.text), &ours, tokens)?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct StemVector {
    word: String,
    stem: String,
}

fn check_stem(v: StemVector) -> Result<(), String> {
    expect_eq(
        &format!("stem of {:?}", v.word),
        fts::stem(&v.word).as_ref(),
        v.stem.as_str(),
    )
}

#[derive(Deserialize)]
struct FnmatchVector {
    pattern: String,
    key: String,
    #[serde(rename = "match")]
    matches: bool,
}

fn check_fnmatch(v: FnmatchVector) -> Result<(), String> {
    expect_eq(
        &format!("fnmatch({:?}, {:?})", v.key, v.pattern),
        Pattern::new(&v.pattern).matches(&v.key),
        v.matches,
    )
}

#[derive(Deserialize)]
struct DenormalizeVector {
    global: Option<Vec<String>>,
    experiment_id: Option<String>,
    experiment_patterns: Option<Vec<String>>,
    key: String,
    result: bool,
}

fn config_item(sk: &str, patterns: &[String]) -> Item {
    let mut m = HashMap::new();
    m.insert(
        PK.to_owned(),
        AttributeValue::S(mlflow_ddb_core::config::CONFIG_PK.to_owned()),
    );
    m.insert(SK.to_owned(), AttributeValue::S(sk.to_owned()));
    m.insert(
        "patterns".to_owned(),
        AttributeValue::L(
            patterns
                .iter()
                .map(|p| AttributeValue::S(p.clone()))
                .collect(),
        ),
    );
    Item::from(m)
}

fn check_denormalize(v: DenormalizeVector) -> Result<(), String> {
    // Build the CONFIG items the reference read, then ask the snapshot.
    let mut items = Vec::new();
    if let Some(g) = &v.global {
        items.push(config_item(DENORMALIZE_TAGS_SK, g));
    }
    if let (Some(e), Some(ps)) = (&v.experiment_id, &v.experiment_patterns) {
        items.push(config_item(
            &format!("{EXPERIMENT_DENORMALIZE_TAGS_PREFIX}{e}"),
            ps,
        ));
    }
    let config = Config::from_items(&items).map_err(|e| e.to_string())?;
    expect_eq(
        &format!(
            "should_denormalize({:?}, {:?}) with global {:?}, experiment {:?}",
            v.experiment_id, v.key, v.global, v.experiment_patterns
        ),
        config.should_denormalize(v.experiment_id.as_deref(), &v.key),
        v.result,
    )
}

#[derive(Deserialize)]
struct FtsItemsVector {
    pk: String,
    entity_type: String,
    entity_id: String,
    field: Option<String>,
    text: String,
    workspace: Option<String>,
    levels: Vec<String>,
    items: Vec<BTreeMap<String, String>>,
}

fn levels(names: &[String]) -> Result<Vec<FtsLevel>, String> {
    names
        .iter()
        .map(|l| FtsLevel::parse(l).ok_or_else(|| format!("unknown level {l:?}")))
        .collect()
}

fn check_fts_items(profile: &Profile, v: FtsItemsVector) -> Result<(), String> {
    let entity = FtsEntityType::parse(&v.entity_type)
        .ok_or_else(|| format!("unknown entity type {:?}", v.entity_type))?;
    let target = FtsTarget::new(&v.pk, entity, &v.entity_id, v.field.as_deref())
        .with_workspace(v.workspace.as_deref());
    let mut ours: Vec<BTreeMap<String, String>> =
        fts::fts_items_for_levels(profile, &target, &v.text, &levels(&v.levels)?)
            .iter()
            .map(|item| {
                item.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
                            other => format!("{other:?}"),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .collect();
    ours.sort_by(|a, b| a.get(SK).cmp(&b.get(SK)));
    if ours == v.items {
        return Ok(());
    }
    let first = ours.iter().zip(&v.items).position(|(a, b)| a != b);
    Err(format!(
        "fts_items_for_text({:?}, {:?}, {:?}, {:?}, {:?}, {:?}, {:?}): {} items vs {}; first difference: ours {:?} reference {:?}",
        v.pk,
        v.entity_type,
        v.entity_id,
        v.field,
        v.text,
        v.levels,
        v.workspace,
        ours.len(),
        v.items.len(),
        first.map(|i| &ours[i]),
        first.map(|i| &v.items[i]),
    ))
}

#[derive(Deserialize)]
struct FtsDiffVector {
    old: Option<String>,
    new: String,
    levels: Vec<String>,
    add: Vec<(String, String)>,
    remove: Vec<(String, String)>,
}

fn pairs(set: &TokenSet) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = set
        .iter()
        .map(|(l, t)| (l.as_str().to_owned(), t.clone()))
        .collect();
    v.sort();
    v
}

fn check_fts_diff(v: FtsDiffVector) -> Result<(), String> {
    let (add, remove) = fts::fts_diff_for_levels(&levels(&v.levels)?, v.old.as_deref(), &v.new);
    let what = format!("fts_diff({:?}, {:?}, {:?})", v.old, v.new, v.levels);
    let mut expected_add = v.add;
    let mut expected_remove = v.remove;
    expected_add.sort();
    expected_remove.sort();
    expect_eq(&format!("{what} add"), pairs(&add), expected_add)?;
    expect_eq(&format!("{what} remove"), pairs(&remove), expected_remove)
}

#[derive(Deserialize)]
struct TagMapsVector {
    key: String,
    value: String,
    tags: String,
    tags_lower: String,
    tags_lower_rev: String,
}

fn map_entries(entries: Vec<(MapAttr, AttributeValue)>) -> Vec<(&'static str, AttributeValue)> {
    entries.into_iter().map(|(a, v)| (a.as_str(), v)).collect()
}

fn check_tag_maps(profile: &Profile, v: TagMapsVector) -> Result<(), String> {
    let value = AttributeValue::S(v.value.clone());
    let what = format!("experiment tag {:?} = {:?}", v.key, v.value);
    expect_eq(
        &format!("{what}: map entries"),
        map_entries(tags::desired_entries(profile, TagKind::Experiment, &value)),
        vec![
            (MapAttr::Tags.as_str(), AttributeValue::S(v.tags)),
            (MapAttr::TagsLower.as_str(), AttributeValue::S(v.tags_lower)),
            (
                MapAttr::TagsLowerRev.as_str(),
                AttributeValue::S(v.tags_lower_rev),
            ),
        ],
    )?;
    // v0.1 copies the value into `tags` only (contract §3).
    expect_eq(
        &format!("{what}: v0.1 map entries"),
        map_entries(tags::desired_entries(
            Profile::of(TableFormat::V0_1),
            TagKind::Experiment,
            &value,
        )),
        vec![(MapAttr::Tags.as_str(), value)],
    )
}

#[derive(Deserialize)]
struct RunNameSyncVector {
    key: String,
    value: String,
    run_name: Option<String>,
    lsi4sk: Option<String>,
}

fn check_run_name_sync(profile: &Profile, v: RunNameSyncVector) -> Result<(), String> {
    let value = AttributeValue::S(v.value.clone());
    let what = format!("run tag {:?} = {:?}", v.key, v.value);
    let theirs = match (v.run_name, v.lsi4sk) {
        (None, None) => None,
        (Some(run_name), Some(lsi4sk)) => Some(RunNameSync { run_name, lsi4sk }),
        (run_name, lsi4sk) => {
            return Err(format!(
                "{what}: the reference set one of run_name {run_name:?} / lsi4sk {lsi4sk:?} without the other"
            ))
        }
    };
    expect_eq(
        &format!("{what}: run_name / lsi4sk"),
        tags::run_name_sync(profile, &v.key, &value),
        theirs,
    )?;
    // v0.1 never syncs the run name from the tag (contract §3).
    expect_eq(
        &format!("{what}: v0.1 sync"),
        tags::run_name_sync(Profile::of(TableFormat::V0_1), &v.key, &value),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_vector_is_reported_with_its_line() {
        let jsonl = "{\"pattern\":\"a*\",\"key\":\"ab\",\"match\":true}\n\n{\"pattern\":\"a*\",\"key\":\"b\",\"match\":true}\nnot json\n";
        let r = check_jsonl(TableFormat::V0_1, Category::Fnmatch, jsonl);
        assert_eq!((r.vectors, r.mismatches), (3, 2));
        assert_eq!(r.details[0].line, 3);
        assert_eq!(r.details[1].line, 4);
        assert!(!r.is_clean());
        assert_eq!(r.to_string(), "v0.1 fnmatch: 2/3 mismatches");
    }

    #[test]
    fn tag_maps_vectors_compare_all_three_maps() {
        let ok = r#"{"key":"k","value":"\u039f\u0394\u039f\u03a3 \u0130","tags":"\u039f\u0394\u039f\u03a3 \u0130","tags_lower":"\u03bf\u03b4\u03bf\u03c2 i\u0307","tags_lower_rev":"\u0307i \u03c2\u03bf\u03b4\u03bf"}"#;
        let r = check_jsonl(TableFormat::Main, Category::TagMaps, ok);
        assert!(r.is_clean(), "{:?}", r.details);
        // CPython 3.11's lower() (Unicode 14) keeps letters lowered only since
        // Unicode 16 (U+A7CB, U+1C89, Garay), and they end a final sigma.
        let newer = [
            r#"{"key":"k","value":"\u0391\u03a3\ua7cb","tags":"\u0391\u03a3\ua7cb","tags_lower":"\u03b1\u03c2\ua7cb","tags_lower_rev":"\ua7cb\u03c2\u03b1"}"#,
            r#"{"key":"k","value":"\ua7cb\u03a3","tags":"\ua7cb\u03a3","tags_lower":"\ua7cb\u03c3","tags_lower_rev":"\u03c3\ua7cb"}"#,
            r#"{"key":"k","value":"X\u1c89\ud803\udd50","tags":"X\u1c89\ud803\udd50","tags_lower":"x\u1c89\ud803\udd50","tags_lower_rev":"\ud803\udd50\u1c89x"}"#,
        ];
        let r = check_jsonl(TableFormat::Main, Category::TagMaps, &newer.join("\n"));
        assert!(r.is_clean(), "{:?}", r.details);
        let wrong = r#"{"key":"k","value":"A","tags":"A","tags_lower":"a","tags_lower_rev":"A"}"#;
        let r = check_jsonl(TableFormat::Main, Category::TagMaps, wrong);
        assert_eq!(r.mismatches, 1);
        assert!(r.details[0].detail.contains("tags_lower_rev"));
    }

    #[test]
    fn run_name_sync_vectors_tell_set_from_unset() {
        let lines = [
            r#"{"key":"mlflow.runName","value":"Ab","run_name":"Ab","lsi4sk":"ab"}"#,
            r#"{"key":"mlflow.runName","value":"","run_name":null,"lsi4sk":null}"#,
            r#"{"key":"mlflow.user","value":"Ab","run_name":null,"lsi4sk":null}"#,
        ];
        let r = check_jsonl(TableFormat::Main, Category::RunNameSync, &lines.join("\n"));
        assert!(r.is_clean(), "{:?}", r.details);
        let wrong = [
            r#"{"key":"mlflow.runName","value":"Ab","run_name":null,"lsi4sk":null}"#,
            r#"{"key":"mlflow.runName","value":"Ab","run_name":"Ab","lsi4sk":null}"#,
            r#"{"key":"mlflow.user","value":"Ab","run_name":"Ab","lsi4sk":"ab"}"#,
        ];
        let r = check_jsonl(TableFormat::Main, Category::RunNameSync, &wrong.join("\n"));
        assert_eq!((r.vectors, r.mismatches), (3, 3));
    }

    #[test]
    fn an_empty_file_is_not_clean() {
        assert!(!check_jsonl(TableFormat::Main, Category::Tokens, "").is_clean());
    }

    #[test]
    fn tokens_vectors_must_name_exactly_the_format_levels() {
        let line = r#"{"text":"Ab","W":["ab"],"3":[]}"#;
        assert!(check_jsonl(TableFormat::V0_1, Category::Tokens, line).is_clean());
        assert_eq!(
            check_jsonl(TableFormat::Main, Category::Tokens, line).mismatches,
            1
        );
    }
}
