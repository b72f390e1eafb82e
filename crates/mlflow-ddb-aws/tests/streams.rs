//! Table administration and DynamoDB Streams against the local endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lambda_events::dynamodb::{EventRecord, StreamViewType};
use mlflow_ddb_aws::table::{describe_table, enable_stream, point_in_time_recovery};
use mlflow_ddb_aws::testkit::{self, item, key, s, TestTable};
use mlflow_ddb_aws::{AwsError, ShardStart, Store, StreamReader};
use mlflow_ddb_core::item::{AttributeValue, Item};

fn expected_types(lsi2sk: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([
        ("PK".to_owned(), "S".to_owned()),
        ("SK".to_owned(), "S".to_owned()),
    ]);
    for i in 1..=5 {
        m.insert(
            format!("lsi{i}sk"),
            if i == 2 { lsi2sk } else { "S" }.to_owned(),
        );
        m.insert(format!("gsi{i}pk"), "S".to_owned());
        m.insert(format!("gsi{i}sk"), "S".to_owned());
    }
    m
}

#[tokio::test]
async fn tables_are_created_like_the_reference_template() {
    for (format, lsi2sk) in [("v0.1", "S"), ("main", "N")] {
        let t = TestTable::new(format, false).await;
        let sum = &t.summary;
        assert_eq!(sum.status, "ACTIVE");
        assert_eq!(sum.attribute_types, expected_types(lsi2sk), "{format}");
        let idx: Vec<String> = (1..=5)
            .map(|i| format!("gsi{i}"))
            .chain((1..=5).map(|i| format!("lsi{i}")))
            .collect();
        assert_eq!(sum.indexes, idx);
        assert_eq!(sum.billing_mode.as_deref(), Some("PAY_PER_REQUEST"));
        assert_eq!(sum.ttl_attribute.as_deref(), Some("ttl"));
        assert_eq!(sum.ttl_status.as_deref(), Some("ENABLED"));
        assert!(!sum.stream_enabled && sum.stream_arn.is_none());
        assert!(point_in_time_recovery(&t.clients.ddb, &t.name)
            .await
            .unwrap());
    }
    let clients = testkit::clients().await;
    let err =
        mlflow_ddb_aws::create_table(&clients.ddb, &testkit::unique_name("bad"), "v0.3", false)
            .await
            .unwrap_err();
    assert!(matches!(err, AwsError::Table { .. }), "{err}");
}

