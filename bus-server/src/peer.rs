//! The handle to the other end of one connection: a browser client as the
//! server sees it, or the server as the native client sees it. Calls, emits
//! and event feeds go to the connection's task as commands; nothing here
//! touches the engine.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bus_core::codec::decode;
use bus_core::{CallError, CloseReason, CodecError, Method, RemoteError, RequestId, State, Topic};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};

/// Identifies one connection on a server (unique per server process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a [`Peer`] asks its connection's task to do.
pub(crate) enum Command {
    Call {
        method: &'static str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
        reply: oneshot::Sender<Result<Vec<u8>, CallError>>,
    },
    Emit {
        topic: Arc<str>,
        payload: Arc<[u8]>,
    },
    /// A served call's answer, from the task that ran its handler.
    Reply {
        id: RequestId,
        result: Result<Vec<u8>, RemoteError>,
    },
    Listen {
        topic: &'static str,
        feed: mpsc::Sender<Vec<u8>>,
    },
    Close {
        reason: String,
    },
}

/// Events buffered per [`Events`] feed; past it the newest are dropped.
pub const EVENT_FEED: usize = 256;

/// The other end of one connection. Cheap to clone; every clone talks to
/// the same connection.
///
/// ```no_run
/// # async fn example(peer: bus_server::Peer) -> Result<(), bus_core::CallError> {
/// use bus_core::{Method, Topic};
/// const ADD: Method<(i32, i32), i32> = Method::new("add");
/// const NEWS: Topic<String> = Topic::new("news");
///
/// let sum = peer.call(&ADD, &(2, 3)).await?;
/// peer.emit(&NEWS, &format!("the sum is {sum}"))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Peer {
    pub(crate) id: PeerId,
    pub(crate) origin: Arc<str>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) state: watch::Receiver<State>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Peer {
    /// This connection's id on its server (0 for a native client's server).
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The other end's origin: the client's checked `Origin` header on a
    /// server, the server's origin on a client.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The connection's current state.
    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    /// Resolves once a session is up; fails if the connection closes first.
    pub async fn connected(&self) -> Result<(), CloseReason> {
        let mut state = self.state.clone();
        loop {
            match &*state.borrow_and_update() {
                State::Connected { .. } => return Ok(()),
                State::Closed(r) => return Err(r.clone()),
                _ => {}
            }
            if state.changed().await.is_err() {
                return Err(self.gone());
            }
        }
    }

    /// Resolves with the reason once the connection is closed for good.
    pub async fn closed(&self) -> CloseReason {
        let mut state = self.state.clone();
        loop {
            if let State::Closed(r) = &*state.borrow_and_update() {
                return r.clone();
            }
            if state.changed().await.is_err() {
                return self.gone();
            }
        }
    }

    /// Calls `method` with the connection's default timeout.
    pub async fn call<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        self.call_within(method, request, None).await
    }

    /// Calls `method`, failing with [`CallError::Timeout`] after `timeout`
    /// (`None`: the connection's default). Dropping the future cancels the
    /// call, and the other end is told.
    pub async fn call_within<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        let payload = method.encode_request(request).map_err(CallError::Codec)?;
        let bytes = self.call_raw(method.name(), payload, timeout).await?;
        method.decode_response(&bytes).map_err(CallError::Codec)
    }

    /// [`Peer::call_within`] with encoded bytes.
    pub async fn call_raw(
        &self,
        method: &'static str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, CallError> {
        let (reply, answer) = oneshot::channel();
        let call = Command::Call {
            method,
            payload,
            timeout,
            reply,
        };
        if self.commands.send(call).await.is_err() {
            return Err(CallError::Closed(self.gone()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(CallError::Closed(self.gone())))
    }

    /// Emits an event to the other end. While the connection is down, events
    /// wait for the next session (at most `Limits::max_queued_messages` of
    /// them); those queued when a session ends are dropped with it.
    /// [`CallError::QueueFull`] when the connection's command queue is full.
    pub fn emit<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        value: &T,
    ) -> Result<(), CallError> {
        let payload = topic.encode(value).map_err(CallError::Codec)?;
        self.emit_raw(topic.name().into(), payload.into())
    }

    pub(crate) fn emit_raw(&self, topic: Arc<str>, payload: Arc<[u8]>) -> Result<(), CallError> {
        self.commands
            .try_send(Command::Emit { topic, payload })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    CallError::QueueFull(self.commands.max_capacity())
                }
                mpsc::error::TrySendError::Closed(_) => CallError::Closed(self.gone()),
            })
    }

    /// The events the other end emits on `topic`, from now on: every event
    /// the connection handles after this returns reaches the feed. At most
    /// [`EVENT_FEED`] wait unread; newer ones are dropped until the feed is
    /// read again.
    pub async fn events<T: Serialize + DeserializeOwned>(&self, topic: &Topic<T>) -> Events<T> {
        let (feed, rx) = mpsc::channel(EVENT_FEED);
        let listen = Command::Listen {
            topic: topic.name(),
            feed,
        };
        // A closed connection gives a feed that ends at once.
        let _ = self.commands.send(listen).await;
        Events {
            rx,
            _t: PhantomData,
        }
    }

    /// Closes the connection for good, telling the other end why; it does
    /// not reconnect.
    pub async fn close(&self, reason: &str) {
        let close = Command::Close {
            reason: reason.to_owned(),
        };
        let _ = self.commands.send(close).await;
    }

    fn gone(&self) -> CloseReason {
        match &*self.state.borrow() {
            State::Closed(r) => r.clone(),
            _ => CloseReason::Local("the connection's task ended".into()),
        }
    }
}

/// A feed of one topic's events, decoded.
#[derive(Debug)]
pub struct Events<T> {
    rx: mpsc::Receiver<Vec<u8>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Events<T> {
    /// The next event; `None` once the connection is closed. An event that
    /// does not decode as `T` is an error, and the feed goes on.
    pub async fn next(&mut self) -> Option<Result<T, CodecError>> {
        let bytes = self.rx.recv().await?;
        Some(decode(&bytes))
    }
}
