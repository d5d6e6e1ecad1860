//! # bus-web
//!
//! The browser binding of [`bus_core`]: it will connect to an iframe's
//! `contentWindow`, to `window.parent`, to `window.opener` and to popups, and
//! move bytes between `postMessage`/`MessagePort` and the engine.
//!
//! Not built yet: this crate is filled by the bus-web issue. Until then it
//! only re-exports the core so the workspace layout is final.

pub use bus_core as core;
