//! Typed publishers and subscribers over ros2-client.
//!
//! A [`Subscriber`] never hands malformed data to the node: a sample that does not decode is
//! dropped, counted (`dropped.<topic>`) and reported in a rate-limited warning.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mbarl_msgs::RosMessage;
use ros2_client::{MessageInfo, ReadError};

use crate::counters::{Counter, RateLimitedWarn};
use crate::node::{NodeHandle, TransportError};

/// Publishes `M` on one topic.
pub struct Publisher<M: RosMessage> {
    inner: ros2_client::Publisher<M>,
    topic: String,
    node: NodeHandle,
}

impl<M: RosMessage> Publisher<M> {
    pub(crate) fn new(inner: ros2_client::Publisher<M>, topic: String, node: NodeHandle) -> Self {
        Self { inner, topic, node }
    }

    /// The fully-qualified topic name (after remapping).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends one message. Errors only when DDS cannot take it (e.g. a reliable reader's queue
    /// stayed full); the message is then not sent.
    pub fn publish(&self, msg: M) -> Result<(), TransportError> {
        self.inner.publish(msg).map_err(|e| TransportError::Write {
            topic: self.topic.clone(),
            reason: format!("{e:?}"),
        })
    }

    /// Number of subscriptions currently matched with this publisher.
    pub fn subscription_count(&self) -> usize {
        self.node
            .with_node(|n| self.inner.get_subscription_count(n))
    }

    /// Waits until at least `n` subscriptions are matched (data sent before matching is lost
    /// on volatile topics). Returns `false` on timeout.
    pub async fn wait_for_subscriptions(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.subscription_count() >= n).await
    }
}

/// Receives `M` from one topic.
pub struct Subscriber<M: RosMessage> {
    inner: ros2_client::Subscription<M>,
    topic: String,
    node: NodeHandle,
    dropped: Counter,
    warn: Arc<RateLimitedWarn>,
    _m: PhantomData<M>,
}

impl<M: RosMessage> Subscriber<M> {
    pub(crate) fn new(
        inner: ros2_client::Subscription<M>,
        topic: String,
        node: NodeHandle,
    ) -> Self {
        let dropped = node.counters().counter(&format!("dropped.{topic}"));
        Self {
            inner,
            topic,
            node,
            dropped,
            warn: Arc::new(RateLimitedWarn::default()),
            _m: PhantomData,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Malformed samples dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// The next well-formed message. Returns `None` only when the transport has shut down.
    pub async fn recv(&self) -> Option<M> {
        self.recv_with_info().await.map(|(m, _)| m)
    }

    /// The next message of an optional subscription (one a parameter may leave unset): never
    /// ready without one, so it can sit in a `tokio::select!` either way.
    pub async fn recv_optional(subscriber: &Option<Self>) -> Option<M> {
        match subscriber {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    }

    /// The next well-formed message with its DDS metadata (source timestamp, publisher).
    pub async fn recv_with_info(&self) -> Option<(M, MessageInfo)> {
        loop {
            // Drain what is already there without setting up a wait (cheaper at high rates).
            match self.inner.take() {
                Ok(Some(sample)) => return Some(sample),
                Ok(None) => {}
                Err(ReadError::Closed) => return None,
                Err(e) => {
                    self.count_drop(&e);
                    continue;
                }
            }
            match self.inner.async_take().await {
                Ok(sample) => return Some(sample),
                Err(ReadError::Closed) => return None,
                Err(e) => self.count_drop(&e),
            }
        }
    }

    /// A message if one is waiting, without blocking.
    pub fn try_recv(&self) -> Option<M> {
        loop {
            match self.inner.take() {
                Ok(Some((m, _))) => return Some(m),
                Ok(None) | Err(ReadError::Closed) => return None,
                Err(e) => self.count_drop(&e),
            }
        }
    }

    /// Waits for the next message at most `timeout`.
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<M> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .ok()
            .flatten()
    }

    fn count_drop(&self, e: &ReadError) {
        let total = self.dropped.increment();
        if let Some(suppressed) = self.warn.check() {
            tracing::warn!(topic = %self.topic, total, suppressed, "dropped a malformed {} message: {e}", M::NAME);
        }
    }

    /// Number of publishers currently matched with this subscription.
    pub fn publisher_count(&self) -> usize {
        self.node.with_node(|n| self.inner.get_publisher_count(n))
    }

    /// Waits until at least `n` publishers are matched. Returns `false` on timeout.
    pub async fn wait_for_publishers(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.publisher_count() >= n).await
    }
}

/// Polls `done` every 20 ms until it holds or `timeout` passes.
pub(crate) async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
