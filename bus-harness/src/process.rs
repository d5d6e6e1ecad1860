//! A server run as a process of its own, for tests that need several server
//! processes, one that crashes or one that hangs: started on a free loopback
//! port, killable (as a crash), pausable (as a hang: its sockets stay open
//! and silent) and restartable on the same port, stopped when dropped.

use std::fmt;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Makes the command that starts the server listening on the given port.
type MakeCommand = Box<dyn Fn(u16) -> Command + Send + Sync>;

/// A running server process (see the [module docs](self)).
pub struct ServerProcess {
    name: String,
    command: MakeCommand,
    port: u16,
    within: Duration,
    child: Option<Child>,
}

impl fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl ServerProcess {
    /// Picks a free port, runs `command(port)`, and returns once something
    /// accepts connections on it; fails (naming the server `name`) when the
    /// process cannot start, exits first, or does not listen `within`.
    pub fn start(
        name: &str,
        within: Duration,
        command: impl Fn(u16) -> Command + Send + Sync + 'static,
    ) -> Result<ServerProcess, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("{name}: no free port: {e}"))?
            .port();
        let mut server = ServerProcess {
            name: name.to_owned(),
            command: Box::new(command),
            port,
            within,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// The port it listens on, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the process (SIGKILL: no goodbye to its sockets), as a crash
    /// would, leaving the port free.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP, sent with `kill`), as a server that
    /// hangs: its sockets stay open, nothing on them is answered, and new
    /// connections wait in the listen queue until [`resume`](Self::resume).
    pub fn pause(&self) -> Result<(), String> {
        self.signal("STOP")
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) -> Result<(), String> {
        self.signal("CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| format!("{} is not running", self.name))?;
        let status = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .map_err(|e| format!("{}: cannot run kill -{signal}: {e}", self.name))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{}: kill -{signal} failed ({status})", self.name))
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = (self.command)(self.port);
        let mut child = command.spawn().map_err(|e| {
            let program = command.get_program().to_string_lossy().into_owned();
            format!("cannot start {} ({program}): {e}", self.name)
        })?;
        wait_listening(&mut child, self.port, self.within)
            .map_err(|e| format!("{}: {e}", self.name))?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until something accepts connections on `127.0.0.1:<port>`, or
/// fails (killing `child`) when `child` exits first or `within` passes.
fn wait_listening(child: &mut Child, port: u16, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "it exited before listening on port {port}: {status}"
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "it did not listen on port {port} within {within:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
