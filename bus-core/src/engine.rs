//! The protocol engine: a sans-IO state machine.
//!
//! Inputs are frame bytes with the channel they came from ([`Channel`]), the
//! application's calls, replies and events, and the current time. Outputs are
//! frames to send ([`Engine::poll_transmit`]), deliveries for the application
//! ([`Engine::poll_delivery`]) and the next instant the engine needs a
//! [`Engine::handle_timeout`] ([`Engine::poll_timeout`]). No timers, sockets or
//! browser inside: a binding moves the bytes, [`crate::MemoryPair`] wires two
//! engines back to back in tests.
//!
//! # Handshake
//!
//! ```text
//! guest                                   host
//!   | -- Knock ------------------------->  |  (optional: "I (re)loaded, greet me")
//!   | <------------------ Hello(nonce) --  |  retried with backoff until answered
//!   | -- Welcome(nonce, session) ------->  |  guest picks the 128-bit session id
//!   | <---------- Ready(session) + port -  |  host is connected
//!   |          session traffic over the private port                |
//! ```
//!
//! Every handshake frame must come from an allowed origin and from the peer
//! window ([`Config::peer_source`]). The session is then bound to that
//! (origin, source) pair and its id: any frame that does not match all three
//! is dropped and reported as a [`Rejection`], without side effect.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bus_core::{Allowlist, Config, Delivery, Engine, Role, SystemEntropy};
//!
//! let allow = Allowlist::new(["https://widget.example"])?;
//! let mut host = Engine::new(Config::new(Role::Host, allow), SystemEntropy)?;
//! host.connect(Duration::ZERO);
//! let hello = host.poll_transmit().ok_or("the host greets first")?;
//! assert_eq!(hello.target_origin(), Some("https://widget.example"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::entropy::Entropy;
use crate::envelope::{
    Body, DEFAULT_MAX_FRAME_BYTES, DecodeError, Envelope, HEADER_LEN, Message, Nonce, Outcome,
    Refusal, SessionId, Versions, has_namespace,
};
use crate::error::{CallError, CloseReason, RemoteError};
use crate::origin::{Allowlist, OPAQUE_ORIGIN};
use crate::typed::{Method, Topic};

/// Which end of the handshake this engine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The window that knows the other's origin: a page embedding an iframe or
    /// opening a popup. It sends `Hello`.
    Host,
    /// The embedded iframe or the popup. It answers `Hello` and may `Knock`.
    Guest,
}

/// A binding's label for the window a message came from.
///
/// The binding gives the peer window (the iframe's `contentWindow`, the
/// parent, the opener or the popup) [`SourceId::PEER`] and any other window
/// another value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u64);

impl SourceId {
    /// The conventional label of the peer window.
    pub const PEER: SourceId = SourceId(1);
}

/// Where a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    /// A `message` event on the window: `event.origin` and the labelled `event.source`.
    Window {
        /// `MessageEvent.origin`, exactly as the browser serialized it.
        origin: &'a str,
        /// The binding's label for `MessageEvent.source`.
        source: SourceId,
    },
    /// The private channel handed over with `Ready`.
    Port,
}

/// Where a frame must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `peer.postMessage(bytes, target_origin)` on the peer window. The target
    /// is a concrete origin, or `"*"` only when the peer is opaque and the
    /// allowlist explicitly opted in to opaque origins.
    Window {
        /// The targetOrigin to post with.
        target_origin: String,
    },
    /// The private channel handed over with `Ready`.
    Port,
}

/// A frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub route: Route,
    /// The encoded frame.
    pub bytes: Vec<u8>,
    /// Create the private channel and transfer one end with this frame.
    pub attach_port: bool,
}

impl Transmit {
    /// The targetOrigin, for window routes.
    pub fn target_origin(&self) -> Option<&str> {
        match &self.route {
            Route::Window { target_origin } => Some(target_origin),
            Route::Port => None,
        }
    }
}

/// Heartbeat settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often to ping.
    pub interval: Duration,
    /// Close when nothing was heard from the peer for this long.
    pub timeout: Duration,
}

/// Bounds on everything that input can make grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted or sent (both sides' minimum is used).
    pub max_frame_bytes: usize,
    /// Calls waiting for a reply.
    pub max_pending_calls: usize,
    /// Messages queued while the connection is not up.
    pub max_queued_messages: usize,
    /// Calls from the peer being served at once; more are answered `OVERLOADED`.
    pub max_inbound_calls: usize,
    /// Rejections queued as deliveries; beyond it they are only counted.
    pub max_reported_rejections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_pending_calls: 4096,
            max_queued_messages: 4096,
            max_inbound_calls: 4096,
            max_reported_rejections: 256,
        }
    }
}

/// Engine settings. Start from [`Config::new`] and adjust fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Host or guest.
    pub role: Role,
    /// Who may talk to us. Must not be empty.
    pub allowlist: Allowlist,
    /// The peer's origin when known (a host knows its iframe's or popup's
    /// URL). Handshake frames are posted to it; otherwise to every exact
    /// allowlist entry.
    pub peer_origin: Option<String>,
    /// The binding's label for the peer window.
    pub peer_source: SourceId,
    /// Protocol versions this side speaks.
    pub versions: Versions,
    /// Give up a handshake after this long.
    pub handshake_timeout: Duration,
    /// First handshake retry delay; doubles up to `handshake_retry_max`.
    pub handshake_retry: Duration,
    /// Longest handshake retry delay.
    pub handshake_retry_max: Duration,
    /// Host only: greet only when the guest knocks, never unprompted. A
    /// browser logs an error for every message posted to a frame that still
    /// shows another document (an iframe's initial `about:blank`, a popup
    /// before it loads), so bindings set this and let the guest speak first.
    pub wait_for_knock: bool,
    /// Deadline for calls that name none.
    pub call_timeout: Duration,
    /// How long [`Engine::verify_peer`] waits for any sign of life.
    pub probe_timeout: Duration,
    /// Optional liveness check.
    pub heartbeat: Option<Heartbeat>,
    /// Bounds.
    pub limits: Limits,
}

