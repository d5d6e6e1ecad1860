//! Builds the demo apps for wasm32 and generates their JS glue with the
//! wasm-bindgen library (same version as the `wasm-bindgen` crate, pinned by
//! Cargo.lock): no trunk, no external CLI, no download.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The apps, by package name.
pub const APPS: [&str; 2] = ["demo-parent", "demo-child"];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    bus_harness::target_dir().unwrap_or_else(|_| workspace_root().join("target"))
}

/// Builds every app and writes `<dist>/<app>/app.js` and `app_bg.wasm`:
/// with `release`, size-optimised (the `wasm-size` profile: opt-level z,
/// LTO; then wasm-opt `-Oz` and the glue minified), else a debug build. Returns `<dist>`: `target/demo`, or
/// `target/demo-test-hooks` with the e2e suite's hooks compiled in
/// (`test_hooks`; the demo people see has none). Processes that build at
/// the same time take turns.
pub fn build_demo(release: bool, test_hooks: bool) -> Result<PathBuf, Error> {
    let _turn = bus_harness::lock::exclusive("wasm-build")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--target", "wasm32-unknown-unknown"]);
    if release {
        cmd.args(["--profile", "wasm-size"]);
    }
    for app in APPS {
        cmd.args(["-p", app]);
        if test_hooks {
            cmd.args(["--features", &format!("{app}/test-hooks")]);
        }
    }
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo to build the demo apps: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the demo apps for wasm32 failed ({status}); is the target installed? \
             `rustup target add wasm32-unknown-unknown`"
        )
        .into());
    }
    let profile = if release { "wasm-size" } else { "debug" };
    let wasm_dir = target_dir().join("wasm32-unknown-unknown").join(profile);
    let dist = target_dir().join(if test_hooks {
        "demo-test-hooks"
    } else {
        "demo"
    });
    for app in APPS {
        let input = wasm_dir.join(format!("{app}.wasm"));
        let out = dist.join(app);
        std::fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
        bindgen(&input, &out, "app")?;
        if release {
            bus_harness::wasm::optimize(&out, "app")?;
        }
    }
    Ok(dist)
}

pub use bus_harness::wasm::bindgen;
