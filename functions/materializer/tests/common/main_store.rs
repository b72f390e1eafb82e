//! The `main` store itself as the oracle of the `main`-format tests: its
//! sessions (`functions/materializer/tests/coexist_main.py`, run by the
//! Python of `.venv-main`), what they say the store got wrong, and a table
//! without its derived state. Shared by the materializer's and the
//! indexer's tests (the indexer includes this file by path).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mlflow_ddb_aws::testkit::key_of;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_core::plan::memory::Table;
use mlflow_ddb_core::tags::RUN_NAME_TAG;
use serde_json::Value;

/// Maps the `main` store keeps on META items: `tags` everywhere, and on
/// experiments also `tags_lower` and `tags_lower_rev` (contract §7).
pub const MAIN_MAPS: [&str; 3] = ["tags", "tags_lower", "tags_lower_rev"];

pub fn main_profile() -> &'static Profile {
    Profile::of(TableFormat::Main)
}

/// The Python of `.venv-main`, or a failure saying how to install it: a
/// test that needs the `main` oracle must not pass (or skip) without it.
pub fn main_python(root: &Path) -> PathBuf {
    let p = root.join(".venv-main/bin/python");
    assert!(
        p.exists(),
        "{} is missing: the `main`-format oracle (mlflow-dynamodbstore at 3ccbc9e) is not \
         installed; run scripts/venv.sh main",
        p.display()
    );
    p
}

/// The `main` CLI of `.venv-main`, or a failure saying how to install it.
pub fn main_cli(root: &Path) -> PathBuf {
    main_python(root);
    let p = root.join(".venv-main/bin/mlflow-dynamodbstore");
    assert!(
        p.exists(),
        "{} is missing: run scripts/venv.sh main",
        p.display()
    );
    p
}

/// A run renamed through its `mlflow.runName` tag (the `run-name` session),
/// with the FTS items the store's own `fts_items_for_text` gives for its old
/// and new name (no field) and tag value (field `mlflow.runName`).
#[derive(Debug)]
pub struct RunNameCase {
    pub pk: String,
    pub run: String,
    pub old_name: Vec<Item>,
    pub new_name: Vec<Item>,
    pub old_tag: Vec<Item>,
    pub new_tag: Vec<Item>,
}

/// What a session of the `main` store printed.
#[derive(Debug)]
pub struct Session {
    /// The FTS items of the seeded experiment 0's name: the store's seed
    /// writes none (every other experiment name is indexed; so is this one
    /// by us).
    pub default_experiment: Vec<Item>,
    pub run_name: Option<RunNameCase>,
}

fn items(v: &Value) -> Vec<Item> {
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("a list of items: {v}"));
    arr.iter()
        .map(|o| {
            let o = o.as_object().expect("an item");
            let mut i = Item::default();
            for (k, v) in o {
                let s = v.as_str().unwrap_or_else(|| panic!("{k}: not a string"));
                i.insert(k.clone(), AttributeValue::S(s.to_owned()));
            }
            i
        })
        .collect()
}

fn keys(items: &[Item]) -> BTreeSet<ItemKey> {
    items.iter().map(key_of).collect()
}

