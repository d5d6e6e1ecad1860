//! Drives one engine over one socket at a time: feeds it frames, time and
//! commands, carries out what it says (frames to write, deliveries to
//! dispatch), and arms its timer. Server connections and the native client
//! share it. No protocol decision is made here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bus_core::{
    CallError, CallId, Channel, CloseReason, Delivery, Engine, RequestId, State, method_not_found,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::hub::{Hub, Kick, Member};
use crate::peer::{Command, Peer};
use crate::services::Services;

/// What the socket's reader hands the driver.
#[derive(Debug)]
pub(crate) enum Incoming {
    Frame(Vec<u8>),
    /// A text message: not ours.
    Foreign,
}

/// What the driver hands the socket's writer, in order.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame(Vec<u8>),
    /// Close the socket after the frames before it.
    Close(Kick),
}

/// One open socket as the driver sees it. The reader ends `incoming` when
/// the socket closes; `urgent` closes it at once, ahead of queued frames.
pub(crate) struct Socket {
    pub(crate) incoming: mpsc::Receiver<Incoming>,
    pub(crate) outgoing: mpsc::Sender<Outgoing>,
    pub(crate) urgent: watch::Sender<Option<Kick>>,
}

/// Why [`Driver::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The socket closed under us.
    SocketClosed,
    /// The session ended on a live socket (heartbeat): we closed the socket.
    SessionOver,
    /// The connection is closed for good.
    Closed(CloseReason),
    /// The server closed the socket (slow consumer, flood, shutdown).
    Kicked(Kick),
}

/// Relayed events allowed per second, with bursts.
struct Budget {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    /// Events dropped since the last one let through.
    dropped: u32,
}

impl Budget {
    fn new(rate: u32, burst: u32) -> Budget {
        Budget {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            at: Instant::now(),
            dropped: 0,
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropped = 0;
            true
        } else {
            self.dropped = self.dropped.saturating_add(1);
            false
        }
    }
}

/// Where relayed events go: the server's hub, with this client's budget.
pub(crate) struct Relay {
    pub(crate) hub: Hub,
    budget: Budget,
}

impl Relay {
    pub(crate) fn new(hub: Hub, rate: u32, burst: u32) -> Relay {
        Relay {
            hub,
            budget: Budget::new(rate, burst),
        }
    }
}

pub(crate) struct Driver {
    engine: Engine,
    /// The peer's origin, fixed for the socket ([`Channel::Socket`]).
    origin: String,
    epoch: Instant,
    peer: Peer,
    commands: mpsc::Receiver<Command>,
    services: Arc<Services>,
    relay: Option<Relay>,
    /// This connection's own kick switch (the hub flips it for a slow client).
    kick_tx: watch::Sender<Option<Kick>>,
    kick: watch::Receiver<Option<Kick>>,
    state: watch::Sender<State>,
    calls: HashMap<CallId, oneshot::Sender<Result<Vec<u8>, CallError>>>,
    serving: HashMap<RequestId, AbortHandle>,
    listeners: Vec<(&'static str, mpsc::Sender<Vec<u8>>)>,
    /// Whether a session came up on the current socket.
    pub(crate) connected_on_socket: bool,
}

pub(crate) struct Parts {
    pub(crate) engine: Engine,
    pub(crate) origin: String,
    pub(crate) peer: Peer,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) state: watch::Sender<State>,
    pub(crate) services: Arc<Services>,
    pub(crate) relay: Option<Relay>,
    pub(crate) kick: (watch::Sender<Option<Kick>>, watch::Receiver<Option<Kick>>),
}

