//! The page's one `message` listener, shared by every connection.
//!
//! A message goes to the connection(s) whose peer window sent it
//! (`event.source` compared by identity), so a frame from child A is never
//! taken as from child B even when both share an origin. A message from a
//! window that is no connection's peer is a stray: only its header is read
//! (to count it as a bus frame or a foreign message), once per page, and no
//! connection sees it.

use std::cell::RefCell;
use std::rc::Rc;

use bus_core::envelope::has_namespace;
use bus_core::{FrameSource, RejectReason, Rejection};
use js_sys::Object;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, Window};

use crate::diagnostics;
use crate::frame::JsFrame;

/// What a connection does with a message from its peer window.
pub(crate) type Receiver = Rc<dyn Fn(&MessageEvent)>;

struct Entry {
    id: u64,
    peer: Window,
    receiver: Receiver,
}

type Listener = (Window, Closure<dyn FnMut(JsValue)>);

#[derive(Default)]
struct Page {
    next_id: u64,
    entries: Vec<Entry>,
    listener: Option<Listener>,
}

thread_local! {
    static PAGE: RefCell<Page> = RefCell::new(Page::default());
}

/// A fresh connection id.
pub(crate) fn next_id() -> u64 {
    PAGE.with(|p| {
        let mut p = p.borrow_mut();
        p.next_id += 1;
        p.next_id
    })
}

/// Routes messages from `peer` to `receiver`, installing the page listener
/// on `this_window` if it is the first connection.
pub(crate) fn register(id: u64, this_window: &Window, peer: Window, receiver: Receiver) {
    PAGE.with(|p| {
        let mut p = p.borrow_mut();
        p.entries.push(Entry { id, peer, receiver });
        if p.listener.is_none() {
            let closure =
                Closure::<dyn FnMut(JsValue)>::new(|e: JsValue| on_message(e.unchecked_into()));
            match this_window
                .add_event_listener_with_callback("message", closure.as_ref().unchecked_ref())
            {
                Ok(()) => {
                    diagnostics::listener_added();
                    p.listener = Some((this_window.clone(), closure));
                }
                Err(e) => diagnostics::console_error(
                    "bus: could not listen for messages on the window:",
                    &e,
                ),
            }
        }
    });
}

/// Stops routing to connection `id`; removes the page listener after the last one.
pub(crate) fn unregister(id: u64) {
    // Dropped outside the borrow: a closure's drop must not re-enter PAGE.
    let removed = PAGE.with(|p| {
        let mut p = p.borrow_mut();
        let gone: Vec<Entry> = p.entries.extract_if(.., |e| e.id == id).collect();
        if !p.entries.is_empty() {
            return (gone, None);
        }
        let listener = p.listener.take().map(|(window, closure)| {
            let _ = window
                .remove_event_listener_with_callback("message", closure.as_ref().unchecked_ref());
            diagnostics::listener_removed();
            closure
        });
        (gone, listener)
    });
    drop(removed);
}

fn on_message(event: MessageEvent) {
    let source = event.source();
    let receivers: Vec<Receiver> = PAGE.with(|p| {
        p.borrow()
            .entries
            .iter()
            .filter(|e| {
                source
                    .as_ref()
                    .is_some_and(|s| Object::is(s.as_ref(), e.peer.as_ref()))
            })
            .map(|e| e.receiver.clone())
            .collect()
    });
    if receivers.is_empty() {
        let ours = JsFrame::of(event.data())
            .and_then(|f| f.header())
            .is_some_and(|h| has_namespace(&h));
        diagnostics::count_stray(ours.then(|| Rejection {
            reason: RejectReason::WrongSource,
            origin: Some(event.origin()),
        }));
        return;
    }
    for receive in receivers {
        receive(&event);
    }
}
