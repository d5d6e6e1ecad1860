//! Engine settings, their defaults and their validation.

use std::fmt;
use std::time::Duration;

use crate::envelope::DEFAULT_MAX_FRAME_BYTES;
use crate::origin::Allowlist;
use crate::version::Versions;

use super::Role;

/// The longest any timeout or interval may be: longer ones are almost
/// certainly a unit mistake (seconds written as milliseconds).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether this build carries frames over sockets (`Link::Socket`): the
/// `sockets` feature. Off, the socket variants (`Link::Socket`,
/// `Channel::Socket`, `Route::Socket`, `SessionEnd::ChannelLost`) and every
/// branch that handles them are compiled out: a window-only bus (the browser
/// build) carries none of their code.
pub const SOCKETS: bool = cfg!(feature = "sockets");

/// What carries the connection's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    /// A peer window for the handshake, then a private `MessagePort`
    /// ([`crate::Channel::Window`], then [`crate::Channel::Port`]).
    #[default]
    Windows,
    /// One ordered stream to one peer, such as a WebSocket: the handshake
    /// and the session travel on it ([`crate::Channel::Socket`],
    /// [`crate::Route::Socket`]). A socket carries at most one session.
    #[cfg(feature = "sockets")]
    Socket,
}

/// Heartbeat settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often to ping.
    pub interval: Duration,
    /// End the session when nothing was heard from the peer for this long.
    pub timeout: Duration,
}

/// Bounds on everything that input can make grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted or sent (both sides' minimum is used).
    pub max_frame_bytes: usize,
    /// Calls waiting for a reply.
    pub max_pending_calls: usize,
    /// Messages waiting to be sent: what the application queues while the
    /// connection is not up, and everything the engine queues in answer to
    /// the peer (replies, `OVERLOADED` answers, cancels).
    pub max_queued_messages: usize,
    /// Calls from the peer being served at once; more are answered
    /// `OVERLOADED`. The binding runs one handler per served call, so this
    /// bounds live handlers.
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

/// Engine settings: the one place defaults live. Start from [`Config::new`]
/// and adjust fields; [`crate::Engine::new`] checks them.
///
/// ```
/// use std::time::Duration;
/// use bus_core::{Allowlist, Config, Role};
///
/// let mut config = Config::new(Role::Host, Allowlist::new(["https://pay.example"])?)
///     .with_peer_origin("https://pay.example");
/// config.call_timeout = Duration::from_secs(5);
/// config.reconnect_timeout = Some(Duration::from_secs(60));
/// # Ok::<(), bus_core::OriginError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Host or guest.
    pub role: Role,
    /// Who may talk to us. Must not be empty.
    pub allowlist: Allowlist,
    /// The peer's origin when known. A host (which knows its iframe's or
    /// popup's URL) handshakes with this origin only, even if the allowlist
    /// allows more; a guest knocks here first.
    pub peer_origin: Option<String>,
    /// Protocol versions this side speaks.
    pub versions: Versions,
    /// Give up the *first* handshake after this long. Once a session has
    /// existed, [`Config::reconnect_timeout`] applies instead.
    pub handshake_timeout: Duration,
    /// After a session ends, give up if no new one begins within this long.
    /// `None` (the default): keep waiting as long as the peer window exists.
    pub reconnect_timeout: Option<Duration>,
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
    /// How long [`crate::Engine::verify_peer`] waits for any sign of life.
    pub probe_timeout: Duration,
    /// Optional liveness check.
    pub heartbeat: Option<Heartbeat>,
    /// Bounds.
    pub limits: Limits,
    /// Windows (the default) or a socket.
    pub link: Link,
}

