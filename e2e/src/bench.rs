//! Runs the browser benchmark: serves a prepared directory on two sites (the
//! bench page on 127.0.0.1, its child frames on localhost) with
//! [`bus_harness::Origins`], opens the page in headless Chromium with
//! `--site-per-process` and returns what `window.runBench()` reports. The
//! bench page's origin also serves the bus over WebSocket at `/bus` (the
//! same `bench.small` echo as the widget) and a raw WebSocket echo at
//! `/echo`, for the WebSocket round trip.

use std::path::Path;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use bus_core::Method;
use bus_harness::{BrowserKind, Origins, Serve};
use bus_server::{BusServer, Services};
use serde::{Deserialize, Serialize};
use tower_http::services::ServeDir;

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
        let dir = www.to_owned();
        let served = Origins::new()
            .add(
                "bench",
                Serve::router_with(move |o| {
                    let bus = match bench_server(&o["bench"]) {
                        Ok(server) => server.route(),
                        Err(e) => {
                            let why = format!("the bench's bus server could not start: {e}");
                            get(move || async move {
                                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, why)
                            })
                        }
                    };
                    Router::new()
                        .route("/bus", bus)
                        .route(
                            "/echo",
                            get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo) }),
                        )
                        .fallback_service(ServeDir::new(dir))
                }),
            )
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

/// bench-app's small payload, as the bench page's bus sends it.
#[derive(Serialize, Deserialize)]
struct Small {
    a: u32,
    b: u32,
    c: f64,
}

const SMALL: Method<Small, Small> = Method::new("bench.small");

/// The bus at `/bus` on the bench page's origin: `bench.small` echoed.
fn bench_server(origin: &str) -> Result<BusServer, Error> {
    let options = bus_server::Options::new(bus_core::Allowlist::new([origin])?);
    let services = Services::new().serve(SMALL, |_page, s: Small| async move { Ok(s) });
    Ok(BusServer::new(options, services)?)
}

/// The raw contender: every binary message straight back.
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(m)) = ws.recv().await {
        let back = match m {
            Message::Binary(b) => Message::Binary(b),
            Message::Text(t) => Message::Text(t),
            Message::Close(_) => break,
            _ => continue,
        };
        if ws.send(back).await.is_err() {
            break;
        }
    }
}
