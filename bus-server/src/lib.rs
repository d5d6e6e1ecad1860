//! The bus over WebSocket, server side: the same engine, contract and API as
//! between windows, between a page and its own server.
//!
//! - [`BusServer`]: an axum endpoint that checks the `Origin` header against
//!   the [`Allowlist`](bus_core::Allowlist) *before* the upgrade (a page on
//!   any other site gets 403 and no socket: no cross-site WebSocket
//!   hijacking), then runs one engine per socket.
//! - [`Services`]: typed methods served to every client, and the topics a
//!   client's events are relayed on to every other client.
//! - [`Hub`]: the connection pool. Broadcasts go to every client but the
//!   sender (or to all); each client has its own bounded queue, and a client
//!   that lets it fill is disconnected with a reason. With a [`Broker`]
//!   ([`nats::NatsBroker`] behind the `nats` feature) broadcasts reach the
//!   clients of every server process.
//! - [`Peer`]: one client, to call and emit to; [`Client`]: the same from
//!   native code (tests, tools, server to server).
//!
//! ```no_run
//! use bus_core::{Allowlist, Method, RemoteError, Topic};
//! use bus_server::{BusServer, Options, Services};
//!
//! const ADD: Method<(i32, i32), i32> = Method::new("add");
//! const CURSOR: Topic<(u16, u16)> = Topic::new("cursor");
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let options = Options::new(Allowlist::new(["https://shop.example"])?);
//! let services = Services::new()
//!     .serve(ADD, |_client, (a, b)| async move {
//!         a.checked_add(b).ok_or_else(|| RemoteError::new(400, "overflow"))
//!     })
//!     .relay(CURSOR);
//! let server = BusServer::new(options, services)?;
//! let app = axum::Router::new().route("/bus", server.route());
//! // Small frames both ways: no Nagle's delay on the sockets.
//! use axum::serve::ListenerExt;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080")
//!     .await?
//!     .tap_io(|tcp| {
//!         let _ = tcp.set_nodelay(true);
//!     });
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Imports run one way: `server`, `client` → `socket`, `driver` → `hub`,
//! `peer`, `services`, `options`.

mod client;
mod driver;
mod hub;
#[cfg(feature = "nats")]
pub mod nats;
mod options;
mod peer;
mod server;
mod services;
mod socket;

pub use client::{Client, ClientOptions};
pub use hub::{Broker, Hub, Kick};
pub use options::Options;
pub use peer::{EVENT_FEED, Events, Peer, PeerId};
pub use server::{BusServer, ServerError, ServerStats};
pub use services::Services;
