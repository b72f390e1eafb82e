//! The DynamoDB store against the local endpoint: every operation, on a
//! fresh table per test. Run with `scripts/emulator.sh run -- cargo test`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mlflow_ddb_aws::testkit::{self, item, key, n, s, FaultProxy, TestTable};
use mlflow_ddb_aws::{
    AwsError, ClientOptions, DynamoStore, ExpireOutcome, Store, StoreOptions, UpdateOutcome,
    WriteStats,
};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

const QUERY: &str = "DynamoDB_20120810.Query";
const UPDATE: &str = "DynamoDB_20120810.UpdateItem";
const BATCH_WRITE: &str = "DynamoDB_20120810.BatchWriteItem";

fn keys_of(items: &[Item]) -> BTreeSet<ItemKey> {
    items
        .iter()
        .filter_map(mlflow_ddb_aws::convert::key_of)
        .collect()
}

fn map(entries: &[(&str, &str)]) -> AttributeValue {
    AttributeValue::M(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), s(*v)))
            .collect(),
    )
}

fn set(entries: &[(&str, &str)]) -> BTreeMap<String, AttributeValue> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), s(*v)))
        .collect()
}

/// A store on `t` whose requests go through a fresh (fault-free) proxy, so
/// tests can count requests per operation.
async fn counted(t: &TestTable, opts: StoreOptions) -> (FaultProxy, DynamoStore) {
    let proxy = FaultProxy::start(&testkit::endpoint()).await.unwrap();
    let clients = testkit::clients_with(&ClientOptions {
        endpoint_url: Some(proxy.url().to_owned()),
        ..testkit::client_options()
    })
    .await;
    let store = t.store_via(&clients, opts);
    (proxy, store)
}

#[tokio::test]
async fn batch_write_and_get_over_chunk_sizes() {
    let t = TestTable::new("v0.1", false).await;
    let (proxy, store) = counted(&t, TestTable::store_options()).await;
    let puts: Vec<Item> = (0..260)
        .map(|i| {
            item(
                &format!("EXP#{}", i % 3),
                &format!("R#{i:04}"),
                [("v", n(i))],
            )
        })
        .collect();
    let stats = store.batch_write(puts.clone(), vec![]).await.unwrap();
    assert_eq!(
        stats,
        WriteStats {
            requests: 11,
            items: 260,
            retried: 0
        }
    );
    assert_eq!(proxy.seen(BATCH_WRITE), 11);

    // > 100 keys, with duplicates and absent ones.
    let mut wanted: Vec<ItemKey> = puts
        .iter()
        .filter_map(mlflow_ddb_aws::convert::key_of)
        .collect();
    wanted.extend(wanted.clone().into_iter().take(10));
    wanted.push(key("EXP#9", "R#none"));
    let got = store.batch_get(&wanted, true, None).await.unwrap();
    assert_eq!(got.len(), 260);
    let by_key: HashMap<ItemKey, Item> = got
        .into_iter()
        .map(|i| (mlflow_ddb_aws::convert::key_of(&i).unwrap(), i))
        .collect();
    for p in &puts {
        assert_eq!(
            Some(p),
            by_key.get(&mlflow_ddb_aws::convert::key_of(p).unwrap())
        );
    }
    assert_eq!(proxy.seen("DynamoDB_20120810.BatchGetItem"), 3);

    // Deletes and puts together.
    let deletes: Vec<ItemKey> = (0..130)
        .map(|i| key(&format!("EXP#{}", i % 3), &format!("R#{i:04}")))
        .collect();
    let more: Vec<Item> = (0..10)
        .map(|i| item("EXP#7", &format!("R#{i}"), []))
        .collect();
    let stats = store.batch_write(more, deletes).await.unwrap();
    assert_eq!((stats.requests, stats.items), (6, 140));
    let mut all: Vec<ItemKey> = (0..260)
        .map(|i| key(&format!("EXP#{}", i % 3), &format!("R#{i:04}")))
        .collect();
    all.extend((0..10).map(|i| key("EXP#7", &format!("R#{i}"))));
    let left = keys_of(&store.batch_get(&all, true, None).await.unwrap());
    let expected: BTreeSet<ItemKey> = all[130..].iter().cloned().collect();
    assert_eq!(left, expected);
}

#[tokio::test]
async fn batch_get_projection_keeps_the_key() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    store
        .batch_write(
            vec![item(
                "P",
                "1",
                [("a", s("x")), ("b", s("y")), ("ttl", n(5))],
            )],
            vec![],
        )
        .await
        .unwrap();
    let got = store
        .batch_get(&[key("P", "1")], false, Some(&["a", "ttl"]))
        .await
        .unwrap();
    assert_eq!(got, vec![item("P", "1", [("a", s("x")), ("ttl", n(5))])]);
}

