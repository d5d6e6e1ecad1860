//! Counts of live browser resources and of stray frames, for leak checks
//! and for showing what was dropped.

use std::cell::Cell;

use bus_core::Rejection;

use crate::streams::{Feed, Stream};

thread_local! {
    static LISTENERS: Cell<usize> = const { Cell::new(0) };
    static TIMERS: Cell<usize> = const { Cell::new(0) };
    static CONNECTIONS: Cell<usize> = const { Cell::new(0) };
    static HANDLERS: Cell<usize> = const { Cell::new(0) };
    static STRAY: Cell<Stray> = const { Cell::new(Stray { bus_frames: 0, foreign: 0 }) };
    static STRAY_FEED: Feed<Rejection> = Feed::default();
}

/// Tells the developer, on the console, that the browser refused something
/// the bus needs. The only thing this crate ever writes there: rejected
/// frames are counted and streamed, never logged.
pub(crate) fn console_error(what: &str, detail: &wasm_bindgen::JsValue) {
    web_sys::console::error_2(&wasm_bindgen::JsValue::from_str(what), detail);
}

/// The message of a thrown JS error, or what the value says as a string.
/// (`{:?}` on a `JsValue` would carry wasm-bindgen's debug printer into
/// the app's JS.)
pub(crate) fn js_error_message(e: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    match e.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => e
            .as_string()
            .unwrap_or_else(|| "an unknown error".to_owned()),
    }
}

/// Messages from windows that are no connection's peer, counted once per
/// page. Only their first 22 bytes (the header) are read, to tell the two
/// kinds apart; nothing else is copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stray {
    /// Frames in this bus's format (forgeries, or another bus's traffic).
    pub bus_frames: u64,
    /// Other messages (other libraries, not `Uint8Array`s).
    pub foreign: u64,
}

/// Event listeners and `onmessage` handlers this crate has installed and
/// not yet removed.
pub fn live_listeners() -> usize {
    LISTENERS.with(Cell::get)
}

/// Timeouts and intervals this crate has armed and not yet cleared (or
/// seen fire).
pub fn live_timers() -> usize {
    TIMERS.with(Cell::get)
}

/// Connections not yet dropped.
pub fn live_connections() -> usize {
    CONNECTIONS.with(Cell::get)
}

/// Handlers serving a call right now, across the page's connections. A
/// cancelled or expired call's handler is dropped, so this returns to zero.
pub fn live_handlers() -> usize {
    HANDLERS.with(Cell::get)
}

/// Stray messages counted so far on this page.
pub fn stray() -> Stray {
    STRAY.with(Cell::get)
}

/// A stream of the bus frames from windows that are no connection's peer,
/// each as a [`Rejection`] (`WrongSource`, with the sender's origin). Bounded:
/// when it is not read, the oldest are dropped.
///
/// ```ignore
/// let mut strays = bus_web::diagnostics::stray_frames();
/// while let Some(r) = strays.next().await {
///     log(format!("{}: {}", r.origin.unwrap_or_default(), r.reason));
/// }
/// ```
pub fn stray_frames() -> Stream<Rejection> {
    STRAY_FEED.with(Feed::stream)
}

pub(crate) fn count_stray(rejection: Option<Rejection>) {
    STRAY.with(|s| {
        let mut v = s.get();
        match rejection {
            Some(r) => {
                v.bus_frames += 1;
                STRAY_FEED.with(|f| f.send(&r));
            }
            None => v.foreign += 1,
        }
        s.set(v);
    });
}

fn bump(counter: &'static std::thread::LocalKey<Cell<usize>>, up: bool) {
    counter.with(|c| {
        c.set(if up {
            c.get() + 1
        } else {
            c.get().saturating_sub(1)
        })
    });
}

pub(crate) fn listener_added() {
    bump(&LISTENERS, true);
}

pub(crate) fn listener_removed() {
    bump(&LISTENERS, false);
}

pub(crate) fn timer_added() {
    bump(&TIMERS, true);
}

pub(crate) fn timer_removed() {
    bump(&TIMERS, false);
}

pub(crate) fn connection_created() {
    bump(&CONNECTIONS, true);
}

pub(crate) fn connection_dropped() {
    bump(&CONNECTIONS, false);
}

pub(crate) fn handler_started() {
    bump(&HANDLERS, true);
}

pub(crate) fn handler_ended() {
    bump(&HANDLERS, false);
}