impl Config {
    /// Safe defaults: 10 s first handshake, unlimited reconnect, 30 s calls,
    /// no heartbeat, default limits.
    pub fn new(role: Role, allowlist: Allowlist) -> Config {
        Config {
            role,
            allowlist,
            peer_origin: None,
            versions: Versions::CURRENT,
            handshake_timeout: Duration::from_secs(10),
            reconnect_timeout: None,
            handshake_retry: Duration::from_millis(50),
            handshake_retry_max: Duration::from_secs(1),
            wait_for_knock: false,
            call_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(1),
            heartbeat: None,
            limits: Limits::default(),
            link: Link::Windows,
        }
    }

    /// Sets [`Config::peer_origin`].
    pub fn with_peer_origin(mut self, origin: impl Into<String>) -> Config {
        self.peer_origin = Some(origin.into());
        self
    }

    /// Checks everything but the targets (which need the engine).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.allowlist.is_empty() {
            return Err(ConfigError::EmptyAllowlist);
        }
        if let Some(o) = &self.peer_origin
            && !self.allowlist.allows(o)
        {
            return Err(ConfigError::PeerOriginNotAllowed(o.clone()));
        }
        let durations = [
            ("handshake_timeout", Some(self.handshake_timeout)),
            ("reconnect_timeout", self.reconnect_timeout),
            ("handshake_retry", Some(self.handshake_retry)),
            ("handshake_retry_max", Some(self.handshake_retry_max)),
            ("call_timeout", Some(self.call_timeout)),
            ("probe_timeout", Some(self.probe_timeout)),
            ("heartbeat.interval", self.heartbeat.map(|h| h.interval)),
            ("heartbeat.timeout", self.heartbeat.map(|h| h.timeout)),
        ];
        for (name, value) in durations {
            if let Some(d) = value
                && (d.is_zero() || d > MAX_DURATION)
            {
                return Err(ConfigError::Duration { name, value: d });
            }
        }
        if self.handshake_retry > self.handshake_retry_max {
            return Err(ConfigError::Invalid(
                "handshake_retry is above handshake_retry_max; write a first retry no longer than the longest",
            ));
        }
        if let Some(hb) = self.heartbeat
            && hb.timeout <= hb.interval
        {
            return Err(ConfigError::Invalid(
                "heartbeat timeout must exceed its interval; write e.g. interval 5 s, timeout 15 s",
            ));
        }
        let l = &self.limits;
        if l.max_frame_bytes < 256 || l.max_frame_bytes > u32::MAX as usize {
            return Err(ConfigError::Invalid(
                "max_frame_bytes must be between 256 and u32::MAX; the default is 4 MiB",
            ));
        }
        if l.max_pending_calls == 0 || l.max_queued_messages == 0 || l.max_inbound_calls == 0 {
            return Err(ConfigError::Invalid(
                "max_pending_calls, max_queued_messages and max_inbound_calls must be at least 1",
            ));
        }
        if self.versions.negotiate(self.versions).is_none() {
            return Err(ConfigError::Invalid(
                "versions.min is above versions.max; write e.g. Versions { min: 1, max: 2 }",
            ));
        }
        Ok(())
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
    /// A timeout or interval is zero or longer than [`MAX_DURATION`].
    Duration {
        /// The field.
        name: &'static str,
        /// What it was set to.
        value: Duration,
    },
    /// A limit or setting is inconsistent; the text says what to write.
    Invalid(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptyAllowlist => f.write_str(
                "the allowlist is empty, so every message would be rejected; list the peer's origin",
            ),
            ConfigError::PeerOriginNotAllowed(o) => {
                write!(f, "peer origin \"{o}\" is not in the allowlist; add it")
            }
            ConfigError::NoTargetOrigin => f.write_str(
                "no concrete origin to greet: the allowlist has only wildcards; set Config::peer_origin",
            ),
            ConfigError::Duration { name, value } => write!(
                f,
                "{name} is {} ms; it must be above zero and at most 24 h (write e.g. Duration::from_secs(10))",
                crate::error::millis(*value)
            ),
            ConfigError::Invalid(what) => write!(f, "invalid configuration: {what}"),
        }
    }
}

impl std::error::Error for ConfigError {}
