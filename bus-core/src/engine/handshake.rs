//! The handshake: knock, hello, welcome, ready, refuse.
//!
//! ```text
//! guest                                   host
//!   | -- Knock ------------------------->  |  "I (re)loaded, greet me"
//!   | <------------------ Hello(nonce) --  |
//!   | -- Welcome(nonce) [session id] --->  |  guest picks the 128-bit session id
//!   | <-------- Ready [session id] + port  |  host connected; guest on receipt
//! ```

use std::time::Duration;

use crate::envelope::{Body, Envelope, Nonce, Refusal, SessionId};
use crate::error::{CloseReason, SessionEnd};
use crate::origin::OPAQUE_ORIGIN;
use crate::version::Versions;

use super::Engine;
use super::session::{Greet, Phase, Retry, Session};
use super::types::{RejectReason, Role, Route, Transmit};

impl Engine {
    /// How a host greets when nothing says otherwise.
    pub(super) fn default_greet(&self) -> Greet {
        if self.config.wait_for_knock {
            Greet::OnKnock
        } else {
            Greet::Unprompted
        }
    }

    /// The deadline of a handshake starting at `now`: the first one is
    /// bounded by `handshake_timeout`, later ones by `reconnect_timeout`.
    /// A guest on a socket has none: it dials until the application closes,
    /// and each socket it opens gets `handshake_timeout` (see
    /// [`Engine::channel_opened`]).
    fn handshake_deadline(&self, now: Duration) -> Option<Duration> {
        #[cfg(feature = "sockets")]
        if self.socket_guest() {
            return None;
        }
        match self.last_end {
            None => Some(now.saturating_add(self.config.handshake_timeout)),
            Some(_) => self.config.reconnect_timeout.map(|d| now.saturating_add(d)),
        }
    }

    /// Why the connection closes when a handshake deadline passes.
    pub(super) fn handshake_expired(&self) -> CloseReason {
        match (self.last_end.is_some(), self.config.reconnect_timeout) {
            (true, Some(d)) => CloseReason::ReconnectTimeout(d),
            _ => CloseReason::HandshakeTimeout(self.config.handshake_timeout),
        }
    }

    pub(super) fn start_handshake(&mut self, now: Duration, greet: Greet) {
        let deadline = self.handshake_deadline(now);
        let retry = Retry {
            next: now.saturating_add(self.config.handshake_retry),
            delay: self.config.handshake_retry,
        };
        let phase = match self.config.role {
            Role::Host => {
                let mut nonce = [0u8; 16];
                if self.entropy.fill(&mut nonce).is_err() {
                    self.close_with(CloseReason::NoEntropy, false);
                    return;
                }
                Phase::Greeting {
                    nonce: Nonce(nonce),
                    greet,
                    deadline,
                    retry,
                }
            }
            Role::Guest => Phase::Knocking { deadline, retry },
        };
        self.set_phase(phase);
        self.send_greeting();
    }