impl Config {
    /// Safe defaults: 10 s handshake, 30 s calls, no heartbeat, default limits.
    pub fn new(role: Role, allowlist: Allowlist) -> Config {
        Config {
            role,
            allowlist,
            peer_origin: None,
            peer_source: SourceId::PEER,
            versions: Versions::CURRENT,
            handshake_timeout: Duration::from_secs(10),
            handshake_retry: Duration::from_millis(50),
            handshake_retry_max: Duration::from_secs(1),
            wait_for_knock: false,
            call_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(1),
            heartbeat: None,
            limits: Limits::default(),
        }
    }

    /// Sets [`Config::peer_origin`].
    pub fn with_peer_origin(mut self, origin: impl Into<String>) -> Config {
        self.peer_origin = Some(origin.into());
        self
    }
}

/// A configuration the engine refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The allowlist allows nothing.
    EmptyAllowlist,
    /// `peer_origin` is not allowed by the allowlist.
    PeerOriginNotAllowed(String),
    /// No concrete origin to post the first message to.
    NoTargetOrigin,
    /// A limit or duration is zero or inconsistent.
    Invalid(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptyAllowlist => f.write_str(
                "the allowlist is empty, so every message would be rejected; list the peer's origin",
            ),
            ConfigError::PeerOriginNotAllowed(o) => {
                write!(f, "peer origin {o:?} is not in the allowlist; add it")
            }
            ConfigError::NoTargetOrigin => f.write_str(
                "no concrete origin to greet: the allowlist has only wildcards; set Config::peer_origin",
            ),
            ConfigError::Invalid(what) => write!(f, "invalid configuration: {what}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The connection's observable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Created; [`Engine::connect`] not called yet.
    Idle,
    /// First handshake under way.
    Connecting,
    /// A session is open.
    Connected {
        /// The peer's origin.
        origin: String,
        /// The negotiated protocol version.
        version: u16,
    },
    /// The session ended (peer reloaded); a new handshake is under way.
    Reconnecting,
    /// Done for good.
    Closed(CloseReason),
}

impl State {
    /// True when connected.
    pub fn is_connected(&self) -> bool {
        matches!(self, State::Connected { .. })
    }
}

/// Identifies one outgoing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Identifies one incoming call, within the session it arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    epoch: u64,
    id: u64,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// `event.origin` is not in the allowlist.
    DisallowedOrigin,
    /// The frame came from a window other than the peer.
    WrongSource,
    /// Our namespace, but unparsable.
    Malformed(DecodeError),
    /// Larger than the frame limit.
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// The frame names another session, or the origin differs from the session's.
    WrongSession,
    /// The frame is written in a version other than the session's.
    WrongVersion(u16),
    /// A frame this side does not accept in its role or state.
    Unexpected(&'static str),
    /// A reply to no pending call (unknown, duplicate or late).
    UnknownReply(u64),
    /// A call reusing the id of a call still being served.
    DuplicateCall(u64),
    /// A `Welcome` that answers no current `Hello`.
    StaleHandshake,
}

impl RejectReason {
    /// A short stable label, for counters.
    pub fn label(&self) -> &'static str {
        match self {
            RejectReason::DisallowedOrigin => "disallowed-origin",
            RejectReason::WrongSource => "wrong-source",
            RejectReason::Malformed(_) => "malformed",
            RejectReason::TooLarge { .. } => "too-large",
            RejectReason::WrongSession => "wrong-session",
            RejectReason::WrongVersion(_) => "wrong-version",
            RejectReason::Unexpected(_) => "unexpected",
            RejectReason::UnknownReply(_) => "unknown-reply",
            RejectReason::DuplicateCall(_) => "duplicate-call",
            RejectReason::StaleHandshake => "stale-handshake",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::DisallowedOrigin => f.write_str("origin not in the allowlist"),
            RejectReason::WrongSource => f.write_str("sent by a window other than the peer"),
            RejectReason::Malformed(e) => e.fmt(f),
            RejectReason::TooLarge { len } => write!(f, "frame of {len} bytes over the limit"),
            RejectReason::WrongSession => f.write_str("not of the current session"),
            RejectReason::WrongVersion(v) => write!(f, "frame in protocol v{v}, not the session's"),
            RejectReason::Unexpected(what) => write!(f, "unexpected {what}"),
            RejectReason::UnknownReply(id) => write!(f, "reply to unknown call {id}"),
            RejectReason::DuplicateCall(id) => write!(f, "duplicate call id {id}"),
            RejectReason::StaleHandshake => f.write_str("welcome for no current hello"),
        }
    }
}

/// A dropped frame, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// `event.origin` for window frames.
    pub origin: Option<String>,
}

