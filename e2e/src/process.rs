//! The demo's server as a separate process (the `demo-server` binary), for
//! scenarios that need several server processes joined by NATS, or a server
//! that is killed and started again on the same port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Error;

/// A running `demo-server`: the demo's three origins and the shop's bus.
#[derive(Debug)]
pub struct DemoServer {
    exe: PathBuf,
    dist: PathBuf,
    nats: Option<String>,
    port: u16,
    child: Option<Child>,
}

impl DemoServer {
    /// Starts `exe` (the `demo-server` binary) serving the demo built into
    /// `dist`, its host on a free port, its shop bus on NATS at `nats` if
    /// given; returns once the host's port accepts connections.
    pub fn start(exe: &Path, dist: &Path, nats: Option<&str>) -> Result<DemoServer, Error> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = DemoServer {
            exe: exe.to_owned(),
            dist: dist.to_owned(),
            nats: nats.map(str::to_owned),
            port,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// The host page, `http://127.0.0.1:<port>/`.
    pub fn parent_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Kills the process (SIGKILL: no goodbye to its sockets), as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same host port.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--dist")
            .arg(&self.dist)
            .args(["--parent-port", &self.port.to_string(), "--test-hooks"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = &self.nats {
            cmd.args(["--nats", url]);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        bus_harness::process::wait_listening(&mut child, self.port, Duration::from_secs(20))
            .map_err(|e| format!("demo-server: {e}"))?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.kill();
    }
}
