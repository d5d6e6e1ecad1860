//! Every e2e scenario (`tests/scenarios/mod.rs`) in Chromium: test names read
//! `chromium::<scenario>`, failure artifacts land in `target/e2e/chromium/`.

const BROWSER: e2e::browser::BrowserKind = e2e::browser::BrowserKind::Chromium;

#[path = "scenarios/mod.rs"]
mod chromium;
