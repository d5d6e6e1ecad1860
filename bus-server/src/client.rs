//! The bus over WebSocket from native code: tests, tools, one server talking
//! to another. The same engine as bus-web's `connect_websocket`, in the
//! guest role: it dials, knocks, and redials with exponential backoff and
//! jitter whenever the socket drops, until closed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bus_core::backoff::Backoff;
use bus_core::{Allowlist, Config, Engine, Heartbeat, Limits, Link, Role, State, SystemEntropy};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::driver::{Driver, Ended, Parts};
use crate::peer::{Peer, PeerId};
use crate::services::Services;
use crate::socket;

/// How a [`Client`] connects.
///
/// ```
/// use bus_core::Allowlist;
/// use bus_server::ClientOptions;
///
/// let options = ClientOptions::new("https://tools.example", Allowlist::new(["http://127.0.0.1:8080"])?);
/// # Ok::<(), bus_core::OriginError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Sent as the `Origin` header: servers allow or refuse it.
    pub origin: String,
    /// The servers this client talks to: the `http(s)` origin of the URL it
    /// dials (`ws://host` is `http://host`) must be allowed.
    pub allowlist: Allowlist,
    /// On by default: every 10 s, and the session ends after 30 s of silence.
    pub heartbeat: Option<Heartbeat>,
    /// Deadline of calls that name none (30 s).
    pub call_timeout: Duration,
    /// How long the handshake on each new socket may take (10 s).
    pub handshake_timeout: Duration,
    /// Engine bounds.
    pub limits: Limits,
    /// Commands (calls, emits) waiting for the connection's task.
    pub queue: usize,
    /// The first redial delay, doubling up to `backoff_max` (with jitter).
    pub backoff_initial: Duration,
    /// See `backoff_initial`.
    pub backoff_max: Duration,
}

impl ClientOptions {
    /// Defaults: heartbeat on, 30 s calls, 10 s handshakes, redials from
    /// 100 ms up to 10 s apart.
    pub fn new(origin: impl Into<String>, allowlist: Allowlist) -> ClientOptions {
        ClientOptions {
            origin: origin.into(),
            allowlist,
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(30),
            }),
            call_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            queue: 256,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// Why a [`Client`] could not start.
#[derive(Debug)]
pub enum ClientError {
    /// The URL is not a `ws://` or `wss://` URL.
    Url(String),
    /// The options do not make a valid engine configuration.
    Config(bus_core::ConfigError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(e) => write!(f, "not a WebSocket URL: {e}"),
            ClientError::Config(e) => write!(f, "invalid client options: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A native client of a bus server.
#[derive(Debug, Clone, Copy)]
pub struct Client;

impl Client {
    /// Starts connecting to `url` (`ws://…` or `wss://…`; TLS needs a proxy
    /// in front: this client speaks plain `ws`) and returns the server as a
    /// [`Peer`] at once; [`Peer::connected`] waits for the session. The task
    /// redials whenever the socket drops, until [`Peer::close`].
    pub fn connect(
        url: &str,
        options: ClientOptions,
        services: Services,
    ) -> Result<Peer, ClientError> {
        let origin = http_origin(url).ok_or_else(|| ClientError::Url(url.to_owned()))?;
        let mut config =
            Config::new(Role::Guest, options.allowlist.clone()).with_peer_origin(origin.clone());
        config.link = Link::Socket;
        config.heartbeat = options.heartbeat;
        config.call_timeout = options.call_timeout;
        config.handshake_timeout = options.handshake_timeout;
        config.limits = options.limits;
        let engine = Engine::new(config, SystemEntropy).map_err(ClientError::Config)?;
        let mut request = url
            .into_client_request()
            .map_err(|e| ClientError::Url(e.to_string()))?;
        let header = HeaderValue::from_str(&options.origin)
            .map_err(|e| ClientError::Url(format!("origin {:?}: {e}", options.origin)))?;
        request.headers_mut().insert(header::ORIGIN, header);

        let (commands_tx, commands) = mpsc::channel(options.queue.max(1));
        let (state_tx, state_rx) = watch::channel(State::Idle);
        let peer = Peer {
            id: PeerId(0),
            origin: origin.as_str().into(),
            commands: commands_tx,
            state: state_rx,
        };
        let mut driver = Driver::new(Parts {
            engine,
            origin,
            peer: peer.clone(),
            commands,
            state: state_tx,
            services: Arc::new(services),
            relay: None,
            kick: watch::channel(None),
        });
        let mut ws_config = WebSocketConfig::default();
        ws_config.max_message_size = Some(options.limits.max_frame_bytes);
        ws_config.max_frame_size = Some(options.limits.max_frame_bytes);
        let mut backoff = Backoff::new(options.backoff_initial, options.backoff_max);
        let queue = options.queue;
        tokio::spawn(async move {
            loop {
                let dialled = tokio_tungstenite::connect_async_with_config(
                    request.clone(),
                    Some(ws_config),
                    // Frames are small and latency matters: no Nagle.
                    true,
                )
                .await;
                if let Ok((ws, _response)) = dialled {
                    let (mut socket, tasks) = socket::spawn(ws, queue, socket::tungstenite_codec());
                    let ended = driver.run(&mut socket).await;
                    drop(socket);
                    tasks.finish(Duration::from_secs(1)).await;
                    if let Ended::Closed(_) = ended {
                        return;
                    }
                    if driver.connected_on_socket {
                        backoff.reset();
                    }
                }
                let delay = backoff.next_delay(&mut SystemEntropy);
                if driver.idle(delay).await.is_some() {
                    return;
                }
            }
        });
        Ok(peer)
    }
}

/// The `http(s)` origin of a `ws(s)` URL: what the client's allowlist must
/// allow, and what the engine calls its peer.
fn http_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    // A default port is not part of the origin.
    let default = if scheme == "http" { ":80" } else { ":443" };
    let host = authority.strip_suffix(default).unwrap_or(&authority);
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::http_origin;

    #[test]
    fn a_websocket_url_maps_to_its_http_origin() {
        assert_eq!(
            http_origin("ws://127.0.0.1:8080/bus").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            http_origin("WSS://Shop.Example/bus?x").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            http_origin("ws://a.example:80/bus").as_deref(),
            Some("http://a.example")
        );
        assert_eq!(
            http_origin("wss://a.example:443").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(http_origin("http://a.example/bus"), None);
        assert_eq!(http_origin("ws://u@a.example/bus"), None);
        assert_eq!(http_origin("ws:///bus"), None);
    }
}
