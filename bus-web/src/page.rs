//! The page's one `message` listener, shared by every connection, and the
//! counters that prove listeners and closures are released.
//!
//! A message is handed to the connection whose peer window sent it
//! (`event.source` compared by identity), so a frame from child A is never
//! taken as from child B even when both share an origin. A message from a
//! window no connection is bound to goes to every connection, labelled as
//! another window: each counts it (foreign or rejected), none acts on it.

use std::cell::{Cell, RefCell};
use std::rc::Weak;

use bus_core::SourceId;
use js_sys::Object;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{MessageEvent, Window};

use crate::connection::{Inner, receive_window};

/// The label of windows that are not a connection's peer.
pub(crate) const OTHER_WINDOW: SourceId = SourceId(2);

struct Entry {
    id: u64,
    peer: Window,
    inner: Weak<RefCell<Inner>>,
}

type Listener = (Window, Closure<dyn FnMut(MessageEvent)>);

#[derive(Default)]
struct Page {
    next_id: u64,
    entries: Vec<Entry>,
    listener: Option<Listener>,
}

thread_local! {
    static PAGE: RefCell<Page> = RefCell::new(Page::default());
    static LISTENERS: Cell<usize> = const { Cell::new(0) };
    static CONNECTIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts of live browser resources, for leak checks.
pub mod diagnostics {
    /// Event listeners, `onmessage` handlers, timeouts and intervals this
    /// crate has installed and not yet removed.
    pub fn live_listeners() -> usize {
        super::LISTENERS.with(|c| c.get())
    }

    /// Connections not yet dropped.
    pub fn live_connections() -> usize {
        super::CONNECTIONS.with(|c| c.get())
    }
}

pub(crate) fn listener_added() {
    LISTENERS.with(|c| c.set(c.get() + 1));
}

pub(crate) fn listener_removed() {
    LISTENERS.with(|c| c.set(c.get().saturating_sub(1)));
}

pub(crate) fn connection_created() {
    CONNECTIONS.with(|c| c.set(c.get() + 1));
}

pub(crate) fn connection_dropped() {
    CONNECTIONS.with(|c| c.set(c.get().saturating_sub(1)));
}

/// A fresh connection id.
pub(crate) fn next_id() -> u64 {
    PAGE.with(|p| {
        let mut p = p.borrow_mut();
        p.next_id += 1;
        p.next_id
    })
}

/// Routes messages from `peer` to `inner`, installing the page listener on
/// `this_window` if it is the first connection.
pub(crate) fn register(id: u64, this_window: &Window, peer: Window, inner: Weak<RefCell<Inner>>) {
    PAGE.with(|p| {
        let mut p = p.borrow_mut();
        p.entries.push(Entry { id, peer, inner });
        if p.listener.is_none() {
            let closure = Closure::<dyn FnMut(MessageEvent)>::new(on_message);
            match this_window
                .add_event_listener_with_callback("message", closure.as_ref().unchecked_ref())
            {
                Ok(()) => {
                    listener_added();
                    p.listener = Some((this_window.clone(), closure));
                }
                Err(e) => tracing::error!(?e, "could not listen for messages on the window"),
            }
        }
    });
}

/// Stops routing to connection `id`; removes the page listener after the last one.
pub(crate) fn unregister(id: u64) {
    // Dropped outside the borrow: a closure's drop must not re-enter PAGE.
    let removed = PAGE.with(|p| {
        let mut p = p.borrow_mut();
        p.entries.retain(|e| e.id != id);
        if !p.entries.is_empty() {
            return None;
        }
        let (window, closure) = p.listener.take()?;
        let _ =
            window.remove_event_listener_with_callback("message", closure.as_ref().unchecked_ref());
        listener_removed();
        Some(closure)
    });
    drop(removed);
}

fn on_message(event: MessageEvent) {
    let source = event.source();
    let targets: Vec<(Weak<RefCell<Inner>>, SourceId)> = PAGE.with(|p| {
        let p = p.borrow();
        let from_peer: Vec<_> = p
            .entries
            .iter()
            .filter(|e| {
                source
                    .as_ref()
                    .is_some_and(|s| Object::is(s.as_ref(), e.peer.as_ref()))
            })
            .map(|e| (e.inner.clone(), SourceId::PEER))
            .collect();
        if from_peer.is_empty() {
            p.entries
                .iter()
                .map(|e| (e.inner.clone(), OTHER_WINDOW))
                .collect()
        } else {
            from_peer
        }
    });
    let origin = event.origin();
    let data = event.data();
    let ports = event.ports();
    for (inner, label) in targets {
        if let Some(rc) = inner.upgrade() {
            let ports = (label == SourceId::PEER).then_some(&ports);
            receive_window(&rc, &origin, label, &data, ports);
        }
    }
}