/// Something for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The state changed.
    State(State),
    /// The peer calls `method`; answer with [`Engine::reply`].
    Request {
        /// Pass back to [`Engine::reply`].
        id: RequestId,
        /// The method's name.
        method: String,
        /// The encoded request.
        payload: Vec<u8>,
    },
    /// A call of ours finished.
    Reply {
        /// Which call.
        call: CallId,
        /// The encoded response or why there is none.
        result: Result<Vec<u8>, CallError>,
    },
    /// The peer emitted an event.
    Event {
        /// The topic's name.
        topic: String,
        /// The encoded payload.
        payload: Vec<u8>,
    },
    /// The peer no longer waits for this request (cancelled, timed out, or
    /// the session ended): stop working on it.
    Cancelled(RequestId),
    /// A frame was dropped.
    Rejected(Rejection),
}

/// Counters, for diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to [`Engine::handle_frame`].
    pub frames_in: u64,
    /// Frames returned by [`Engine::poll_transmit`].
    pub frames_out: u64,
    /// Messages of other libraries, dropped silently.
    pub foreign: u64,
    /// Frames rejected.
    pub rejected: u64,
    /// Rejections counted but not delivered (the report queue was full).
    pub unreported: u64,
    /// Rejections by [`RejectReason::label`].
    pub rejected_by: BTreeMap<&'static str, u64>,
}

#[derive(Debug)]
struct Session {
    id: SessionId,
    /// The host's hello nonce this session answered.
    hello: Nonce,
    origin: String,
    version: u16,
    peer_max_frame: usize,
    last_heard: Duration,
    next_ping: Option<Duration>,
    /// Set by [`Engine::verify_peer`]: end the session unless the peer speaks by then.
    probe_deadline: Option<Duration>,
}

#[derive(Debug)]
enum Phase {
    Idle,
    /// Host: greeting. Guest: knocking, waiting for a hello.
    Handshaking {
        nonce: Nonce,
        deadline: Duration,
        next_retry: Duration,
        retry: Duration,
    },
    /// Guest: welcomed a hello, waiting for `Ready`.
    Welcomed {
        nonce: Nonce,
        session: Session,
        deadline: Duration,
    },
    Connected(Session),
    Closed(CloseReason),
}

