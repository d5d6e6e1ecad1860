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
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds every app and writes `<dist>/<app>/app.js` and `app_bg.wasm`:
/// with `release`, size-optimised (the `wasm-size` profile: opt-level z,
/// LTO; then wasm-opt `-Oz`), else a debug build. Returns `<dist>`: `target/demo`, or
/// `target/demo-test-hooks` with the e2e suite's hooks compiled in
/// (`test_hooks`; the demo people see has none). Processes that build at
/// the same time take turns.
pub fn build_demo(release: bool, test_hooks: bool) -> Result<PathBuf, Error> {
    let _turn = crate::lock::exclusive("demo-build")?;
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
            wasm_opt(&out.join("app_bg.wasm"))?;
        }
    }
    Ok(dist)
}

/// Generates the ES-module JS glue for `input` into `out` as
/// `<name>.js` and `<name>_bg.wasm`.
pub fn bindgen(input: &Path, out: &Path, name: &str) -> Result<(), Error> {
    std::fs::create_dir_all(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(input)
        .web(true)?
        // Lets `init()` find <name>_bg.wasm next to the JS without arguments.
        .omit_default_module_path(false)
        .out_name(name)
        .generate(out)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", input.display()))?;
    Ok(())
}

/// binaryen's wasm-opt, from the npm package pinned in `e2e/package-lock.json`
/// (Debian's binaryen is too old for current rustc output). Runs `npm ci` in
/// e2e/ when it is missing.
fn wasm_opt_script() -> Result<PathBuf, Error> {
    let e2e = workspace_root().join("e2e");
    let script = e2e.join("node_modules/binaryen/bin/wasm-opt");
    crate::npm::ensure_installed(&script, "binaryen's wasm-opt")?;
    Ok(script)
}

/// Optimises `wasm` for size in place with wasm-opt `-Oz`.
pub fn wasm_opt(wasm: &Path) -> Result<(), Error> {
    let script = wasm_opt_script()?;
    let status = Command::new("node")
        .arg(&script)
        .arg(wasm)
        .args(["-o"])
        .arg(wasm)
        .args([
            "-Oz",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-reference-types",
            "--enable-sign-ext",
            "--enable-mutable-globals",
        ])
        .status()
        .map_err(|e| format!("could not run node for wasm-opt: {e}; install Node.js"))?;
    if !status.success() {
        return Err(format!("wasm-opt failed on {} ({status})", wasm.display()).into());
    }
    Ok(())
}
