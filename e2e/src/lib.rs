//! A harness for host/widget pairs on separate origins: build the wasm apps
//! ([`bundle`]), then serve a host, a widget and a rogue page on three
//! origins ([`serve`]). `cargo xtask demo` uses it to run the demo; the e2e
//! suite uses it to drive Chromium through real cross-origin scenarios.

pub mod bundle;
pub mod serve;

/// Errors of the harness, with a message that says what to do.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
