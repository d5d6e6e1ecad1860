//! Where the workspace being tested keeps its build output.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::Error;

/// Cargo's target directory of the workspace being tested:
/// `CARGO_TARGET_DIR`, else what `cargo metadata` says.
pub fn target_dir() -> Result<PathBuf, Error> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| find_target_dir().map_err(|e| e.to_string()))
        .clone()
        .map_err(Into::into)
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn find_target_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(dir.into());
    }
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("could not run `cargo metadata`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "`cargo metadata` named no target_directory".into())
}
