//! The seam between a connection and what carries its frames. A transport
//! only moves bytes where the engine routed them; it decides nothing.
//! Windows and their private `MessagePort` ([`WindowTransport`]), and with
//! the `websocket` feature a socket to a server (`crate::socket`).

use bus_core::{Route, Transmit};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlIFrameElement, MessageChannel, MessagePort, Window};

use crate::diagnostics;

/// What carries one connection's frames.
pub(crate) trait Transport {
    /// Sends a frame where the engine routed it. `Err` says why it could not.
    fn send(&mut self, transmit: Transmit) -> Result<(), String>;

    /// Keeps the private channel that came with an accepted frame, as the
    /// engine said ([`bus_core::Received::adopt_port`]).
    fn adopt_port(&mut self, ports: &Array);

    /// The session ended: let its private channel go.
    fn end_session(&mut self);

    /// Whether the peer is gone for good (popup closed, iframe removed).
    fn peer_gone(&self) -> bool;

    /// Removes every listener and closes every channel. Idempotent.
    fn close(&mut self);

    /// A session is up: the next drop starts the redial delays afresh.
    #[cfg(feature = "websocket")]
    fn session_up(&mut self) {}

    /// The socket closed under us: schedule the next one.
    #[cfg(feature = "websocket")]
    fn socket_closed(&mut self) {}

    /// The redial delay is over: open the next socket.
    #[cfg(feature = "websocket")]
    fn redial(&mut self) {}
}

/// Frames counted per channel: shows that traffic moved to the private port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Frames received as window messages from the peer.
    pub window_in: u64,
    /// Frames received on the private port.
    pub port_in: u64,
    /// Frames posted to the peer window.
    pub window_out: u64,
    /// Frames posted on the private port.
    pub port_out: u64,
}

/// What the peer window is, for liveness checks.
pub(crate) enum PeerKind {
    Iframe(HtmlIFrameElement),
    Window,
}

/// A peer window, plus the session's private port once the engine adopts one.
pub(crate) struct WindowTransport {
    peer: Window,
    kind: PeerKind,
    port: Option<MessagePort>,
    /// The connection's handler for port messages.
    on_port: Closure<dyn FnMut(JsValue)>,
    /// The connection's handler for the iframe's `load` event, while listening.
    on_load: Option<Closure<dyn FnMut(JsValue)>>,
}

impl WindowTransport {
    pub(crate) fn new(
        peer: Window,
        kind: PeerKind,
        on_port: Closure<dyn FnMut(JsValue)>,
        on_load: Closure<dyn FnMut(JsValue)>,
    ) -> WindowTransport {
        let mut t = WindowTransport {
            peer,
            kind,
            port: None,
            on_port,
            on_load: None,
        };
        if let PeerKind::Iframe(frame) = &t.kind
            && frame
                .add_event_listener_with_callback("load", on_load.as_ref().unchecked_ref())
                .is_ok()
        {
            diagnostics::listener_added();
            t.on_load = Some(on_load);
        }
        t
    }

    fn install_port(&mut self, port: MessagePort) {
        self.end_session();
        // Assigning onmessage also starts the port.
        port.set_onmessage(Some(self.on_port.as_ref().unchecked_ref()));
        diagnostics::listener_added();
        self.port = Some(port);
    }
}

/// Frames up to this size are cloned by `postMessage`; larger ones are
/// transferred. Transferring detaches the buffer and moves its contents,
/// which costs more than copying a small frame.
const TRANSFER_ABOVE: usize = 4096;