#[tokio::test]
async fn conflicting_writes_are_refused_before_sending() {
    let t = TestTable::new("v0.1", false).await;
    let (proxy, store) = counted(&t, TestTable::store_options()).await;
    let err = store
        .batch_write(vec![item("P", "1", [("v", n(1))])], vec![key("P", "1")])
        .await
        .unwrap_err();
    assert!(matches!(err, AwsError::Invalid { .. }), "{err}");
    assert_eq!(err.key(), Some(&key("P", "1")));
    assert_eq!(proxy.seen(BATCH_WRITE), 0);
    // Identical duplicates are fine and written once.
    let stats = store
        .batch_write(
            vec![item("P", "1", []), item("P", "1", [])],
            vec![key("P", "2"), key("P", "2")],
        )
        .await
        .unwrap();
    assert_eq!(stats.items, 2);
}

#[tokio::test]
async fn update_map_sets_and_removes_entries() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    let k = key("EXP#1", "E#META");
    store
        .batch_write(
            vec![item(
                "EXP#1",
                "E#META",
                [("name", s("e")), ("tags", map(&[("a", "x"), ("b", "y")]))],
            )],
            vec![],
        )
        .await
        .unwrap();
    let out = store
        .update_map(
            &k,
            "tags",
            &set(&[("a", "x2"), ("c", "z")]),
            &["b".into(), "absent".into()],
        )
        .await
        .unwrap();
    assert_eq!(out, UpdateOutcome::Applied);
    let got = store.get(&k, true).await.unwrap().unwrap();
    assert_eq!(got.get("tags"), Some(&map(&[("a", "x2"), ("c", "z")])));
    assert_eq!(got.get("name"), Some(&s("e")));
    assert_eq!(
        store
            .update_map(&k, "tags", &BTreeMap::new(), &[])
            .await
            .unwrap(),
        UpdateOutcome::Nothing
    );
}

#[tokio::test]
async fn update_map_creates_a_missing_map_for_sets_only() {
    let t = TestTable::new("v0.1", false).await;
    let (proxy, store) = counted(&t, TestTable::store_options()).await;
    // The seeded default experiment has no `tags` map.
    let k = key("EXP#0", "E#META");
    let other = key("EXP#0", "R#r1");
    store
        .batch_write(
            vec![
                item("EXP#0", "E#META", [("name", s("Default"))]),
                item("EXP#0", "R#r1", []),
            ],
            vec![],
        )
        .await
        .unwrap();

    let out = store
        .update_map(&k, "tags", &set(&[("mlflow.note", "v")]), &[])
        .await
        .unwrap();
    assert_eq!(out, UpdateOutcome::AppliedAfterCreatingMap);
    // failed update, create map, update again
    assert_eq!(proxy.seen(UPDATE), 3);
    let got = store.get(&k, true).await.unwrap().unwrap();
    assert_eq!(got.get("tags"), Some(&map(&[("mlflow.note", "v")])));

    // Removals only: nothing to remove, and no empty map is created.
    let out = store
        .update_map(&other, "tags", &BTreeMap::new(), &["x".into()])
        .await
        .unwrap();
    assert_eq!(out, UpdateOutcome::MapAbsent);
    let got = store.get(&other, true).await.unwrap().unwrap();
    assert_eq!(got.get("tags"), None);
}

#[tokio::test]
async fn update_map_never_resurrects_a_missing_item() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    let k = key("EXP#5", "R#gone");
    assert_eq!(
        store
            .update_map(&k, "tags", &set(&[("a", "b")]), &[])
            .await
            .unwrap(),
        UpdateOutcome::TargetMissing
    );
    assert_eq!(
        store
            .update_map(&k, "tags", &BTreeMap::new(), &["a".into()])
            .await
            .unwrap(),
        UpdateOutcome::TargetMissing
    );
    assert_eq!(store.get(&k, true).await.unwrap(), None);
    // Deleted after existing: still not re-created.
    store
        .batch_write(vec![item("EXP#5", "R#gone", [("tags", map(&[]))])], vec![])
        .await
        .unwrap();
    store.batch_write(vec![], vec![k.clone()]).await.unwrap();
    assert_eq!(
        store
            .update_map(&k, "tags", &set(&[("a", "b")]), &[])
            .await
            .unwrap(),
        UpdateOutcome::TargetMissing
    );
    assert_eq!(store.get(&k, true).await.unwrap(), None);
}

