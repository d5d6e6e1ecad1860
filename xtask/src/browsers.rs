//! The browsers the checks drive, found or installed: Chromium and
//! ChromeDriver, Firefox and geckodriver, WebKitGTK's WebKitWebDriver (with
//! an Xvfb display for it), and the npm Playwright driver. Plus the command
//! that runs bus-web's browser tests in one of them.

use std::env;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use bus_harness::BrowserKind;
use bus_harness::browser::{find_on_path, find_tool};

use crate::{Result, WASM_TARGET, cargo, output, root, run};

/// The geckodriver release the Firefox browser tests use.
const GECKODRIVER: &str = "0.37.0";

/// Chromium, its WebDriver and Firefox, as the browser tests need them.
pub(crate) struct Browser {
    pub(crate) chromium: PathBuf,
    pub(crate) chromedriver: PathBuf,
    pub(crate) firefox: PathBuf,
}

fn find_chromedriver() -> Option<PathBuf> {
    find_tool("CHROMEDRIVER", &["chromedriver"])
}

fn find_webkit_driver() -> Option<PathBuf> {
    find_tool("WEBKIT_WEBDRIVER", &["WebKitWebDriver"])
}

fn find_xvfb() -> Option<PathBuf> {
    find_tool("XVFB", &["Xvfb"])
}

/// The Debian packages of Chromium, ChromeDriver and Firefox that are missing.
fn missing_packages() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if BrowserKind::Chromium.find().is_err() || find_chromedriver().is_none() {
        missing.extend([BrowserKind::Chromium.package(), "chromium-driver"]);
    }
    if BrowserKind::Firefox.find().is_err() {
        missing.push(BrowserKind::Firefox.package());
    }
    missing
}

/// The Debian packages for WebKit that are missing.
fn missing_webkit_packages() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if find_webkit_driver().is_none() {
        missing.push("webkit2gtk-driver");
    }
    if find_xvfb().is_none() {
        missing.push("xvfb");
    }
    missing
}

