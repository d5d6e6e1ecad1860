//! Runs the browser benchmark: serves a prepared directory on two sites (the
//! bench page on 127.0.0.1, its child frames on localhost) with
//! [`bus_harness::Origins`], opens the page in headless Chromium with
//! `--site-per-process` and returns what `window.runBench()` reports.

use std::path::Path;

use bus_harness::{BrowserKind, Origins, Serve};

use crate::Error;

/// What one benchmark run produced.
#[derive(Debug)]
pub struct BenchRun {
    /// `window.runBench()`'s result.
    pub report: serde_json::Value,
    /// The browser's version string.
    pub browser: String,
}

/// Serves `www` and runs the bench page in Chromium; `query` is appended to
/// the page URL (e.g. `&batches=30`).
pub fn run_browser_bench(www: &Path, query: &str) -> Result<BenchRun, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let served = Origins::new()
            .add("bench", Serve::dir(www))
            .add("child", Serve::dir(www))
            .serve()
            .await?;
        let (_playwright, browser) = bus_harness::launch(BrowserKind::Chromium).await?;
        let version = browser.version().to_owned();
        let page = browser.new_page().await?;
        let url = format!(
            "{}?child={}{query}",
            served.url("bench", "/bench.html"),
            served.origin("child")
        );
        page.goto(&url, None).await?;
        page.wait_for_function("() => window.benchReady === true", None)
            .await?;
        let report: serde_json::Value = page
            .evaluate::<(), serde_json::Value>("window.runBench()", None)
            .await?;
        let _ = browser.close().await;
        served.stop().await;
        Ok(BenchRun {
            report,
            browser: format!("Chromium {version}"),
        })
    })
}
