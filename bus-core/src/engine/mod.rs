//! The protocol engine: a sans-IO state machine.
//!
//! Inputs are received frames with the channel they came from ([`Channel`]),
//! the application's calls, replies and events, and the current time.
//! Outputs are frames to send ([`Engine::poll_transmit`]), deliveries for the
//! application ([`Engine::poll_delivery`]), the next instant the engine needs
//! a [`Engine::handle_timeout`] ([`Engine::poll_timeout`]), and, per frame,
//! whether to adopt the port that came with it ([`Received`]). No timers,
//! sockets or browser inside: a binding moves the bytes,
//! [`crate::MemoryPair`] wires two engines back to back in tests.
//!
//! Every decision is made here, in this order, before a frame is read:
//! the sender window ([`SourceId::PEER`]), the frame's length, and the origin
//! (a host talks only to the origin it embedded; otherwise the allowlist).
//! Only then are the bytes read ([`FrameSource::bytes`]) and decoded, and
//! only a decoded frame changes state. A frame's attachments
//! ([`crate::attach`]) are counted before they are looked at, their bytes
//! count against the frame limit, and they must all belong to its messages. The session is bound to that origin,
//! the peer window and a 128-bit id; after the handshake, session traffic is
//! accepted only on the private port.
//!
//! A session ends without closing the connection when the peer reloads,
//! navigates away, falls silent or stops answering heartbeats: pending calls
//! fail with [`CallError::Disconnected`], served calls are cancelled, and the
//! engine waits for the peer to come back ([`State::Reconnecting`]) for as
//! long as [`Config::reconnect_timeout`] allows (unlimited by default).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bus_core::{Allowlist, Config, Engine, Role, SystemEntropy};
//!
//! let allow = Allowlist::new(["https://widget.example"])?;
//! let mut host = Engine::new(Config::new(Role::Host, allow), SystemEntropy)?;
//! host.connect(Duration::ZERO);
//! let hello = host.poll_transmit().ok_or("the host greets first")?;
//! assert_eq!(hello.target_origin(), Some("https://widget.example"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod calls;
mod config;
mod handshake;
mod outbox;
mod session;
mod types;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::{Config, ConfigError, Heartbeat, Limits, Link, MAX_DURATION, SOCKETS};
pub use types::{
    CallId, Channel, Delivery, FrameSource, Received, RejectReason, Rejection, RequestId, Role,
    Route, SourceId, State, Stats, Transmit, WithAttachments,
};

use crate::attach::{self, Attachment, MAX_ATTACHMENTS_PER_FRAME, encode_parts};
use crate::entropy::EngineEntropy;
use crate::envelope::{Body, DecodeError, Envelope, Message, Outcome, has_namespace};
use crate::error::{CallError, CloseReason, RemoteError, SessionEnd};
use crate::typed::{Method, Topic};
use calls::{Pending, Serving};
use outbox::{Outbox, attachment_bytes, payload_limit};
#[cfg(feature = "sockets")]
use session::Retry;
use session::{Phase, Session};

/// Handshake frames are a few dozen bytes. A frame of ours from the peer
/// window at an origin we do not talk to is decoded (to prove the peer
/// navigated) only if it is at most this long.
const HANDSHAKE_FRAME_MAX: usize = 128;

