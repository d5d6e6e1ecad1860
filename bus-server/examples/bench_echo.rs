//! The WebSocket server of `cargo xtask bench`, and a complete bus-server in
//! one file: the typed method `bench.small` echoed at `/bus`, behind the
//! Origin check, next to a raw WebSocket echo at `/echo` (the baseline the
//! bus is measured against, on the same server and the same runtime).
//!
//! ```text
//! cargo run --release -p bus-server --example bench_echo -- \
//!     --port 8099 --allow http://127.0.0.1:8080
//! ```
//!
//! A page on `http://127.0.0.1:8080` then connects with
//! `bus_web::connect_websocket("ws://127.0.0.1:8099/bus", …)`, its allowlist
//! naming `http://127.0.0.1:8099`.

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use axum::serve::ListenerExt;
use bus_core::{Allowlist, Method};
use bus_server::{BusServer, Options, Services};
use serde::{Deserialize, Serialize};

/// The bench's small payload, as its pages send it.
#[derive(Serialize, Deserialize)]
struct Small {
    a: u32,
    b: u32,
    c: f64,
}

const SMALL: Method<Small, Small> = Method::new("bench.small");

const USAGE: &str =
    "usage: bench_echo --port PORT --allow ORIGIN (the origin of the page that connects)";

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("bench_echo: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .ok_or_else(|| format!("{flag} is missing; {USAGE}"))
    };
    let port: u16 = value("--port")?
        .parse()
        .map_err(|_| format!("--port takes a port number; {USAGE}"))?;
    let options = Options::new(Allowlist::new([value("--allow")?.as_str()])?);
    let services = Services::new().serve(SMALL, |_client, s: Small| async move { Ok(s) });
    let server = BusServer::new(options, services)?;
    let app = Router::new().route("/bus", server.route()).route(
        "/echo",
        get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo) }),
    );
    // Small frames both ways: no Nagle's delay, for either contender.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await?;
    Ok(())
}

/// The raw contender: every message straight back.
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(m)) = ws.recv().await {
        let back = match m {
            Message::Binary(b) => Message::Binary(b),
            Message::Text(t) => Message::Text(t),
            Message::Close(_) => break,
            _ => continue,
        };
        if ws.send(back).await.is_err() {
            break;
        }
    }
}
