//! Property tests of the sweep's decisions: the verdict does not depend on
//! how the scan was cut into pages or ordered, and a live META always saves
//! its items.

use std::collections::{BTreeSet, HashSet};

use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::ItemKey;
use mlflow_ddb_core::sweep::{Category, Census, Decision, Scanned, Ttl};
use proptest::prelude::*;

/// A small table: partitions with or without META, runs with or without META.
fn table() -> impl Strategy<Value = Vec<(String, String)>> {
    let partition = (
        0u8..6,
        any::<bool>(),
        proptest::collection::vec((0u8..3, any::<bool>(), 0usize..4), 0..3),
        0usize..3,
    );
    proptest::collection::vec(partition, 1..6).prop_map(|parts| {
        let mut keys = BTreeSet::new();
        for (p, meta, runs, loose) in parts {
            let pk = if p < 4 {
                format!("EXP#e{p}")
            } else {
                format!("RM#m{p}")
            };
            if meta {
                keys.insert((
                    pk.clone(),
                    if p < 4 { "E#META" } else { "M#META" }.to_owned(),
                ));
            }
            for l in 0..loose {
                keys.insert((pk.clone(), format!("FTS#W#tok{l}#E#e{p}")));
            }
            for (r, run_meta, children) in runs {
                let run = format!("r{p}x{r}");
                if run_meta {
                    keys.insert((pk.clone(), format!("R#{run}")));
                }
                for c in 0..children {
                    keys.insert((pk.clone(), format!("R#{run}#METRIC#m{c}")));
                    keys.insert((pk.clone(), format!("FTS_REV#R#{run}#W#t{c}")));
                }
            }
            keys.insert(("CONFIG".to_owned(), "TTL_POLICY".to_owned()));
        }
        keys.into_iter().collect()
    })
}

fn decide(items: &[(String, String)], present: &HashSet<ItemKey>) -> Decision {
    let mut c = Census::new(TableFormat::V0_1.profile());
    for (pk, sk) in items {
        c.add(Scanned::new(
            ItemKey::new(pk.clone(), sk.clone()),
            Ttl::Absent,
        ));
    }
    c.decide(present)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any order of the scanned items gives the same verdict.
    #[test]
    fn order_does_not_matter(items in table(), seed in any::<u64>()) {
        let mut shuffled = items.clone();
        // a deterministic shuffle from the seed
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(decide(&items, &HashSet::new()), decide(&shuffled, &HashSet::new()));
    }

    /// No item of a partition whose META exists (seen, or found by the read)
    /// is a category 1/2 orphan; no item of a run whose META exists is a
    /// category 3 orphan; META items are never orphans of their own group;
    /// nothing outside EXP#/RM# is touched.
    #[test]
    fn live_metas_save_their_items(items in table(), found in proptest::collection::vec(0u8..6, 0..3)) {
        let present: HashSet<ItemKey> = found
            .iter()
            .map(|p| if *p < 4 { ItemKey::new(format!("EXP#e{p}"), "E#META") } else { ItemKey::new(format!("RM#m{p}"), "M#META") })
            .collect();
        let keys: HashSet<ItemKey> = items.iter().map(|(p, s)| ItemKey::new(p.clone(), s.clone())).collect();
        let d = decide(&items, &present);
        for g in &d.groups {
            prop_assert!(!keys.contains(&g.meta), "group of a present META {}", g.meta);
            prop_assert!(!present.contains(&g.meta));
            for s in &g.items {
                prop_assert!(s.key.pk.starts_with("EXP#") || s.key.pk.starts_with("RM#"));
                prop_assert_eq!(&s.key.pk, &g.meta.pk);
                prop_assert!(s.key != g.meta);
                if g.category == Category::Run {
                    let run = g.meta.sk.strip_prefix("R#").unwrap();
                    let (child, fts) = (format!("R#{run}#"), format!("FTS_REV#R#{run}#"));
                    prop_assert!(s.key.sk.starts_with(&child) || s.key.sk.starts_with(&fts));
                }
            }
        }
        // Every item of a partition with no META anywhere is an orphan.
        let orphaned: HashSet<&ItemKey> = d.groups.iter().flat_map(|g| g.items.iter().map(|s| &s.key)).collect();
        for k in &keys {
            let meta_sk = if k.pk.starts_with("EXP#") { "E#META" } else if k.pk.starts_with("RM#") { "M#META" } else { continue };
            let meta = ItemKey::new(k.pk.clone(), meta_sk);
            if !keys.contains(&meta) && !present.contains(&meta) {
                prop_assert!(orphaned.contains(k), "{} not found orphaned", k);
            }
        }
    }
}
