//! Drives one connection: feeds the engine what the browser delivers (frames,
//! time, peer liveness), carries out what the engine says (frames to post, a
//! port to adopt, deliveries to dispatch), and arms the engine's timer.
//! No protocol decision is made here.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bus_core::vec_map::VecMap;
use bus_core::{
    CallError, CallId, Channel, CloseReason, Delivery, Engine, Rejection, RemoteError, RequestId,
    Route, SourceId, State, method_not_found,
};
use futures_channel::oneshot;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, Performance, Window};

use crate::diagnostics;
use crate::frame::JsFrame;
use crate::handlers::Handlers;
use crate::page;
use crate::parts::{Parts, join, split};
use crate::streams::Feed;
use crate::transport::{PeerKind, Traffic, Transport, WindowTransport, close_ports};

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) engine: Engine,
    transport: Box<dyn Transport>,
    this_window: Window,
    perf: Option<Performance>,
    // Every callback has the one signature `FnMut(JsValue)`: wasm-bindgen
    // emits a set of glue functions per closure signature.
    timer_fn: Closure<dyn FnMut(JsValue)>,
    timer: Option<(i32, Duration)>,
    liveness_fn: Closure<dyn FnMut(JsValue)>,
    liveness: Option<i32>,
    /// Runs [`drive`] at the end of the current task (a microtask).
    flush_fn: Closure<dyn FnMut(JsValue)>,
    flush_scheduled: bool,
    pub(crate) handlers: Handlers,
    pub(crate) events: VecMap<String, Feed<Parts>>,
    pub(crate) states: Feed<State>,
    pub(crate) rejections: Feed<Rejection>,
    pub(crate) calls: VecMap<CallId, oneshot::Sender<Result<Parts, CallError>>>,
    pub(crate) waiters: Vec<oneshot::Sender<Result<(), CloseReason>>>,
    pub(crate) traffic: Traffic,
    torn_down: bool,
}

impl Inner {
    pub(crate) fn now(&self) -> Duration {
        let ms = self.perf.as_ref().map_or(0.0, Performance::now);
        // Saturating float-to-int casts: no panic path.
        Duration::from_micros((ms * 1000.0) as u64)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.torn_down
    }

    /// Posts everything the engine wants sent.
    fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            if let Route::Window { .. } = t.route {
                self.traffic.window_out += 1;
            } else {
                self.traffic.port_out += 1;
            }
            let attach = t.attach_port;
            if let Err(e) = self.transport.send(t) {
                diagnostics::console_error("bus: could not send a frame:", &JsValue::from_str(&e));
                if attach {
                    // Without its private channel the session cannot work.
                    self.engine
                        .close(&format!("the private channel could not be set up: {e}"));
                }
            }
        }
    }

    /// Arms the one timeout for the engine's next deadline. A timeout that
    /// is already armed for that time or earlier is left alone: it fires,
    /// the engine finds nothing due, and the next deadline is armed then.
    /// (Re-arming whenever the deadline moved later, as it does with every
    /// sign of life, cost a clearTimeout and a setTimeout per frame.)
    fn schedule_timer(&mut self) {
        let Some(due) = self.engine.poll_timeout() else {
            return;
        };
        if let Some((_, armed)) = self.timer
            && armed <= due
        {
            return;
        }
        self.clear_timer();
        let delay = due
            .saturating_sub(self.now())
            .as_millis()
            .min(i32::MAX as u128) as i32;
        match self
            .this_window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                self.timer_fn.as_ref().unchecked_ref(),
                delay,
            ) {
            Ok(handle) => {
                diagnostics::timer_added();
                self.timer = Some((handle, due));
            }
            Err(e) => diagnostics::console_error("bus: could not set a timeout:", &e),
        }
    }

    fn clear_timer(&mut self) {
        if let Some((handle, _)) = self.timer.take() {
            self.this_window.clear_timeout_with_handle(handle);
            diagnostics::timer_removed();
        }
    }

    fn watch_liveness(&mut self, interval: Duration) {
        let ms = interval.as_millis().clamp(10, i32::MAX as u128) as i32;
        match self
            .this_window
            .set_interval_with_callback_and_timeout_and_arguments_0(
                self.liveness_fn.as_ref().unchecked_ref(),
                ms,
            ) {
            Ok(handle) => {
                diagnostics::timer_added();
                self.liveness = Some(handle);
            }
            Err(e) => diagnostics::console_error("bus: could not watch the peer window:", &e),
        }
    }

    /// Removes every listener, timer and port, stops every handler and ends
    /// every stream. Idempotent.
    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        page::unregister(self.id);
        self.transport.close();
        self.clear_timer();
        if let Some(handle) = self.liveness.take() {
            self.this_window.clear_interval_with_handle(handle);
            diagnostics::timer_removed();
        }
        self.handlers.cancel_all();
        self.states.close();
        self.rejections.close();
        for feed in self.events.values() {
            feed.close();
        }
    }

    fn on_state(&mut self, state: &State) {
        match state {
            State::Connected { .. } => {
                #[cfg(feature = "websocket")]
                self.transport.session_up();
                for w in self.waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            State::Reconnecting(_) => self.transport.end_session(),
            State::Closed(reason) => {
                for w in self.waiters.drain(..) {
                    let _ = w.send(Err(reason.clone()));
                }
                // Streams get the final state before they end.
                self.states.send(state);
                self.teardown();
                return;
            }
            State::Idle | State::Connecting => {}
        }
        self.states.send(state);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !matches!(self.engine.state(), State::Closed(_)) {
            self.engine.close("connection dropped");
            self.flush();
        }
        self.teardown();
        diagnostics::connection_dropped();
    }
}

