//! What one end serves: typed method handlers, and the topics whose events
//! a server relays to every other client. Shared by every connection of a
//! server (and by the native client).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bus_core::{Method, Rejection, RemoteError, Topic};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::peer::Peer;

type Answer = Pin<Box<dyn Future<Output = Result<Vec<u8>, RemoteError>> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(Peer, Vec<u8>) -> Answer + Send + Sync>;
type OnConnect = Arc<dyn Fn(Peer) + Send + Sync>;
type OnRejection = Arc<dyn Fn(&Peer, &Rejection) + Send + Sync>;

/// Handlers and relayed topics.
///
/// ```
/// use bus_core::{Method, RemoteError, Topic};
/// use bus_server::Services;
///
/// const ADD: Method<(i32, i32), i32> = Method::new("add");
/// const CURSOR: Topic<(u16, u16)> = Topic::new("cursor");
///
/// let services = Services::new()
///     .serve(ADD, |_peer, (a, b)| async move {
///         a.checked_add(b).ok_or_else(|| RemoteError::new(400, "overflow"))
///     })
///     // A client's cursor events go to every other client.
///     .relay(CURSOR);
/// ```
#[derive(Clone, Default)]
pub struct Services {
    pub(crate) handlers: HashMap<&'static str, Handler>,
    pub(crate) relays: HashSet<&'static str>,
    pub(crate) on_connect: Option<OnConnect>,
    pub(crate) on_rejection: Option<OnRejection>,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.handlers.keys().collect();
        methods.sort();
        f.debug_struct("Services")
            .field("methods", &methods)
            .field("relays", &self.relays)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Nothing served, nothing relayed.
    pub fn new() -> Services {
        Services::default()
    }

    /// Serves `method` with an async handler, given the calling peer and the
    /// decoded request. A request that does not decode is answered
    /// `BAD_REQUEST` without calling it. Each call runs as its own task,
    /// aborted if the caller cancels or its deadline passes.
    pub fn serve<Req, Resp, F, Fut>(mut self, method: Method<Req, Resp>, handler: F) -> Services
    where
        Req: Serialize + DeserializeOwned + Send + 'static,
        Resp: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(Peer, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, RemoteError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |peer: Peer, bytes: Vec<u8>| -> Answer {
            let request = method.accept_request(&bytes);
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let answer = handler(peer, request?).await;
                method.finish_response(answer)
            })
        });
        self.handlers.insert(method.name(), erased);
        self
    }

    /// On a server: every event a client emits on `topic` is broadcast to
    /// every other connected client (through the hub, so across processes
    /// when it has a broker), never back to the sender.
    pub fn relay<T>(mut self, topic: Topic<T>) -> Services {
        self.relays.insert(topic.name());
        self
    }

    /// Runs `f` for every new session (a client connected, or reconnected
    /// with a new socket), for example to send it a welcome event.
    pub fn on_connect(mut self, f: impl Fn(Peer) + Send + Sync + 'static) -> Services {
        self.on_connect = Some(Arc::new(f));
        self
    }

    /// Runs `f` for every frame a connection refused (wrong session,
    /// malformed, over a limit…), with the connection it came from: log it,
    /// count it, drop a client that keeps sending them. Each connection's
    /// engine also counts them by reason.
    pub fn on_rejection(
        mut self,
        f: impl Fn(&Peer, &Rejection) + Send + Sync + 'static,
    ) -> Services {
        self.on_rejection = Some(Arc::new(f));
        self
    }
}