/// Copies a frame out of wasm into a fresh `Uint8Array` (the wire form: a
/// view posts faster than a bare `ArrayBuffer`, ~10 µs a round trip between
/// two sites in Chromium), and the transfer list to post it with, if it
/// needs one (a small frame alone posts without: no list to build or read).
/// With attachments, the message is `[frame, ...attachments]` and every
/// attachment's buffer is transferred: moved, never copied.
fn message(t: &Transmit) -> Result<(JsValue, Option<Array>), String> {
    let view = Uint8Array::from(t.bytes.as_slice());
    let big = t.bytes.len() > TRANSFER_ABOVE;
    let alone = !cfg!(feature = "buffers") || t.attachments.is_empty();
    if alone && !big {
        return Ok((view.into(), None));
    }
    let transfer = Array::new();
    if big {
        transfer.push(&view.buffer());
    }
    if alone {
        return Ok((view.into(), Some(transfer)));
    }
    let parts = Array::new();
    parts.push(&view);
    for a in &t.attachments {
        let bytes = a
            .downcast_ref::<Uint8Array>()
            .ok_or("an attachment is not a Uint8Array")?;
        let bytes = movable(bytes);
        let buffer = bytes.buffer();
        if !transfer.includes(&buffer, 0) {
            transfer.push(&buffer);
        }
        parts.push(&bytes);
    }
    Ok((parts.into(), Some(transfer)))
}

/// `bytes` if it spans its whole `ArrayBuffer`, which can then be
/// transferred as it is; otherwise a copy that does (transferring the
/// buffer under a partial view would move bytes that are not the
/// attachment's, and a `SharedArrayBuffer` cannot be transferred).
fn movable(bytes: &Uint8Array) -> Uint8Array {
    let buffer = bytes.buffer();
    let whole = bytes.byte_offset() == 0
        && buffer
            .dyn_ref::<js_sys::ArrayBuffer>()
            .is_some_and(|b| b.byte_length() == bytes.byte_length());
    if whole {
        bytes.clone()
    } else {
        bytes.slice(0, bytes.length())
    }
}

impl Transport for WindowTransport {
    fn send(&mut self, t: Transmit) -> Result<(), String> {
        let (frame, mut transfer) = message(&t)?;
        // A window engine routes to the peer window or the port, never to a
        // socket (bus-core's `sockets` variants exist only with that feature).
        let result = if let Route::Window { target_origin } = t.route {
            if t.attach_port {
                let channel = MessageChannel::new().map_err(|e| {
                    format!(
                        "could not create a MessageChannel: {}",
                        diagnostics::js_error_message(&e)
                    )
                })?;
                self.install_port(channel.port1());
                transfer
                    .get_or_insert_with(Array::new)
                    .push(&channel.port2());
            }
            match &transfer {
                Some(transfer) => {
                    self.peer
                        .post_message_with_transfer(&frame, &target_origin, transfer)
                }
                None => self.peer.post_message(&frame, &target_origin),
            }
        } else {
            let port = self
                .port
                .as_ref()
                .ok_or("no private port for session traffic")?;
            match &transfer {
                Some(transfer) => port.post_message_with_transferable(&frame, transfer),
                None => port.post_message(&frame),
            }
        };
        result.map_err(|e| format!("postMessage failed: {}", diagnostics::js_error_message(&e)))
    }

    fn adopt_port(&mut self, ports: &Array) {
        if let Ok(port) = ports.get(0).dyn_into::<MessagePort>() {
            self.install_port(port);
        }
    }

    fn end_session(&mut self) {
        if let Some(port) = self.port.take() {
            port.set_onmessage(None);
            port.close();
            diagnostics::listener_removed();
        }
    }

    fn peer_gone(&self) -> bool {
        let detached = match &self.kind {
            PeerKind::Iframe(frame) => !frame.is_connected(),
            PeerKind::Window => false,
        };
        detached || self.peer.closed().unwrap_or(false)
    }

    fn close(&mut self) {
        self.end_session();
        if let (PeerKind::Iframe(frame), Some(on_load)) = (&self.kind, self.on_load.take()) {
            let _ =
                frame.remove_event_listener_with_callback("load", on_load.as_ref().unchecked_ref());
            diagnostics::listener_removed();
        }
    }
}

/// Closes ports that came with a frame the engine did not adopt, so none is
/// kept (or leaked) by the binding on its own.
pub(crate) fn close_ports(ports: &Array) {
    for p in ports.iter() {
        if let Ok(port) = p.dyn_into::<MessagePort>() {
            port.close();
        }
    }
}
