//! Connection options: the allowlist (required) and tunables with safe defaults.

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
///     .call_timeout(Duration::from_secs(10));
/// # Ok::<(), bus_web::OriginError>(())
/// ```
#[derive(Debug, Clone)]
// Natively only the builder compiles; the connect functions that read it are wasm32-only.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct Options {
    pub(crate) allowlist: Allowlist,
    pub(crate) handshake_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) probe_timeout: Duration,
    pub(crate) heartbeat: Option<Heartbeat>,
    pub(crate) limits: Limits,
    pub(crate) versions: Versions,
    pub(crate) liveness_interval: Duration,
}

impl Options {
    /// Options that allow exactly the origins in `allowlist`.
    pub fn new(allowlist: Allowlist) -> Options {
        Options {
            allowlist,
            handshake_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(1),
            heartbeat: None,
            limits: Limits::default(),
            versions: Versions::CURRENT,
            liveness_interval: Duration::from_millis(250),
        }
    }

    /// Fail the handshake after this long (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Options {
        self.handshake_timeout = timeout;
        self
    }

    /// Deadline of calls that name none (default 30 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Options {
        self.call_timeout = timeout;
        self
    }

    /// After an iframe's `load` event, how long the peer has to prove it is
    /// still the same document (default 1 s).
    pub fn probe_timeout(mut self, timeout: Duration) -> Options {
        self.probe_timeout = timeout;
        self
    }

    /// Ping every `interval`; close when the peer is silent for `timeout`.
    /// Off by default.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Options {
        self.heartbeat = Some(Heartbeat { interval, timeout });
        self
    }

    /// Frame size, queue and concurrency bounds.
    pub fn limits(mut self, limits: Limits) -> Options {
        self.limits = limits;
        self
    }

    /// Protocol versions to offer (for testing upgrades).
    pub fn versions(mut self, versions: Versions) -> Options {
        self.versions = versions;
        self
    }

    /// How often to check that the peer window still exists (default 250 ms):
    /// bounds how late a closed popup or removed iframe is noticed.
    pub fn liveness_interval(mut self, interval: Duration) -> Options {
        self.liveness_interval = interval;
        self
    }

    /// The engine configuration for one role.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn config(&self, role: Role, peer_origin: Option<String>) -> Config {
        let mut c = Config::new(role, self.allowlist.clone());
        c.peer_origin = peer_origin;
        c.handshake_timeout = self.handshake_timeout;
        c.call_timeout = self.call_timeout;
        c.probe_timeout = self.probe_timeout;
        c.heartbeat = self.heartbeat;
        c.limits = self.limits;
        c.versions = self.versions;
        // Hosts never post into a frame before its bus speaks: an iframe or
        // popup that is still loading shows another document, and browsers
        // log every such message as an error.
        c.wait_for_knock = role == Role::Host;
        c
    }
}
