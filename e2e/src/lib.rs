//! The demo's end-to-end suite on [`bus_harness`]: build the two demo apps
//! ([`bundle`]), serve host, widget and rogue on three origins ([`serve`]),
//! and run the scenarios in Chromium and Firefox ([`browser`]). Also the
//! browser half of `cargo xtask bench` ([`bench`]). `cargo xtask demo` uses
//! the first two; the `demo-server` binary serves the demo as a process of
//! its own ([`process`]), for scenarios with several server processes.

pub mod bench;
pub mod browser;
pub mod bundle;
pub mod process;
pub mod profile;
pub mod serve;

pub use bus_harness::Error;
