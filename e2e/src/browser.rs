//! Chromium through playwright-rs: one browser per test binary, a fresh
//! context per test, and on failure a screenshot and the console log saved
//! under `target/e2e/<test>/`.
//!
//! ```no_run
//! use e2e::browser::suite;
//!
//! #[test]
//! fn host_connects() {
//!     suite().run("host_connects", |t| async move {
//!         t.goto(&t.parent_url("")).await?;
//!         t.wait_text(&t.page().get_by_test_id("bus-status"), "connected", 10_000).await
//!     });
//! }
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use playwright_rs::protocol::Frame;
use playwright_rs::{Browser, BrowserContext, LaunchOptions, Locator, Page, Playwright};
use tokio::runtime::Runtime;

use crate::Error;
use crate::serve::{Ports, Servers, serve};

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

/// Everything a test binary shares: the built demo, its servers, the browser.
pub struct Suite {
    runtime: Runtime,
    servers: Servers,
    browser: Browser,
    _playwright: Playwright,
    artifacts: PathBuf,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

static SUITE: OnceLock<Result<Suite, String>> = OnceLock::new();

/// The shared suite, started on first use: builds the demo (release), serves
/// it on free ports, launches Chromium. Panics with what to install or run
/// when something is missing; it never skips.
pub fn suite() -> &'static Suite {
    match SUITE.get_or_init(|| Suite::start().map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => panic!("the e2e suite cannot start: {e}"),
    }
}

/// Chromium's path: `CHROMIUM`, or the first Chromium on `PATH`.
pub fn find_chromium() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Ok(p.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "Chromium is not installed: run `cargo xtask test` (it installs Debian's chromium as root) \
             or `sudo apt-get install chromium`, or point CHROMIUM at a Chromium binary"
                .into()
        })
}

/// Makes sure the npm Playwright driver is installed where playwright-rs
/// looks, running `npm ci` in e2e/ (pinned by its lockfile) when it is not.
pub fn ensure_driver() -> Result<(), Error> {
    let cli = std::env::var_os("PLAYWRIGHT_CLI_JS")
        .map(PathBuf::from)
        .ok_or(
            "PLAYWRIGHT_CLI_JS is not set: run the tests through cargo in this workspace \
         (.cargo/config.toml sets it), or set it to node_modules/playwright-core/cli.js",
        )?;
    if !cli.is_file() {
        let status = crate::npm::ci_command()?
            .status()
            .map_err(|e| format!("`npm ci` for the Playwright driver could not start: {e}"))?;
        if !status.success() || !cli.is_file() {
            return Err(format!(
                "the Playwright driver is missing ({}) and `npm ci` in e2e/ did not install it \
                 ({status}); run it by hand to see why",
                cli.display()
            )
            .into());
        }
    }
    Ok(())
}

/// Starts the Playwright driver and launches Chromium headless with
/// [`CHROMIUM_FLAGS`]; says what to install when either is missing.
pub async fn launch_chromium() -> Result<(Playwright, Browser), Error> {
    let chromium = find_chromium()?;
    ensure_driver()?;
    let playwright = Playwright::launch()
        .await
        .map_err(|e| format!("cannot start the Playwright driver: {e}"))?;
    let options = LaunchOptions::new()
        .headless(true)
        .executable_path(chromium.display().to_string())
        .args(CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect());
    let browser = playwright
        .chromium()
        .launch_with_options(options)
        .await
        .map_err(|e| format!("cannot launch {}: {e}", chromium.display()))?;
    Ok((playwright, browser))
}

impl Suite {
    fn start() -> Result<Suite, Error> {
        // Fail on a missing browser or driver before the long demo build.
        find_chromium()?;
        ensure_driver()?;
        let dist = crate::bundle::build_demo(true, true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (servers, playwright, browser) = runtime.block_on(async {
            let mode = crate::serve::Mode {
                test_hooks: true,
                rogue_framing: false,
            };
            let servers = serve(&dist, Ports::ANY, mode).await?;
            let (playwright, browser) = launch_chromium().await?;
            Ok::<_, Error>((servers, playwright, browser))
        })?;
        let artifacts = crate::bundle::target_dir().join("e2e");
        Ok(Suite {
            runtime,
            servers,
            browser,
            _playwright: playwright,
            artifacts,
        })
    }

    /// The servers' origins.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    /// Runs one test in a fresh browser context. On failure it saves a
    /// screenshot of every page and the console log under
    /// `target/e2e/<name>/`, prints where, and panics with the error.
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
                suite: self,
                context: context.clone(),
                page: page.clone(),
                console: console.clone(),
            };
            test.capture_console(&page, "page").await;
            let result = body(test.clone()).await;
            let outcome = match result {
                Ok(()) => Ok(()),
                Err(e) => Err(format!(
                    "{e}\n{}",
                    self.save_artifacts(name, &context, &console).await
                )),
            };
            let _ = context.close().await;
            outcome
        });
        if let Err(e) = outcome {
            panic!("{name} failed: {e}");
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

/// One test's browser context and helpers.
#[derive(Clone)]
pub struct Test {
    suite: &'static Suite,
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

    /// `http://127.0.0.1:<port>/` plus `query` (e.g. `?child-path=no-bus.html`).
    pub fn parent_url(&self, query: &str) -> String {
        format!("{}/{query}", self.suite.servers.parent_origin)
    }

    /// The widget's origin.
    pub fn child_origin(&self) -> &str {
        &self.suite.servers.child_origin
    }

    /// The rogue's origin.
    pub fn rogue_origin(&self) -> &str {
        &self.suite.servers.rogue_origin
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

    /// The widget's frame in `page` (cross-origin), found by origin.
    pub async fn child_frame(&self, page: &Page) -> Result<Frame, Error> {
        let main = page.main_frame().await?;
        let origin = self.child_origin().to_owned();
        main.child_frames()
            .into_iter()
            .find(|f| f.url().starts_with(&origin))
            .ok_or_else(|| format!("no frame of {origin} in the page").into())
    }
}
