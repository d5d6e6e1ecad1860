//! The server: an axum endpoint that checks `Origin` before the upgrade and
//! runs one engine per socket, every connection's task, and a clean
//! shutdown that tells clients to reconnect.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use bus_core::{ConfigError, Engine, Role, State, SystemEntropy};
use tokio::sync::{Notify, mpsc, watch};

use crate::driver::{Driver, Parts, Relay};
use crate::hub::{Hub, Kick};
use crate::options::Options;
use crate::peer::{Peer, PeerId};
use crate::services::Services;
use crate::socket;

/// Why a [`BusServer`] could not be made.
#[derive(Debug)]
pub enum ServerError {
    /// The options do not make a valid engine configuration.
    Config(ConfigError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(e) => write!(f, "invalid bus-server options: {e}"),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<ConfigError> for ServerError {
    fn from(e: ConfigError) -> ServerError {
        ServerError::Config(e)
    }
}

/// What a server has seen, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Sockets open now.
    pub connections: usize,
    /// Sockets accepted since the server started.
    pub accepted: u64,
    /// Upgrades refused because the `Origin` header was missing or not
    /// allowed (answered 403), or because the server was shutting down (503).
    pub refused: u64,
}

struct Shared {
    options: Options,
    services: Arc<Services>,
    hub: Hub,
    next_id: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    closing: AtomicBool,
    /// Every live connection's kick switch.
    live: Mutex<HashMap<PeerId, watch::Sender<Option<Kick>>>>,
    gone: Notify,
}

/// A WebSocket endpoint for the bus (see the [crate docs](crate)). Cheap to
/// clone; clones are the same server.
#[derive(Clone)]
pub struct BusServer {
    shared: Arc<Shared>,
}

impl fmt::Debug for BusServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusServer")
            .field("stats", &self.stats())
            .field("services", &self.shared.services)
            .finish_non_exhaustive()
    }
}

impl BusServer {
    /// A server with its own in-process [`Hub`]. Fails if the options do not
    /// make a valid engine (an empty allowlist, a zero timeout…).
    pub fn new(options: Options, services: Services) -> Result<BusServer, ServerError> {
        BusServer::with_hub(options, services, Hub::new())
    }

    /// A server whose clients join `hub` (give the hub a [`crate::Broker`]
    /// to share broadcasts with other processes).
    pub fn with_hub(
        options: Options,
        services: Services,
        hub: Hub,
    ) -> Result<BusServer, ServerError> {
        let mut check = options.host_config("");
        check.role = Role::Host;
        check.peer_origin = None;
        Engine::new(check, SystemEntropy)?;
        Ok(BusServer {
            shared: Arc::new(Shared {
                options,
                services: Arc::new(services),
                hub,
                next_id: AtomicU64::new(1),
                accepted: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                closing: AtomicBool::new(false),
                live: Mutex::new(HashMap::new()),
                gone: Notify::new(),
            }),
        })
    }

    /// The connection pool: broadcast to clients, find one.
    pub fn hub(&self) -> Hub {
        self.shared.hub.clone()
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: lock(&self.shared.live).len(),
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
        }
    }

    /// The endpoint, to mount at a path of your router:
    /// `Router::new().route("/bus", server.route())`.
    pub fn route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let server = self.clone();
        get(
            move |headers: HeaderMap, ws: WebSocketUpgrade| async move { server.upgrade(&headers, ws) },
        )
    }

    /// Tells every client to reconnect (close code 1012, "service
    /// restart") and waits up to `grace` for their sockets to close. New
    /// upgrades are refused with 503 from now on.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.closing.store(true, Ordering::SeqCst);
        let kick = Kick {
            code: 1012,
            reason: "the server is restarting; reconnect".into(),
        };
        for tx in lock(&self.shared.live).values() {
            tx.send_replace(Some(kick.clone()));
        }
        let _ = tokio::time::timeout(grace, async {
            loop {
                let gone = self.shared.gone.notified();
                if lock(&self.shared.live).is_empty() {
                    return;
                }
                gone.await;
            }
        })
        .await;
    }

    fn upgrade(&self, headers: &HeaderMap, ws: WebSocketUpgrade) -> Response {
        let refuse = |status: StatusCode, why: String| {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            (status, why).into_response()
        };
        if self.shared.closing.load(Ordering::SeqCst) {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down; reconnect".into(),
            );
        }
        // Checked before the upgrade, before anything of the socket is read:
        // a page of another site opening this socket with the user's cookies
        // gets no socket at all.
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return refuse(
                StatusCode::FORBIDDEN,
                "no Origin header: this endpoint serves browser pages of allowed origins".into(),
            );
        };
        if !self.shared.options.allowlist.allows(origin) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("origin {origin} may not open this socket"),
            );
        }
        let origin = origin.to_owned();
        let limit = self.shared.options.limits.max_frame_bytes;
        let server = self.clone();
        ws.max_message_size(limit)
            .max_frame_size(limit)
            .on_upgrade(move |socket| server.serve(socket, origin))
    }

    /// Runs one connection until its socket closes.
    async fn serve(self, ws: WebSocket, origin: String) {
        let shared = &self.shared;
        let options = &shared.options;
        let Ok(engine) = Engine::new(options.host_config(&origin), SystemEntropy) else {
            return;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let id = PeerId(shared.next_id.fetch_add(1, Ordering::Relaxed));
        let (commands_tx, commands) = mpsc::channel(options.queue.max(1));
        let (state_tx, state_rx) = watch::channel(State::Idle);
        let peer = Peer {
            id,
            origin: origin.as_str().into(),
            commands: commands_tx,
            state: state_rx,
        };
        let kick = watch::channel(None);
        lock(&shared.live).insert(id, kick.0.clone());
        if shared.closing.load(Ordering::SeqCst) {
            kick.0.send_replace(Some(Kick {
                code: 1012,
                reason: "the server is restarting; reconnect".into(),
            }));
        }
        let relay = Relay::new(shared.hub.clone(), options.relay_rate, options.relay_burst);
        let mut driver = Driver::new(Parts {
            engine,
            origin,
            peer,
            commands,
            state: state_tx,
            services: Arc::clone(&shared.services),
            relay: Some(relay),
            kick,
        });
        let (mut socket, tasks) = socket::spawn(ws, options.queue, socket::axum_codec());
        let _ended = driver.run(&mut socket).await;
        drop(driver);
        drop(socket);
        tasks.finish(Duration::from_secs(2)).await;
        lock(&shared.live).remove(&id);
        shared.gone.notify_waiters();
    }
}

/// The registry holds no invariant a panicking holder could break halfway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
