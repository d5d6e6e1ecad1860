//! Settings of a server's connections, their defaults and their checks.

use std::time::Duration;

use bus_core::{Allowlist, Config, Heartbeat, Limits, Link, Role};

/// How a server runs its connections. Start from [`Options::new`] and
/// adjust fields.
///
/// ```
/// use std::time::Duration;
/// use bus_core::Allowlist;
/// use bus_server::Options;
///
/// let mut options = Options::new(Allowlist::new(["https://shop.example"])?);
/// options.call_timeout = Duration::from_secs(5);
/// # Ok::<(), bus_core::OriginError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The origins whose pages may open a socket: the `Origin` header is
    /// checked against it before the upgrade (cross-site WebSocket
    /// hijacking: any page can open a socket to a server with the user's
    /// cookies). Must not be empty.
    pub allowlist: Allowlist,
    /// On by default for sockets: a silent client is dropped after the
    /// timeout, and its queue with it.
    pub heartbeat: Option<Heartbeat>,
    /// Deadline of server-initiated calls that name none.
    pub call_timeout: Duration,
    /// The first handshake on a new socket must finish within this.
    pub handshake_timeout: Duration,
    /// Engine bounds. `max_frame_bytes` also caps a WebSocket message before
    /// it is buffered (256 KiB by default on a server).
    pub limits: Limits,
    /// Commands (hub broadcasts, emits, calls) and frames waiting for one
    /// client. A client that lets either fill is disconnected with close
    /// code 1008 and a reason: memory per client stays bounded.
    pub queue: usize,
    /// Relayed events one client may send per second (its events beyond it
    /// are dropped), with bursts of up to `relay_burst`.
    pub relay_rate: u32,
    /// See `relay_rate`. A client that keeps sending after its burst is
    /// spent (another `relay_burst` events dropped in a row) is
    /// disconnected as a flood.
    pub relay_burst: u32,
}

impl Options {
    /// Safe defaults: heartbeat every 10 s (dropped after 30 s of silence),
    /// 30 s calls, 10 s handshake, 256 KiB frames, queues of 256, relays of
    /// 100 events a second in bursts of 200.
    pub fn new(allowlist: Allowlist) -> Options {
        let limits = Limits {
            max_frame_bytes: 256 * 1024,
            ..Limits::default()
        };
        Options {
            allowlist,
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(30),
            }),
            call_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            limits,
            queue: 256,
            relay_rate: 100,
            relay_burst: 200,
        }
    }

    /// The engine configuration for a socket from `origin` (checked).
    pub(crate) fn host_config(&self, origin: &str) -> Config {
        let mut config =
            Config::new(Role::Host, self.allowlist.clone()).with_peer_origin(origin.to_owned());
        config.link = Link::Socket;
        config.wait_for_knock = true;
        config.heartbeat = self.heartbeat;
        config.call_timeout = self.call_timeout;
        config.handshake_timeout = self.handshake_timeout;
        config.limits = self.limits;
        config
    }
}
