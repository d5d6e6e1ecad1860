//! A bus server on a free loopback port, and clients of it.
#![allow(dead_code)]

use std::time::Duration;

use axum::serve::ListenerExt;
use bus_core::{Allowlist, Channel, Config, Engine, Link, Role, SystemEntropy};
use bus_server::{BusServer, Client, ClientOptions, Options, Peer, Services};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};

/// The origin of the pages the test servers allow.
pub const PAGE: &str = "https://shop.example";

/// A server listening on `127.0.0.1` at `/bus`.
pub struct Running {
    pub server: BusServer,
    pub url: String,
    pub port: u16,
    task: JoinHandle<()>,
}

impl Running {
    /// Goes away like a restarting process: every client is told to
    /// reconnect (close code 1012), sockets close, and the port is free.
    pub async fn stop(self) {
        self.server.shutdown(Duration::from_secs(5)).await;
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Serves `server` at `/bus` on `port` (0: any free port).
pub async fn serve(server: BusServer, port: u16) -> Running {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let app = axum::Router::new().route("/bus", server.route());
    let task = tokio::spawn(async move {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    Running {
        server,
        url: format!("ws://127.0.0.1:{port}/bus"),
        port,
        task,
    }
}

/// Options that allow the test pages, adjusted by `f`.
pub fn options(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::new(Allowlist::new([PAGE]).expect("allowlist"));
    f(&mut o);
    o
}

/// A server with `services` and default options, on a free port.
pub async fn start(services: Services) -> Running {
    serve(
        BusServer::new(options(|_| {}), services).expect("server"),
        0,
    )
    .await
}

/// A native client of `url` acting for a page of [`PAGE`].
pub fn client(url: &str, services: Services) -> Peer {
    client_with(url, services, |_| {})
}

/// The `http` origin of a test server's `ws://127.0.0.1:<port>/bus`.
fn server_origin(url: &str) -> String {
    let port = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port");
    format!("http://127.0.0.1:{port}")
}

pub fn client_with(url: &str, services: Services, f: impl FnOnce(&mut ClientOptions)) -> Peer {
    let server = server_origin(url);
    let mut o = ClientOptions::new(PAGE, Allowlist::new([server]).expect("allowlist"));
    o.backoff_initial = Duration::from_millis(20);
    o.backoff_max = Duration::from_millis(200);
    f(&mut o);
    Client::connect(url, o, services).expect("client")
}

/// Waits for `peer`'s session, failing the test after 10 s.
pub async fn connected(peer: &Peer) {
    tokio::time::timeout(Duration::from_secs(10), peer.connected())
        .await
        .expect("no session within 10 s")
        .expect("the connection closed");
}

/// A raw socket to `url` with the given `Origin` header (none: `None`).
pub async fn raw(
    url: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = url.into_client_request()?;
    if let Some(o) = origin {
        request
            .headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_str(o).expect("header"));
    }
    Ok(tokio_tungstenite::connect_async(request).await?.0)
}

/// A guest engine driven by hand over a raw socket: handshakes, then does
/// nothing more unless told (it stops reading, like a stuck client).
pub async fn raw_guest(
    url: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Engine,
) {
    let server = server_origin(url);
    let mut ws = raw(url, Some(PAGE)).await.expect("socket");
    let mut config = Config::new(
        Role::Guest,
        Allowlist::new([server.as_str()]).expect("allowlist"),
    )
    .with_peer_origin(server.clone());
    config.link = Link::Socket;
    let mut engine = Engine::new(config, SystemEntropy).expect("engine");
    let start = tokio::time::Instant::now();
    let now = || start.elapsed();
    engine.connect(now());
    engine.channel_opened(now());
    while !engine.state().is_connected() {
        while let Some(t) = engine.poll_transmit() {
            ws.send(Message::Binary(t.bytes.into()))
                .await
                .expect("send");
        }
        let Some(Ok(Message::Binary(b))) = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("handshake")
        else {
            panic!("the server closed during the handshake");
        };
        let _ = engine.handle_frame(now(), Channel::Socket { origin: &server }, &b[..]);
    }
    while let Some(t) = engine.poll_transmit() {
        ws.send(Message::Binary(t.bytes.into()))
            .await
            .expect("send");
    }
    (ws, engine)
}
