//! Browsers through playwright-rs: Chromium and Firefox, both the system's
//! own builds (Debian's `chromium` and `firefox-esr`; Playwright downloads
//! nothing). A [`Harness`] is one browser plus the origins it tests, shared
//! by every test of a binary ([`shared`]); each test gets a fresh browser
//! context, and on failure a screenshot of every page and the console log,
//! saved under `target/harness/<browser>/<test>/`.
//!
//! ```no_run
//! use bus_harness::{BrowserKind, Origins, Serve, shared};
//!
//! #[test]
//! fn widget_loads() {
//!     let h = shared(BrowserKind::Firefox, || {
//!         Ok(Origins::new().add("host", Serve::dir("site")).add("widget", Serve::dir("widget")))
//!     });
//!     h.run("widget_loads", |t| async move {
//!         t.goto(&t.url("host", "/")).await?;
//!         t.wait_text(&t.page().locator("h1"), "Shop", 5_000).await
//!     });
//! }
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use playwright_rs::protocol::Frame;
use playwright_rs::{Browser, BrowserContext, LaunchOptions, Locator, Page, Playwright};
use tokio::runtime::Runtime;

use crate::Error;
use crate::origins::{Names, Origins, Served};

/// Flags that keep Chromium quiet and working as root on a machine with no
/// outside network.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--site-per-process",
];

/// The browsers the harness drives. Both are the system's own builds
/// (Debian's `chromium` and `firefox-esr`): Playwright downloads nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BrowserKind {
    /// Chromium, through the Chrome DevTools Protocol.
    Chromium,
    /// Firefox (ESR), through WebDriver BiDi (Playwright's `moz-firefox`
    /// channel).
    Firefox,
}

impl BrowserKind {
    /// Both browsers, in the order the suite runs them.
    pub const ALL: [BrowserKind; 2] = [BrowserKind::Chromium, BrowserKind::Firefox];

    /// `"chromium"` or `"firefox"`: test names, artifact folders.
    pub fn name(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "chromium",
            BrowserKind::Firefox => "firefox",
        }
    }

    /// The environment variable that points at the browser's binary.
    pub fn env_var(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "CHROMIUM",
            BrowserKind::Firefox => "FIREFOX",
        }
    }

    /// The Debian package that provides the browser.
    pub fn package(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "chromium",
            BrowserKind::Firefox => "firefox-esr",
        }
    }

    fn binaries(self) -> &'static [&'static str] {
        match self {
            BrowserKind::Chromium => &["chromium", "chromium-browser", "google-chrome"],
            BrowserKind::Firefox => &["firefox-esr", "firefox"],
        }
    }

    /// The browser's path: its environment variable ([`Self::env_var`]), or
    /// the first matching binary on `PATH`; otherwise an error with the
    /// install command.
    pub fn find(self) -> Result<PathBuf, Error> {
        find_tool(self.env_var(), self.binaries()).ok_or_else(|| {
            format!(
                "{self} is not installed: run `cargo xtask test` (it installs Debian's {pkg} as \
                     root) or `sudo apt-get install {pkg}`, or point {var} at a {self} binary",
                pkg = self.package(),
                var = self.env_var(),
            )
            .into()
        })
    }
}

/// A tool's path: the environment variable `var` if set, else the first of
/// `names` found on `PATH`.
pub fn find_tool(var: &str, names: &[&str]) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| find_on_path(names))
}

/// The first of `names` found on `PATH`.
pub fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

impl fmt::Display for BrowserKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrowserKind::Chromium => "Chromium",
            BrowserKind::Firefox => "Firefox",
        })
    }
}

/// Starts the Playwright driver and launches `kind` headless (Chromium with
/// [`CHROMIUM_FLAGS`]); says what to install when either is missing.
pub async fn launch(kind: BrowserKind) -> Result<(Playwright, Browser), Error> {
    let exe = kind.find()?;
    crate::npm::ensure_driver()?;
    let playwright = Playwright::launch()
        .await
        .map_err(|e| format!("cannot start the Playwright driver: {e}"))?;
    let options = LaunchOptions::new()
        .headless(true)
        .executable_path(exe.display().to_string());
    let (browser_type, options) = match kind {
        BrowserKind::Chromium => (
            playwright.chromium(),
            options.args(CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect()),
        ),
        BrowserKind::Firefox => (playwright.firefox(), options.channel("moz-firefox".into())),
    };
    let browser = browser_type
        .launch_with_options(options)
        .await
        .map_err(|e| format!("cannot launch {kind} ({}): {e}", exe.display()))?;
    Ok((playwright, browser))
}

/// One browser and the origins it tests, shared by a test binary's tests.
pub struct Harness {
    kind: BrowserKind,
    runtime: Runtime,
    served: Served,
    browser: Browser,
    _playwright: Playwright,
    artifacts: PathBuf,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("kind", &self.kind)
            .field("origins", self.served.names())
            .finish_non_exhaustive()
    }
}