impl Driver {
    pub(crate) fn new(parts: Parts) -> Driver {
        let mut driver = Driver {
            engine: parts.engine,
            origin: parts.origin,
            epoch: Instant::now(),
            peer: parts.peer,
            commands: parts.commands,
            services: parts.services,
            relay: parts.relay,
            kick_tx: parts.kick.0,
            kick: parts.kick.1,
            state: parts.state,
            calls: HashMap::new(),
            serving: HashMap::new(),
            listeners: Vec::new(),
            connected_on_socket: false,
        };
        let now = driver.now();
        driver.engine.connect(now);
        driver
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Runs the engine on `socket` until the socket closes, the session on
    /// it ends, or the connection closes.
    pub(crate) async fn run(&mut self, socket: &mut Socket) -> Ended {
        self.connected_on_socket = false;
        let now = self.now();
        self.engine.channel_opened(now);
        loop {
            if let Some(end) = self.pump(Some(socket)) {
                return end;
            }
            let due = self.engine.poll_timeout().map(|d| self.epoch + d);
            tokio::select! {
                incoming = socket.incoming.recv() => {
                    let now = self.now();
                    match incoming {
                        Some(Incoming::Frame(bytes)) => {
                            self.apply_queued();
                            let channel = Channel::Socket { origin: &self.origin };
                            let _ = self.engine.handle_frame(now, channel, bytes.as_slice());
                        }
                        Some(Incoming::Foreign) => self.engine.record_foreign(),
                        None => {
                            self.engine.channel_lost(now);
                            return match self.pump(None) {
                                Some(Ended::Closed(r)) => Ended::Closed(r),
                                _ => Ended::SocketClosed,
                            };
                        }
                    }
                }
                command = self.commands.recv() => {
                    if let Some(command) = command {
                        self.apply(command);
                    }
                }
                () = sleep_until(due) => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
                Ok(()) = self.kick.changed() => {
                    let kick = self.kick.borrow_and_update().clone();
                    if let Some(kick) = kick {
                        let _ = socket.urgent.send(Some(kick.clone()));
                        return Ended::Kicked(kick);
                    }
                }
            }
        }
    }

    /// Between sockets (a client waiting to redial): serves commands and
    /// timers for `delay`. Returns the reason if the connection closed.
    pub(crate) async fn idle(&mut self, delay: Duration) -> Option<CloseReason> {
        let until = Instant::now() + delay;
        loop {
            if let Some(Ended::Closed(r)) = self.pump(None) {
                return Some(r);
            }
            let due = self.engine.poll_timeout().map(|d| self.epoch + d);
            tokio::select! {
                command = self.commands.recv() => {
                    if let Some(command) = command {
                        self.apply(command);
                    }
                }
                () = sleep_until(due) => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
                () = tokio::time::sleep_until(until) => return None,
            }
        }
    }

    /// Writes what the engine sends and dispatches its deliveries until it
    /// is quiet. `None`: no socket, frames are dropped (the engine resends
    /// its handshake on the next one).
    fn pump(&mut self, socket: Option<&mut Socket>) -> Option<Ended> {
        let mut ended = None;
        loop {
            while let Some(t) = self.engine.poll_transmit() {
                let Some(socket) = socket.as_deref() else {
                    continue;
                };
                match socket.outgoing.try_send(Outgoing::Frame(t.bytes)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let kick = Kick {
                            code: 1008,
                            reason: format!(
                                "slow consumer: {} frames wait to be written to this client; it is disconnected",
                                socket.outgoing.max_capacity()
                            ),
                        };
                        let _ = socket.urgent.send(Some(kick.clone()));
                        return Some(Ended::Kicked(kick));
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
            let deliveries: Vec<Delivery> =
                std::iter::from_fn(|| self.engine.poll_delivery()).collect();
            if deliveries.is_empty() {
                break;
            }
            for d in deliveries {
                if let Some(end) = self.dispatch(d) {
                    ended.get_or_insert(end);
                }
            }
        }
        let end = ended?;
        if let Some(socket) = socket {
            let kick = match &end {
                Ended::Closed(r) => Kick {
                    code: 1000,
                    reason: short(r.to_string()),
                },
                _ => Kick {
                    code: 4000,
                    reason: "session ended; reconnect".into(),
                },
            };
            let _ = socket.outgoing.try_send(Outgoing::Close(kick));
        }
        Some(end)
    }

    fn dispatch(&mut self, delivery: Delivery) -> Option<Ended> {
        match delivery {
            Delivery::State(state) => return self.on_state(state),
            Delivery::Request {
                id,
                method,
                payload,
                ..
            } => match self.services.handlers.get(method.as_str()) {
                None => {
                    self.engine.reply(id, Err(method_not_found(&method)));
                }
                Some(handler) => {
                    let answer = handler(self.peer.clone(), payload);
                    let commands = self.peer.commands.clone();
                    let task = tokio::spawn(async move {
                        let result = answer.await;
                        let _ = commands.send(Command::Reply { id, result }).await;
                    });
                    self.serving.insert(id, task.abort_handle());
                }
            },
            Delivery::Reply { call, result, .. } => {
                if let Some(tx) = self.calls.remove(&call) {
                    let _ = tx.send(result);
                }
            }
            Delivery::Event { topic, payload, .. } => self.on_event(&topic, payload),
            Delivery::Cancelled(id) => {
                if let Some(task) = self.serving.remove(&id) {
                    task.abort();
                }
            }
            // Counted in the engine's stats, and reported.
            Delivery::Rejected(rejection) => {
                if let Some(f) = &self.services.on_rejection {
                    f(&self.peer, &rejection);
                }
            }
        }
        None
    }

    fn on_state(&mut self, state: State) -> Option<Ended> {
        let end = match &state {
            State::Connected { .. } => {
                self.connected_on_socket = true;
                if let Some(relay) = &self.relay {
                    relay.hub.join(Member {
                        peer: self.peer.clone(),
                        kick: self.kick_tx.clone(),
                    });
                }
                if let Some(f) = &self.services.on_connect {
                    f(self.peer.clone());
                }
                None
            }
            State::Reconnecting(_) => {
                self.leave_hub();
                Some(Ended::SessionOver)
            }
            State::Closed(r) => {
                self.leave_hub();
                for (_, task) in self.serving.drain() {
                    task.abort();
                }
                Some(Ended::Closed(r.clone()))
            }
            State::Idle | State::Connecting => None,
        };
        self.state.send_replace(state);
        end
    }

    fn on_event(&mut self, topic: &str, payload: Vec<u8>) {
        if let Some(relay) = &mut self.relay
            && self.services.relays.contains(topic)
        {
            if relay.budget.take() {
                relay.hub.publish(topic, &payload, Some(self.peer.id));
            } else if relay.budget.dropped >= relay.budget.burst as u32 {
                let kick = Kick {
                    code: 1008,
                    reason: format!(
                        "flood: over {} relayed events a second; disconnected",
                        relay.budget.rate
                    ),
                };
                let _ = self.kick_tx.send(Some(kick));
            }
        }
        self.listeners.retain(|(t, feed)| {
            if *t != topic {
                return !feed.is_closed();
            }
            match feed.try_send(payload.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Applies the commands queued before a frame is handled. `select!`
    /// takes whichever of its ready branches it likes, so without this a
    /// frame could be handled before a feed `Peer::events` had already
    /// queued, and an event sent after `events` returned would miss it.
    /// Only as many as are queued now: a busy sender cannot hold frames up.
    fn apply_queued(&mut self) {
        for _ in 0..self.commands.len() {
            match self.commands.try_recv() {
                Ok(command) => self.apply(command),
                Err(_) => break,
            }
        }
    }

    fn apply(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Call {
                method,
                payload,
                timeout,
                reply,
            } => match self.engine.call(now, method, payload, timeout) {
                Ok(id) => {
                    self.calls.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Emit { topic, payload } => {
                // Emits are fire-and-forget: a full or closed engine drops them.
                let _ = self.engine.emit(&topic, payload.to_vec());
            }
            Command::Reply { id, result } => {
                if self.serving.remove(&id).is_some() {
                    self.engine.reply(id, result);
                }
            }
            Command::Listen { topic, feed } => self.listeners.push((topic, feed)),
            Command::Close { reason } => self.engine.close(&reason),
        }
        // A dropped call future (cancelled by its caller) leaves a closed sender.
        let engine = &mut self.engine;
        self.calls.retain(|id, tx| {
            if tx.is_closed() {
                engine.cancel(*id);
                false
            } else {
                true
            }
        });
    }

    fn leave_hub(&mut self) {
        if let Some(relay) = &self.relay {
            relay.hub.leave(self.peer.id);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.leave_hub();
        for (_, task) in self.serving.drain() {
            task.abort();
        }
        if !matches!(self.engine.state(), State::Closed(_)) {
            self.engine.peer_gone();
            let closed = self.engine.state();
            self.state.send_replace(closed);
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A WebSocket close reason is at most 123 bytes.
pub(crate) fn short(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bus_core::engine::Link;
    use bus_core::{Allowlist, Channel, Config, Engine, Role, State, SystemEntropy, Topic};
    use tokio::sync::{mpsc, watch};

    use super::{Driver, Incoming, Outgoing, Parts, Socket};
    use crate::peer::{Peer, PeerId};
    use crate::services::Services;

    const CLIENT: &str = "http://client.test";
    const SERVER: &str = "http://server.test";
    const NEWS: Topic<u32> = Topic::new("news");

    fn engine(role: Role, peer: &str) -> Engine {
        let allow = Allowlist::new([peer]).expect("a valid allowlist");
        let mut config = Config::new(role, allow).with_peer_origin(peer);
        config.link = Link::Socket;
        config.wait_for_knock = role == Role::Host;
        Engine::new(config, SystemEntropy).expect("a valid config")
    }

    /// A feed `Peer::events` queued is taken before a frame that waits
    /// beside it, however `select!` orders its ready branches: the event in
    /// that frame, emitted after `events` returned, reaches the feed. (It
    /// once missed it about one time in two, and a 4,000-event test lost
    /// one.) On a current-thread runtime both wait until the test yields.
    #[tokio::test]
    async fn a_feed_queued_beside_a_waiting_frame_gets_its_event() {
        // The driver is a client's; the test plays its server.
        let (commands_tx, commands) = mpsc::channel(16);
        let (state_tx, state) = watch::channel(State::Idle);
        let peer = Peer {
            id: PeerId(0),
            origin: SERVER.into(),
            commands: commands_tx,
            state,
        };
        let mut driver = Driver::new(Parts {
            engine: engine(Role::Guest, SERVER),
            origin: SERVER.into(),
            peer: peer.clone(),
            commands,
            state: state_tx,
            services: Arc::new(Services::new()),
            relay: None,
            kick: watch::channel(None),
        });
        let (incoming, incoming_rx) = mpsc::channel(16);
        let (outgoing_tx, mut outgoing) = mpsc::channel(16);
        let mut socket = Socket {
            incoming: incoming_rx,
            outgoing: outgoing_tx,
            urgent: watch::channel(None).0,
        };
        tokio::spawn(async move { driver.run(&mut socket).await });

        let mut server = engine(Role::Host, CLIENT);
        let now = Duration::ZERO;
        server.connect(now);
        server.channel_opened(now);
        let mut connected = peer.state.clone();
        while !connected.borrow().is_connected() {
            tokio::select! {
                out = outgoing.recv() => {
                    let Some(Outgoing::Frame(frame)) = out else {
                        panic!("the driver stopped: {out:?}, {:?}", connected.borrow());
                    };
                    let _ = server.handle_frame(now, Channel::Socket { origin: CLIENT }, &frame);
                    while let Some(t) = server.poll_transmit() {
                        incoming.send(Incoming::Frame(t.bytes)).await.expect("the driver runs");
                    }
                }
                changed = connected.changed() => changed.expect("the driver runs"),
            }
        }

        for n in 0..32 {
            let mut news = peer.events(&NEWS).await;
            server.emit_topic(&NEWS, &n).expect("emitted");
            let frame = server.poll_transmit().expect("the event's frame").bytes;
            incoming
                .send(Incoming::Frame(frame))
                .await
                .expect("the driver runs");
            let got = tokio::time::timeout(Duration::from_secs(5), news.next()).await;
            assert!(
                matches!(got, Ok(Some(Ok(m))) if m == n),
                "event {n} missed the feed queued before it: {got:?}"
            );
        }
    }
}
