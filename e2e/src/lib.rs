//! The end-to-end harness (serve host/widget pairs on separate origins, drive
//! Chromium with playwright-rs) lands with the e2e issue. Until then this crate
//! is empty so the workspace layout is final.
