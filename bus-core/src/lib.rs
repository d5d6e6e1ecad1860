//! # bus-core
//!
//! The sans-IO core of a typed, versioned, origin-checked message bus between
//! browser windows (a host page and its cross-origin iframes or popups).
//!
//! - [`origin`]: the [`Allowlist`] of origins allowed to talk to us.
//! - [`envelope`]: the versioned wire format, [`Envelope`].
//! - [`codec`] and [`version`]: postcard payloads; protocol versions.
//! - [`attach`]: [`Attachment`]s, buffers that travel beside a frame.
//! - [`engine`]: the protocol state machine, [`Engine`]: handshake, calls,
//!   replies, events, deadlines, cancellation, heartbeats, close, limits.
//! - [`typed`]: [`Method`] and [`Topic`] descriptors and a [`Router`].
//! - [`memory`]: [`MemoryPair`], two engines wired back to back, to test
//!   services without a browser.
//!
//! ```
//! use bus_core::{MemoryPair, Method, RemoteError, Side};
//!
//! const GREET: Method<String, String> = Method::new("greet");
//!
//! let mut pair = MemoryPair::new();
//! pair.guest_router.route(GREET, |name: String| Ok(format!("hello, {name}")));
//! pair.connect();
//! assert_eq!(pair.call(Side::Host, &GREET, &"host".to_string())?, "hello, host");
//! # Ok::<(), bus_core::CallError>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod attach;
pub mod backoff;
pub mod bytes;
pub mod codec;
pub mod engine;
pub mod entropy;
pub mod envelope;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod memory;
pub mod origin;
pub mod typed;
pub mod vec_map;
pub mod version;

pub use attach::{Attachment, MAX_ATTACHMENTS_PER_FRAME};
pub use bytes::Bytes;
pub use codec::CodecError;
pub use engine::{
    CallId, Channel, Config, ConfigError, Delivery, Engine, FrameSource, Heartbeat, Limits, Link,
    Received, RejectReason, Rejection, RequestId, Role, Route, SourceId, State, Stats, Transmit,
    WithAttachments,
};
#[cfg(not(target_arch = "wasm32"))]
pub use entropy::SystemEntropy;
pub use entropy::{EngineEntropy, Entropy, EntropyError};
pub use envelope::{DecodeError, Envelope, MAX_MESSAGES_PER_FRAME};
pub use error::{CallError, CloseReason, RemoteError, SessionEnd};
#[cfg(not(target_arch = "wasm32"))]
pub use memory::{MemoryPair, Side};
pub use origin::{Allowlist, OriginError};
pub use typed::{Method, Router, Topic, method_not_found};
pub use version::{PROTOCOL_VERSION, Versions};

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
