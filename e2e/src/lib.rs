//! A harness for host/widget pairs on separate origins: build the wasm apps
//! ([`bundle`]), then serve a host, a widget and a rogue page on three
//! origins ([`serve`]), and drive Chromium through them ([`browser`]).
//! `cargo xtask demo` uses the first two; the e2e suite uses all three.

pub mod bench;
pub mod browser;
pub mod bundle;
pub mod lock;
pub mod npm;
pub mod serve;

/// Errors of the harness, with a message that says what to do.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
