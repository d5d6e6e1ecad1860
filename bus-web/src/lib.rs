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
//!   traffic moves to a private, transferred `MessagePort`. Frames travel as
//!   transferred `ArrayBuffer`s, never cloned.
//! - No `postMessage` with `"*"`, except to a peer whose origin is `"null"`,
//!   which needs [`Allowlist::allow_opaque_origins`].
//! - Nothing is printed to the console; logs go through `tracing`.
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
//! ```
//!
//! See [`connect_iframe`], [`connect_parent`], [`connect_opener`] and
//! [`open_popup`] for each way to connect.
#![warn(missing_docs)]

mod options;

pub use bus_core::{
    Allowlist, CallError, CloseReason, Heartbeat, Limits, Method, OriginError, RejectReason,
    Rejection, RemoteError, State, Stats, Topic, Versions,
};
pub use options::Options;

#[cfg(target_arch = "wasm32")]
mod connect;
#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
mod page;

#[cfg(target_arch = "wasm32")]
pub use connect::{ConnectError, connect_iframe, connect_opener, connect_parent, open_popup};
#[cfg(target_arch = "wasm32")]
pub use connection::{Connection, Hub, Subscription, Traffic, WeakConnection};
#[cfg(target_arch = "wasm32")]
pub use page::diagnostics;