/// The protocol engine. See the [module docs](self).
pub struct Engine {
    config: Config,
    entropy: Box<dyn Entropy>,
    phase: Phase,
    /// Whether a session has existed (Connecting vs Reconnecting).
    was_connected: bool,
    /// Bumped per session, so stale [`RequestId`]s cannot answer a new session.
    epoch: u64,
    next_call: u64,
    /// Call id to (deadline, timeout).
    pending: HashMap<u64, (Duration, Duration)>,
    deadlines: BTreeSet<(Duration, u64)>,
    serving: HashSet<u64>,
    outbox: VecDeque<Message>,
    handshake_out: VecDeque<Transmit>,
    deliveries: VecDeque<Delivery>,
    queued_rejections: usize,
    stats: Stats,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("role", &self.config.role)
            .field("state", &self.state())
            .field("pending", &self.pending.len())
            .field("serving", &self.serving.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Checks `config` and creates an idle engine.
    pub fn new(config: Config, entropy: impl Entropy + 'static) -> Result<Engine, ConfigError> {
        if config.allowlist.is_empty() {
            return Err(ConfigError::EmptyAllowlist);
        }
        if let Some(o) = &config.peer_origin
            && !config.allowlist.allows(o)
        {
            return Err(ConfigError::PeerOriginNotAllowed(o.clone()));
        }
        let l = &config.limits;
        if l.max_frame_bytes < 256 || l.max_frame_bytes > u32::MAX as usize {
            return Err(ConfigError::Invalid(
                "max_frame_bytes must be between 256 and u32::MAX",
            ));
        }
        if l.max_pending_calls == 0 || l.max_queued_messages == 0 || l.max_inbound_calls == 0 {
            return Err(ConfigError::Invalid("limits must be at least 1"));
        }
        if config.versions.negotiate(config.versions).is_none() {
            return Err(ConfigError::Invalid("versions.min is above versions.max"));
        }
        if config.handshake_retry.is_zero() {
            return Err(ConfigError::Invalid("handshake_retry must be above zero"));
        }
        if let Some(hb) = config.heartbeat
            && (hb.interval.is_zero() || hb.timeout <= hb.interval)
        {
            return Err(ConfigError::Invalid(
                "heartbeat timeout must exceed a non-zero interval",
            ));
        }
        let engine = Engine {
            config,
            entropy: Box::new(entropy),
            phase: Phase::Idle,
            was_connected: false,
            epoch: 0,
            next_call: 1,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            serving: HashSet::new(),
            outbox: VecDeque::new(),
            handshake_out: VecDeque::new(),
            deliveries: VecDeque::new(),
            queued_rejections: 0,
            stats: Stats::default(),
        };
        if engine.config.role == Role::Host && engine.first_targets().is_empty() {
            return Err(ConfigError::NoTargetOrigin);
        }
        Ok(engine)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Idle => State::Idle,
            Phase::Handshaking { .. } | Phase::Welcomed { .. } if self.was_connected => {
                State::Reconnecting
            }
            Phase::Handshaking { .. } | Phase::Welcomed { .. } => State::Connecting,
            Phase::Connected(s) => State::Connected {
                origin: s.origin.clone(),
                version: s.version,
            },
            Phase::Closed(r) => State::Closed(r.clone()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Calls waiting for a reply.
    pub fn pending_calls(&self) -> usize {
        self.pending.len()
    }

    /// Incoming calls not answered yet.
    pub fn serving_calls(&self) -> usize {
        self.serving.len()
    }

    /// Starts the handshake. Does nothing unless idle.
    pub fn connect(&mut self, now: Duration) {
        if matches!(self.phase, Phase::Idle) {
            self.start_handshake(now);
        }
    }

    /// Counts a message that is not ours (not bytes, or another library's).
    pub fn record_foreign(&mut self) {
        self.stats.frames_in += 1;
        self.stats.foreign += 1;
    }

    /// Feeds one received frame.
    pub fn handle_frame(&mut self, now: Duration, channel: Channel<'_>, bytes: &[u8]) {
        self.stats.frames_in += 1;
        if !has_namespace(bytes) {
            self.stats.foreign += 1;
            return;
        }
        let origin = match channel {
            Channel::Window { origin, .. } => Some(origin),
            Channel::Port => None,
        };
        if let Err(reason) = self.check_channel(channel) {
            self.reject(reason, origin);
            return;
        }
        let envelope = match Envelope::decode_limited(bytes, self.config.limits.max_frame_bytes) {
            Ok(e) => e,
            Err(DecodeError::TooLarge { len, .. }) => {
                return self.reject(RejectReason::TooLarge { len }, origin);
            }
            Err(e) => return self.reject(RejectReason::Malformed(e), origin),
        };
        let result = match (channel, envelope.body) {
            (Channel::Window { origin, .. }, Body::Knock { .. }) => self.on_knock(now, origin),
            (
                Channel::Window { origin, .. },
                Body::Hello {
                    versions,
                    nonce,
                    max_frame_bytes,
                },
            ) => self.on_hello(now, origin, versions, nonce, max_frame_bytes),
            (
                Channel::Window { origin, .. },
                Body::Welcome {
                    nonce,
                    version,
                    max_frame_bytes,
                },
            ) => self.on_welcome(
                now,
                origin,
                envelope.session,
                nonce,
                version,
                max_frame_bytes,
            ),
            (Channel::Window { .. }, Body::Refuse { reason }) => self.on_refuse(reason),
            (Channel::Window { origin, .. }, Body::Ready) => {
                self.on_ready(now, origin, envelope.session)
            }
            (_, Body::Messages(messages)) => {
                self.on_messages(now, origin, envelope.session, envelope.version, messages)
            }
            (Channel::Port, _) => Err(RejectReason::Unexpected("handshake frame on the port")),
        };
        if let Err(reason) = result {
            self.reject(reason, origin);
        }
    }

    /// Checks who sent a frame, before reading it.
    fn check_channel(&mut self, channel: Channel<'_>) -> Result<(), RejectReason> {
        match channel {
            Channel::Port => match self.phase {
                Phase::Connected(_) => Ok(()),
                _ => Err(RejectReason::Unexpected("port frame without a session")),
            },
            Channel::Window { origin, source } => {
                if source != self.config.peer_source {
                    return Err(RejectReason::WrongSource);
                }
                if !self.config.allowlist.allows(origin) {
                    // Our own protocol from the peer window, but another origin:
                    // the peer navigated away, and the session is gone with it.
                    if self.session().is_some() {
                        self.close_with(CloseReason::PeerNavigated(origin.to_owned()), false);
                    }
                    return Err(RejectReason::DisallowedOrigin);
                }
                Ok(())
            }
        }
    }

    fn on_knock(&mut self, now: Duration, origin: &str) -> Result<(), RejectReason> {
        if self.config.role != Role::Host {
            return Err(RejectReason::Unexpected("knock at a guest"));
        }
        match &mut self.phase {
            Phase::Handshaking { .. } => {
                // The guest is up: greet it now instead of at the next retry.
                self.send_hello(Some(origin));
                Ok(())
            }
            Phase::Connected(_) => {
                // A knock from the peer window means a new document there.
                self.end_session(now);
                if self.config.wait_for_knock {
                    self.send_hello(Some(origin));
                }
                Ok(())
            }
            Phase::Idle | Phase::Closed(_) | Phase::Welcomed { .. } => {
                Err(RejectReason::Unexpected("knock while not connecting"))
            }
        }
    }

    fn on_hello(
        &mut self,
        now: Duration,
        origin: &str,
        versions: Versions,
        nonce: Nonce,
        peer_max: u32,
    ) -> Result<(), RejectReason> {
        if self.config.role != Role::Guest {
            return Err(RejectReason::Unexpected("hello at a host"));
        }
        match &self.phase {
            Phase::Idle | Phase::Closed(_) => {
                return Err(RejectReason::Unexpected("hello while not connecting"));
            }
            Phase::Welcomed {
                nonce: n, session, ..
            } if *n == nonce => {
                // A retried hello crossed our welcome: answer it the same way.
                let (id, version) = (session.id, session.version);
                self.send_welcome(origin, id, nonce, version);
                return Ok(());
            }
            // A repeat of the hello this session answered: nothing new.
            Phase::Connected(s) if s.hello == nonce => return Ok(()),
            _ => {}
        }
        let Some(version) = self.config.versions.negotiate(versions) else {
            let ours = self.config.versions;
            self.push_handshake(
                origin,
                Body::Refuse {
                    reason: Refusal::VersionMismatch { supported: ours },
                },
                false,
            );
            self.close_with(
                CloseReason::VersionMismatch {
                    local: ours,
                    remote: versions,
                },
                false,
            );
            return Ok(());
        };
        if self.session().is_some() {
            // The host started over (for example after a heartbeat loss).
            self.end_session(now);
        }
        let mut id = [0u8; 16];
        if self.entropy.fill(&mut id).is_err() {
            self.close_with(CloseReason::NoEntropy, false);
            return Ok(());
        }
        let session = Session {
            id: SessionId::from_bytes(id),
            hello: nonce,
            origin: origin.to_owned(),
            version,
            peer_max_frame: (peer_max as usize).clamp(256, self.config.limits.max_frame_bytes),
            last_heard: now,
            next_ping: None,
            probe_deadline: None,
        };
        let deadline = match self.phase {
            Phase::Handshaking { deadline, .. } => deadline,
            _ => now + self.config.handshake_timeout,
        };
        self.send_welcome(origin, session.id, nonce, version);
        self.phase = Phase::Welcomed {
            nonce,
            session,
            deadline,
        };
        Ok(())
    }

    fn on_welcome(
        &mut self,
        now: Duration,
        origin: &str,
        session_id: SessionId,
        nonce: Nonce,
        version: u16,
        peer_max: u32,
    ) -> Result<(), RejectReason> {
        if self.config.role != Role::Host {
            return Err(RejectReason::Unexpected("welcome at a guest"));
        }
        let expected = match &self.phase {
            Phase::Handshaking { nonce: n, .. } => *n,
            // A duplicate welcome for the session we already run is harmless.
            Phase::Connected(s) if s.id == session_id && s.origin == origin => return Ok(()),
            _ => return Err(RejectReason::StaleHandshake),
        };
        if nonce != expected {
            return Err(RejectReason::StaleHandshake);
        }
        if session_id == SessionId::NONE {
            return Err(RejectReason::WrongSession);
        }
        // The guest picked from the range we sent; anything else is forged or broken.
        if self
            .config
            .versions
            .negotiate(Versions {
                min: version,
                max: version,
            })
            .is_none()
        {
            return Err(RejectReason::WrongVersion(version));
        }
        let session = Session {
            id: session_id,
            hello: nonce,
            origin: origin.to_owned(),
            version,
            peer_max_frame: (peer_max as usize).clamp(256, self.config.limits.max_frame_bytes),
            last_heard: now,
            next_ping: None,
            probe_deadline: None,
        };
        let ready = Envelope {
            version,
            session: session_id,
            body: Body::Ready,
        };
        self.push_frame(
            Route::Window {
                target_origin: target_for(origin),
            },
            &ready,
            true,
        );
        self.open_session(now, session);
        Ok(())
    }

    fn on_refuse(&mut self, reason: Refusal) -> Result<(), RejectReason> {
        match (&self.phase, reason) {
            (
                Phase::Handshaking { .. } | Phase::Welcomed { .. },
                Refusal::VersionMismatch { supported },
            ) => {
                let local = self.config.versions;
                self.close_with(
                    CloseReason::VersionMismatch {
                        local,
                        remote: supported,
                    },
                    false,
                );
                Ok(())
            }
            _ => Err(RejectReason::Unexpected("refuse outside a handshake")),
        }
    }

    fn on_ready(
        &mut self,
        now: Duration,
        origin: &str,
        session_id: SessionId,
    ) -> Result<(), RejectReason> {
        if self.config.role != Role::Guest {
            return Err(RejectReason::Unexpected("ready at a host"));
        }
        match &self.phase {
            Phase::Welcomed { session, .. }
                if session.id == session_id && session.origin == origin => {}
            _ => return Err(RejectReason::WrongSession),
        }
        if let Phase::Welcomed { session, .. } = std::mem::replace(&mut self.phase, Phase::Idle) {
            self.open_session(now, session);
        }
        Ok(())
    }

    fn on_messages(
        &mut self,
        now: Duration,
        origin: Option<&str>,
        session_id: SessionId,
        version: u16,
        messages: Vec<Message>,
    ) -> Result<(), RejectReason> {
        let Some(session) = self.session_mut() else {
            return Err(RejectReason::Unexpected(
                "session traffic before the handshake",
            ));
        };
        if session.id != session_id || origin.is_some_and(|o| o != session.origin) {
            return Err(RejectReason::WrongSession);
        }
        if version != session.version {
            return Err(RejectReason::WrongVersion(version));
        }
        if !matches!(self.phase, Phase::Connected(_)) {
            return Err(RejectReason::Unexpected("session traffic before ready"));
        }
        if let Some(s) = self.session_mut() {
            s.last_heard = now;
            s.probe_deadline = None;
        }
        for message in messages {
            if let Err(reason) = self.on_message(message) {
                self.reject(reason, origin);
            }
            if !matches!(self.phase, Phase::Connected(_)) {
                break;
            }
        }
        Ok(())
    }

    fn on_message(&mut self, message: Message) -> Result<(), RejectReason> {
        match message {
            Message::Call {
                id,
                method,
                payload,
                timeout_ms: _,
            } => {
                if self.serving.contains(&id) {
                    return Err(RejectReason::DuplicateCall(id));
                }
                if self.serving.len() >= self.config.limits.max_inbound_calls {
                    let err = RemoteError::new(
                        RemoteError::OVERLOADED,
                        format!("{} calls in progress; try again later", self.serving.len()),
                    );
                    self.queue(Message::Reply {
                        id,
                        outcome: Outcome::Err(err),
                    });
                    return Ok(());
                }
                self.serving.insert(id);
                self.deliver(Delivery::Request {
                    id: RequestId {
                        epoch: self.epoch,
                        id,
                    },
                    method,
                    payload,
                });
            }
            Message::Reply { id, outcome } => {
                let Some((deadline, _)) = self.pending.remove(&id) else {
                    return Err(RejectReason::UnknownReply(id));
                };
                self.deadlines.remove(&(deadline, id));
                let result = match outcome {
                    Outcome::Ok(bytes) => Ok(bytes),
                    Outcome::Err(e) => Err(CallError::Remote(e)),
                };
                self.deliver(Delivery::Reply {
                    call: CallId(id),
                    result,
                });
            }
            Message::Event { topic, payload } => self.deliver(Delivery::Event { topic, payload }),
            Message::Cancel { id } => {
                if self.serving.remove(&id) {
                    self.deliver(Delivery::Cancelled(RequestId {
                        epoch: self.epoch,
                        id,
                    }));
                }
            }
            Message::Ping => self.queue(Message::Pong),
            Message::Pong => {}
            Message::Close { reason } => self.close_with(CloseReason::Remote(reason), false),
        }
        Ok(())
    }

    /// Calls `method` on the peer with an encoded request. The reply arrives
    /// as [`Delivery::Reply`]. Calls made before the connection is up wait
    /// for it (bounded by [`Limits::max_queued_messages`]).
    pub fn call(
        &mut self,
        now: Duration,
        method: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        if let Phase::Closed(r) = &self.phase {
            return Err(CallError::Closed(r.clone()));
        }
        if self.pending.len() >= self.config.limits.max_pending_calls {
            return Err(CallError::TooManyPending(self.pending.len()));
        }
        self.check_size(method.len() + payload.len())?;
        self.check_queue()?;
        let id = self.next_call;
        self.next_call += 1;
        let timeout = timeout.unwrap_or(self.config.call_timeout);
        let deadline = now.saturating_add(timeout);
        self.pending.insert(id, (deadline, timeout));
        self.deadlines.insert((deadline, id));
        let timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        self.queue(Message::Call {
            id,
            method: method.to_owned(),
            payload,
            timeout_ms,
        });
        Ok(CallId(id))
    }

    /// Typed [`Engine::call`].
    pub fn call_method<Req, Resp>(
        &mut self,
        now: Duration,
        method: &Method<Req, Resp>,
        request: &Req,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        let payload = method.encode_request(request)?;
        self.call(now, method.name(), payload, timeout)
    }

    /// Stops waiting for `call`: it gets no [`Delivery::Reply`], and the peer
    /// is told. Returns false if the call had already finished.
    pub fn cancel(&mut self, call: CallId) -> bool {
        let Some((deadline, _)) = self.pending.remove(&call.0) else {
            return false;
        };
        self.deadlines.remove(&(deadline, call.0));
        self.withdraw_call(call.0);
        true
    }

    /// Answers a [`Delivery::Request`]. Returns false (and sends nothing) if
    /// the request was cancelled or its session has ended.
    pub fn reply(&mut self, request: RequestId, result: Result<Vec<u8>, RemoteError>) -> bool {
        if request.epoch != self.epoch || !self.serving.remove(&request.id) {
            return false;
        }
        let outcome = match result {
            Ok(bytes) => match self.check_size(bytes.len()) {
                Ok(()) => Outcome::Ok(bytes),
                Err(e) => Outcome::Err(RemoteError::new(RemoteError::INTERNAL, e.to_string())),
            },
            Err(e) => Outcome::Err(e),
        };
        self.queue(Message::Reply {
            id: request.id,
            outcome,
        });
        true
    }

    /// Emits an event on `topic`.
    pub fn emit(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), CallError> {
        if let Phase::Closed(r) = &self.phase {
            return Err(CallError::Closed(r.clone()));
        }
        self.check_size(topic.len() + payload.len())?;
        self.check_queue()?;
        self.queue(Message::Event {
            topic: topic.to_owned(),
            payload,
        });
        Ok(())
    }

    /// Typed [`Engine::emit`].
    pub fn emit_topic<T: Serialize + DeserializeOwned>(
        &mut self,
        topic: &Topic<T>,
        payload: &T,
    ) -> Result<(), CallError> {
        let bytes = topic.encode(payload)?;
        self.emit(topic.name(), bytes)
    }

    /// Closes the connection for good, telling the peer.
    pub fn close(&mut self, reason: &str) {
        self.close_with(CloseReason::Local(reason.to_owned()), true);
    }

    /// The binding suspects the peer window changed documents (an iframe's
    /// `load` event). The session is probed: unless the peer answers within
    /// [`Config::probe_timeout`], it ends as if the peer had reloaded. A
    /// load event may come before or after the new document's `Knock`, so
    /// it alone cannot tell whether the current session is the old one.
    pub fn verify_peer(&mut self, now: Duration) {
        let deadline = now + self.config.probe_timeout;
        if let Phase::Connected(s) = &mut self.phase
            && s.probe_deadline.is_none()
        {
            s.probe_deadline = Some(deadline);
            self.queue(Message::Ping);
        }
    }

    /// The binding saw the peer window go away (popup closed, iframe removed).
    pub fn peer_gone(&mut self) {
        if !matches!(self.phase, Phase::Closed(_)) {
            self.close_with(CloseReason::PeerGone, false);
        }
    }

    /// When [`Engine::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let call = self.deadlines.first().map(|(d, _)| *d);
        let phase = match &self.phase {
            Phase::Handshaking {
                deadline,
                next_retry,
                ..
            } => Some((*deadline).min(*next_retry)),
            Phase::Welcomed { deadline, .. } => Some(*deadline),
            Phase::Connected(s) => {
                let heartbeat = match (self.config.heartbeat, s.next_ping) {
                    (Some(hb), Some(ping)) => Some(ping.min(s.last_heard + hb.timeout)),
                    _ => None,
                };
                match (heartbeat, s.probe_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::Idle | Phase::Closed(_) => None,
        };
        match (call, phase) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs timers due at `now`: call deadlines, handshake retries and
    /// timeouts, heartbeats.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some((_, timeout)) = self.pending.remove(&id) {
                self.withdraw_call(id);
                self.deliver(Delivery::Reply {
                    call: CallId(id),
                    result: Err(CallError::Timeout(timeout)),
                });
            }
        }
        match &mut self.phase {
            Phase::Handshaking { deadline, .. } | Phase::Welcomed { deadline, .. }
                if now >= *deadline =>
            {
                let t = self.config.handshake_timeout;
                self.close_with(CloseReason::HandshakeTimeout(t), false);
            }
            Phase::Handshaking {
                next_retry, retry, ..
            } if now >= *next_retry => {
                *retry = (*retry * 2).min(self.config.handshake_retry_max);
                *next_retry = now + *retry;
                self.send_greeting();
            }
            Phase::Connected(s) if s.probe_deadline.is_some_and(|d| now >= d) => {
                // The peer did not answer the probe: its document is gone.
                self.end_session(now);
            }
            Phase::Connected(s) => {
                if let Some(hb) = self.config.heartbeat {
                    if now.saturating_sub(s.last_heard) >= hb.timeout {
                        self.close_with(CloseReason::HeartbeatTimeout(hb.timeout), false);
                    } else if s.next_ping.is_some_and(|p| now >= p) {
                        s.next_ping = Some(now + hb.interval);
                        self.queue(Message::Ping);
                    }
                }
            }
            _ => {}
        }
    }

    /// The next frame to send, if any. Session messages queued since the
    /// last call are coalesced into as few frames as the frame limit allows.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self
            .handshake_out
            .pop_front()
            .or_else(|| self.next_session_frame())?;
        self.stats.frames_out += 1;
        Some(t)
    }

    /// Coalesces queued session messages into one frame.
    fn next_session_frame(&mut self) -> Option<Transmit> {
        let Phase::Connected(session) = &self.phase else {
            return None;
        };
        if self.outbox.is_empty() {
            return None;
        }
        let budget = session
            .peer_max_frame
            .min(self.config.limits.max_frame_bytes)
            - HEADER_LEN
            - 16;
        let (id, version) = (session.id, session.version);
        let mut batch = Vec::new();
        let mut size = 0;
        while let Some(m) = self.outbox.front() {
            let len = message_size(m);
            if !batch.is_empty() && size + len > budget {
                break;
            }
            size += len;
            batch.extend(self.outbox.pop_front());
        }
        let frame = Envelope::session(version, id, batch);
        let bytes = frame.encode().ok()?;
        Some(Transmit {
            route: Route::Port,
            bytes,
            attach_port: false,
        })
    }

    /// The next delivery for the application, if any.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        let d = self.deliveries.pop_front()?;
        if matches!(d, Delivery::Rejected(_)) {
            self.queued_rejections -= 1;
        }
        Some(d)
    }