/// The protocol engine. See the [module docs](self).
pub struct Engine {
    config: Config,
    entropy: Box<dyn EngineEntropy>,
    phase: Phase,
    /// Why the last session ended; `None` until one has (Connecting vs Reconnecting).
    last_end: Option<SessionEnd>,
    /// Bumped per session, so stale [`RequestId`]s cannot answer a new session.
    epoch: u64,
    next_call: u64,
    pending: Pending,
    serving: Serving,
    outbox: Outbox,
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
    /// Checks `config` and creates an idle engine. A refused configuration
    /// says what to write instead.
    pub fn new(config: Config, entropy: impl EngineEntropy) -> Result<Engine, ConfigError> {
        config.validate()?;
        let engine = Engine {
            config,
            entropy: Box::new(entropy),
            phase: Phase::Idle,
            last_end: None,
            epoch: 0,
            next_call: 1,
            pending: Pending::default(),
            serving: Serving::default(),
            outbox: Outbox::default(),
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
            Phase::Greeting { .. } | Phase::Knocking { .. } | Phase::Welcomed { .. } => {
                match &self.last_end {
                    None => State::Connecting,
                    Some(why) => State::Reconnecting(why.clone()),
                }
            }
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

    /// Messages queued for the peer and not yet in a frame.
    pub fn queued_messages(&self) -> usize {
        self.outbox.len()
    }

    /// Incoming calls being served (not answered, cancelled or expired).
    pub fn serving_calls(&self) -> usize {
        self.serving.len()
    }

    /// Starts the handshake. Does nothing unless idle.
    pub fn connect(&mut self, now: Duration) {
        if matches!(self.phase, Phase::Idle) {
            let greet = self.default_greet();
            self.start_handshake(now, greet);
        }
    }

    /// Counts a message that is not ours (not bytes, or another library's).
    pub fn record_foreign(&mut self) {
        self.stats.frames_in += 1;
        self.stats.foreign += 1;
    }

    /// Feeds one received frame. The engine checks who sent it before it
    /// reads past the header, and decodes it before acting on it. The
    /// result says whether to keep a port that came with it.
    pub fn handle_frame<F: FrameSource + ?Sized>(
        &mut self,
        now: Duration,
        channel: Channel<'_>,
        frame: &F,
    ) -> Received {
        self.stats.frames_in += 1;
        if !frame.header().is_some_and(|h| has_namespace(&h)) {
            self.stats.foreign += 1;
            return Received::default();
        }
        let origin = match channel {
            Channel::Window { origin, .. } => Some(origin),
            #[cfg(feature = "sockets")]
            Channel::Socket { origin } => Some(origin),
            Channel::Port => None,
        };
        let result = self
            .admit(now, channel, frame)
            .and_then(|(envelope, attachments)| self.dispatch(now, channel, envelope, attachments));
        result.unwrap_or_else(|reason| {
            self.reject(reason, origin);
            Received::default()
        })
    }

    /// Checks the sender and the size (attachments included), then reads
    /// and decodes the frame.
    fn admit<F: FrameSource + ?Sized>(
        &mut self,
        now: Duration,
        channel: Channel<'_>,
        frame: &F,
    ) -> Result<(Envelope, Vec<Attachment>), RejectReason> {
        #[cfg(feature = "sockets")]
        let on_socket = self.on_socket();
        match channel {
            #[cfg(feature = "sockets")]
            Channel::Socket { .. } if !on_socket => {
                return Err(RejectReason::Unexpected(
                    "socket frame at a window connection",
                ));
            }
            #[cfg(feature = "sockets")]
            Channel::Socket { origin } if !self.talks_to(origin) => {
                return Err(RejectReason::DisallowedOrigin);
            }
            #[cfg(feature = "sockets")]
            Channel::Socket { .. } => {}
            #[cfg(feature = "sockets")]
            _ if on_socket => {
                return Err(RejectReason::Unexpected(
                    "window frame at a socket connection",
                ));
            }
            Channel::Port if !matches!(self.phase, Phase::Connected(_)) => {
                return Err(RejectReason::Unexpected("port frame without a session"));
            }
            Channel::Port => {}
            Channel::Window { source, .. } if source != SourceId::PEER => {
                return Err(RejectReason::WrongSource);
            }
            Channel::Window { origin, .. } if !self.talks_to(origin) => {
                self.notice_navigation(now, origin, frame);
                return Err(RejectReason::DisallowedOrigin);
            }
            Channel::Window { .. } => {}
        }
        let max = self.config.limits.max_frame_bytes;
        if frame.len() > max {
            return Err(RejectReason::TooLarge { len: frame.len() });
        }
        let attachments = match frame.attachment_count() {
            0 => Vec::new(),
            n if n > MAX_ATTACHMENTS_PER_FRAME => {
                return Err(RejectReason::BadAttachments(if attach::ENABLED {
                    "more than a frame may carry"
                } else {
                    "this bus is built without the attachments feature"
                }));
            }
            _ => frame
                .attachments()
                .ok_or(RejectReason::BadAttachments("not byte buffers"))?,
        };
        let len = frame.len().saturating_add(attachment_bytes(&attachments));
        if len > max {
            return Err(RejectReason::TooLarge { len });
        }
        Ok((decode(&frame.bytes(), max)?, attachments))
    }

    /// Whether this connection handshakes with `origin`: a host that knows
    /// its peer's origin talks to that origin only; otherwise the allowlist
    /// decides.
    fn talks_to(&self, origin: &str) -> bool {
        match (&self.config.role, &self.config.peer_origin) {
            (Role::Host, Some(peer)) => peer == origin,
            _ => self.config.allowlist.allows(origin),
        }
    }

    /// A handshake frame of ours from the peer window, at an origin we do not
    /// talk to, proves the peer window now shows another document: the
    /// session is over. Garbage proves nothing, so the frame must decode.
    fn notice_navigation<F: FrameSource + ?Sized>(
        &mut self,
        now: Duration,
        origin: &str,
        frame: &F,
    ) {
        let in_session = matches!(self.phase, Phase::Connected(_) | Phase::Welcomed { .. });
        if !in_session || frame.len() > HANDSHAKE_FRAME_MAX {
            return;
        }
        let handshake = decode(&frame.bytes(), HANDSHAKE_FRAME_MAX)
            .is_ok_and(|e| !matches!(e.body, Body::Messages(_)));
        if handshake {
            self.end_session(now, SessionEnd::PeerNavigated(origin.to_owned()));
        }
    }

    /// A frame on the session's own channel (the port, or the socket).
    fn session_frame(
        &mut self,
        now: Duration,
        envelope: Envelope,
        attachments: Vec<Attachment>,
    ) -> Result<Received, RejectReason> {
        match envelope.body {
            Body::Messages(messages) => self
                .on_messages(
                    now,
                    envelope.session,
                    envelope.version,
                    messages,
                    attachments,
                )
                .map(|()| Received::default()),
            _ => Err(RejectReason::Unexpected("handshake frame on the port")),
        }
    }

    fn dispatch(
        &mut self,
        now: Duration,
        channel: Channel<'_>,
        envelope: Envelope,
        attachments: Vec<Attachment>,
    ) -> Result<Received, RejectReason> {
        let (origin, with_port) = match channel {
            Channel::Window {
                origin, with_port, ..
            } => (origin, with_port),
            // The socket is the session's own channel: session traffic
            // arrives where the handshake did, and a ready needs no port.
            #[cfg(feature = "sockets")]
            Channel::Socket { origin } if !matches!(envelope.body, Body::Messages(_)) => {
                (origin, true)
            }
            #[cfg(feature = "sockets")]
            Channel::Socket { .. } => return self.session_frame(now, envelope, attachments),
            Channel::Port => return self.session_frame(now, envelope, attachments),
        };
        if !attachments.is_empty() {
            return Err(RejectReason::BadAttachments("on a window frame"));
        }
        match envelope.body {
            Body::Knock { .. } => self.on_knock(now, origin)?,
            Body::Hello {
                versions,
                nonce,
                max_frame_bytes,
            } => self.on_hello(now, origin, versions, nonce, max_frame_bytes)?,
            Body::Welcome {
                nonce,
                version,
                max_frame_bytes,
            } => self.on_welcome(
                now,
                origin,
                envelope.session,
                nonce,
                version,
                max_frame_bytes,
            )?,
            Body::Refuse { reason } => self.on_refuse(reason)?,
            Body::Ready if !with_port => {
                return Err(RejectReason::Unexpected("ready without the private port"));
            }
            Body::Ready => {
                self.on_ready(now, origin, envelope.session)?;
                let adopt_port = matches!(channel, Channel::Window { .. });
                return Ok(Received { adopt_port });
            }
            Body::Messages(_) => {
                return Err(RejectReason::Unexpected(
                    "session traffic on the window; it belongs on the private port",
                ));
            }
        }
        Ok(Received::default())
    }

    /// Calls `method` on the peer with an encoded request. The reply arrives
    /// as [`Delivery::Reply`]. Calls made before the connection is up wait
    /// for it (bounded by [`Limits::max_queued_messages`]). The deadline
    /// travels with the call, and the peer stops serving it once it passes.
    pub fn call(
        &mut self,
        now: Duration,
        method: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        self.call_with(now, method, payload, Vec::new(), timeout)
    }

    /// [`Engine::call`] with attachments, which the payload names by index
    /// (see [`crate::attach`]).
    pub fn call_with(
        &mut self,
        now: Duration,
        method: &str,
        payload: Vec<u8>,
        attachments: Vec<Attachment>,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        if let Phase::Closed(r) = &self.phase {
            return Err(CallError::Closed(r.clone()));
        }
        if self.pending.len() >= self.config.limits.max_pending_calls {
            return Err(CallError::TooManyPending(self.pending.len()));
        }
        self.check_attachments(&attachments)?;
        self.check_size(method.len() + payload.len() + attachment_bytes(&attachments))?;
        self.check_queue()?;
        let id = self.next_call;
        self.next_call += 1;
        let timeout = timeout.unwrap_or(self.config.call_timeout);
        self.pending
            .insert(id, Some(now.saturating_add(timeout)), timeout);
        let timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        self.outbox.push_with(
            Message::Call {
                id,
                method: method.to_owned(),
                payload,
                timeout_ms,
            },
            attachments,
        );
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
        let (payload, attachments) = encode_parts(request)?;
        self.call_with(now, method.name(), payload, attachments, timeout)
    }

    /// Stops waiting for `call`: it gets no [`Delivery::Reply`], and the peer
    /// is told. Returns false if the call had already finished.
    pub fn cancel(&mut self, call: CallId) -> bool {
        if self.pending.remove(call.0).is_none() {
            return false;
        }
        self.withdraw_call(call.0);
        true
    }

    /// Answers a [`Delivery::Request`]. Returns false (and sends nothing) if
    /// the request was cancelled, expired, or its session has ended.
    pub fn reply(&mut self, request: RequestId, result: Result<Vec<u8>, RemoteError>) -> bool {
        self.reply_with(request, result.map(|bytes| (bytes, Vec::new())))
    }

    /// [`Engine::reply`] with attachments, which the response names by
    /// index (see [`crate::attach`]). A response that cannot be sent (too
    /// large, too many attachments) becomes an `INTERNAL` error for the
    /// caller.
    pub fn reply_with(
        &mut self,
        request: RequestId,
        result: Result<(Vec<u8>, Vec<Attachment>), RemoteError>,
    ) -> bool {
        if request.epoch != self.epoch || self.serving.remove(request.id).is_none() {
            return false;
        }
        let checked = match &result {
            Ok((bytes, attachments)) => self
                .check_attachments(attachments)
                .and_then(|()| self.check_size(bytes.len() + attachment_bytes(attachments))),
            Err(e) => self.check_size(e.message().len() + e.data().map_or(0, <[u8]>::len)),
        };
        let (outcome, attachments) = match (checked, result) {
            (Ok(()), Ok((bytes, attachments))) => (Outcome::Ok(bytes), attachments),
            (Ok(()), Err(e)) => (Outcome::Err(e), Vec::new()),
            (Err(e), _) => (
                Outcome::Err(RemoteError::new(RemoteError::INTERNAL, unsendable(&e))),
                Vec::new(),
            ),
        };
        self.outbox.push_with(
            Message::Reply {
                id: request.id,
                outcome,
            },
            attachments,
        );
        true
    }

    /// Emits an event on `topic`.
    pub fn emit(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), CallError> {
        self.emit_with(topic, payload, Vec::new())
    }

    /// [`Engine::emit`] with attachments, which the payload names by index
    /// (see [`crate::attach`]).
    pub fn emit_with(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        attachments: Vec<Attachment>,
    ) -> Result<(), CallError> {
        if let Phase::Closed(r) = &self.phase {
            return Err(CallError::Closed(r.clone()));
        }
        self.check_attachments(&attachments)?;
        self.check_size(topic.len() + payload.len() + attachment_bytes(&attachments))?;
        self.check_queue()?;
        self.outbox.push_with(
            Message::Event {
                topic: topic.to_owned(),
                payload,
            },
            attachments,
        );
        Ok(())
    }

    /// Typed [`Engine::emit`].
    pub fn emit_topic<T: Serialize + DeserializeOwned>(
        &mut self,
        topic: &Topic<T>,
        payload: &T,
    ) -> Result<(), CallError> {
        let (bytes, attachments) = encode_parts(payload)?;
        self.emit_with(topic.name(), bytes, attachments)
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
        let deadline = now.saturating_add(self.config.probe_timeout);
        if let Phase::Connected(s) = &mut self.phase
            && s.probe_deadline.is_none()
        {
            s.probe_deadline = Some(deadline);
            self.outbox.ping();
        }
    }

    /// The binding saw the peer window go away for good (popup closed,
    /// iframe removed from the document).
    pub fn peer_gone(&mut self) {
        self.close_with(CloseReason::PeerGone, false);
    }

    /// When [`Engine::handle_timeout`] must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let session = match &self.phase {
            Phase::Connected(s) => {
                let heartbeat = match (self.config.heartbeat, s.next_ping) {
                    (Some(hb), Some(ping)) => {
                        Some(ping.min(s.last_heard.saturating_add(hb.timeout)))
                    }
                    _ => None,
                };
                earliest(heartbeat, s.probe_deadline)
            }
            _ => self.handshake_timeout(),
        };
        let calls = earliest(self.pending.next_deadline(), self.serving.next_deadline());
        earliest(calls, session)
    }

