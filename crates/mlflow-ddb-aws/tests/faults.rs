//! Retries and error classification against real wire-format faults: the
//! fault proxy in front of the emulator, a dead port, and moto's own errors.

use std::time::Duration;

use mlflow_ddb_aws::testkit::Fault;
use mlflow_ddb_aws::testkit::{self, item, key, FaultProxy, TestTable};
use mlflow_ddb_aws::{
    classify, AwsError, ClientOptions, Clients, DispatchKind, DynamoStore, ErrorClass, Failure,
    RetryPolicy, Store, WriteStats,
};
use mlflow_ddb_core::item::{Item, ItemKey};

const GET: &str = "DynamoDB_20120810.GetItem";
const BATCH_WRITE: &str = "DynamoDB_20120810.BatchWriteItem";
const BATCH_GET: &str = "DynamoDB_20120810.BatchGetItem";

/// A policy of `max_attempts` attempts per logical request, test backoffs.
fn attempts(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        ..testkit::retry_policy()
    }
}

/// A table, a proxy in front of the emulator, and a store going through it
/// with `retry` as its one retry policy.
async fn setup(retry: RetryPolicy) -> (TestTable, FaultProxy, DynamoStore) {
    let t = TestTable::new("v0.1", false).await;
    let proxy = FaultProxy::start(&testkit::endpoint()).await.unwrap();
    let mut opts = ClientOptions {
        endpoint_url: Some(proxy.url().to_owned()),
        ..testkit::client_options()
    };
    opts.gate.retry = retry;
    let clients = testkit::clients_with(&opts).await;
    let store = t.store_via(&clients, TestTable::store_options());
    (t, proxy, store)
}

fn service_code(e: &AwsError) -> Option<(&str, Option<u16>)> {
    match e.failure() {
        Some(Failure::Service { code, status, .. }) => Some((code.as_str(), *status)),
        _ => None,
    }
}

#[tokio::test]
async fn throttling_is_transient() {
    let (_t, proxy, store) = setup(attempts(1)).await;
    proxy.inject(GET, 1, Fault::throttling());
    let err = store.get(&key("P", "1"), true).await.unwrap_err();
    assert_eq!(
        service_code(&err),
        Some(("ProvisionedThroughputExceededException", Some(400))),
        "{err}"
    );
    let c = classify(&err);
    assert_eq!((c.class, c.reason), (ErrorClass::Transient, "throttled"));
    assert_eq!(err.key(), Some(&key("P", "1")));
}

#[tokio::test]
async fn the_gate_retries_through_brief_throttling() {
    let (_t, proxy, store) = setup(testkit::retry_policy()).await;
    store
        .batch_write(vec![item("P", "1", [])], vec![])
        .await
        .unwrap();
    proxy.inject(GET, 2, Fault::throttling());
    let got = store.get(&key("P", "1"), true).await.unwrap();
    assert_eq!(got, Some(item("P", "1", [])));
    assert_eq!(proxy.seen(GET), 3);
    assert_eq!(proxy.pending_faults(), 0);
}

