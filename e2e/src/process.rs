//! The demo's server as a separate process (the `demo-server` binary), for
//! scenarios that need several server processes joined by NATS, or a server
//! that is killed and started again on the same port.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bus_harness::process::ServerProcess;

use crate::Error;

/// A running `demo-server`: the demo's three origins and the shop's bus.
#[derive(Debug)]
pub struct DemoServer {
    process: ServerProcess,
}

impl DemoServer {
    /// Starts `exe` (the `demo-server` binary) serving the demo built into
    /// `dist`, its host on a free port, its shop bus on NATS at `nats` if
    /// given; returns once the host's port accepts connections.
    pub fn start(exe: &Path, dist: &Path, nats: Option<&str>) -> Result<DemoServer, Error> {
        let (exe, dist) = (exe.to_owned(), dist.to_owned());
        let nats = nats.map(str::to_owned);
        let process = ServerProcess::start("demo-server", Duration::from_secs(20), move |port| {
            let mut cmd = Command::new(&exe);
            cmd.arg("--dist")
                .arg(&dist)
                .args(["--parent-port", &port.to_string(), "--test-hooks"])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            if let Some(url) = &nats {
                cmd.args(["--nats", url]);
            }
            cmd
        })?;
        Ok(DemoServer { process })
    }

    /// The host page, `http://127.0.0.1:<port>/`.
    pub fn parent_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.process.port())
    }

    /// Kills the process (SIGKILL: no goodbye to its sockets), as a crash.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Freezes the process (SIGSTOP), as a hung server: its sockets stay
    /// open and silent.
    pub fn pause(&self) -> Result<(), Error> {
        Ok(self.process.pause()?)
    }

    /// Lets a paused process run again.
    pub fn resume(&self) -> Result<(), Error> {
        Ok(self.process.resume()?)
    }

    /// Starts it again on the same host port.
    pub fn restart(&mut self) -> Result<(), Error> {
        Ok(self.process.restart()?)
    }
}
