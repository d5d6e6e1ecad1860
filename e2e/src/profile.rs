//! A bench run under Chrome's CPU profiler: the bench page's main thread,
//! where every contender's host side runs, and the main thread of the
//! process that runs its child frames (every contender's other side: the
//! frames share one site, so one process), each as a DevTools
//! `.cpuprofile`, sampled every 50 µs from the end of setup (frames loaded,
//! contenders connected) to the end of the run.
//!
//! The page is profiled through a CDP session of its own; the child frames'
//! process through the same session's auto-attached target for the bus's
//! child frame (`Target.sendMessageToTarget`: Playwright's sessions take no
//! session ids of their own).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use playwright_rs::protocol::CDPSession;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::Error;
use crate::bench::{BenchPage, BenchRun, runtime};

/// What a profiled run produced.
#[derive(Debug)]
pub struct ProfiledRun {
    /// The run, as [`crate::bench::run_browser_bench`] returns it.
    pub run: BenchRun,
    /// The bench page's main thread.
    pub host: Value,
    /// The main thread of the child frames' process.
    pub child: Value,
}

/// Serves `www`, starts `ws_server` and runs the bench page with `query`
/// (see [`crate::bench::run_browser_bench`]), profiling both sides.
pub fn profile_browser_bench(
    www: &Path,
    query: &str,
    ws_server: &Path,
) -> Result<ProfiledRun, Error> {
    runtime()?.block_on(async {
        let bench = BenchPage::open(www, query, ws_server).await?;
        bench
            .page
            .evaluate::<(), bool>("window.setupBench()", None)
            .await?;
        let host = bench.page.context()?.new_cdp_session(&bench.page).await?;
        let child = ChildTarget::attach(&host, "contender=bus&").await?;
        for (method, params) in [
            ("Profiler.enable", json!({})),
            ("Profiler.setSamplingInterval", json!({ "interval": 50 })),
            ("Profiler.start", json!({})),
        ] {
            host.send(method, Some(params.clone())).await?;
            child.send(method, params).await?;
        }
        let report = bench.run().await?;
        // Playwright wraps a CDP result: `{ "result": { "profile": … } }`.
        let mut stopped = host.send("Profiler.stop", None).await?;
        let host_profile = take_profile(stopped.pointer_mut("/result/profile"))?;
        let mut stopped = child.send("Profiler.stop", json!({})).await?;
        let child_profile = take_profile(stopped.pointer_mut("/profile"))?;
        let _ = host.detach().await;
        Ok(ProfiledRun {
            run: BenchRun {
                report,
                browser: bench.close().await,
            },
            host: host_profile,
            child: child_profile,
        })
    })
}

fn take_profile(profile: Option<&mut Value>) -> Result<Value, Error> {
    Ok(profile
        .map(Value::take)
        .ok_or("Profiler.stop returned no profile")?)
}

type Replies = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A child frame's target, reached through the page's session.
struct ChildTarget {
    page: CDPSession,
    session: String,
    replies: Replies,
    next: AtomicU64,
}

impl ChildTarget {
    /// Auto-attaches the page's session to its frames' targets and picks
    /// the frame whose URL contains `url_part`.
    async fn attach(page: &CDPSession, url_part: &str) -> Result<ChildTarget, Error> {
        let attached: Arc<Mutex<Vec<Value>>> = Arc::default();
        let replies: Replies = Arc::default();
        let seen = Arc::clone(&attached);
        page.on("Target.attachedToTarget", move |event: Value| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(params(event));
                Ok(())
            }
        });
        let waiting = Arc::clone(&replies);
        page.on("Target.receivedMessageFromTarget", move |event: Value| {
            let waiting = Arc::clone(&waiting);
            async move {
                let message: Option<Value> = params(event)["message"]
                    .as_str()
                    .and_then(|m| serde_json::from_str(m).ok());
                if let Some(message) = message
                    && let Some(id) = message["id"].as_u64()
                    && let Some(reply) = waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id)
                {
                    let _ = reply.send(message);
                }
                Ok(())
            }
        });
        page.send(
            "Target.setAutoAttach",
            Some(json!({ "autoAttach": true, "waitForDebuggerOnStart": false, "flatten": false })),
        )
        .await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let session = loop {
            let found = attached
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .find(|t| {
                    t["targetInfo"]["url"]
                        .as_str()
                        .is_some_and(|u| u.contains(url_part))
                })
                .and_then(|t| t["sessionId"].as_str().map(str::to_owned));
            if let Some(session) = found {
                break session;
            }
            if Instant::now() > deadline {
                return Err(
                    format!("no child frame whose URL contains {url_part:?} to profile").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Ok(ChildTarget {
            page: page.clone(),
            session,
            replies,
            next: AtomicU64::new(1),
        })
    }

    /// Sends a CDP command to the frame's target; its result.
    async fn send(&self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.page
            .send(
                "Target.sendMessageToTarget",
                Some(json!({ "sessionId": self.session, "message": message })),
            )
            .await?;
        let reply = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .map_err(|_| format!("the child frame did not answer {method}"))?
            .map_err(|_| format!("the child frame's session closed before answering {method}"))?;
        if let Some(error) = reply.get("error") {
            return Err(format!("{method} in the child frame: {error}").into());
        }
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }
}

/// An event's parameters, whether Playwright passes them bare or wrapped.
fn params(event: Value) -> Value {
    match event.get("params") {
        Some(p) => p.clone(),
        None => event,
    }
}
