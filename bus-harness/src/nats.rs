//! A real `nats-server` for tests of servers that scale out on NATS:
//! started on a free loopback port, restartable on the same port, stopped
//! when dropped. A missing `nats-server` fails with the command that
//! installs it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::browser::find_tool;
use crate::process::ServerProcess;

/// The error when no `nats-server` can be found.
pub const MISSING: &str = "nats-server is not installed: install it (Debian/Ubuntu: \
    `sudo apt-get install nats-server`; `cargo xtask test` does it), or point NATS_SERVER at it";

/// `NATS_SERVER`, or `nats-server` on `PATH` (Debian puts it in `/usr/sbin`).
pub fn find() -> Result<PathBuf, String> {
    find_tool("NATS_SERVER", &["nats-server"])
        .or_else(|| {
            let sbin = PathBuf::from("/usr/sbin/nats-server");
            sbin.is_file().then_some(sbin)
        })
        .ok_or_else(|| MISSING.to_owned())
}

/// A running `nats-server` on `127.0.0.1`.
#[derive(Debug)]
pub struct NatsServer {
    process: ServerProcess,
}

impl NatsServer {
    /// Starts one on a free port and waits until it accepts connections.
    pub fn start() -> Result<NatsServer, String> {
        let exe = find()?;
        let process = ServerProcess::start("nats-server", Duration::from_secs(10), move |port| {
            let mut cmd = Command::new(&exe);
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            cmd
        })?;
        Ok(NatsServer { process })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.process.port())
    }

    /// Kills the server (as a crash would), leaving the port free.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.process.restart()
    }
}
