//! Queues, for dead letters and work queues: the port and an in-memory fake.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::AwsError;
/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    /// Pass to [`Queue::delete`] once the message is handled.
    pub receipt_handle: String,
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// How many times the message was received (this time included).
    pub receive_count: u32,
}

/// A queue. Object-safe, like [`Store`](crate::Store).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Send one message with string attributes; returns its message id.
    async fn send(
        &self,
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<String, AwsError>;
    /// Up to `max` (1..=10) messages, waiting up to `wait` (≤ 20 s) for the first.
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<QueueMessage>, AwsError>;
    /// Delete a received message.
    async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError>;
    /// ApproximateNumberOfMessages (visible messages).
    async fn depth(&self) -> Result<u64, AwsError>;
}

/// An in-memory [`Queue`]: FIFO, received messages stay invisible until
/// deleted (no visibility timeout).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<MemoryQueueState>,
}

#[derive(Debug, Default)]
struct MemoryQueueState {
    next_id: u64,
    visible: VecDeque<QueueMessage>,
    in_flight: BTreeMap<String, QueueMessage>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message not yet deleted (visible first, then in flight).
    pub fn messages(&self) -> Vec<QueueMessage> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.visible
            .iter()
            .chain(s.in_flight.values())
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(
        &self,
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.next_id += 1;
        let id = format!("m{}", s.next_id);
        s.visible.push_back(QueueMessage {
            message_id: id.clone(),
            receipt_handle: String::new(),
            body: body.to_owned(),
            attributes: attributes.clone(),
            receive_count: 0,
        });
        Ok(id)
    }

    async fn receive(&self, max: u32, _wait: Duration) -> Result<Vec<QueueMessage>, AwsError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        while out.len() < max.clamp(1, 10) as usize {
            let Some(mut m) = s.visible.pop_front() else {
                break;
            };
            s.next_id += 1;
            m.receipt_handle = format!("r{}", s.next_id);
            m.receive_count += 1;
            s.in_flight.insert(m.receipt_handle.clone(), m.clone());
            out.push(m);
        }
        Ok(out)
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.in_flight.remove(receipt_handle);
        Ok(())
    }

    async fn depth(&self) -> Result<u64, AwsError> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(s.visible.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_queue_round_trip() {
        let q = MemoryQueue::new();
        let attrs = BTreeMap::from([("pk".to_owned(), "EXP#1".to_owned())]);
        q.send("a", &attrs).await.unwrap();
        q.send("b", &BTreeMap::new()).await.unwrap();
        assert_eq!(q.depth().await.unwrap(), 2);
        let got = q.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!((got[0].body.as_str(), &got[0].attributes), ("a", &attrs));
        assert_eq!(q.depth().await.unwrap(), 1);
        q.delete(&got[0].receipt_handle).await.unwrap();
        assert_eq!(q.messages().len(), 1);
    }
}
