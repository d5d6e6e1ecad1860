//! The demo suite: one [`bus_harness::Harness`] per browser and test binary,
//! serving the demo built with its test hooks, plus the demo's own helpers
//! ([`Demo`]).
//!
//! ```no_run
//! use e2e::browser::{BrowserKind, Demo, suite};
//!
//! #[test]
//! fn host_connects() {
//!     suite(BrowserKind::Firefox).run("host_connects", |t| async move {
//!         t.goto(&t.parent_url("")).await?;
//!         t.wait_text(&t.page().get_by_test_id("bus-status"), "connected", 10_000).await
//!     });
//! }
//! ```

pub use bus_harness::{BrowserKind, Harness, Test};
use playwright_rs::Page;
use playwright_rs::protocol::Frame;

use crate::Error;
use crate::serve::{Mode, Ports};

/// The demo suite in `kind`, started on first use: builds the demo
/// (release, with test hooks), serves it on free ports, launches the
/// browser. Panics with what to install or run when something is missing.
pub fn suite(kind: BrowserKind) -> &'static Harness {
    bus_harness::shared(kind, || {
        let dist = crate::bundle::build_demo(true, true)?;
        crate::bundle::build_bus_js()?;
        let mode = Mode {
            test_hooks: true,
            rogue_framing: false,
        };
        crate::serve::origins(&dist, Ports::ANY, mode)
    })
}

/// The demo's origins and frames, for a [`Test`].
pub trait Demo {
    /// The host page, `http://127.0.0.1:<port>/` plus `query` (e.g.
    /// `?child-path=no-bus.html`).
    fn parent_url(&self, query: &str) -> String;
    /// The widget's origin.
    fn child_origin(&self) -> &'static str;
    /// The rogue's origin.
    fn rogue_origin(&self) -> &'static str;
    /// The widget's frame in `page`.
    fn child_frame(&self, page: &Page) -> impl Future<Output = Result<Frame, Error>>;
}

impl Demo for Test {
    fn parent_url(&self, query: &str) -> String {
        self.url("parent", &format!("/{query}"))
    }

    fn child_origin(&self) -> &'static str {
        self.origin("child")
    }

    fn rogue_origin(&self) -> &'static str {
        self.origin("rogue")
    }

    fn child_frame(&self, page: &Page) -> impl Future<Output = Result<Frame, Error>> {
        self.frame_of(page, "child")
    }
}
