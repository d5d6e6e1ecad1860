//! Runs the browser benchmark: serves a prepared directory on two sites (the
//! bench page on 127.0.0.1, its child frames on localhost), opens the page in
//! headless Chromium with `--site-per-process` and returns what
//! `window.runBench()` reports.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

use crate::Error;
use crate::browser::launch_chromium;

/// What one benchmark run produced.
#[derive(Debug)]
pub struct BenchRun {
    /// `window.runBench()`'s result.
    pub report: serde_json::Value,
    /// The browser's version string.
    pub browser: String,
}

async fn serve_dir(dir: &Path) -> Result<(u16, tokio::task::JoinHandle<()>), Error> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = listener.local_addr()?.port();
    let app = Router::new().fallback_service(ServeDir::new(dir));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((port, task))
}

/// Serves `www` and runs the bench page in Chromium; `query` is appended to
/// the page URL (e.g. `&batches=30`).
pub fn run_browser_bench(www: &Path, query: &str) -> Result<BenchRun, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (parent_port, parent) = serve_dir(www).await?;
        let (child_port, child) = serve_dir(www).await?;
        let (_playwright, browser) = launch_chromium().await?;
        let version = browser.version().to_owned();
        let page = browser.new_page().await?;
        let url = format!(
            "http://127.0.0.1:{parent_port}/bench.html?child=http://localhost:{child_port}{query}"
        );
        page.goto(&url, None).await?;
        page.wait_for_function("() => window.benchReady === true", None)
            .await?;
        let report: serde_json::Value = page
            .evaluate::<(), serde_json::Value>("window.runBench()", None)
            .await?;
        let _ = browser.close().await;
        parent.abort();
        child.abort();
        Ok(BenchRun {
            report,
            browser: format!("Chromium {version}"),
        })
    })
}