#[tokio::test]
async fn update_map_keys_are_opaque() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    let k = key("EXP#1", "R#r");
    store
        .batch_write(vec![item("EXP#1", "R#r", [("tags", map(&[]))])], vec![])
        .await
        .unwrap();
    let odd = [
        ("mlflow.user", "u"),
        ("a#b", "1"),
        ("#k0", "placeholder-looking"),
        (":v0", "value-looking"),
        ("x/y/z", "2"),
        ("with space", "3"),
        ("ünïcødé 日本語 🚀", "4"),
        ("a.b.c", "5"),
        ("SET", "reserved word"),
    ];
    assert_eq!(
        store.update_map(&k, "tags", &set(&odd), &[]).await.unwrap(),
        UpdateOutcome::Applied
    );
    let got = store.get(&k, true).await.unwrap().unwrap();
    assert_eq!(got.get("tags"), Some(&map(&odd)));
    // No nested maps were made from dotted keys.
    assert!(got.get("a").is_none());

    store
        .update_map(
            &k,
            "tags",
            &BTreeMap::new(),
            &["a.b.c".into(), "ünïcødé 日本語 🚀".into()],
        )
        .await
        .unwrap();
    let got = store.get(&k, true).await.unwrap().unwrap();
    let rest: Vec<(&str, &str)> = odd
        .iter()
        .copied()
        .filter(|(k, _)| *k != "a.b.c" && !k.starts_with('ü'))
        .collect();
    assert_eq!(got.get("tags"), Some(&map(&rest)));
}

#[tokio::test]
async fn update_map_splits_large_updates() {
    let t = TestTable::new("v0.1", false).await;
    let (proxy, store) = counted(&t, TestTable::store_options()).await;
    let k = key("EXP#1", "R#big");
    store
        .batch_write(vec![item("EXP#1", "R#big", [])], vec![])
        .await
        .unwrap();
    let many: BTreeMap<String, AttributeValue> = (0..250)
        .map(|i| (format!("tag.{i:03}"), s(format!("v{i}"))))
        .collect();
    let out = store.update_map(&k, "tags", &many, &[]).await.unwrap();
    assert_eq!(out, UpdateOutcome::AppliedAfterCreatingMap);
    // 100 + 100 + 50 entries; the first request fails on the missing map,
    // the map is created, the first chunk is sent again.
    assert_eq!(proxy.seen(UPDATE), 5);
    let got = store.get(&k, true).await.unwrap().unwrap();
    assert_eq!(
        got.get("tags"),
        Some(&AttributeValue::M(many.into_iter().collect()))
    );
}