static CHROMIUM: OnceLock<Result<Harness, String>> = OnceLock::new();
static FIREFOX: OnceLock<Result<Harness, String>> = OnceLock::new();

/// The test binary's harness for `kind`, started on first use with the
/// origins `setup` returns (it may build apps first; see
/// [`crate::WasmApp`]); later calls return the same harness. Panics with
/// what to install or run when something is missing: it never skips.
pub fn shared(
    kind: BrowserKind,
    setup: impl FnOnce() -> Result<Origins, Error>,
) -> &'static Harness {
    let cell = match kind {
        BrowserKind::Chromium => &CHROMIUM,
        BrowserKind::Firefox => &FIREFOX,
    };
    match cell.get_or_init(|| Harness::start(kind, setup).map_err(|e| e.to_string())) {
        Ok(h) => h,
        Err(e) => panic!("the browser harness cannot start in {kind}: {e}"),
    }
}

impl Harness {
    /// Checks the browser and driver, runs `setup`, serves its origins and
    /// launches the browser. Prefer [`shared`]: one browser per test binary.
    pub fn start(
        kind: BrowserKind,
        setup: impl FnOnce() -> Result<Origins, Error>,
    ) -> Result<Harness, Error> {
        // Fail on a missing browser or driver before a long build.
        kind.find()?;
        crate::npm::ensure_driver()?;
        let origins = setup()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (served, playwright, browser) = runtime.block_on(async {
            let served = origins.serve().await?;
            let (playwright, browser) = launch(kind).await?;
            Ok::<_, Error>((served, playwright, browser))
        })?;
        let artifacts = crate::target::target_dir()?
            .join("harness")
            .join(kind.name());
        Ok(Harness {
            kind,
            runtime,
            served,
            browser,
            _playwright: playwright,
            artifacts,
        })
    }

    /// The browser this harness drives.
    pub fn kind(&self) -> BrowserKind {
        self.kind
    }

    /// Every origin by name.
    pub fn names(&self) -> &Names {
        self.served.names()
    }

    /// Runs `future` on the harness's runtime (for setup outside a test).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Runs one test in a fresh browser context. When `body` fails — returns
    /// an error or panics (an `assert!`) — it saves a screenshot of every
    /// page and the console log under `target/harness/<browser>/<name>/`,
    /// and panics with the error, naming the browser and that folder.
    pub fn run<F, Fut>(&'static self, name: &str, body: F)
    where
        F: FnOnce(Test) -> Fut,
        Fut: Future<Output = Result<(), Error>>,
    {
        let outcome: Result<(), String> = self.runtime.block_on(async {
            let context = self
                .browser
                .new_context()
                .await
                .map_err(|e| e.to_string())?;
            let page = context.new_page().await.map_err(|e| e.to_string())?;
            let console = Arc::new(Mutex::new(Vec::new()));
            let test = Test {
                harness: self,
                context: context.clone(),
                page: page.clone(),
                console: console.clone(),
            };
            test.capture_console(&page, "page").await;
            let result = CatchPanic(Box::pin(body(test.clone()))).await;
            let outcome = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!(
                    "{e}\n{}",
                    self.save_artifacts(name, &context, &console).await
                )),
                Err(panic) => Err(format!(
                    "{}\n{}",
                    panic_message(&*panic),
                    self.save_artifacts(name, &context, &console).await
                )),
            };
            let _ = context.close().await;
            outcome
        });
        if let Err(e) = outcome {
            panic!("{name} failed in {}: {e}", self.kind);
        }
    }

    async fn save_artifacts(
        &self,
        name: &str,
        context: &BrowserContext,
        console: &Arc<Mutex<Vec<String>>>,
    ) -> String {
        let dir = self.artifacts.join(name);
        if std::fs::create_dir_all(&dir).is_err() {
            return format!("(could not create {})", dir.display());
        }
        for (i, page) in context.pages().iter().enumerate() {
            let _ = page
                .screenshot_to_file(&dir.join(format!("page-{i}.png")), None)
                .await;
        }
        let log = console.lock().map(|l| l.join("\n")).unwrap_or_default();
        let _ = std::fs::write(dir.join("console.log"), log);
        format!("screenshots and console log saved in {}", dir.display())
    }
}

/// Polls a test body, turning a panic in it into an `Err` so the failure
/// report is still written.
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_owned());
    format!("panicked: {text}")
}

/// One test's browser context and helpers.
#[derive(Clone)]
pub struct Test {
    harness: &'static Harness,
    context: BrowserContext,
    page: Page,
    console: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Test {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Test").finish_non_exhaustive()
    }
}

impl Test {
    /// The test's first page.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// The test's browser context.
    pub fn context(&self) -> &BrowserContext {
        &self.context
    }

    /// The browser the test runs in.
    pub fn kind(&self) -> BrowserKind {
        self.harness.kind
    }