/// Runs the engine's outputs: posts frames, dispatches deliveries, re-arms
/// the timer. Deliveries are dispatched with no borrow held.
pub(crate) fn drive(rc: &Rc<RefCell<Inner>>) {
    loop {
        let deliveries: Vec<Delivery> = {
            let Ok(mut inner) = rc.try_borrow_mut() else {
                return; // an outer drive is running and will finish the work
            };
            inner.flush();
            let out: Vec<Delivery> = std::iter::from_fn(|| inner.engine.poll_delivery()).collect();
            if out.is_empty() {
                if !inner.torn_down {
                    inner.schedule_timer();
                }
                return;
            }
            out
        };
        for d in deliveries {
            dispatch(rc, d);
        }
    }
}

fn dispatch(rc: &Rc<RefCell<Inner>>, delivery: Delivery) {
    let Ok(mut inner) = rc.try_borrow_mut() else {
        return;
    };
    match delivery {
        Delivery::State(state) => {
            inner.on_state(&state);
        }
        Delivery::Request {
            id,
            method,
            payload,
            attachments,
        } => match inner
            .handlers
            .start(id, &method, join(payload, attachments))
        {
            None => {
                inner.engine.reply(id, Err(method_not_found(&method)));
            }
            Some(task) => {
                // Most handlers answer at once. Polled here (with no borrow
                // held, so the handler may use the connection), such an
                // answer leaves in this same drive: no task, no microtask.
                drop(inner);
                let mut task = Box::pin(task);
                let mut cx = Context::from_waker(Waker::noop());
                if let Poll::Ready(result) = task.as_mut().poll(&mut cx) {
                    finish_request(rc, id, result);
                    return;
                }
                let weak = Rc::downgrade(rc);
                wasm_bindgen_futures::spawn_local(async move {
                    let result = task.await;
                    let Some(rc) = weak.upgrade() else { return };
                    finish_request(&rc, id, result);
                    schedule_drive(&rc);
                });
            }
        },
        Delivery::Reply {
            call,
            result,
            attachments,
        } => {
            if let Some(tx) = inner.calls.remove(&call) {
                let _ = tx.send(result.map(|bytes| join(bytes, attachments)));
            }
        }
        Delivery::Event {
            topic,
            payload,
            attachments,
        } => {
            if let Some(feed) = inner.events.get(&topic) {
                feed.send(&join(payload, attachments));
            }
        }
        Delivery::Cancelled(id) => inner.handlers.cancel(id),
        Delivery::Rejected(rejection) => {
            inner.rejections.send(&rejection);
        }
    }
}

/// A served call's handler is done: forget it, and answer unless it was
/// cancelled (`None`).
fn finish_request(
    rc: &Rc<RefCell<Inner>>,
    id: RequestId,
    result: Option<Result<Parts, RemoteError>>,
) {
    if let Ok(mut inner) = rc.try_borrow_mut() {
        inner.handlers.finished(id);
        if let Some(result) = result {
            inner.engine.reply_with(id, result.map(split));
        }
    }
}