    // ---- internals ----

    fn session(&self) -> Option<&Session> {
        match &self.phase {
            Phase::Connected(s) | Phase::Welcomed { session: s, .. } => Some(s),
            _ => None,
        }
    }

    fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.phase {
            Phase::Connected(s) | Phase::Welcomed { session: s, .. } => Some(s),
            _ => None,
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        let state = self.state();
        self.deliver(Delivery::State(state));
    }

    fn start_handshake(&mut self, now: Duration) {
        let mut nonce = [0u8; 16];
        if self.config.role == Role::Host && self.entropy.fill(&mut nonce).is_err() {
            self.close_with(CloseReason::NoEntropy, false);
            return;
        }
        self.set_phase(Phase::Handshaking {
            nonce: Nonce(nonce),
            deadline: now + self.config.handshake_timeout,
            next_retry: now + self.config.handshake_retry,
            retry: self.config.handshake_retry,
        });
        self.send_greeting();
    }

    fn open_session(&mut self, now: Duration, mut session: Session) {
        self.epoch += 1;
        self.was_connected = true;
        session.last_heard = now;
        session.next_ping = self.config.heartbeat.map(|hb| now + hb.interval);
        self.set_phase(Phase::Connected(session));
    }

    /// The session is over but the connection is not: fail what waited on
    /// it, then start a new handshake.
    fn end_session(&mut self, now: Duration) {
        self.fail_all(CallError::Disconnected);
        self.start_handshake(now);
    }

