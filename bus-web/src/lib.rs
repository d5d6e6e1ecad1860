//! # bus-web
//!
//! The browser binding of [`bus_core`]: connects a page to a child iframe,
//! an iframe to its parent, a popup to its opener, or opens a popup and
//! connects to it, then carries typed calls and events between them.
//!
//! It holds no protocol logic: it moves bytes between `postMessage` /
//! `MessagePort` and the [`bus_core::Engine`], labels `event.source`, feeds
//! the clock (`performance.now()`) and entropy (`crypto.getRandomValues`),
//! and turns the engine's outputs into futures and callbacks.
//!
//! - Every connection requires an [`Allowlist`]; there is no permissive default.
//! - The handshake goes over the window with concrete targetOrigins; then all
//!   traffic moves to a private, transferred `MessagePort`, which is kept only
//!   when the engine accepts the frame it came with. Frames travel as
//!   `Uint8Array`s (cloned up to 4 KiB, transferred above), and a received
//!   one is copied into wasm only after its sender, size and origin passed
//!   the engine's checks. With the `buffers` feature, a `Buffer` in a payload
//!   is not copied at all: it travels beside the frame, transferred. A message from a window that is no connection's
//!   peer is counted once per page after reading at most its 22-byte header
//!   ([`diagnostics::stray`]).
//! - No `postMessage` with `"*"`, except to a peer whose origin is `"null"`,
//!   which needs [`Allowlist::allow_opaque_origins`].
//! - A dropped session reconnects by itself: the connection shows
//!   [`State::Reconnecting`] until the peer's bus knocks again.
//! - A served call whose caller gives up (cancel, timeout, session end) has
//!   its handler dropped ([`Cancellation`]).
//! - Rejected frames are counted and streamed ([`Connection::rejections`]),
//!   never logged. The console hears from the bus only when the browser
//!   refuses something it needs (a listener, a timer, a post) or an event
//!   payload does not decode.
//! - Browser tests can read every connection's state and counters through
//!   the opt-in `test-hook` feature (`test_hook`; test builds only), which
//!   `bus-harness` reads.
//!
//! ## Host: embed a widget
//!
//! ```ignore
//! use bus_web::{Allowlist, Method, Options};
//!
//! const TOTAL: Method<u32, u64> = Method::new("checkout.total");
//!
//! let frame: web_sys::HtmlIFrameElement = /* the widget's <iframe> */;
//! let conn = bus_web::connect_iframe(&frame, Options::new(Allowlist::new(["https://pay.example"])?))?;
//! conn.connected().await?;
//! let cents = conn.call(&TOTAL, &3).await?;
//! ```
//!
//! ## Widget: serve the host
//!
//! ```ignore
//! let conn = bus_web::connect_parent(Options::new(Allowlist::new(["https://shop.example"])?))?;
//! conn.serve(TOTAL, |items: u32| async move { Ok(250 * u64::from(items)) });
//! let mut states = conn.states();
//! while let Some(state) = states.next().await {
//!     show(state.to_string()); // "connected to https://shop.example (v1)", "reconnecting: …"
//! }
//! ```
//!
//! See [`connect_iframe`], [`connect_parent`], [`connect_opener`],
//! [`open_popup`], [`open_popup_window`] and [`connect_popup`] for each way to connect. For
//! Leptos apps, `bus-leptos` wraps them in hooks.
#![warn(missing_docs)]

mod cancellation;
mod connect_error;
mod options;
mod origins;

pub use bus_core::{
    Allowlist, Bytes, CallError, CloseReason, Heartbeat, Limits, Method, OriginError, RejectReason,
    Rejection, RemoteError, SessionEnd, State, Stats, Topic, Versions,
};
/// An [`Allowlist`] of literal entries, checked when it compiles with every
/// native check, the whole public suffix list included; the app receives the
/// canonical entries.
///
/// ```
/// let allow: bus_web::Allowlist =
///     bus_web::allowlist!["https://Shop.example", "https://*.cdn.shop.example:8443"];
/// assert!(allow.allows("https://shop.example"));
/// assert!(allow.allows("https://eu.cdn.shop.example:8443"));
/// ```
///
/// A wildcard over a public suffix does not compile, even one the browser
/// build's short list does not know:
///
/// ```compile_fail
/// let allow = bus_web::allowlist!["https://*.s3.amazonaws.com"];
/// ```
pub use bus_macros::allowlist;
pub use cancellation::{Cancellation, Cancelled, OnDrop};
pub use connect_error::ConnectError;
pub use options::Options;
pub use origins::allowlist;

// Imports run one way: connect → driver → {page, transport, handlers,
// streams, frame, test_hook} → diagnostics, and handlers → cancellation;
// connection and hub are the public face. cancellation, connect_error and
// options compile natively too (for servers rendering apps under SSR).
#[cfg(all(target_arch = "wasm32", feature = "buffers"))]
mod buffer;
#[cfg(target_arch = "wasm32")]
mod connect;
#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
pub mod diagnostics;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod frame;
#[cfg(target_arch = "wasm32")]
mod handlers;
#[cfg(target_arch = "wasm32")]
mod hub;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod parts;
#[cfg(all(target_arch = "wasm32", feature = "websocket"))]
mod socket;
#[cfg(target_arch = "wasm32")]
mod streams;
#[cfg(all(target_arch = "wasm32", feature = "test-hook"))]
pub mod test_hook;
#[cfg(target_arch = "wasm32")]
mod transport;

#[cfg(all(target_arch = "wasm32", feature = "buffers"))]
pub use buffer::Buffer;
#[cfg(all(target_arch = "wasm32", feature = "websocket"))]
pub use connect::connect_websocket;
#[cfg(target_arch = "wasm32")]
pub use connect::{
    connect_iframe, connect_opener, connect_parent, connect_popup, open_popup, open_popup_window,
};
#[cfg(target_arch = "wasm32")]
pub use connection::{Connection, Events, WeakConnection};
#[cfg(target_arch = "wasm32")]
pub use hub::Hub;
#[cfg(target_arch = "wasm32")]
pub use streams::{Next, STREAM_CAPACITY, Stream};
#[cfg(target_arch = "wasm32")]
pub use transport::Traffic;
