//! The Node tools the build and tests use, pinned in `e2e/package-lock.json`:
//! the Playwright driver playwright-rs talks to, and binaryen's wasm-opt.

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