#[tokio::test]
async fn enable_stream_is_idempotent() {
    let t = TestTable::new("v0.1", false).await;
    let arn = enable_stream(&t.clients.ddb, &t.name).await.unwrap();
    let again = enable_stream(&t.clients.ddb, &t.name).await.unwrap();
    assert_eq!(arn, again);
    let sum = describe_table(&t.clients.ddb, &t.name).await.unwrap();
    assert!(sum.stream_enabled);
    assert_eq!(sum.stream_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(sum.stream_view_type.as_deref(), Some("NEW_AND_OLD_IMAGES"));

    let with = TestTable::new("v0.1", true).await;
    assert_eq!(
        with.summary.stream_view_type.as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    let arn = enable_stream(&with.clients.ddb, &with.name).await.unwrap();
    assert_eq!(Some(arn.as_str()), with.stream_arn());
}

#[tokio::test]
async fn enable_stream_refuses_another_view_type() {
    let t = TestTable::new("v0.1", false).await;
    t.clients
        .ddb
        .update_table()
        .table_name(&t.name)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::KeysOnly)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = enable_stream(&t.clients.ddb, &t.name).await.unwrap_err();
    assert!(err.to_string().contains("KEYS_ONLY"), "{err}");
    assert!(!err.is_transient());
}

/// Read every record of every shard from TRIM_HORIZON until `want` records
/// arrived (polled: stream delivery is asynchronous on AWS).
async fn read_all(reader: &StreamReader, arn: &str, want: usize) -> Vec<EventRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut out = Vec::new();
        for shard in reader.list_shards(arn).await.unwrap() {
            let mut it = Some(
                reader
                    .shard_iterator(arn, &shard.shard_id, &ShardStart::TrimHorizon)
                    .await
                    .unwrap(),
            );
            while let Some(i) = it {
                let page = reader.get_records(arn, &i, Some(1000)).await.unwrap();
                let empty = page.records.is_empty();
                out.extend(page.records);
                it = if empty { None } else { page.next_iterator };
            }
        }
        if out.len() >= want || tokio::time::Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn image_sk(i: &Item) -> Option<&str> {
    match i.get("SK") {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

#[tokio::test]
async fn stream_records_read_back_as_lambda_events() {
    let t = TestTable::new("v0.1", true).await;
    let arn = t.stream_arn().unwrap().to_owned();
    let store = t.store();
    let k = key("EXP#1", "R#r1");
    store
        .batch_write(
            vec![item(
                "EXP#1",
                "R#r1",
                [("tags", AttributeValue::M(Default::default()))],
            )],
            vec![],
        )
        .await
        .unwrap();
    let tags = BTreeMap::from([("mlflow.user".to_owned(), s("me"))]);
    store.update_map(&k, "tags", &tags, &[]).await.unwrap();
    store.batch_write(vec![], vec![k.clone()]).await.unwrap();

    let reader = StreamReader::new(&t.clients);
    let shards = reader.list_shards(&arn).await.unwrap();
    assert!(!shards.is_empty());
    assert!(shards.iter().all(|s| s.starting_sequence_number.is_some()));

    let recs = read_all(&reader, &arn, 3).await;
    let names: Vec<&str> = recs.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    for r in &recs {
        assert_eq!(r.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(r.event_source_arn.as_deref(), Some(arn.as_str()));
        assert_eq!(r.aws_region, t.clients.region());
        assert_eq!(image_sk(&r.change.keys), Some("R#r1"));
        assert_eq!(
            r.change.stream_view_type,
            Some(StreamViewType::NewAndOldImages)
        );
        assert!(r.change.sequence_number.is_some());
        assert!(r.change.approximate_creation_date_time.timestamp() > 1_600_000_000);
    }
    let (ins, modi, rem) = (&recs[0].change, &recs[1].change, &recs[2].change);
    assert!(ins.old_image.is_empty());
    assert_eq!(
        ins.new_image.get("tags"),
        Some(&AttributeValue::M(Default::default()))
    );
    assert_eq!(
        modi.old_image.get("tags"),
        Some(&AttributeValue::M(Default::default()))
    );
    assert_eq!(
        modi.new_image.get("tags"),
        Some(&AttributeValue::M(
            [("mlflow.user".to_owned(), s("me"))].into_iter().collect()
        ))
    );
    assert_eq!(rem.old_image, modi.new_image);
    assert!(rem.new_image.is_empty());
    // moto sets no userIdentity (AWS does, for TTL deletions only).
    assert!(recs.iter().all(|r| r.user_identity.is_none()));

    // The records survive the Lambda event JSON shape.
    let json = serde_json::json!({ "Records": recs });
    let ev: aws_lambda_events::dynamodb::Event = serde_json::from_value(json).unwrap();
    assert_eq!(ev.records, recs);

    // Resuming from a checkpoint.
    let seq0 = recs[0].change.sequence_number.clone().unwrap();
    // The shard holding seq0: the last one starting at or before it
    // (sequence numbers are decimal strings: compare by length, then text).
    let num = |s: &str| (s.len(), s.to_owned());
    let shard = shards
        .iter()
        .filter(|s| {
            s.starting_sequence_number
                .as_deref()
                .is_some_and(|st| num(st) <= num(&seq0))
        })
        .max_by_key(|s| s.starting_sequence_number.as_deref().map(num))
        .unwrap();
    let after = reader
        .shard_iterator(
            &arn,
            &shard.shard_id,
            &ShardStart::AfterSequence(seq0.clone()),
        )
        .await
        .unwrap();
    let page = reader.get_records(&arn, &after, None).await.unwrap();
    let names: Vec<&str> = page.records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["MODIFY", "REMOVE"]);
    let at = reader
        .shard_iterator(&arn, &shard.shard_id, &ShardStart::AtSequence(seq0))
        .await
        .unwrap();
    let page = reader.get_records(&arn, &at, Some(1)).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].event_id, recs[0].event_id);
    assert!(page.next_iterator.is_some());
}

#[tokio::test]
async fn describe_table_counts_items() {
    let t = TestTable::new("v0.1", false).await;
    let puts: Vec<Item> = (0..7).map(|i| item("P", &format!("{i}"), [])).collect();
    t.store().batch_write(puts, vec![]).await.unwrap();
    // moto keeps ItemCount live; AWS refreshes it about every 6 hours.
    let sum = describe_table(&t.clients.ddb, &t.name).await.unwrap();
    assert_eq!(sum.item_count, 7);
}
