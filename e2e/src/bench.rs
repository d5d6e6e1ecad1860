//! Runs the browser benchmark: serves a prepared directory on two sites (the
//! bench page on 127.0.0.1, its child frames on localhost) with
//! [`bus_harness::Origins`], starts the WebSocket server (bus-server's
//! `bench_echo` example, a release build: the bus at `/bus`, serving the same
//! `bench.small` echo as the widget, and a raw WebSocket echo at `/echo`) as a
//! process of its own, opens the page in headless Chromium with
//! `--site-per-process` and returns what `window.runBench()` reports.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bus_harness::process::ServerProcess;
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

/// Serves `www`, starts `ws_server` (the `bench_echo` executable) allowing
/// the bench page's origin, and runs the bench page in Chromium; `query` is
/// appended to the page URL (e.g. `&batches=30`).
pub fn run_browser_bench(www: &Path, query: &str, ws_server: &Path) -> Result<BenchRun, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let served = Origins::new()
            .add("bench", Serve::dir(www))
            .add("child", Serve::dir(www))
            .serve()
            .await?;
        let bench_origin = served.origin("bench").to_owned();
        let exe = ws_server.to_owned();
        let ws = ServerProcess::start("bench_echo", Duration::from_secs(20), move |port| {
            let mut cmd = Command::new(&exe);
            cmd.args(["--port", &port.to_string(), "--allow", &bench_origin]);
            cmd
        })?;
        let (_playwright, browser) = bus_harness::launch(BrowserKind::Chromium).await?;
        let version = browser.version().to_owned();
        let page = browser.new_page().await?;
        let url = format!(
            "{}?child={}&ws=ws://127.0.0.1:{}{query}",
            served.url("bench", "/bench.html"),
            served.origin("child"),
            ws.port()
        );
        page.goto(&url, None).await?;
        page.wait_for_function("() => window.benchReady === true", None)
            .await?;
        let report: serde_json::Value = page
            .evaluate::<(), serde_json::Value>("window.runBench()", None)
            .await?;
        let _ = browser.close().await;
        drop(ws);
        served.stop().await;
        Ok(BenchRun {
            report,
            browser: format!("Chromium {version}"),
        })
    })
}