/// Under 100 % throttling a logical request is sent exactly its budget of
/// times: the SDK adds no attempts of its own (its retries are off), and
/// unprocessed-item resends draw on the same budget.
#[tokio::test]
async fn under_total_throttling_attempts_never_exceed_the_budget() {
    let budget = testkit::retry_policy().max_attempts;
    let (_t, proxy, store) = setup(testkit::retry_policy()).await;
    proxy.inject_rate("*", 1.0, vec![Fault::throttling()], 1);
    for op in 0..3 {
        let before = (proxy.seen(GET), proxy.seen(BATCH_WRITE));
        let err = match op {
            0 => store.get(&key("P", "1"), true).await.unwrap_err(),
            1 => store.batch_write(puts(10), vec![]).await.unwrap_err(),
            _ => store
                .update_attrs(
                    &key("P", "1"),
                    &[(
                        "a".to_owned(),
                        mlflow_ddb_core::item::AttributeValue::S("b".into()),
                    )]
                    .into_iter()
                    .collect(),
                )
                .await
                .unwrap_err(),
        };
        assert!(err.is_transient(), "{err}");
        let sent = match op {
            0 => proxy.seen(GET) - before.0,
            1 => proxy.seen(BATCH_WRITE) - before.1,
            _ => proxy.seen("DynamoDB_20120810.UpdateItem"),
        };
        assert_eq!(sent as u32, budget, "op {op}: {err}");
    }
    let stats = store.gate().stats();
    assert_eq!(stats.attempts, 3 * u64::from(budget), "{stats:?}");
    assert_eq!(stats.exhausted, 3, "{stats:?}");
    assert!(stats.limit < 32, "the in-flight limit came down: {stats:?}");
    proxy.clear_rates();

    // A throttle and unprocessed items share one budget.
    let (_t, proxy, store) = setup(attempts(3)).await;
    proxy.inject(BATCH_WRITE, 1, Fault::throttling());
    proxy.inject(BATCH_WRITE, 100, Fault::Unprocessed { keep: 0 });
    let err = store.batch_write(puts(5), vec![]).await.unwrap_err();
    assert!(
        matches!(err, AwsError::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(proxy.seen(BATCH_WRITE), 3);
}

#[tokio::test]
async fn server_errors_are_transient() {
    let (_t, proxy, store) = setup(attempts(1)).await;
    for status in [500, 503] {
        proxy.inject(GET, 1, Fault::server_error(status));
        let err = store.get(&key("P", "1"), true).await.unwrap_err();
        assert_eq!(
            service_code(&err).map(|(_, s)| s),
            Some(Some(status)),
            "{err}"
        );
        assert_eq!(classify(&err).class, ErrorClass::Transient, "{err}");
    }
}

#[tokio::test]
async fn a_dropped_connection_is_transient() {
    let (_t, proxy, store) = setup(attempts(1)).await;
    proxy.inject(GET, 1, Fault::Hangup);
    let err = store.get(&key("P", "1"), true).await.unwrap_err();
    assert_eq!(
        err.failure(),
        // hyper: IncompleteMessage; the SDK files it as "other (transient)".
        Some(&Failure::Dispatch {
            kind: DispatchKind::Other
        }),
        "{err:?}"
    );
    assert_eq!(classify(&err).class, ErrorClass::Transient, "{err}");
}

#[tokio::test]
async fn a_dead_endpoint_is_transient() {
    // A port nobody listens on: bind, note, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = ClientOptions {
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        connect_timeout: Duration::from_secs(2),
        ..testkit::client_options()
    };
    opts.gate.retry = attempts(1);
    let clients = testkit::clients_with(&opts).await;
    let store = DynamoStore::new(&clients, "nope");
    let err = store.get(&key("P", "1"), true).await.unwrap_err();
    assert_eq!(
        err.failure(),
        Some(&Failure::Dispatch {
            kind: DispatchKind::Io
        }),
        "{err:?}"
    );
    let c = classify(&err);
    assert_eq!(
        (c.class, c.reason),
        (ErrorClass::Transient, "connection failure")
    );
}

#[tokio::test]
async fn validation_errors_from_the_service_are_permanent() {
    let t = TestTable::new("v0.1", false).await;
    // An invalid UpdateExpression, straight from the SDK.
    let raw = t
        .clients
        .ddb
        .update_item()
        .table_name(&t.name)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S("P".into()))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("S".into()))
        .update_expression("SET = oops")
        .send()
        .await
        .unwrap_err();
    let err = mlflow_ddb_aws::error::from_sdk("UpdateItem", Some(key("P", "S")), raw);
    assert_eq!(
        service_code(&err),
        Some(("ValidationException", Some(400))),
        "{err}"
    );
    let c = classify(&err);
    assert_eq!(
        (c.class, c.reason),
        (ErrorClass::Permanent, "validation error")
    );

    // Through the store: an empty sort key.
    let err = t
        .store()
        .batch_write(vec![item("P", "", [])], vec![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_missing_table_is_permanent() {
    let clients: Clients = testkit::clients().await;
    let store = DynamoStore::new(&clients, testkit::unique_name("absent"));
    let err = store.get(&key("P", "1"), false).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err}");
    assert_eq!(classify(&err).reason, "resource not found");
}

fn puts(n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| item("EXP#1", &format!("R#{i:03}"), []))
        .collect()
}

