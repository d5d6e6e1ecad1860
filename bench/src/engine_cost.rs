//! What the protocol itself costs in wasm: two engines wired back to back
//! in memory, with no browser in between, making small calls one at a time.
//! The figure is the engine's whole share of a small bus round trip, on both
//! sides: encoding, decoding, session checks, call tracking and the typed
//! payload's serde.

use std::time::Duration;

use bus_core::attach::decode_parts;
use bus_core::{Allowlist, Channel, Config, Delivery, Engine, Role, Route, SourceId};
use wasm_bindgen::prelude::*;

use crate::timing::{SMALL, Small, performance};

const HOST: &str = "https://host.example";
const GUEST: &str = "https://guest.example";

fn engine(role: Role, peer: &str) -> Result<Engine, JsValue> {
    let allow = Allowlist::new([peer]).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let mut config = Config::new(role, allow);
    if role == Role::Host {
        config = config.with_peer_origin(peer);
    }
    // Any bytes will do for a cost: the session ids need not be secret here.
    let mut seed = 0u8;
    let entropy = move |buf: &mut [u8]| {
        for b in buf {
            seed = seed.wrapping_add(97);
            *b = seed;
        }
        Ok(())
    };
    Engine::new(config, entropy).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// Moves every frame `from` wants sent into `to`, as the browser would.
fn deliver(from: &mut Engine, from_origin: &str, to: &mut Engine, now: Duration) -> bool {
    let mut moved = false;
    while let Some(t) = from.poll_transmit() {
        moved = true;
        let channel = match t.route {
            Route::Window { .. } => Channel::Window {
                origin: from_origin,
                source: SourceId::PEER,
                with_port: t.attach_port,
            },
            _ => Channel::Port,
        };
        // The port is implied: port frames are delivered regardless.
        let _ = to.handle_frame(now, channel, &t.bytes);
    }
    moved
}

/// Answers every request with its own payload and decodes every reply, as
/// typed handlers and callers do; true if anything came.
fn serve(engine: &mut Engine, replies: &mut u32) -> bool {
    let mut any = false;
    while let Some(d) = engine.poll_delivery() {
        any = true;
        match d {
            Delivery::Request { id, payload, .. } => {
                let reply = SMALL
                    .accept_request_parts(&payload, Vec::new())
                    .and_then(|s| SMALL.finish_response_parts(Ok(s)));
                engine.reply_with(id, reply);
            }
            Delivery::Reply {
                result: Ok(bytes),
                attachments,
                ..
            } => *replies += u32::from(decode_parts::<Small>(&bytes, attachments).is_ok()),
            _ => {}
        }
    }
    any
}

fn pump(host: &mut Engine, guest: &mut Engine, now: Duration, replies: &mut u32) {
    loop {
        let mut moved = deliver(host, HOST, guest, now);
        moved |= serve(guest, replies);
        moved |= deliver(guest, GUEST, host, now);
        moved |= serve(host, replies);
        if !moved {
            return;
        }
    }
}

/// `n` small calls through two engines in memory; the mean µs per round
/// trip, both sides' protocol work and nothing else.
#[wasm_bindgen]
pub fn cost_engine(n: u32) -> Result<f64, JsValue> {
    let mut host = engine(Role::Host, GUEST)?;
    let mut guest = engine(Role::Guest, HOST)?;
    let now = Duration::ZERO;
    guest.connect(now);
    host.connect(now);
    let mut replies = 0;
    pump(&mut host, &mut guest, now, &mut replies);
    let perf = performance()?;
    let t0 = perf.now();
    for _ in 0..n {
        let small = Small { a: 1, b: 2, c: 3.5 };
        host.call_method(now, &SMALL, &small, None)
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        pump(&mut host, &mut guest, now, &mut replies);
    }
    let per_call = (perf.now() - t0) * 1000.0 / f64::from(n);
    if replies != n {
        return Err(JsValue::from_str(&format!(
            "{replies} of {n} calls were answered"
        )));
    }
    Ok(per_call)
}
