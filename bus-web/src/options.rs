//! Connection options: the allowlist (required) and the engine's settings,
//! whose defaults live in one place, [`bus_core::Config::new`].

use std::time::Duration;

use bus_core::{Allowlist, Config, Heartbeat, Limits, Role, Versions};

/// How to connect. The allowlist is required: there is no permissive default.
///
/// ```
/// use std::time::Duration;
/// use bus_web::{Allowlist, Options};
///
/// let options = Options::new(Allowlist::new(["https://widget.example"])?)
///     .handshake_timeout(Duration::from_secs(5))
///     .reconnect_timeout(Some(Duration::from_secs(120)))
///     .call_timeout(Duration::from_secs(10));
/// # Ok::<(), bus_web::OriginError>(())
/// ```
#[derive(Debug, Clone)]
// Natively only the builder compiles; the connect functions that read it are wasm32-only.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct Options {
    /// The engine settings; role, peer origin and knock policy are set per
    /// constructor.
    config: Config,
    liveness_interval: Duration,
    /// The socket's default heartbeat is turned off.
    #[cfg(feature = "websocket")]
    no_heartbeat: bool,
}

impl Options {
    /// Options that allow exactly the origins in `allowlist`, with the
    /// engine's defaults.
    pub fn new(allowlist: Allowlist) -> Options {
        Options {
            config: Config::new(Role::Guest, allowlist),
            liveness_interval: Duration::from_millis(250),
            #[cfg(feature = "websocket")]
            no_heartbeat: false,
        }
    }

    /// Fail the first handshake after this long (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Options {
        self.config.handshake_timeout = timeout;
        self
    }

    /// After a session ends (the peer reloaded or navigated away), give up
    /// if no new one begins within this long. Default `None`: keep waiting
    /// as long as the iframe is attached or the popup is open.
    pub fn reconnect_timeout(mut self, timeout: Option<Duration>) -> Options {
        self.config.reconnect_timeout = timeout;
        self
    }

    /// Deadline of calls that name none (default 30 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Options {
        self.config.call_timeout = timeout;
        self
    }

    /// After an iframe's `load` event, how long the peer has to prove it is
    /// still the same document (default 1 s).
    pub fn probe_timeout(mut self, timeout: Duration) -> Options {
        self.config.probe_timeout = timeout;
        self
    }

    /// Ping every `interval`; end the session when the peer is silent for
    /// `timeout`. Off by default.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Options {
        self.config.heartbeat = Some(Heartbeat { interval, timeout });
        self
    }

    /// No heartbeat, not even a WebSocket's default one.
    #[cfg(feature = "websocket")]
    pub fn no_heartbeat(mut self) -> Options {
        self.config.heartbeat = None;
        self.no_heartbeat = true;
        self
    }

    #[cfg(feature = "websocket")]
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn heartbeat_off(&self) -> bool {
        self.no_heartbeat
    }

    /// Frame size, queue and concurrency bounds.
    pub fn limits(mut self, limits: Limits) -> Options {
        self.config.limits = limits;
        self
    }

    /// Protocol versions to offer (for testing upgrades).
    pub fn versions(mut self, versions: Versions) -> Options {
        self.config.versions = versions;
        self
    }

    /// How often to check that the peer window still exists (default 250 ms):
    /// bounds how late a closed popup or removed iframe is noticed.
    pub fn liveness_interval(mut self, interval: Duration) -> Options {
        self.liveness_interval = interval;
        self
    }

    /// The allowlist.
    pub fn allowlist(&self) -> &Allowlist {
        &self.config.allowlist
    }

    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn liveness(&self) -> Duration {
        self.liveness_interval
    }

    /// The engine configuration for one role.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn config(&self, role: Role, peer_origin: Option<String>) -> Config {
        let mut c = self.config.clone();
        c.role = role;
        c.peer_origin = peer_origin;
        // Hosts never post into a frame before its bus speaks: an iframe or
        // popup that is still loading shows another document, and browsers
        // log every such message as an error.
        c.wait_for_knock = role == Role::Host;
        c
    }
}
