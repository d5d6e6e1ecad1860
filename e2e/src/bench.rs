//! Runs the browser benchmark: serves a prepared directory on two sites (the
//! bench page on 127.0.0.1, its child frames on localhost) with
//! [`bus_harness::Origins`], starts the WebSocket server (bus-server's
//! `bench_echo` example, a release build: the bus at `/bus`, serving the same
//! `bench.small` echo as the widget, and a raw WebSocket echo at `/echo`) as a
//! process of its own, opens the page in headless Chromium with
//! `--site-per-process` and returns what `window.runBench()` reports (see
//! [`crate::profile`] for a run under the CPU profiler).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bus_harness::process::ServerProcess;
use bus_harness::{BrowserKind, Origins, Serve, Served};
use playwright_rs::protocol::{Browser, Page, Playwright};

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
    runtime()?.block_on(async {
        let bench = BenchPage::open(www, query, ws_server).await?;
        let report = bench.run().await?;
        Ok(BenchRun {
            report,
            browser: bench.close().await,
        })
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The bench page, served and open, with its WebSocket server running.
pub(crate) struct BenchPage {
    served: Served,
    ws: ServerProcess,
    _playwright: Playwright,
    browser: Browser,
    pub(crate) page: Page,
}

impl BenchPage {
    pub(crate) async fn open(
        www: &Path,
        query: &str,
        ws_server: &Path,
    ) -> Result<BenchPage, Error> {
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
        let (playwright, browser) = bus_harness::launch(BrowserKind::Chromium).await?;
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
        Ok(BenchPage {
            served,
            ws,
            _playwright: playwright,
            browser,
            page,
        })
    }

    pub(crate) async fn run(&self) -> Result<serde_json::Value, Error> {
        Ok(self
            .page
            .evaluate::<(), serde_json::Value>("window.runBench()", None)
            .await?)
    }

    /// Closes everything; returns the browser's name and version.
    pub(crate) async fn close(self) -> String {
        let version = self.browser.version().to_owned();
        let _ = self.browser.close().await;
        drop(self.ws);
        self.served.stop().await;
        format!("Chromium {version}")
    }
}
