//! SQS, for dead letters and work queues: the [`Queue`] port on an SQS
//! queue URL. The port itself, [`QueueMessage`] and the in-memory
//! [`MemoryQueue`] are `mlflow-ddb-ports`'.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

pub use mlflow_ddb_ports::queue::{MemoryQueue, Queue, QueueMessage};

use crate::{AwsError, Clients};

/// [`Queue`] on an SQS queue URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    gate: crate::Gate,
    url: String,
}

impl SqsQueue {
    pub fn new(clients: &Clients, queue_url: impl Into<String>) -> Self {
        Self {
            client: clients.sqs.clone(),
            gate: clients.sqs_gate.clone(),
            url: queue_url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Create (or get) a standard queue by name and return it.
    pub async fn create(clients: &Clients, name: &str) -> Result<Self, AwsError> {
        let out = crate::gated!(
            clients.sqs_gate,
            "CreateQueue",
            None,
            clients.sqs.create_queue().queue_name(name)
        )?;
        let url = out.queue_url.ok_or_else(|| AwsError::Invalid {
            op: "CreateQueue",
            key: None,
            reason: "no queue URL in the answer".into(),
        })?;
        Ok(Self::new(clients, url))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(
        &self,
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        for (k, v) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| AwsError::Invalid {
                    op: "SendMessage",
                    key: None,
                    reason: e.to_string(),
                })?;
            req = req.message_attributes(k, value);
        }
        let out = crate::gated!(self.gate, "SendMessage", None, req)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<QueueMessage>, AwsError> {
        let out = crate::gated!(
            self.gate,
            "ReceiveMessage",
            None,
            self.client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
                .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
                .message_attribute_names("All")
                .message_system_attribute_names(
                    MessageSystemAttributeName::ApproximateReceiveCount
                )
        )?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| QueueMessage {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
                attributes: m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                    .collect(),
            })
            .collect())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError> {
        crate::gated!(
            self.gate,
            "DeleteMessage",
            None,
            self.client
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(receipt_handle)
        )
        .map(|_| ())
    }

    async fn depth(&self) -> Result<u64, AwsError> {
        let out = crate::gated!(
            self.gate,
            "GetQueueAttributes",
            None,
            self.client
                .get_queue_attributes()
                .queue_url(&self.url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        )?;
        Ok(out
            .attributes
            .as_ref()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}