/// Installs `packages` with apt-get when running as root; otherwise says
/// exactly what to install.
fn apt_install(packages: &[&str]) -> Result {
    if packages.is_empty() {
        return Ok(());
    }
    let root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = find_on_path(&["apt-get"]).is_some();
    let list = packages.join(" ");
    if !(root && apt) {
        return Err(format!(
            "the tests need packages that are missing: {list}. Install them \
             (Debian/Ubuntu: `sudo apt-get install {list}`), or point CHROMIUM, CHROMEDRIVER, \
             FIREFOX, NATS_SERVER (or WEBKIT_WEBDRIVER and XVFB) at them, then rerun"
        ));
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run("apt-get update", update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(&format!("install {list}"), install)
}

/// Finds Chromium, ChromeDriver and Firefox; installs Debian's when running
/// as root.
pub(crate) fn ensure_browser() -> Result<Browser> {
    apt_install(&missing_packages())?;
    match (
        BrowserKind::Chromium.find(),
        find_chromedriver(),
        BrowserKind::Firefox.find(),
    ) {
        (Ok(chromium), Some(chromedriver), Ok(firefox)) => Ok(Browser {
            chromium,
            chromedriver,
            firefox,
        }),
        _ => Err(format!(
            "apt-get ran, but {} is still not on PATH",
            missing_packages().join(", ")
        )),
    }
}

/// `nats-server`, which the scale-out tests start (bus-server's and the e2e
/// suite's): found, or installed from Debian's packages when running as root.
pub(crate) fn ensure_nats() -> Result<PathBuf> {
    if let Ok(p) = bus_harness::nats::find() {
        return Ok(p);
    }
    apt_install(&["nats-server"])?;
    bus_harness::nats::find()
}

/// Finds WebKitWebDriver (with MiniBrowser) and Xvfb; installs Debian's
/// when running as root.
pub(crate) fn ensure_webkit() -> Result {
    apt_install(&missing_webkit_packages())?;
    match missing_webkit_packages().as_slice() {
        [] => Ok(()),
        still => Err(format!(
            "apt-get ran, but {} is still not on PATH",
            still.join(", ")
        )),
    }
}

/// geckodriver, which the wasm-bindgen test runner needs to drive Firefox:
/// `GECKODRIVER`, one on `PATH`, or the pinned version built from crates.io
/// with `cargo install` into cargo's own tool directory (`$CARGO_HOME/bin`),
/// where it stays for the next clone, like the Debian packages (Debian does
/// not package it; about 200 s on 2 cores, once).
pub(crate) fn ensure_geckodriver() -> Result<PathBuf> {
    if let Some(p) = find_tool("GECKODRIVER", &["geckodriver"]) {
        return Ok(p);
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set: set GECKODRIVER to a geckodriver")?;
    let bin = cargo_home.join("bin").join("geckodriver");
    if !bin.is_file() {
        let mut install = cargo();
        install
            .args(["install", "geckodriver", "--version", GECKODRIVER])
            .args(["--locked", "--root"])
            .arg(&cargo_home);
        run(
            &format!("build geckodriver {GECKODRIVER} (crates.io)"),
            install,
        )?;
    }
    Ok(bin)
}

/// The npm Playwright driver that playwright-rs drives and binaryen's wasm-opt
/// (`npm ci` in e2e/, pinned by its package-lock.json).
pub(crate) fn ensure_playwright_driver() -> Result {
    let ci = bus_harness::npm::ci_command().map_err(|e| e.to_string())?;
    run("npm ci (Playwright driver and wasm-opt)", ci)
}

/// An X display for WebKitGTK's MiniBrowser, which has no headless mode:
/// Xvfb on a display it picks itself, stopped when dropped.
pub(crate) struct Display {
    xvfb: Child,
    /// `:N`, for `DISPLAY`.
    pub(crate) name: String,
}

impl Display {
    pub(crate) fn start() -> Result<Display> {
        let xvfb = find_xvfb().ok_or("Xvfb is missing: `sudo apt-get install xvfb`")?;
        let mut child = Command::new(&xvfb)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x720x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", xvfb.display()))?;
        // Xvfb writes the display number it chose once it is ready.
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        let number = line.trim();
        if !matches!(read, Some(Ok(n)) if n > 0) || number.parse::<u32>().is_err() {
            let _ = child.kill();
            return Err(format!("{} did not report a display", xvfb.display()));
        }
        Ok(Display {
            name: format!(":{number}"),
            xvfb: child,
        })
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// The WebDriver server the wasm-bindgen test runner talks to.
pub(crate) enum WebDriver<'a> {
    Chrome,
    Gecko(PathBuf),
    /// WebKitWebDriver (it starts WebKitGTK's MiniBrowser) on an X display.
    WebKit(&'a Display),
}

/// `cargo test` of bus-web and bus-leptos for wasm32, run in Chromium, Firefox or WebKit by
/// this very binary acting as wasm-bindgen-test-runner.
pub(crate) fn web_tests(browser: &Browser, driver: WebDriver) -> Result<Command> {
    let dir = root().join("target").join("xtask");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let (capabilities, name) = match &driver {
        // Flags that keep Chromium quiet on a machine with no outside network.
        WebDriver::Chrome => (
            format!(
                r#"{{"goog:chromeOptions":{{"binary":{:?},"args":["disable-gpu","disable-background-networking","disable-component-update","disable-sync","disable-quic","no-first-run"]}}}}"#,
                browser.chromium.display().to_string()
            ),
            "chromium",
        ),
        // The runner adds -headless.
        WebDriver::Gecko(_) => (
            format!(
                r#"{{"moz:firefoxOptions":{{"binary":{:?}}}}}"#,
                browser.firefox.display().to_string()
            ),
            "firefox",
        ),
        // The runner sends no capabilities to this driver; it starts its
        // default browser, MiniBrowser.
        WebDriver::WebKit(_) => ("{}".to_owned(), "webkit"),
    };
    let webdriver_json = dir.join(format!("webdriver-{name}.json"));
    std::fs::write(&webdriver_json, capabilities)
        .map_err(|e| format!("write {}: {e}", webdriver_json.display()))?;
    let me = env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let mut cmd = cargo();
    cmd.args([
        "test",
        "-p",
        "bus-web",
        "-p",
        "bus-leptos",
        "--features",
        "bus-web/buffers,bus-web/websocket",
        "--target",
        WASM_TARGET,
    ])
    .env(
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
        format!("{} wasm-bindgen-test-runner", me.display()),
    )
    .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver_json)
    .env("WASM_BINDGEN_TEST_TIMEOUT", "120");
    // The runner takes the first driver variable it finds: set only this one.
    for var in ["CHROMEDRIVER", "GECKODRIVER", "SAFARIDRIVER"] {
        cmd.env_remove(var);
    }
    match driver {
        WebDriver::Chrome => {
            cmd.env("CHROMEDRIVER", &browser.chromedriver);
        }
        WebDriver::Gecko(path) => {
            cmd.env("GECKODRIVER", path);
        }
        WebDriver::WebKit(display) => {
            let driver = find_webkit_driver()
                .ok_or("WebKitWebDriver is missing: `sudo apt-get install webkit2gtk-driver`")?;
            // The runner speaks W3C WebDriver to it as it would to Safari's.
            cmd.env("SAFARIDRIVER", driver)
                .env("DISPLAY", &display.name);
        }
    }
    Ok(cmd)
}
