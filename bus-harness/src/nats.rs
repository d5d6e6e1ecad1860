//! A real `nats-server` for tests of servers that scale out on NATS:
//! started on a free loopback port, restartable on the same port, stopped
//! when dropped. A missing `nats-server` fails with the command that
//! installs it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::browser::find_tool;

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
    exe: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts one on a free port and waits until it accepts connections.
    pub fn start() -> Result<NatsServer, String> {
        let exe = find()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut server = NatsServer {
            exe,
            port,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would), leaving the port free.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.exe)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        crate::process::wait_listening(&mut child, self.port, Duration::from_secs(10))
            .map_err(|e| format!("nats-server: {e}"))?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