#[tokio::test]
async fn unprocessed_items_are_retried_until_written() {
    let (_t, proxy, store) = setup(testkit::retry_policy()).await;
    proxy.inject(BATCH_WRITE, 3, Fault::Unprocessed { keep: 5 });
    let stats = store.batch_write(puts(30), vec![]).await.unwrap();
    // Chunk 1 (25): 5 written per faulted request, 20 + 15 + 10 resent,
    // the 4th request writes the last 10. Chunk 2 (5): one request.
    assert_eq!(
        stats,
        WriteStats {
            requests: 5,
            items: 30,
            retried: 45
        }
    );
    assert_eq!(proxy.seen(BATCH_WRITE), 5);
    let keys: Vec<ItemKey> = (0..30)
        .map(|i| key("EXP#1", &format!("R#{i:03}")))
        .collect();
    assert_eq!(store.batch_get(&keys, true, None).await.unwrap().len(), 30);
}

#[tokio::test]
async fn unprocessed_keys_are_retried_until_read() {
    let (_t, proxy, store) = setup(testkit::retry_policy()).await;
    store.batch_write(puts(150), vec![]).await.unwrap();
    proxy.inject(BATCH_GET, 2, Fault::Unprocessed { keep: 10 });
    proxy.inject(BATCH_GET, 1, Fault::Unprocessed { keep: 0 });
    let keys: Vec<ItemKey> = (0..150)
        .map(|i| key("EXP#1", &format!("R#{i:03}")))
        .collect();
    let got = store.batch_get(&keys, false, Some(&["PK"])).await.unwrap();
    assert_eq!(got.len(), 150);
    // 100 keys: 10, 10, 0 read, then 80; then 50 keys at once.
    assert_eq!(proxy.seen(BATCH_GET), 5);
}

#[tokio::test]
async fn unprocessed_items_beyond_the_budget_are_a_transient_error() {
    let (_t, proxy, store) = setup(attempts(3)).await;
    proxy.inject(BATCH_WRITE, 100, Fault::Unprocessed { keep: 0 });
    let err = store.batch_write(puts(40), vec![]).await.unwrap_err();
    match &err {
        AwsError::RetriesExhausted {
            op,
            remaining,
            total,
            attempts,
            first_key,
        } => {
            assert_eq!(
                (*op, *remaining, *total, *attempts),
                ("BatchWriteItem", 40, 40, 3)
            );
            assert_eq!(first_key.as_ref(), Some(&key("EXP#1", "R#000")));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(proxy.seen(BATCH_WRITE), 3);
}

#[tokio::test]
async fn a_garbled_response_is_transient_and_leaks_no_values() {
    let (_t, proxy, store) = setup(attempts(1)).await;
    // A truncated GetItem answer carrying a value.
    let body =
        r#"{"Item": {"PK": {"S": "P"}, "SK": {"S": "1"}, "tags": {"M": {"k": {"S": "s3cr3t-value"#;
    proxy.inject(
        GET,
        1,
        Fault::Raw {
            status: 200,
            body: body.to_owned(),
        },
    );
    let err = store.get(&key("P", "1"), true).await.unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert_eq!(err.key(), Some(&key("P", "1")));
    assert_eq!(
        err.failure(),
        Some(&Failure::Response { status: 200 }),
        "{shown}"
    );
    assert_eq!(classify(&err).class, ErrorClass::Transient, "{shown}");
}