#[tokio::test]
async fn update_map_refuses_a_key_both_set_and_removed() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    let err = store
        .update_map(&key("P", "S"), "tags", &set(&[("a", "1")]), &["a".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, AwsError::Invalid { .. }), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn query_prefix_reads_every_page_in_sk_order() {
    let t = TestTable::new("v0.1", false).await;
    let opts = StoreOptions {
        query_page_limit: Some(7),
        ..TestTable::store_options()
    };
    let (proxy, store) = counted(&t, opts).await;
    let mut puts: Vec<Item> = (0..50)
        .map(|i| item("EXP#1", &format!("R#{i:02}"), [("v", n(i))]))
        .collect();
    puts.extend((0..10).map(|i| item("EXP#1", &format!("T#{i}"), [])));
    puts.extend((0..5).map(|i| item("EXP#2", &format!("R#{i:02}"), [])));
    puts.push(item("EXP#1", "R", [])); // shorter than the prefix
    store.batch_write(puts, vec![]).await.unwrap();

    let got = store.query_prefix("EXP#1", "R#", true, None).await.unwrap();
    let sks: Vec<String> = got
        .iter()
        .map(|i| match i.get("SK") {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => panic!("no SK"),
        })
        .collect();
    let expected: Vec<String> = (0..50).map(|i| format!("R#{i:02}")).collect();
    assert_eq!(sks, expected);
    assert!(proxy.seen(QUERY) >= 8, "{} pages", proxy.seen(QUERY));

    let all = store
        .query_prefix("EXP#1", "", false, Some(&["v"]))
        .await
        .unwrap();
    assert_eq!(all.len(), 61);
    assert_eq!(all[1], item_without_key(&[("v", n(0))]));
    assert!(store
        .query_prefix("EXP#3", "R#", true, None)
        .await
        .unwrap()
        .is_empty());
}

fn item_without_key(attrs: &[(&str, AttributeValue)]) -> Item {
    let mut i = Item::default();
    for (k, v) in attrs {
        i.insert((*k).to_owned(), v.clone());
    }
    i
}

#[tokio::test]
async fn query_prefix_follows_1mb_pages() {
    let t = TestTable::new("v0.1", false).await;
    let (proxy, store) = counted(&t, TestTable::store_options()).await;
    let payload = "x".repeat(1000);
    let puts: Vec<Item> = (0..1200)
        .map(|i| {
            item(
                "EXP#big",
                &format!("FTS#{i:05}"),
                [("pad", s(payload.clone()))],
            )
        })
        .collect();
    store.batch_write(puts, vec![]).await.unwrap();
    let got = store
        .query_prefix("EXP#big", "FTS#", false, None)
        .await
        .unwrap();
    assert_eq!(got.len(), 1200);
    assert!(
        proxy.seen(QUERY) >= 2,
        "{} pages for 1.2 MB",
        proxy.seen(QUERY)
    );
}

#[tokio::test]
async fn scan_segments_cover_every_item_once() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    let puts: Vec<Item> = (0..300)
        .map(|i| item(&format!("EXP#{}", i % 41), &format!("R#{i}"), []))
        .collect();
    let expected = keys_of(&puts);
    store.batch_write(puts, vec![]).await.unwrap();
    let mut seen: Vec<ItemKey> = Vec::new();
    let mut per_segment = Vec::new();
    for seg in 0..4 {
        let mut start = None;
        let mut count = 0;
        loop {
            let page = store
                .scan_segment(seg, 4, start, Some(&["PK", "SK"]), Some(13))
                .await
                .unwrap();
            assert!(page.items.len() <= 13);
            count += page.items.len();
            seen.extend(
                page.items
                    .iter()
                    .filter_map(mlflow_ddb_aws::convert::key_of),
            );
            match page.last_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        per_segment.push(count);
    }
    assert_eq!(
        seen.len(),
        300,
        "an item seen twice or missed; per segment {per_segment:?}"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(
        per_segment.iter().filter(|c| **c > 0).count() > 1,
        "segments not split: {per_segment:?}"
    );
}

#[tokio::test]
async fn expire_never_lengthens_nor_creates() {
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    assert!(
        !store.expires_via_partiql(),
        "the emulator must take the UpdateItem path"
    );
    store
        .batch_write(
            vec![
                item("EXP#1", "none", []),
                item("EXP#1", "early", [("ttl", n(100))]),
                item("EXP#1", "late", [("ttl", n(5000))]),
                item("EXP#1", "equal", [("ttl", n(1000))]),
            ],
            vec![],
        )
        .await
        .unwrap();
    let keys: Vec<ItemKey> = ["none", "early", "late", "equal", "gone", "none"]
        .iter()
        .map(|sk| key("EXP#1", sk))
        .collect();
    let report = store.expire(&keys, 1000).await.unwrap();
    let got: Vec<(&str, &str)> = report
        .outcomes
        .iter()
        .map(|(k, o)| {
            (
                k.sk.as_str(),
                match o {
                    ExpireOutcome::Expired => "expired",
                    ExpireOutcome::Skipped => "skipped",
                    ExpireOutcome::Failed(_) => "failed",
                },
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("none", "expired"),
            ("early", "skipped"),
            ("late", "expired"),
            ("equal", "skipped"),
            ("gone", "skipped")
        ]
    );
    assert_eq!(report.requests, 5);
    let ttl = |sk: &str| {
        let store = store.clone();
        let k = key("EXP#1", sk);
        async move {
            store
                .get(&k, true)
                .await
                .unwrap()
                .map(|i| i.get("ttl").cloned())
        }
    };
    assert_eq!(ttl("none").await, Some(Some(n(1000))));
    assert_eq!(ttl("early").await, Some(Some(n(100))));
    assert_eq!(ttl("late").await, Some(Some(n(1000))));
    assert_eq!(ttl("equal").await, Some(Some(n(1000))));
    assert_eq!(ttl("gone").await, None);
}

#[tokio::test]
async fn get_reads_one_item() {
    let t = TestTable::new("main", false).await;
    let store = t.store();
    let it = item(
        "EXP#1",
        "E#META",
        [("lsi2sk", n(17)), ("bin", AttributeValue::B(vec![0, 1, 2]))],
    );
    store.batch_write(vec![it.clone()], vec![]).await.unwrap();
    assert_eq!(
        store.get(&key("EXP#1", "E#META"), true).await.unwrap(),
        Some(it)
    );
    assert_eq!(store.get(&key("EXP#1", "nope"), false).await.unwrap(), None);
}
