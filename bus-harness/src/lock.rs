//! Turns between processes: test binaries (and xtask) that start at the
//! same time must not run `npm ci` or write the same build output at once.

use std::fs::{File, OpenOptions};

use crate::Error;

/// Holds an exclusive lock on `target/<name>.lock` until dropped.
pub fn exclusive(name: &str) -> Result<File, Error> {
    let dir = crate::target::target_dir()?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("lock {}: {e}", path.display()))?;
    Ok(file)
}
