//! SQS round trip against the local endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use mlflow_ddb_aws::testkit;
use mlflow_ddb_aws::{Queue, QueueMessage, SqsQueue};

#[tokio::test]
async fn send_receive_delete_and_depth() {
    let clients = testkit::clients().await;
    let q = SqsQueue::create(&clients, &testkit::unique_name("dlq"))
        .await
        .unwrap();
    // Received-but-undeleted messages come back at once: proves delete.
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(q.url())
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "0",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(q.depth().await.unwrap(), 0);

    let attrs = BTreeMap::from([
        ("pk".to_owned(), "EXP#1".to_owned()),
        ("sk".to_owned(), "R#r1#TAG#mlflow.user".to_owned()),
        ("error".to_owned(), "ValidationException".to_owned()),
    ]);
    let mut ids = Vec::new();
    for body in ["{\"a\":1}", "two", "ünï 日本"] {
        ids.push(q.send(body, &attrs).await.unwrap());
    }
    assert_eq!(q.depth().await.unwrap(), 3);

    let mut got: Vec<QueueMessage> = Vec::new();
    while got.len() < 3 {
        let batch = q.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(!batch.is_empty(), "messages lost: got {}", got.len());
        for m in batch {
            if !got.iter().any(|g| g.message_id == m.message_id) {
                got.push(m);
            }
        }
    }
    got.sort_by_key(|m| ids.iter().position(|i| *i == m.message_id));
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["{\"a\":1}", "two", "ünï 日本"]);
    assert!(got
        .iter()
        .all(|m| m.attributes == attrs && m.receive_count >= 1));

    q.delete(&got[0].receipt_handle).await.unwrap();
    q.delete(&got[1].receipt_handle).await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 1);
    let last = q.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].body, "ünï 日本");
    assert!(last[0].receive_count >= 2);
}