    /// Runs the handshake's timers.
    pub(super) fn handshake_timers(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Greeting { deadline, .. }
            | Phase::Knocking { deadline, .. }
            | Phase::Welcomed { deadline, .. }
                if deadline.is_some_and(|d| now >= d) =>
            {
                #[cfg(feature = "sockets")]
                if self.socket_guest() {
                    self.socket_stalled(now);
                    return;
                }
                let reason = self.handshake_expired();
                self.close_with(reason, false);
            }
            Phase::Greeting { retry, .. } | Phase::Knocking { retry, .. } if now >= retry.next => {
                retry.delay = retry
                    .delay
                    .saturating_mul(2)
                    .min(self.config.handshake_retry_max);
                retry.next = now.saturating_add(retry.delay);
                self.send_greeting();
            }
            Phase::Welcomed {
                deadline, fallback, ..
            } if now >= *fallback => {
                // The host never readied our welcome: knock again.
                self.phase = Phase::Knocking {
                    deadline: *deadline,
                    retry: Retry {
                        next: now.saturating_add(self.config.handshake_retry),
                        delay: self.config.handshake_retry,
                    },
                };
                self.send_greeting();
            }
            _ => {}
        }
    }

    /// The next instant a handshake timer is due.
    pub(super) fn handshake_timeout(&self) -> Option<Duration> {
        let (deadline, other) = match &self.phase {
            Phase::Greeting {
                deadline, retry, ..
            }
            | Phase::Knocking { deadline, retry } => (*deadline, retry.next),
            Phase::Welcomed {
                deadline, fallback, ..
            } => (*deadline, *fallback),
            _ => return None,
        };
        Some(deadline.map_or(other, |d| d.min(other)))
    }

    pub(super) fn on_knock(&mut self, now: Duration, origin: &str) -> Result<(), RejectReason> {
        if self.config.role != Role::Host {
            return Err(RejectReason::Unexpected("knock at a guest"));
        }
        match &mut self.phase {
            Phase::Greeting { greet, .. } => {
                // The guest is up: greet it now instead of at the next retry.
                if *greet == Greet::OnKnock && !self.config.wait_for_knock {
                    *greet = Greet::Unprompted;
                }
                self.send_hello(Some(origin));
                Ok(())
            }
            Phase::Connected(_) => {
                // A knock from the peer window means a new document there.
                self.end_session(now, SessionEnd::PeerReloaded);
                if self.default_greet() == Greet::OnKnock {
                    self.send_hello(Some(origin));
                }
                Ok(())
            }
            Phase::Idle | Phase::Closed(_) | Phase::Knocking { .. } | Phase::Welcomed { .. } => {
                Err(RejectReason::Unexpected("knock while not connecting"))
            }
        }
    }

    pub(super) fn on_hello(
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
            Phase::Welcomed { session, .. } if session.hello == nonce => {
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
            let refuse = Body::Refuse {
                reason: Refusal::VersionMismatch { supported: ours },
            };
            self.push_handshake(&target_for(origin), refuse);
            self.close_with(
                CloseReason::VersionMismatch {
                    local: ours,
                    remote: versions,
                },
                false,
            );
            return Ok(());
        };
        if matches!(self.phase, Phase::Connected(_)) {
            // The host started over (it reloaded, or lost the session).
            self.end_session(now, SessionEnd::PeerRestarted);
        }
        let mut id = [0u8; 16];
        if self.entropy.fill(&mut id).is_err() {
            self.close_with(CloseReason::NoEntropy, false);
            return Ok(());
        }
        let deadline = match &self.phase {
            Phase::Knocking { deadline, .. } | Phase::Welcomed { deadline, .. } => *deadline,
            _ => self.handshake_deadline(now),
        };
        let session = self.new_session(
            now,
            SessionId::from_bytes(id),
            nonce,
            origin,
            version,
            peer_max,
        );
        self.send_welcome(origin, session.id, nonce, version);
        self.phase = Phase::Welcomed {
            session,
            deadline,
            fallback: now.saturating_add(self.config.handshake_timeout),
        };
        Ok(())
    }

    pub(super) fn on_welcome(
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
            Phase::Greeting { nonce: n, .. } => *n,
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
        let picked = Versions {
            min: version,
            max: version,
        };
        if self.config.versions.negotiate(picked).is_none() {
            return Err(RejectReason::WrongVersion(version));
        }
        let session = self.new_session(now, session_id, nonce, origin, version, peer_max);
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

    pub(super) fn on_refuse(&mut self, reason: Refusal) -> Result<(), RejectReason> {
        let handshaking = matches!(
            self.phase,
            Phase::Greeting { .. } | Phase::Knocking { .. } | Phase::Welcomed { .. }
        );
        let Refusal::VersionMismatch { supported } = reason;
        if !handshaking {
            return Err(RejectReason::Unexpected("refuse outside a handshake"));
        }
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

    pub(super) fn on_ready(
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

    /// A session with `origin`, answering hello `nonce`; the peer's frame
    /// limit is clamped to ours.
    fn new_session(
        &self,
        now: Duration,
        id: SessionId,
        nonce: Nonce,
        origin: &str,
        version: u16,
        peer_max: u32,
    ) -> Session {
        Session {
            id,
            hello: nonce,
            origin: origin.to_owned(),
            version,
            peer_max_frame: (peer_max as usize).clamp(256, self.config.limits.max_frame_bytes),
            last_heard: now,
            next_ping: None,
            probe_deadline: None,
        }
    }

    pub(super) fn open_session(&mut self, now: Duration, mut session: Session) {
        self.epoch += 1;
        session.last_heard = now;
        session.next_ping = self
            .config
            .heartbeat
            .map(|hb| now.saturating_add(hb.interval));
        self.set_phase(Phase::Connected(session));
    }

    /// Where the first message goes: the known peer origin, or every exact
    /// allowlist entry.
    pub(super) fn first_targets(&self) -> Vec<String> {
        match &self.config.peer_origin {
            Some(o) => vec![target_for(o)],
            None => {
                let mut t: Vec<String> = self
                    .config
                    .allowlist
                    .exact_origins()
                    .map(str::to_owned)
                    .collect();
                if t.is_empty() && self.config.allowlist.allows_opaque_origins() {
                    t.push(target_for(OPAQUE_ORIGIN));
                }
                t
            }
        }
    }

    fn send_greeting(&mut self) {
        match (&self.phase, self.config.role) {
            (
                Phase::Greeting {
                    greet: Greet::Unprompted,
                    ..
                },
                _,
            ) => self.send_hello(None),
            (Phase::Knocking { .. }, Role::Guest) => {
                // Built per target rather than cloned: `Body::clone` would
                // bring the clone of every message kind into the wasm.
                let versions = self.config.versions;
                for target in self.first_targets() {
                    self.push_handshake(&target, Body::Knock { versions });
                }
            }
            _ => {}
        }
    }

    /// Greets `to` (a verified origin), or every first target.
    fn send_hello(&mut self, to: Option<&str>) {
        let Phase::Greeting { nonce, .. } = self.phase else {
            return;
        };
        let versions = self.config.versions;
        let max_frame_bytes = self.config.limits.max_frame_bytes as u32;
        let targets = match to {
            Some(origin) => vec![target_for(origin)],
            None => self.first_targets(),
        };
        for target in targets {
            let hello = Body::Hello {
                versions,
                nonce,
                max_frame_bytes,
            };
            self.push_handshake(&target, hello);
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
        let route = Route::Window {
            target_origin: target_for(origin),
        };
        self.push_frame(route, &welcome, false);
    }

    /// Queues a handshake frame for `target_origin`.
    fn push_handshake(&mut self, target_origin: &str, body: Body) {
        let frame = Envelope::handshake(self.config.versions.max, body);
        let route = Route::Window {
            target_origin: target_origin.to_owned(),
        };
        self.push_frame(route, &frame, false);
    }

    pub(super) fn push_frame(&mut self, route: Route, frame: &Envelope, attach_port: bool) {
        // On a socket every frame goes the one way there is, with no port.
        #[cfg(feature = "sockets")]
        let (route, attach_port) = if self.on_socket() {
            (Route::Socket, false)
        } else {
            (route, attach_port)
        };
        // Our own frames always encode; if one ever did not, sending nothing
        // ends in a handshake or call timeout rather than a panic.
        if let Ok(bytes) = frame.encode() {
            self.handshake_out.push_back(Transmit {
                route,
                bytes,
                attach_port,
                attachments: Vec::new(),
            });
        }
    }
}

/// The targetOrigin for a verified origin: itself, or `"*"` for an opaque
/// origin (only reachable when the allowlist opted in to opaque origins).
/// Every window post the engine asks for goes through here.
pub(super) fn target_for(origin: &str) -> String {
    if origin == OPAQUE_ORIGIN {
        "*".to_owned()
    } else {
        origin.to_owned()
    }
}
