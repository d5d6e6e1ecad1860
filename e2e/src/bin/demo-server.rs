//! The demo's server as a process of its own: the three origins and the
//! shop's bus at `/bus`, for the scenarios that need several server
//! processes (joined by NATS) or a server that restarts. Serves a demo that
//! is already built (`bundle::build_demo`).
//!
//! `demo-server --dist DIR [--parent-port N] [--child-port N] [--rogue-port N]
//! [--nats URL] [--test-hooks]`; prints the origins once serving, stops on
//! Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use e2e::serve::{Mode, Ports};

fn main() -> ExitCode {
    let mut dist = None;
    let mut ports = Ports::ANY;
    let mut mode = Mode::default();
    let mut nats = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        let port = |v: String| {
            v.parse::<u16>()
                .map_err(|_| format!("{arg} needs a port, not {v:?}"))
        };
        let parsed = match arg.as_str() {
            "--dist" => {
                dist = Some(PathBuf::from(value()));
                Ok(())
            }
            "--parent-port" => port(value()).map(|p| ports.parent = p),
            "--child-port" => port(value()).map(|p| ports.child = p),
            "--rogue-port" => port(value()).map(|p| ports.rogue = p),
            "--nats" => {
                nats = Some(value());
                Ok(())
            }
            "--test-hooks" => {
                mode.test_hooks = true;
                Ok(())
            }
            other => Err(format!("unknown option {other:?}")),
        };
        if let Err(e) = parsed {
            eprintln!("demo-server: {e}");
            return ExitCode::from(2);
        }
    }
    let Some(dist) = dist else {
        eprintln!(
            "demo-server: --dist DIR is required (the built demo, see e2e::bundle::build_demo)"
        );
        return ExitCode::from(2);
    };
    match e2e::serve::serve_until_ctrl_c(dist, ports, mode, nats) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-server: {e}");
            ExitCode::FAILURE
        }
    }
}