    /// Runs timers due at `now`: call deadlines (ours and the peer's),
    /// handshake retries and timeouts, probes, heartbeats.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some((id, timeout)) = self.pending.pop_expired(now) {
            self.withdraw_call(id);
            self.deliver(Delivery::Reply {
                call: CallId(id),
                result: Err(CallError::Timeout(timeout)),
                attachments: Vec::new(),
            });
        }
        while let Some((id, ())) = self.serving.pop_expired(now) {
            self.deliver(Delivery::Cancelled(RequestId {
                epoch: self.epoch,
                id,
            }));
        }
        let Phase::Connected(s) = &mut self.phase else {
            self.handshake_timers(now);
            return;
        };
        if s.probe_deadline.is_some_and(|d| now >= d) {
            // The peer did not answer the probe: its document is gone.
            self.end_session(now, SessionEnd::PeerSilent);
            return;
        }
        let Some(hb) = self.config.heartbeat else {
            return;
        };
        if now.saturating_sub(s.last_heard) >= hb.timeout {
            self.end_session(now, SessionEnd::HeartbeatTimeout(hb.timeout));
        } else if s.next_ping.is_some_and(|p| now >= p) {
            s.next_ping = Some(now.saturating_add(hb.interval));
            self.outbox.ping();
        }
    }

    /// The next frame to send, if any. Session messages queued since the
    /// last call are coalesced into as few frames as the limits allow, a
    /// frame taking no more once it holds 256 KiB (attachments included).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self
            .handshake_out
            .pop_front()
            .or_else(|| self.next_session_frame())?;
        self.stats.frames_out += 1;
        Some(t)
    }

    fn next_session_frame(&mut self) -> Option<Transmit> {
        let Phase::Connected(session) = &self.phase else {
            return None;
        };
        let max = session
            .peer_max_frame
            .min(self.config.limits.max_frame_bytes);
        let (bytes, attachments) = self.outbox.next_frame(session.version, session.id, max)?;
        Some(Transmit {
            route: self.session_route(),
            bytes,
            attach_port: false,
            attachments,
        })
    }

    /// The next delivery for the application, if any.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        let d = self.deliveries.pop_front()?;
        if matches!(d, Delivery::Rejected(_)) {
            self.queued_rejections = self.queued_rejections.saturating_sub(1);
        }
        Some(d)
    }

    /// The binding opened the connection's socket ([`Link::Socket`]): a
    /// guest knocks on it at once rather than at its next retry, and gives
    /// the handshake on this socket `handshake_timeout` to finish (past it,
    /// [`SessionEnd::SocketStalled`]: the binding drops the socket and dials
    /// again).
    #[cfg(feature = "sockets")]
    pub fn channel_opened(&mut self, now: Duration) {
        let timeout = self.config.handshake_timeout;
        if self.on_socket()
            && let Phase::Knocking { retry, deadline } = &mut self.phase
        {
            retry.next = now;
            *deadline = Some(now.saturating_add(timeout));
            self.handshake_timers(now);
        }
    }

    /// The connection's socket closed ([`Link::Socket`]). A session on it is
    /// over ([`SessionEnd::ChannelLost`]): pending calls fail with
    /// [`CallError::Disconnected`], served ones are cancelled, and the
    /// engine handshakes anew once the binding opens another socket and
    /// calls [`Engine::channel_opened`].
    #[cfg(feature = "sockets")]
    pub fn channel_lost(&mut self, now: Duration) {
        if !self.on_socket() {
            return;
        }
        match &self.phase {
            Phase::Connected(_) => self.end_session(now, SessionEnd::ChannelLost),
            // Welcomed or knocking on the old socket: knock again on the
            // next one, which sets its own deadline.
            Phase::Welcomed { .. } | Phase::Knocking { .. } if self.socket_guest() => {
                self.phase = Phase::Knocking {
                    deadline: None,
                    retry: Retry {
                        next: now.saturating_add(self.config.handshake_retry),
                        delay: self.config.handshake_retry,
                    },
                };
            }
            _ => {}
        }
    }

    /// A guest on a socket: it dials, and redials, until closed.
    #[cfg(feature = "sockets")]
    fn socket_guest(&self) -> bool {
        self.on_socket() && self.config.role == Role::Guest
    }

    /// The handshake on the open socket did not finish in time: wait for the
    /// binding to drop it and open another.
    #[cfg(feature = "sockets")]
    fn socket_stalled(&mut self, now: Duration) {
        self.last_end = Some(SessionEnd::SocketStalled(self.config.handshake_timeout));
        self.set_phase(Phase::Knocking {
            deadline: None,
            retry: Retry {
                next: now.saturating_add(self.config.handshake_retry),
                delay: self.config.handshake_retry,
            },
        });
    }

    // ---- internals ----

    #[cfg(feature = "sockets")]
    fn on_socket(&self) -> bool {
        self.config.link == Link::Socket
    }

    /// Where session frames go: the port, or the socket.
    fn session_route(&self) -> Route {
        #[cfg(feature = "sockets")]
        if self.on_socket() {
            return Route::Socket;
        }
        Route::Port
    }

    fn session(&self) -> Option<&Session> {
        match &self.phase {
            Phase::Connected(s) | Phase::Welcomed { session: s, .. } => Some(s),
            _ => None,
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        let state = self.state();
        self.deliver(Delivery::State(state));
    }

    fn close_with(&mut self, reason: CloseReason, tell_peer: bool) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        // Only the application's own close is told (every other reason is
        // the peer's doing or happens before a session exists), with its
        // words: no `Display` of the reason needed in the wasm.
        if tell_peer
            && matches!(self.phase, Phase::Connected(_))
            && let CloseReason::Local(note) = &reason
        {
            // Flush what is queued, then the close, before the phase ends.
            self.outbox.push(Message::Close {
                reason: note.clone(),
            });
            while let Some(t) = self.next_session_frame() {
                self.handshake_out.push_back(t);
            }
        }
        self.fail_all(CallError::Closed(reason.clone()));
        self.set_phase(Phase::Closed(reason));
    }

    fn check_size(&self, len: usize) -> Result<(), CallError> {
        let max = self.config.limits.max_frame_bytes;
        let peer = self.session().map_or(max, |s| s.peer_max_frame).min(max);
        let limit = payload_limit(peer);
        if len > limit {
            return Err(CallError::PayloadTooLarge { len, max: limit });
        }
        Ok(())
    }

    fn check_attachments(&self, attachments: &[Attachment]) -> Result<(), CallError> {
        if attachments.len() > MAX_ATTACHMENTS_PER_FRAME {
            return Err(CallError::TooManyAttachments(attachments.len()));
        }
        Ok(())
    }

    fn check_queue(&self) -> Result<(), CallError> {
        if self.outbox.len() >= self.config.limits.max_queued_messages {
            return Err(CallError::QueueFull(self.outbox.len()));
        }
        Ok(())
    }

    fn deliver(&mut self, delivery: Delivery) {
        self.deliveries.push_back(delivery);
    }

    fn reject(&mut self, reason: RejectReason, origin: Option<&str>) {
        self.stats.rejected += 1;
        *self
            .stats
            .rejected_by
            .get_or_insert_with(reason.label(), || 0) += 1;
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
}

/// Why a handler's answer could not be sent, for the caller. (Not
/// `CallError`'s `Display`: this is its only use in a guest's wasm, and the
/// numbers are the callee's to log.)
fn unsendable(e: &CallError) -> &'static str {
    match e {
        CallError::TooManyAttachments(_) => {
            "the response holds more attachments than a frame may carry"
        }
        _ => "the response is larger than a frame may be (Limits::max_frame_bytes)",
    }
}

/// Decodes a frame of at most `max` bytes into a rejection reason on failure.
fn decode(bytes: &[u8], max: usize) -> Result<Envelope, RejectReason> {
    Envelope::decode_limited(bytes, max).map_err(|e| match e {
        DecodeError::TooLarge { len, .. } => RejectReason::TooLarge { len },
        DecodeError::TooManyMessages { count } => RejectReason::TooManyMessages { count },
        other => RejectReason::Malformed(other),
    })
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
