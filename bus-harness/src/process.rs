//! Helpers for tests that start servers as processes of their own.

use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// Waits until something accepts connections on `127.0.0.1:<port>`, or
/// fails (killing `child`) when `child` exits first or `within` passes.
pub fn wait_listening(child: &mut Child, port: u16, within: Duration) -> Result<(), String> {
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