    /// The origin named `name` (panics, naming the ones there are, if none).
    pub fn origin(&self, name: &str) -> &'static str {
        &self.harness.served.names()[name]
    }

    /// `origin(name)` followed by `path` (which starts with `/`).
    pub fn url(&self, name: &str, path: &str) -> String {
        self.harness.served.url(name, path)
    }

    /// Records `page`'s console messages (prefixed with `label`) for the
    /// failure report.
    pub async fn capture_console(&self, page: &Page, label: &str) {
        let sink = self.console.clone();
        let label = label.to_owned();
        let _ = page
            .on_console(move |msg| {
                let sink = sink.clone();
                let line = format!("[{label}] {}", msg.text());
                async move {
                    if let Ok(mut l) = sink.lock() {
                        l.push(line);
                    }
                    Ok(())
                }
            })
            .await;
    }

    /// Clicks `locator`, an element inside a cross-origin (out-of-process)
    /// iframe. In Chromium that is a real click. Headless Firefox 153 ESR
    /// driven over WebDriver BiDi does not route synthesized pointer input
    /// into out-of-process iframes at all (the frame sees no event; with
    /// Fission off it does), so there the element gets a `click` event
    /// dispatched instead. Firefox keeps Fission on: the frames stay in
    /// separate processes, as users have them.
    pub async fn click_in_frame(&self, locator: &Locator) -> Result<(), Error> {
        match self.harness.kind {
            BrowserKind::Chromium => locator.click(None).await?,
            BrowserKind::Firefox => locator.dispatch_event("click", None).await?,
        }
        Ok(())
    }

    /// Opens `url` in a new page of the test's context, with its console
    /// captured for the failure report.
    pub async fn open(&self, url: &str) -> Result<Page, Error> {
        let page = self.context.new_page().await?;
        self.capture_console(&page, url).await;
        page.goto(url, None)
            .await
            .map_err(|e| format!("goto {url}: {e}"))?;
        Ok(page)
    }

    /// Opens `url` in the test's page.
    pub async fn goto(&self, url: &str) -> Result<(), Error> {
        self.page
            .goto(url, None)
            .await
            .map_err(|e| format!("goto {url}: {e}"))?;
        Ok(())
    }

    /// Waits until `locator`'s text contains `needle`.
    pub async fn wait_text(
        &self,
        locator: &Locator,
        needle: &str,
        timeout_ms: u64,
    ) -> Result<(), Error> {
        let text = self
            .wait_for(locator, timeout_ms, |t| t.contains(needle))
            .await?;
        if text.contains(needle) {
            Ok(())
        } else {
            Err(format!("waited {timeout_ms} ms for {needle:?}; the text is {text:?}").into())
        }
    }

    /// Polls `locator`'s text until `done` holds or the time is up; returns
    /// the last text either way.
    pub async fn wait_for(
        &self,
        locator: &Locator,
        timeout_ms: u64,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, Error> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let text = locator
                .text_content()
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            if done(&text) || Instant::now() >= deadline {
                return Ok(text);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Evaluates `expression` (which may return a promise) in the page.
    pub async fn eval<T: serde::de::DeserializeOwned>(
        &self,
        page: &Page,
        expression: &str,
    ) -> Result<T, Error> {
        page.evaluate::<(), T>(expression, None)
            .await
            .map_err(|e| format!("evaluate {expression}: {e}").into())
    }

    /// Clicks `trigger` and returns the popup it opens, with its console
    /// captured for the failure report.
    pub async fn popup_from(&self, page: &Page, trigger: &Locator) -> Result<Page, Error> {
        let waiter = page.expect_popup(Some(15_000.0)).await?;
        trigger.click(None).await?;
        let popup = waiter
            .wait()
            .await
            .map_err(|e| format!("no popup opened: {e}"))?;
        self.capture_console(&popup, "popup").await;
        Ok(popup)
    }

    /// The first child frame of `page` showing the origin named `name`
    /// (cross-origin frames included), waiting up to 10 s for the page to
    /// add it.
    pub async fn frame_of(&self, page: &Page, name: &str) -> Result<Frame, Error> {
        let origin = format!("{}/", self.origin(name));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let main = page.main_frame().await?;
            if let Some(frame) = main
                .child_frames()
                .into_iter()
                .find(|f| !f.is_detached() && f.url().starts_with(&origin))
            {
                return Ok(frame);
            }
            if Instant::now() >= deadline {
                return Err(format!("no frame of {origin} in the page after 10 s").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_test_body_becomes_an_error_with_its_message() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(CatchPanic(Box::pin(async {
            tokio::task::yield_now().await;
            assert_eq!(2 + 2, 5, "arithmetic");
        })));
        let panic = outcome.expect_err("the panic is caught");
        assert!(
            panic_message(&*panic).contains("arithmetic"),
            "{}",
            panic_message(&*panic)
        );
        let fine = runtime.block_on(CatchPanic(Box::pin(async { 7 })));
        assert_eq!(fine.ok(), Some(7));
    }
}
