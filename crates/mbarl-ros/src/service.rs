//! Typed service servers and clients (ROS 2 "enhanced" request/reply mapping, as rmw_fastrtps).

use std::marker::PhantomData;
use std::time::Duration;

use mbarl_msgs::RosService;
use ros2_client::{ReadError, RmwRequestId};
use serde::{Deserialize, Serialize};

use crate::counters::{Counter, RateLimitedWarn};
use crate::node::{NodeHandle, TransportError};
use crate::pubsub::wait_until;

/// Wraps a message for ros2-client's service API, which wants its own `Message` marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Wire<T>(pub T);

impl<T: Serialize + serde::de::DeserializeOwned> ros2_client::Message for Wire<T> {}

type Req<S> = Wire<<S as RosService>::Request>;
type Resp<S> = Wire<<S as RosService>::Response>;

/// Identifies a request, to send its response.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(RmwRequestId);

/// Serves one service.
pub struct ServiceServer<S: RosService> {
    inner: ros2_client::Server<Req<S>, Resp<S>>,
    name: String,
    dropped: Counter,
    warn: RateLimitedWarn,
    _s: PhantomData<S>,
}

impl<S: RosService> ServiceServer<S> {
    pub(crate) fn new(
        inner: ros2_client::Server<Req<S>, Resp<S>>,
        name: String,
        node: &NodeHandle,
    ) -> Self {
        let dropped = node.counters().counter(&format!("dropped.{name}"));
        Self {
            inner,
            name,
            dropped,
            warn: RateLimitedWarn::default(),
            _s: PhantomData,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next well-formed request (malformed ones are dropped and counted).
    pub async fn next_request(&self) -> Option<(RequestId, S::Request)> {
        loop {
            match self.inner.async_receive_request().await {
                Ok((id, Wire(req))) => return Some((RequestId(id), req)),
                Err(ReadError::Closed) => return None,
                Err(e) => {
                    let total = self.dropped.increment();
                    if let Some(suppressed) = self.warn.check() {
                        tracing::warn!(service = %self.name, total, suppressed, "dropped a malformed request: {e}");
                    }
                }
            }
        }
    }

    pub async fn respond(
        &self,
        id: RequestId,
        response: S::Response,
    ) -> Result<(), TransportError> {
        self.inner
            .async_send_response(id.0, Wire(response))
            .await
            .map_err(|e| TransportError::Write {
                topic: self.name.clone(),
                reason: format!("{e:?}"),
            })
    }

    /// Answers every request with `handler` until the transport shuts down.
    pub async fn serve(&self, mut handler: impl FnMut(S::Request) -> S::Response) {
        while let Some((id, req)) = self.next_request().await {
            let response = handler(req);
            if let Err(e) = self.respond(id, response).await {
                tracing::warn!(service = %self.name, "could not send a response: {e}");
            }
        }
    }
}

/// Calls one service.
pub struct ServiceClient<S: RosService> {
    inner: ros2_client::Client<Req<S>, Resp<S>>,
    name: String,
    node: NodeHandle,
    _s: PhantomData<S>,
}

impl<S: RosService> ServiceClient<S> {
    pub(crate) fn new(
        inner: ros2_client::Client<Req<S>, Resp<S>>,
        name: String,
        node: NodeHandle,
    ) -> Self {
        Self {
            inner,
            name,
            node,
            _s: PhantomData,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Is a server for this service discovered (request reader and reply writer both seen)?
    pub fn service_is_ready(&self) -> bool {
        self.node.service_is_ready(&self.name)
    }

    /// Waits until a server is discovered. Returns `false` on timeout.
    pub async fn wait_for_service(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.service_is_ready()).await
    }

    /// Sends `request` and waits for its response at most `timeout`.
    pub async fn call(
        &self,
        request: S::Request,
        timeout: Duration,
    ) -> Result<S::Response, TransportError> {
        let call = async {
            let id = self
                .inner
                .async_send_request(Wire(request))
                .await
                .map_err(|e| TransportError::Write {
                    topic: self.name.clone(),
                    reason: format!("{e:?}"),
                })?;
            self.inner
                .async_receive_response(id)
                .await
                .map(|Wire(r)| r)
                .map_err(|e| TransportError::Read {
                    topic: self.name.clone(),
                    reason: e.to_string(),
                })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| TransportError::Timeout {
                what: format!("service call {}", self.name),
                after: timeout,
            })?
    }
}
