//! The opt-in test hook (cargo feature `test-hook`): a read-only view of
//! every live connection on the page, for browser tests of apps that use
//! the bus. With the feature on, the first connection defines
//! `globalThis.__busTestHook()`, which returns one plain object per live
//! connection, oldest first:
//!
//! ```text
//! { id, state, stateKind, peerOrigin, pendingCalls, servingCalls,
//!   framesIn, framesOut, foreign, rejected, unreported, shed,
//!   rejectedBy: { "<reason label>": count, … } }
//! ```
//!
//! `stateKind` is `"idle"`, `"connecting"`, `"connected"`, `"reconnecting"`
//! or `"closed"`; `state` is the state's text; `peerOrigin` is the peer's
//! origin while connected, else `null`. Counts are numbers; no payload is
//! ever exposed. `bus-harness` reads it (`bus_harness::hook`).
//!
//! Enable it in test builds only (for example through a `test-hooks`
//! feature of your app that turns on `bus-web/test-hook`): any script on the
//! page can read these counters.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use bus_core::State;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;

use crate::driver::Inner;

thread_local! {
    static TRACKED: RefCell<Vec<Weak<RefCell<Inner>>>> = const { RefCell::new(Vec::new()) };
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Adds a new connection to the hook's view, installing the hook once.
pub(crate) fn track(rc: &Rc<RefCell<Inner>>) {
    TRACKED.with(|t| {
        let mut t = t.borrow_mut();
        t.retain(|w| w.strong_count() > 0);
        t.push(Rc::downgrade(rc));
    });
    if !INSTALLED.replace(true) {
        let hook = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|_| snapshot());
        let _ = Reflect::set(&js_sys::global(), &"__busTestHook".into(), hook.as_ref());
        // Lives as long as the page, like the hook it defines.
        hook.forget();
    }
}

fn snapshot() -> JsValue {
    let list = Array::new();
    TRACKED.with(|t| {
        for rc in t.borrow().iter().filter_map(Weak::upgrade) {
            // A connection busy in a call out to JavaScript is skipped.
            if let Ok(inner) = rc.try_borrow() {
                list.push(&describe(&inner));
            }
        }
    });
    list.into()
}

fn set(o: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(o, &key.into(), &value.into());
}

fn describe(inner: &Inner) -> Object {
    let o = Object::new();
    let state = inner.engine.state();
    let (kind, peer) = match &state {
        State::Idle => ("idle", None),
        State::Connecting => ("connecting", None),
        State::Connected { origin, .. } => ("connected", Some(origin.as_str())),
        State::Reconnecting(_) => ("reconnecting", None),
        State::Closed(_) => ("closed", None),
    };
    set(&o, "id", inner.id as f64);
    set(&o, "state", state.to_string());
    set(&o, "stateKind", kind);
    set(
        &o,
        "peerOrigin",
        peer.map_or(JsValue::NULL, JsValue::from_str),
    );
    set(&o, "pendingCalls", inner.engine.pending_calls() as f64);
    set(&o, "servingCalls", inner.handlers.running() as f64);
    let stats = inner.engine.stats();
    set(&o, "framesIn", stats.frames_in as f64);
    set(&o, "framesOut", stats.frames_out as f64);
    set(&o, "foreign", stats.foreign as f64);
    set(&o, "rejected", stats.rejected as f64);
    set(&o, "unreported", stats.unreported as f64);
    set(&o, "shed", stats.shed as f64);
    let by = Object::new();
    for (label, count) in stats.rejected_by.iter() {
        set(&by, label, *count as f64);
    }
    set(&o, "rejectedBy", by);
    o
}