/// Sends what the application just queued: at once when it is the only
/// message and `calls` (the calls waiting for replies, the new one included)
/// is all that is in flight, so a lone call or event pays nothing for
/// coalescing; otherwise at the end of the task ([`schedule_drive`]), so
/// everything sent in one turn of the event loop leaves in one frame. (The
/// first message of every turn sent at once was measured: it halved the
/// throughput with 100 calls in flight, as replies arriving a few at a time
/// each set off a frame of their own. With calls in flight nothing is sent
/// at once.)
pub(crate) fn send_queued(rc: &Rc<RefCell<Inner>>, calls: usize) {
    {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        let alone = !inner.flush_scheduled
            && inner.engine.queued_messages() == 1
            && inner.engine.pending_calls() == calls;
        if alone && !inner.torn_down {
            // Only frames leave here: no delivery is dispatched, so this is
            // safe inside a handler or while another drive runs.
            inner.flush();
            inner.schedule_timer();
            return;
        }
    }
    schedule_drive(rc);
}

/// Drives the connection at the end of the current task rather than now, so
/// every call, reply and event the application makes in one turn of the event
/// loop leaves in one coalesced frame.
pub(crate) fn schedule_drive(rc: &Rc<RefCell<Inner>>) {
    let Ok(mut inner) = rc.try_borrow_mut() else {
        return;
    };
    if inner.flush_scheduled || inner.torn_down {
        return;
    }
    inner.flush_scheduled = true;
    let _ = js_sys::Promise::resolve(&JsValue::NULL).then(&inner.flush_fn);
}

/// A message from the peer window (see [`page`]).
fn receive_window(rc: &Rc<RefCell<Inner>>, event: &MessageEvent) {
    let ports = event.ports();
    {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            close_ports(&ports);
            return;
        };
        let Some(frame) = JsFrame::of(event.data()) else {
            inner.engine.record_foreign();
            close_ports(&ports);
            return;
        };
        inner.traffic.window_in += 1;
        let now = inner.now();
        let origin = event.origin();
        let channel = Channel::Window {
            origin: &origin,
            source: SourceId::PEER,
            with_port: ports.length() > 0,
        };
        let received = inner.engine.handle_frame(now, channel, &frame);
        if received.adopt_port {
            inner.transport.adopt_port(&ports);
        } else {
            close_ports(&ports);
        }
    }
    drive(rc);
}

fn receive_port(rc: &Rc<RefCell<Inner>>, event: &MessageEvent) {
    {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        let Some(frame) = JsFrame::of(event.data()) else {
            inner.engine.record_foreign();
            return;
        };
        inner.traffic.port_in += 1;
        let now = inner.now();
        let _ = inner.engine.handle_frame(now, Channel::Port, &frame);
    }
    drive(rc);
}

/// Runs `f` on a live connection, then drives it.
fn with_live(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner)) {
    if let Some(rc) = weak.upgrade() {
        {
            let Ok(mut inner) = rc.try_borrow_mut() else {
                return;
            };
            f(&mut inner);
        }
        drive(&rc);
    }
}

/// The connection's state around a checked engine and its transport; the
/// timer, liveness and flush callbacks hold `weak`.
fn build(
    weak: &Weak<RefCell<Inner>>,
    id: u64,
    engine: Engine,
    this_window: &Window,
    transport: Box<dyn Transport>,
) -> RefCell<Inner> {
    let w = weak.clone();
    let timer_fn = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        with_live(&w, |inner| {
            if inner.timer.take().is_some() {
                diagnostics::timer_removed();
            }
            let now = inner.now();
            inner.engine.handle_timeout(now);
        });
    });
    let w = weak.clone();
    let liveness_fn = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        with_live(&w, |inner| {
            if inner.transport.peer_gone() {
                inner.engine.peer_gone();
            }
        });
    });
    let w = weak.clone();
    let flush_fn = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        with_live(&w, |inner| inner.flush_scheduled = false);
    });
    RefCell::new(Inner {
        id,
        engine,
        transport,
        this_window: this_window.clone(),
        perf: this_window.performance(),
        timer_fn,
        timer: None,
        liveness_fn,
        liveness: None,
        flush_fn,
        flush_scheduled: false,
        handlers: Handlers::default(),
        events: VecMap::new(),
        states: Feed::default(),
        rejections: Feed::default(),
        calls: VecMap::new(),
        waiters: Vec::new(),
        traffic: Traffic::default(),
        torn_down: false,
    })
}

