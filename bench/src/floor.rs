//! `wasm-floor`: the floor for any bus written in Rust and compiled to wasm,
//! with no protocol at all. It is the raw port's 40-byte echo
//! (`raw-port-bytes`) with each side's bytes going through wasm the way
//! bus-web moves a small frame: a wasm-bindgen closure as the port's
//! `onmessage`, the frame copied into wasm and a new one copied out, and the
//! host's call awaited as a Rust future (a `futures-channel` oneshot) behind
//! an async export. No envelope, session, origin check, timer or handler:
//! what a small bus call costs beyond this is the bus's own work.
//!
//! Replies come back in order on the one port, so a queue of waiting calls
//! matches them, and calls may be in flight.

use std::cell::RefCell;
use std::collections::VecDeque;

use futures_channel::oneshot;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, MessagePort};

/// A frame as long as the bus's small call.
const FRAME: usize = 40;

type Handler = Closure<dyn FnMut(JsValue)>;

struct Host {
    port: MessagePort,
    waiting: VecDeque<oneshot::Sender<Vec<u8>>>,
    _on_message: Handler,
}

thread_local! {
    static HOST: RefCell<Option<Host>> = const { RefCell::new(None) };
    static CHILD: RefCell<Option<Handler>> = const { RefCell::new(None) };
}

/// The received frame, copied into wasm.
fn frame_in(event: &JsValue) -> Vec<u8> {
    Uint8Array::unchecked_from_js(event.unchecked_ref::<MessageEvent>().data()).to_vec()
}

/// In the bench page: calls go out on `port` (the bench already sent the
/// other end to the `wasm-floor` child).
#[wasm_bindgen]
pub fn floor_parent(port: MessagePort) {
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let bytes = frame_in(&event);
        let waiter = HOST.with(|h| h.borrow_mut().as_mut()?.waiting.pop_front());
        if let Some(tx) = waiter {
            let _ = tx.send(bytes);
        }
    });
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    HOST.with(|h| {
        *h.borrow_mut() = Some(Host {
            port,
            waiting: VecDeque::new(),
            _on_message: on_message,
        })
    });
}

/// One small round trip: `a`, `b` and `c` in a 40-byte frame; returns `c`
/// as it came back.
#[wasm_bindgen]
pub async fn floor_small(a: u32, b: u32, c: f64) -> Result<f64, JsValue> {
    let mut frame = [0u8; FRAME];
    for (at, bytes) in [
        (0, &a.to_le_bytes()[..]),
        (4, &b.to_le_bytes()),
        (8, &c.to_le_bytes()),
    ] {
        if let Some(slot) = frame.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }
    let (tx, rx) = oneshot::channel();
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let host = h
            .as_mut()
            .ok_or_else(|| JsValue::from_str("call floor_parent first"))?;
        host.waiting.push_back(tx);
        host.port.post_message(&Uint8Array::from(&frame[..]))
    })?;
    let back = rx
        .await
        .map_err(|_| JsValue::from_str("the floor's port went away"))?;
    let c = back
        .get(8..16)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
        .ok_or_else(|| JsValue::from_str("a short frame came back"))?;
    Ok(f64::from_le_bytes(c))
}

/// In the `wasm-floor` child: echo every frame on `port` through wasm.
#[wasm_bindgen]
pub fn floor_child(port: MessagePort) {
    let out = port.clone();
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let bytes = frame_in(&event);
        let _ = out.post_message(&Uint8Array::from(&bytes[..]));
    });
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    CHILD.with(|c| *c.borrow_mut() = Some(on_message));
}

/// `n` floor round trips one at a time, awaited in Rust; mean µs per call.
#[wasm_bindgen]
pub async fn floor_small_batch(n: u32) -> Result<f64, JsValue> {
    crate::timing::mean_us(n, || async { floor_small(1, 2, 3.5).await.map(drop) }).await
}
