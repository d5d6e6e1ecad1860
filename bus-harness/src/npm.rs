//! The Node tools the harness uses, pinned by an npm lockfile: the
//! Playwright driver playwright-rs talks to (`playwright-core` 1.64.0),
//! binaryen's wasm-opt (`binaryen` 132.0.0) and esbuild (`esbuild` 0.28.2),
//! which minifies the wasm-bindgen glue. This workspace's pins are
//! `bus-harness/package.json` and its lockfile.
//!
//! The npm project is found from `PLAYWRIGHT_CLI_JS`, which playwright-rs
//! reads: `<project>/node_modules/playwright-core/cli.js`. Set it, with
//! `PLAYWRIGHT_NODE_EXE = "node"` and `PLAYWRIGHT_SKIP_DRIVER_DOWNLOAD = "1"`,
//! in your `.cargo/config.toml`'s `[env]` (see this workspace's).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// `<project>/node_modules/playwright-core/cli.js`, from `PLAYWRIGHT_CLI_JS`.
pub fn driver_cli() -> Result<PathBuf, Error> {
    std::env::var_os("PLAYWRIGHT_CLI_JS")
        .map(PathBuf::from)
        .ok_or_else(|| {
            "PLAYWRIGHT_CLI_JS is not set: point it at <npm project>/node_modules/playwright-core/cli.js \
             in .cargo/config.toml's [env] (relative = true), next to a package.json and lockfile \
             that pin playwright-core 1.64.0"
                .into()
        })
}

/// The npm project that holds the pinned tools.
pub fn project_dir() -> Result<PathBuf, Error> {
    let cli = driver_cli()?;
    cli.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "PLAYWRIGHT_CLI_JS ({}) is not <project>/node_modules/playwright-core/cli.js",
                cli.display()
            )
            .into()
        })
}

/// `npm ci` in the project, ready to run, once Node.js and npm are known to
/// be there; otherwise an error that says how to install them.
pub fn ci_command() -> Result<Command, Error> {
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!(
                "`{tool}` is missing; the browser tests (the Playwright driver) and size builds \
                 (wasm-opt) need Node.js and npm: install them (Debian: `sudo apt-get install \
                 nodejs npm`), then rerun"
            )
            .into());
        }
    }
    let dir = project_dir()?;
    let mut ci = Command::new("npm");
    ci.current_dir(dir)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    Ok(ci)
}

/// Makes sure `file`, which the pinned packages provide (`what` says what it
/// is for), is installed: runs `npm ci` when it is missing. Test binaries
/// that find it missing at the same time take turns, so the install runs
/// once.
pub fn ensure_installed(file: &Path, what: &str) -> Result<(), Error> {
    if file.is_file() {
        return Ok(());
    }
    let _turn = crate::lock::exclusive("npm-ci")?;
    if file.is_file() {
        return Ok(());
    }
    let status = ci_command()?
        .status()
        .map_err(|e| format!("`npm ci` for {what} could not start: {e}"))?;
    if !status.success() || !file.is_file() {
        return Err(format!(
            "{what} is missing ({}) and `npm ci` in {} did not install it ({status}); \
             run it by hand to see why",
            file.display(),
            project_dir()?.display()
        )
        .into());
    }
    Ok(())
}

/// Makes sure the Playwright driver is installed.
pub fn ensure_driver() -> Result<(), Error> {
    ensure_installed(&driver_cli()?, "the Playwright driver")
}

/// esbuild's native binary (run it directly), installed if missing.
pub fn esbuild() -> Result<PathBuf, Error> {
    let bin = project_dir()?.join("node_modules/esbuild/bin/esbuild");
    ensure_installed(&bin, "esbuild (npm `esbuild` 0.28.2)")?;
    Ok(bin)
}

/// binaryen's wasm-opt script (run it with node), installed if missing.
pub fn wasm_opt_script() -> Result<PathBuf, Error> {
    let script = project_dir()?.join("node_modules/binaryen/bin/wasm-opt");
    ensure_installed(&script, "binaryen's wasm-opt (npm `binaryen` 132.0.0)")?;
    Ok(script)
}
