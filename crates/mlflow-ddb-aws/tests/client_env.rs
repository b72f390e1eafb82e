//! Client construction from the standard environment. One test in its own
//! binary: it changes process environment variables.

use mlflow_ddb_aws::testkit;
use mlflow_ddb_aws::Clients;

#[tokio::test]
async fn endpoint_from_env_and_region_default() {
    let url = testkit::endpoint();
    // No region anywhere: the endpoint implies the default.
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws-credentials",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    let clients = Clients::from_env(&testkit::client_options()).await.unwrap();
    assert_eq!(clients.region(), "us-east-1");
    assert_eq!(clients.endpoint_url(), Some(url.as_str()));
    // AWS_ENDPOINT_URL is honoured by the SDK itself: a call reaches moto
    // for all three services.
    clients.ddb.list_tables().send().await.unwrap();
    clients.sqs.list_queues().send().await.unwrap();
    let streams = clients.streams.list_streams().send().await.unwrap();
    assert!(streams.last_evaluated_stream_arn.is_none() || streams.streams.is_some());

    // Without the endpoint, the testkit refuses with instructions.
    std::env::remove_var("AWS_ENDPOINT_URL");
    let msg = std::panic::catch_unwind(testkit::endpoint)
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        msg.contains("scripts/emulator.sh run -- cargo test"),
        "{msg}"
    );
    std::env::set_var("AWS_ENDPOINT_URL", &url);
}
