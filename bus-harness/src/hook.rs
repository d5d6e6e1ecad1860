//! Reads bus-web's opt-in test hook: every live connection's state and
//! counters in a page or frame. The app must be built with bus-web's
//! `test-hook` feature (test builds only; see `bus_web::test_hook`).
//!
//! ```no_run
//! # async fn f(t: bus_harness::Test) -> Result<(), bus_harness::Error> {
//! let conns = bus_harness::hook::read(t.page()).await?;
//! assert_eq!(conns[0].state_kind, "connected");
//! assert_eq!(conns[0].rejected_by("disallowed-origin"), 0);
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use playwright_rs::Page;
use playwright_rs::protocol::Frame;
use serde::Deserialize;

use crate::Error;

/// One connection as the hook shows it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BusConnection {
    /// The connection's id within its page.
    pub id: u64,
    /// The state as text: `"connected to https://shop.example (v1)"`.
    pub state: String,
    /// `"idle"`, `"connecting"`, `"connected"`, `"reconnecting"` or `"closed"`.
    pub state_kind: String,
    /// The peer's origin while connected.
    pub peer_origin: Option<String>,
    /// Calls waiting for a reply.
    pub pending_calls: u64,
    /// The peer's calls being served right now.
    pub serving_calls: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Other libraries' messages, ignored.
    pub foreign: u64,
    /// Frames rejected.
    pub rejected: u64,
    /// Rejections counted but not reported (the report queue was full).
    pub unreported: u64,
    /// Answers not queued because the outbox was full.
    pub shed: u64,
    /// Rejections by reason label (`bus_core::RejectReason::label`).
    pub rejected_by: std::collections::BTreeMap<String, u64>,
}

impl BusConnection {
    /// Rejections with this reason label (0 when none).
    pub fn rejected_by(&self, label: &str) -> u64 {
        self.rejected_by.get(label).copied().unwrap_or(0)
    }
}

const READ: &str = "(() => typeof globalThis.__busTestHook === 'function' \
    ? JSON.stringify(globalThis.__busTestHook()) : null)()";

const NO_HOOK: &str = "the page has no bus test hook (yet): build the app with bus-web's \
    `test-hook` feature (test builds only), and let it open a connection first";

/// `None` when the document has no hook (yet).
fn parse(value: serde_json::Value) -> Result<Option<Vec<BusConnection>>, Error> {
    match value.as_str() {
        Some(json) => Ok(Some(serde_json::from_str(json)?)),
        None => Ok(None),
    }
}

/// A document whose hook can be read: a [`Page`] (its top document) or a
/// [`Frame`] (see [`crate::Test::frame_of`]).
pub trait Document {
    /// The hook's connections, or `None` when the document has none (yet).
    fn read_hook(&self) -> impl Future<Output = Result<Option<Vec<BusConnection>>, Error>>;
}

impl Document for Page {
    async fn read_hook(&self) -> Result<Option<Vec<BusConnection>>, Error> {
        parse(self.evaluate::<(), serde_json::Value>(READ, None).await?)
    }
}

impl Document for Frame {
    async fn read_hook(&self) -> Result<Option<Vec<BusConnection>>, Error> {
        parse(self.evaluate::<()>(READ, None).await?)
    }
}

/// The connections of `doc`, a page or a frame.
pub async fn read(doc: &impl Document) -> Result<Vec<BusConnection>, Error> {
    doc.read_hook().await?.ok_or_else(|| NO_HOOK.into())
}

/// Polls the connections of `doc` (a page or a frame) every 50 ms until
/// `done` holds for them, for up to `timeout_ms`; returns them, or an error
/// showing the last ones. A document whose app has not started its bus yet
/// has none.
pub async fn wait(
    doc: &impl Document,
    timeout_ms: u64,
    done: impl Fn(&[BusConnection]) -> bool,
) -> Result<Vec<BusConnection>, Error> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let conns = doc.read_hook().await?;
        if let Some(conns) = conns.as_deref()
            && done(conns)
        {
            return Ok(conns.to_vec());
        }
        if Instant::now() >= deadline {
            return Err(match conns {
                Some(conns) => format!("waited {timeout_ms} ms; the connections are {conns:#?}"),
                None => format!("waited {timeout_ms} ms: {NO_HOOK}"),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