    fn close_with(&mut self, reason: CloseReason, tell_peer: bool) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        if tell_peer && matches!(self.phase, Phase::Connected(_)) {
            // Flush what is queued, then the close, before the phase ends.
            let note = match &reason {
                CloseReason::Local(r) => r.clone(),
                other => other.to_string(),
            };
            self.outbox.push_back(Message::Close { reason: note });
            while let Some(t) = self.next_session_frame() {
                self.handshake_out.push_back(t);
            }
        }
        self.fail_all(CallError::Closed(reason.clone()));
        self.set_phase(Phase::Closed(reason));
    }

    fn fail_all(&mut self, error: CallError) {
        let mut ids: Vec<u64> = self.pending.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        self.deadlines.clear();
        for id in ids {
            self.deliver(Delivery::Reply {
                call: CallId(id),
                result: Err(error.clone()),
            });
        }
        let mut serving: Vec<u64> = self.serving.drain().collect();
        serving.sort_unstable();
        for id in serving {
            self.deliver(Delivery::Cancelled(RequestId {
                epoch: self.epoch,
                id,
            }));
        }
        self.outbox.clear();
    }

    /// Drops a call that will not be waited for: unsent, it leaves the
    /// queue; sent, the peer is told to stop.
    fn withdraw_call(&mut self, id: u64) {
        let queued = self
            .outbox
            .iter()
            .position(|m| matches!(m, Message::Call { id: i, .. } if *i == id));
        match queued {
            Some(i) => {
                self.outbox.remove(i);
            }
            None => {
                if matches!(self.phase, Phase::Connected(_)) {
                    self.queue(Message::Cancel { id });
                }
            }
        }
    }

    fn check_size(&self, len: usize) -> Result<(), CallError> {
        let max = self.config.limits.max_frame_bytes;
        let peer = self.session().map_or(max, |s| s.peer_max_frame).min(max);
        // Room for the header and the message's own fields.
        let limit = peer - HEADER_LEN - 106;
        if len > limit {
            return Err(CallError::PayloadTooLarge { len, max: limit });
        }
        Ok(())
    }

    fn check_queue(&self) -> Result<(), CallError> {
        if self.outbox.len() >= self.config.limits.max_queued_messages {
            return Err(CallError::QueueFull(self.outbox.len()));
        }
        Ok(())
    }

    fn queue(&mut self, message: Message) {
        self.outbox.push_back(message);
    }

    fn deliver(&mut self, delivery: Delivery) {
        self.deliveries.push_back(delivery);
    }

    fn reject(&mut self, reason: RejectReason, origin: Option<&str>) {
        self.stats.rejected += 1;
        *self.stats.rejected_by.entry(reason.label()).or_default() += 1;
        if self.queued_rejections >= self.config.limits.max_reported_rejections {
            self.stats.unreported += 1;
            return;
        }
        self.queued_rejections += 1;
        self.deliver(Delivery::Rejected(Rejection {
            reason,
            origin: origin.map(str::to_owned),
        }));
    }

    /// Where the first message goes: the known peer origin, or every exact
    /// allowlist entry.
    fn first_targets(&self) -> Vec<String> {
        let opaque = self.config.allowlist.allows_opaque_origins();
        match &self.config.peer_origin {
            Some(o) => vec![target_for(o)],
            None => {
                let mut t: Vec<String> = self
                    .config
                    .allowlist
                    .exact_origins()
                    .map(str::to_owned)
                    .collect();
                if t.is_empty() && opaque {
                    t.push(target_for(OPAQUE_ORIGIN));
                }
                t
            }
        }
    }

    fn send_greeting(&mut self) {
        match self.config.role {
            Role::Host if self.config.wait_for_knock => {}
            Role::Host => self.send_hello(None),
            Role::Guest => {
                let knock = Body::Knock {
                    versions: self.config.versions,
                };
                for target in self.first_targets() {
                    self.push_handshake(&target, knock.clone(), true);
                }
            }
        }
    }

    fn send_hello(&mut self, to: Option<&str>) {
        let Phase::Handshaking { nonce, .. } = self.phase else {
            return;
        };
        let hello = Body::Hello {
            versions: self.config.versions,
            nonce,
            max_frame_bytes: self.config.limits.max_frame_bytes as u32,
        };
        match to {
            Some(origin) => self.push_handshake(origin, hello, false),
            None => {
                for target in self.first_targets() {
                    self.push_handshake(&target, hello.clone(), true);
                }
            }
        }
    }

    fn send_welcome(&mut self, origin: &str, session: SessionId, nonce: Nonce, version: u16) {
        let welcome = Envelope {
            version,
            session,
            body: Body::Welcome {
                nonce,
                version,
                max_frame_bytes: self.config.limits.max_frame_bytes as u32,
            },
        };
        self.push_frame(
            Route::Window {
                target_origin: target_for(origin),
            },
            &welcome,
            false,
        );
    }

    /// Queues a handshake frame for `origin`; `is_target` says `origin` is
    /// already a targetOrigin rather than a verified `event.origin`.
    fn push_handshake(&mut self, origin: &str, body: Body, is_target: bool) {
        let target_origin = if is_target {
            origin.to_owned()
        } else {
            target_for(origin)
        };
        let frame = Envelope::handshake(self.config.versions.max, body);
        self.push_frame(Route::Window { target_origin }, &frame, false);
    }

    fn push_frame(&mut self, route: Route, frame: &Envelope, attach_port: bool) {
        // Our own frames always encode; if one ever did not, sending nothing
        // ends in a handshake or call timeout rather than a panic.
        if let Ok(bytes) = frame.encode() {
            self.handshake_out.push_back(Transmit {
                route,
                bytes,
                attach_port,
            });
        }
    }
}

/// The targetOrigin for a verified origin: itself, or `"*"` for an opaque
/// origin (only reachable when the allowlist opted in to opaque origins).
fn target_for(origin: &str) -> String {
    if origin == OPAQUE_ORIGIN {
        "*".to_owned()
    } else {
        origin.to_owned()
    }
}

/// An upper bound of a message's encoded size.
fn message_size(m: &Message) -> usize {
    16 + match m {
        Message::Call {
            method, payload, ..
        } => method.len() + payload.len() + 20,
        Message::Reply {
            outcome: Outcome::Ok(p),
            ..
        } => p.len() + 10,
        Message::Reply {
            outcome: Outcome::Err(e),
            ..
        } => e.message().len() + e.data().map_or(0, <[u8]>::len) + 20,
        Message::Event { topic, payload } => topic.len() + payload.len() + 10,
        Message::Close { reason } => reason.len() + 5,
        Message::Cancel { .. } | Message::Ping | Message::Pong => 10,
    }
}