/// Builds a connection around a checked engine and starts the handshake.
pub(crate) fn start(
    engine: Engine,
    this_window: Window,
    peer: Window,
    kind: PeerKind,
    liveness_interval: Duration,
) -> Rc<RefCell<Inner>> {
    let id = page::next_id();
    let rc = Rc::new_cyclic(|weak: &Weak<RefCell<Inner>>| {
        let w = weak.clone();
        let on_port = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            if let Some(rc) = w.upgrade() {
                receive_port(&rc, e.unchecked_ref());
            }
        });
        let w = weak.clone();
        let on_load = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            with_live(&w, |inner| {
                let now = inner.now();
                inner.engine.verify_peer(now);
            });
        });
        let transport = WindowTransport::new(peer.clone(), kind, on_port, on_load);
        build(weak, id, engine, &this_window, Box::new(transport))
    });
    diagnostics::connection_created();
    #[cfg(feature = "test-hook")]
    crate::test_hook::track(&rc);
    let weak = Rc::downgrade(&rc);
    let receiver: page::Receiver = Rc::new(move |event: &MessageEvent| {
        if let Some(rc) = weak.upgrade() {
            receive_window(&rc, event);
        }
    });
    page::register(id, &this_window, peer, receiver);
    {
        let mut inner = rc.borrow_mut();
        inner.watch_liveness(liveness_interval);
        let now = inner.now();
        inner.engine.connect(now);
    }
    drive(&rc);
    rc
}

/// Builds a connection to a server over WebSocket (`websocket` feature):
/// `url` is dialled now and again, after a backoff delay, whenever its
/// socket closes, until the connection closes. `origin` is the server's
/// `http(s)` origin, the engine's peer.
#[cfg(feature = "websocket")]
pub(crate) fn start_socket(
    engine: Engine,
    this_window: Window,
    url: String,
    origin: String,
    backoff: bus_core::backoff::Backoff,
    entropy: Box<dyn bus_core::Entropy>,
) -> Rc<RefCell<Inner>> {
    use crate::socket::{Handlers, SocketTransport};
    let id = page::next_id();
    let rc = Rc::new_cyclic(|weak: &Weak<RefCell<Inner>>| {
        let w = weak.clone();
        let open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            with_live(&w, |inner| {
                let now = inner.now();
                inner.engine.channel_opened(now);
            });
        });
        let w = weak.clone();
        let message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            if let Some(rc) = w.upgrade() {
                receive_socket(&rc, e.unchecked_ref(), &origin);
            }
        });
        let w = weak.clone();
        let close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            with_live(&w, |inner| {
                let now = inner.now();
                inner.engine.channel_lost(now);
                inner.transport.socket_closed();
            });
        });
        let w = weak.clone();
        let redial = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            with_live(&w, |inner| inner.transport.redial());
        });
        let handlers = Handlers {
            open,
            message,
            close,
            redial,
        };
        let transport = SocketTransport::new(url, this_window.clone(), handlers, backoff, entropy);
        build(weak, id, engine, &this_window, Box::new(transport))
    });
    diagnostics::connection_created();
    #[cfg(feature = "test-hook")]
    crate::test_hook::track(&rc);
    {
        let mut inner = rc.borrow_mut();
        let now = inner.now();
        inner.engine.connect(now);
        inner.transport.redial();
    }
    drive(&rc);
    rc
}

/// A message on the connection's socket: binary is a frame (its bytes are
/// read into wasm only once the engine asks), text is somebody else's.
#[cfg(feature = "websocket")]
fn receive_socket(rc: &Rc<RefCell<Inner>>, event: &MessageEvent, origin: &str) {
    {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        let frame = event
            .data()
            .dyn_into::<js_sys::ArrayBuffer>()
            .ok()
            .and_then(|buffer| JsFrame::of(js_sys::Uint8Array::new(&buffer).into()));
        let Some(frame) = frame else {
            inner.engine.record_foreign();
            return;
        };
        inner.traffic.port_in += 1;
        let now = inner.now();
        let _ = inner
            .engine
            .handle_frame(now, Channel::Socket { origin }, &frame);
    }
    drive(rc);
}
