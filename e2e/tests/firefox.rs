//! Every e2e scenario (`tests/scenarios/mod.rs`) in Firefox: test names read
//! `firefox::<scenario>`, failure artifacts land in `target/e2e/firefox/`.

const BROWSER: e2e::browser::BrowserKind = e2e::browser::BrowserKind::Firefox;

#[path = "scenarios/mod.rs"]
mod firefox;
