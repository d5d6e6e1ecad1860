//! The Node tools the build and tests use, pinned in `e2e/package-lock.json`:
//! the Playwright driver playwright-rs talks to, and binaryen's wasm-opt.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;
use crate::bundle::workspace_root;

/// `npm ci` in e2e/, ready to run, once Node.js and npm are known to be
/// there; otherwise an error that says how to install them.
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
                "`{tool}` is missing; the demo build (wasm-opt) and the e2e suite (the Playwright \
                 driver) need Node.js and npm: install them (Debian: `sudo apt-get install nodejs npm`), \
                 then rerun"
            )
            .into());
        }
    }
    let mut ci = Command::new("npm");
    ci.current_dir(workspace_root().join("e2e")).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]);
    Ok(ci)
}

/// Makes sure `file`, which the pinned packages provide (`what` says what it
/// is for), is installed: runs `npm ci` in e2e/ when it is missing. Test
/// binaries that find it missing at the same time take turns,
/// so the install runs once.
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
        .map_err(|e| format!("`npm ci` in e2e/ for {what} could not start: {e}"))?;
    if !status.success() || !file.is_file() {
        return Err(format!(
            "{what} is missing ({}) and `npm ci` in e2e/ did not install it ({status}); \
             run it by hand to see why",
            file.display()
        )
        .into());
    }
    Ok(())
}