/// Run `coexist_main.py <session> <table>` with the `main` store; the store
/// deploys the table on the endpoint of `AWS_ENDPOINT_URL`.
pub fn run_session(root: &Path, session: &str, table: &str) -> Session {
    let out = Command::new(main_python(root))
        .arg(root.join("functions/materializer/tests/coexist_main.py"))
        .args([session, table])
        .env("MLFLOW_LOGGING_LEVEL", "WARNING")
        .env("PYTHONWARNINGS", "ignore")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run the main store's session");
    assert!(
        out.status.success(),
        "main store session {session} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "session {session}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let run_name = match &v["run_name"] {
        Value::Null => None,
        r => Some(RunNameCase {
            pk: r["pk"].as_str().expect("pk").to_owned(),
            run: r["run"].as_str().expect("run").to_owned(),
            old_name: items(&r["old_name"]),
            new_name: items(&r["new_name"]),
            old_tag: items(&r["old_tag"]),
            new_tag: items(&r["new_tag"]),
        }),
    };
    Session {
        default_experiment: items(&v["default_experiment"]),
        run_name,
    }
}

impl RunNameCase {
    /// The run's target key.
    pub fn target(&self) -> ItemKey {
        ItemKey::new(&self.pk, format!("R#{}", self.run))
    }

    /// Items the store left that are wrong: its old name's tokens and its
    /// `mlflow.runName` tag's old value's, where the new ones differ.
    pub fn stale(&self) -> BTreeSet<ItemKey> {
        let new: BTreeSet<ItemKey> = keys(&self.new_name)
            .union(&keys(&self.new_tag))
            .cloned()
            .collect();
        keys(&self.old_name)
            .union(&keys(&self.old_tag))
            .filter(|k| !new.contains(*k))
            .cloned()
            .collect()
    }

    /// The new name's items the store never wrote.
    pub fn missing(&self) -> BTreeSet<ItemKey> {
        let old = keys(&self.old_name);
        keys(&self.new_name)
            .into_iter()
            .filter(|k| !old.contains(k))
            .collect()
    }

    /// Check that `written` (the store's table) shows the bug exactly: the
    /// name synced, the old name's and old value's tokens kept, the new
    /// value's written, the new name's missing.
    pub fn assert_store_bug(&self, written: &Table) {
        let run = written.get(&self.target()).expect("the renamed run");
        let new = self.new_name[0].get("SK").cloned();
        assert!(new.is_some());
        for k in keys(&self.old_name)
            .iter()
            .chain(keys(&self.old_tag).iter())
            .chain(keys(&self.new_tag).iter())
        {
            assert!(written.contains_key(k), "the store wrote {k}");
        }
        for k in self.missing() {
            assert!(!written.contains_key(&k), "the store never writes {k}");
        }
        assert!(!self.stale().is_empty() && !self.missing().is_empty());
        assert!(
            matches!(run.get("run_name"), Some(AttributeValue::S(s)) if s == "Second Wind ünïcode"),
            "the store syncs run_name from the tag: {:?}",
            run.get("run_name")
        );
        assert!(
            matches!(run.get("lsi4sk"), Some(AttributeValue::S(s)) if s == "second wind ünïcode"),
            "the store syncs lsi4sk from the tag: {:?}",
            run.get("lsi4sk")
        );
    }
}

impl Session {
    /// `written` (what the store wrote in this session) with the renamed
    /// run's FTS items those of its new name and tag value: what processing
    /// the session's stream must leave.
    pub fn run_name_corrected(&self, written: &Table) -> Table {
        let mut out = written.clone();
        if let Some(r) = &self.run_name {
            for k in r.old_name.iter().chain(&r.old_tag).map(key_of) {
                out.remove(&k);
            }
            for i in r.new_name.iter().chain(&r.new_tag) {
                out.insert(key_of(i), i.clone());
            }
        }
        out
    }

    /// [`Self::run_name_corrected`], and the seeded experiment's name
    /// indexed: what reconciling every item of the table must leave.
    pub fn corrected(&self, written: &Table) -> Table {
        let mut out = self.run_name_corrected(written);
        if out.contains_key(&ItemKey::new("EXP#0", "E#META")) {
            for i in &self.default_experiment {
                out.insert(key_of(i), i.clone());
            }
        }
        out
    }
}

/// `table` (a `main` table) without its derived state: FTS items removed,
/// the maps of [`MAIN_MAPS`] emptied, and `run_name` / `lsi4sk` removed from
/// every run that has a non-empty `mlflow.runName` tag (`main` sets both
/// from it).
pub fn strip_main(table: &Table) -> Table {
    let p = main_profile();
    table
        .iter()
        .filter(|(k, _)| !ItemKind::parse_key(p, k).is_derived())
        .map(|(k, i)| {
            let mut i = i.clone();
            for m in MAIN_MAPS {
                if let Some(AttributeValue::M(m)) = i.get_mut(m) {
                    m.clear();
                }
            }
            if matches!(ItemKind::parse_key(p, k), ItemKind::RunMeta { .. }) {
                let tag = ItemKey::new(&k.pk, format!("{}#TAG#{RUN_NAME_TAG}", k.sk));
                let named = matches!(
                    table.get(&tag).and_then(|t| t.get("value")),
                    Some(AttributeValue::S(s)) if !s.is_empty()
                );
                if named {
                    i.remove("run_name");
                    i.remove("lsi4sk");
                }
            }
            (k.clone(), i)
        })
        .collect()
}

/// The derived items and attributes of a `main` table, for counting and
/// readable differences: FTS item keys, map entries `(target, map, key)`,
/// and the runs' `run_name` / `lsi4sk`.
#[derive(Debug, Default, PartialEq)]
pub struct MainDerived {
    pub fts: BTreeSet<ItemKey>,
    pub map_entries: BTreeSet<(ItemKey, &'static str, String)>,
    pub run_names: BTreeSet<(ItemKey, &'static str)>,
}

pub fn main_derived(table: &Table) -> MainDerived {
    let p = main_profile();
    let mut d = MainDerived::default();
    for (k, i) in table {
        let kind = ItemKind::parse_key(p, k);
        if kind.is_derived() {
            d.fts.insert(k.clone());
            continue;
        }
        for m in MAIN_MAPS {
            if let Some(AttributeValue::M(map)) = i.get(m) {
                for key in map.keys() {
                    d.map_entries.insert((k.clone(), m, key.clone()));
                }
            }
        }
        if matches!(kind, ItemKind::RunMeta { .. }) {
            for a in ["run_name", "lsi4sk"] {
                if i.get(a).is_some() {
                    d.run_names.insert((k.clone(), a));
                }
            }
        }
    }
    d
}

/// Keys only in `expected`, only in `actual`, and differing; empty if equal.
pub fn table_diff(expected: &Table, actual: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => out.push(format!("missing: {k}")),
            Some(w) if w != v => {
                let attrs: BTreeSet<&String> = v
                    .keys()
                    .chain(w.keys())
                    .filter(|a| v.get(*a) != w.get(*a))
                    .collect();
                for a in attrs {
                    out.push(format!(
                        "differs: {k} {a}: expected {:?}, actual {:?}",
                        v.get(a),
                        w.get(a)
                    ));
                }
            }
            _ => {}
        }
    }
    for k in actual.keys() {
        if !expected.contains_key(k) {
            out.push(format!("extra: {k}"));
        }
    }
    out
}
