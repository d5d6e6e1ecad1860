//! Builds the demo apps for wasm32 and generates their JS glue, through
//! [`bus_harness::WasmApp`]: no trunk, no external CLI, no download.

use std::path::{Path, PathBuf};

use bus_harness::WasmApp;

use crate::Error;

/// The apps, by package name.
pub const APPS: [&str; 2] = ["demo-parent", "demo-child"];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Where [`build_demo`] writes the demo: `target/demo`, or
/// `target/demo-test-hooks` with the e2e suite's hooks.
pub fn demo_dist(test_hooks: bool) -> Result<PathBuf, Error> {
    Ok(bus_harness::target_dir()?.join(if test_hooks {
        "demo-test-hooks"
    } else {
        "demo"
    }))
}

/// Builds every app with [`bus_harness::WasmApp`] and writes
/// `<dist>/<app>/app.js` and `app_bg.wasm`: with `release`, size-optimised
/// (the `wasm-size` profile: opt-level z, LTO; then wasm-opt `-Oz` and the
/// glue minified), else a debug build. Returns `<dist>`: `target/demo`, or
/// `target/demo-test-hooks` with the e2e suite's hooks compiled in
/// (`test_hooks`; the demo people see has none).
pub fn build_demo(release: bool, test_hooks: bool) -> Result<PathBuf, Error> {
    let dist = demo_dist(test_hooks)?;
    let features: &[&str] = if test_hooks { &["test-hooks"] } else { &[] };
    for app in APPS {
        WasmApp::new(app)
            .features(features)
            .profile(if release { "wasm-size" } else { "dev" })
            .optimize(release)
            .out_name("app")
            .out_dir(dist.join(app))
            .build()?;
    }
    Ok(dist)
}

/// Builds the TypeScript peer into `bus-js/dist/` (`index.js`, the minified
/// ESM bundle, and its `.d.ts`): `npm ci` of its pinned TypeScript and
/// esbuild when they are missing, then `npm run build`, and `npm run demo`:
/// the demo's TypeScript host and widget (`demo-ts/dist/`), type-checked
/// against the generated contract. Test binaries that build at the same
/// time take turns. Returns `bus-js/dist`.
pub fn build_bus_js() -> Result<PathBuf, Error> {
    let dir = workspace_root().join("bus-js");
    let _turn = bus_harness::lock::exclusive("bus-js")?;
    if !dir.join("node_modules/.bin/esbuild").is_file() {
        let mut ci = bus_harness::npm::ci_command()?;
        ci.current_dir(&dir);
        let status = ci.status()?;
        if !status.success() {
            return Err(format!("npm ci in {} failed ({status})", dir.display()).into());
        }
    }
    // The peer, then the demo's TypeScript pages (demo-ts) on it.
    for script in ["build", "demo"] {
        let status = std::process::Command::new("npm")
            .current_dir(&dir)
            .args(["run", script, "--silent"])
            .status()?;
        if !status.success() {
            return Err(format!(
                "`npm run {script}` in bus-js failed ({status}): run `cargo xtask js` to see why"
            )
            .into());
        }
    }
    Ok(dir.join("dist"))
}
