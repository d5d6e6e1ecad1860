//! # bus-harness
//!
//! Real-browser tests for apps that talk over the bus: a host and the
//! widgets it embeds, each on its own origin, in Chromium and Firefox.
//!
//! - **Origins** ([`Origins`], [`Serve`]): N origins on free loopback ports,
//!   each from a directory or an axum router, with its own headers.
//! - **Builds** ([`WasmApp`]): compiles your wasm crates and generates their
//!   glue with the pinned wasm-bindgen library.
//! - **Browsers** ([`shared`], [`Harness`], [`BrowserKind`]): one browser per
//!   test binary, a fresh context per test, helpers for cross-origin frames,
//!   popups and the console ([`Test`]).
//! - **Bus hooks** ([`hook`]): every connection's state and rejection
//!   counters, through bus-web's opt-in `test-hook` feature.
//! - **Brokers** ([`nats::NatsServer`]): a real `nats-server` on a free
//!   port, for servers that scale out on NATS.
//! - **Server processes** ([`process::ServerProcess`]): any server as a
//!   process of its own on a free port, killed as a crash, paused as a hang
//!   (its sockets open and silent) and restarted on the same port.
//! - **Failures**: screenshots of every page and the console log, saved
//!   under `target/harness/<browser>/<test>/`, with the path in the panic.
//!
//! It needs the browsers (Debian: `apt-get install chromium firefox-esr`),
//! Node.js and npm, and an npm project that pins `playwright-core` 1.64.0
//! (and `binaryen` 132.0.0 for [`WasmApp::optimize`]) named by
//! `PLAYWRIGHT_CLI_JS` ([`npm`]); it runs `npm ci` there itself. A missing
//! browser fails the test with the install command: nothing is skipped.
//!
//! `examples/harness-quickstart` is a complete host/widget pair with its
//! test; this crate's own users are the e2e suite and the benchmark.
//!
//! ```no_run
//! use bus_harness::{BrowserKind, Origins, Serve, WasmApp, shared, wasm_page};
//!
//! fn harness(kind: BrowserKind) -> &'static bus_harness::Harness {
//!     shared(kind, || {
//!         let widget = WasmApp::new("my-widget").build()?;
//!         Ok(Origins::new()
//!             .add("host", Serve::dir("host-site"))
//!             .add("widget", Serve::dir(widget).html("/", |o| {
//!                 wasm_page("widget", "my-widget", &[("bus-allow", &o["host"])])
//!             })))
//!     })
//! }
//!
//! #[test]
//! fn widget_connects_in_firefox() {
//!     harness(BrowserKind::Firefox).run("widget_connects", |t| async move {
//!         t.goto(&t.url("host", "/")).await?;
//!         let frame = t.frame_of(t.page(), "widget").await?;
//!         let conns = bus_harness::hook::read(&frame).await?;
//!         assert_eq!(conns[0].state_kind, "connected");
//!         Ok(())
//!     });
//! }
//! ```

pub mod browser;
pub mod hook;
pub mod imports;
pub mod lock;
pub mod nats;
pub mod npm;
pub mod origins;
pub mod process;
pub mod target;
pub mod wasm;

pub use browser::{BrowserKind, CHROMIUM_FLAGS, Harness, Test, launch, shared};
pub use origins::{Names, Origins, Serve, Served, Site, wasm_page};
pub use target::target_dir;
pub use wasm::WasmApp;

/// Errors of the harness, with a message that says what to do.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
