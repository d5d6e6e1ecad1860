//! The WebSocket transport (`websocket` feature): the connection's frames on
//! one socket to its server, and a new socket whenever that one drops.
//!
//! It only moves bytes and dials. When to dial again is bus-core's
//! [`Backoff`] (exponential, with jitter); what a dropped socket means for
//! calls and the session is the engine's ([`bus_core::Engine::channel_lost`]).

use bus_core::backoff::Backoff;
use bus_core::{Entropy, Transmit};
use js_sys::Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, WebSocket, Window};

use crate::diagnostics;
use crate::transport::Transport;

/// The socket's event handlers, set on every socket this transport opens.
pub(crate) struct Handlers {
    pub(crate) open: Closure<dyn FnMut(JsValue)>,
    pub(crate) message: Closure<dyn FnMut(JsValue)>,
    pub(crate) close: Closure<dyn FnMut(JsValue)>,
    /// Runs when the redial delay is over.
    pub(crate) redial: Closure<dyn FnMut(JsValue)>,
}

/// One server URL, and the socket to it while one is open or opening.
pub(crate) struct SocketTransport {
    url: String,
    window: Window,
    socket: Option<WebSocket>,
    handlers: Handlers,
    redial_timer: Option<i32>,
    backoff: Backoff,
    entropy: Box<dyn Entropy>,
    closed: bool,
}

impl SocketTransport {
    pub(crate) fn new(
        url: String,
        window: Window,
        handlers: Handlers,
        backoff: Backoff,
        entropy: Box<dyn Entropy>,
    ) -> SocketTransport {
        SocketTransport {
            url,
            window,
            socket: None,
            handlers,
            redial_timer: None,
            backoff,
            entropy,
            closed: false,
        }
    }

    /// Opens a socket to the server; a URL the browser refuses is reported
    /// and dialled again later like a refused connection.
    fn dial(&mut self) {
        if self.closed || self.socket.is_some() {
            return;
        }
        match WebSocket::new(&self.url) {
            Ok(ws) => {
                ws.set_binary_type(BinaryType::Arraybuffer);
                let h = &self.handlers;
                ws.set_onopen(Some(h.open.as_ref().unchecked_ref()));
                ws.set_onmessage(Some(h.message.as_ref().unchecked_ref()));
                ws.set_onclose(Some(h.close.as_ref().unchecked_ref()));
                diagnostics::listener_added();
                self.socket = Some(ws);
            }
            Err(e) => {
                diagnostics::console_error("bus: cannot open the WebSocket:", &e);
                self.socket_closed();
            }
        }
    }

    /// Removes the handlers from the current socket and closes it.
    fn drop_socket(&mut self, code: u16, reason: &str) {
        if let Some(ws) = self.socket.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close_with_code_and_reason(code, reason);
            diagnostics::listener_removed();
        }
    }

    fn clear_redial(&mut self) {
        if let Some(handle) = self.redial_timer.take() {
            self.window.clear_timeout_with_handle(handle);
            diagnostics::timer_removed();
        }
    }
}

impl Transport for SocketTransport {
    fn send(&mut self, t: Transmit) -> Result<(), String> {
        // A frame for a socket that is not open yet (or any more) is dropped:
        // the engine knocks again once the next one opens.
        match &self.socket {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => {
                ws.send_with_u8_array(&t.bytes).map_err(|e| {
                    format!(
                        "WebSocket.send failed: {}",
                        diagnostics::js_error_message(&e)
                    )
                })
            }
            _ => Ok(()),
        }
    }

    fn adopt_port(&mut self, _ports: &Array) {}

    /// The session on this socket ended (heartbeat, a stalled handshake):
    /// drop the socket and dial a new one.
    fn end_session(&mut self) {
        if self.socket.is_some() {
            self.drop_socket(4000, "session ended; reconnecting");
            self.socket_closed();
        }
    }

    fn peer_gone(&self) -> bool {
        false
    }

    fn close(&mut self) {
        self.closed = true;
        self.clear_redial();
        self.drop_socket(1000, "closed by the application");
    }

    /// Reset here rather than when the socket closes: a session that a
    /// heartbeat timeout ends closes no socket of its own accord.
    fn session_up(&mut self) {
        self.backoff.reset();
    }

    fn socket_closed(&mut self) {
        self.drop_socket(1000, "");
        if self.closed || self.redial_timer.is_some() {
            return;
        }
        let delay = self.backoff.next_delay(self.entropy.as_mut());
        let ms = delay.as_millis().min(i32::MAX as u128) as i32;
        match self
            .window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                self.handlers.redial.as_ref().unchecked_ref(),
                ms,
            ) {
            Ok(handle) => {
                diagnostics::timer_added();
                self.redial_timer = Some(handle);
            }
            Err(e) => diagnostics::console_error("bus: could not schedule a redial:", &e),
        }
    }

    fn redial(&mut self) {
        if self.redial_timer.take().is_some() {
            diagnostics::timer_removed();
        }
        self.dial();
    }
}
