//! A connection: the engine plus the browser objects it talks through.
//!
//! Everything here moves bytes and turns engine outputs into futures and
//! callbacks; every protocol decision is the engine's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bus_core::{
    CallError, CallId, Channel, CloseReason, Delivery, Engine, Method, Rejection, RemoteError,
    Role, Route, SourceId, State, Stats, Topic, Transmit,
};
use futures_channel::oneshot;
use js_sys::{Array, ArrayBuffer, Uint8Array};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{
    Event, HtmlIFrameElement, MessageChannel, MessageEvent, MessagePort, Performance, Window,
};

use crate::page;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, RemoteError>>>>;
type Handler = Rc<dyn Fn(Vec<u8>) -> HandlerFuture>;
type Callback<T> = Rc<dyn Fn(&T)>;
/// Callbacks by id, so a [`Subscription`] can remove its own.
type Watchers<T> = Vec<(u64, Callback<T>)>;
type Unsubscribe = Box<dyn FnOnce(&mut Inner)>;

/// Frames counted per channel: shows that traffic moved to the private port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Frames received as window messages.
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

pub(crate) struct Inner {
    id: u64,
    engine: Engine,
    peer: Window,
    kind: PeerKind,
    perf: Option<Performance>,
    port: Option<MessagePort>,
    incoming_port: Option<MessagePort>,
    port_fn: Closure<dyn FnMut(MessageEvent)>,
    timer_fn: Closure<dyn FnMut()>,
    timer: Option<(i32, Duration)>,
    liveness_fn: Closure<dyn FnMut()>,
    liveness: Option<i32>,
    load_fn: Closure<dyn FnMut(Event)>,
    load_listening: bool,
    /// Runs [`drive`] at the end of the current task (a microtask).
    flush_fn: Closure<dyn FnMut(wasm_bindgen::JsValue)>,
    flush_scheduled: bool,
    this_window: Window,
    handlers: HashMap<String, Handler>,
    subscribers: HashMap<String, Watchers<[u8]>>,
    state_watchers: Watchers<State>,
    rejection_watchers: Watchers<Rejection>,
    calls: HashMap<CallId, oneshot::Sender<Result<Vec<u8>, CallError>>>,
    waiters: Vec<oneshot::Sender<Result<(), CloseReason>>>,
    next_watch: u64,
    traffic: Traffic,
    torn_down: bool,
}

impl Inner {
    fn now(&self) -> Duration {
        let ms = self.perf.as_ref().map_or(0.0, Performance::now);
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }

    fn max_frame(&self) -> usize {
        self.engine.config().limits.max_frame_bytes
    }

    /// Posts everything the engine wants sent.
    fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            self.send(t);
        }
    }

    fn send(&mut self, t: Transmit) {
        let bytes = Uint8Array::new_with_length(t.bytes.len() as u32);
        bytes.copy_from(&t.bytes);
        let buffer = bytes.buffer();
        // The frame's buffer is transferred, not cloned.
        let transfer = Array::of1(&buffer);
        let result = match (&t.route, &self.port) {
            (Route::Port, Some(port)) => {
                self.traffic.port_out += 1;
                port.post_message_with_transferable(&buffer, &transfer)
            }
            (Route::Window { target_origin }, _) => {
                if t.attach_port {
                    match MessageChannel::new() {
                        Ok(channel) => {
                            self.install_port(channel.port1());
                            transfer.push(&channel.port2());
                        }
                        Err(e) => tracing::error!(?e, "could not create a MessageChannel"),
                    }
                }
                self.traffic.window_out += 1;
                self.peer
                    .post_message_with_transfer(&buffer, target_origin, &transfer)
            }
            (Route::Port, None) => {
                // No private channel (the peer sent none): fall back to the
                // window, still to the session's verified origin.
                let State::Connected { origin, .. } = self.engine.state() else {
                    return;
                };
                self.traffic.window_out += 1;
                self.peer
                    .post_message_with_transfer(&buffer, &origin, &transfer)
            }
        };
        if let Err(e) = result {
            tracing::warn!(?e, "postMessage failed");
        }
    }

    fn install_port(&mut self, port: MessagePort) {
        self.drop_port();
        // Assigning onmessage also starts the port.
        port.set_onmessage(Some(self.port_fn.as_ref().unchecked_ref()));
        page::listener_added();
        self.port = Some(port);
    }

    fn drop_port(&mut self) {
        if let Some(port) = self.port.take() {
            port.set_onmessage(None);
            port.close();
            page::listener_removed();
        }
    }

    /// Arms the one timeout for the engine's next deadline.
    fn schedule_timer(&mut self) {
        let next = self.engine.poll_timeout();
        if let (Some(due), Some((_, armed))) = (next, self.timer)
            && due == armed
        {
            return;
        }
        if let Some((handle, _)) = self.timer.take() {
            self.this_window.clear_timeout_with_handle(handle);
            page::listener_removed();
        }
        let Some(due) = next else { return };
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
                page::listener_added();
                self.timer = Some((handle, due));
            }
            Err(e) => tracing::error!(?e, "could not set a timeout"),
        }
    }

    fn start_watching(&mut self, interval: Duration) {
        let ms = interval.as_millis().clamp(10, i32::MAX as u128) as i32;
        match self
            .this_window
            .set_interval_with_callback_and_timeout_and_arguments_0(
                self.liveness_fn.as_ref().unchecked_ref(),
                ms,
            ) {
            Ok(handle) => {
                page::listener_added();
                self.liveness = Some(handle);
            }
            Err(e) => tracing::error!(?e, "could not watch the peer window"),
        }
        if let PeerKind::Iframe(frame) = &self.kind
            && frame
                .add_event_listener_with_callback("load", self.load_fn.as_ref().unchecked_ref())
                .is_ok()
        {
            page::listener_added();
            self.load_listening = true;
        }
    }

    fn peer_is_gone(&self) -> bool {
        let detached = match &self.kind {
            PeerKind::Iframe(frame) => !frame.is_connected(),
            PeerKind::Window => false,
        };
        detached || self.peer.closed().unwrap_or(false)
    }

    /// Removes every listener, timer and port. Idempotent.
    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        page::unregister(self.id);
        self.drop_port();
        self.incoming_port = None;
        if let Some((handle, _)) = self.timer.take() {
            self.this_window.clear_timeout_with_handle(handle);
            page::listener_removed();
        }
        if let Some(handle) = self.liveness.take() {
            self.this_window.clear_interval_with_handle(handle);
            page::listener_removed();
        }
        if self.load_listening {
            if let PeerKind::Iframe(frame) = &self.kind {
                let _ = frame.remove_event_listener_with_callback(
                    "load",
                    self.load_fn.as_ref().unchecked_ref(),
                );
            }
            self.load_listening = false;
            page::listener_removed();
        }
    }

    /// Port and waiter bookkeeping for a state change; returns the watchers to call.
    fn on_state(&mut self, state: &State) -> Vec<Callback<State>> {
        match state {
            State::Connected { .. } => {
                if self.engine.config().role == Role::Guest
                    && let Some(port) = self.incoming_port.take()
                {
                    self.install_port(port);
                }
                for w in self.waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            State::Reconnecting => self.drop_port(),
            State::Closed(reason) => {
                self.teardown();
                for w in self.waiters.drain(..) {
                    let _ = w.send(Err(reason.clone()));
                }
            }
            State::Idle | State::Connecting => {}
        }
        self.state_watchers.iter().map(|(_, w)| w.clone()).collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !matches!(self.engine.state(), State::Closed(_)) {
            self.engine.close("connection dropped");
            self.flush();
        }
        self.teardown();
        page::connection_dropped();
    }
}

/// Runs the engine's outputs: posts frames, dispatches deliveries, re-arms
/// the timer. Callbacks run with no borrow held, so they may use the
/// connection.
pub(crate) fn drive(rc: &Rc<RefCell<Inner>>) {
    loop {
        let deliveries: Vec<Delivery> = {
            let Ok(mut inner) = rc.try_borrow_mut() else {
                return; // an outer drive is running and will finish the work
            };
            inner.flush();
            let mut out = Vec::new();
            while let Some(d) = inner.engine.poll_delivery() {
                out.push(d);
            }
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
    match delivery {
        Delivery::State(state) => {
            tracing::debug!(?state, "bus state");
            let watchers = rc.borrow_mut().on_state(&state);
            for w in watchers {
                w(&state);
            }
        }
        Delivery::Request {
            id,
            method,
            payload,
        } => {
            let handler = rc.borrow().handlers.get(&method).cloned();
            match handler {
                None => {
                    let err = RemoteError::new(
                        RemoteError::METHOD_NOT_FOUND,
                        format!("no handler for method {method:?}"),
                    );
                    rc.borrow_mut().engine.reply(id, Err(err));
                }
                Some(handler) => {
                    let future = handler(payload);
                    let weak = Rc::downgrade(rc);
                    wasm_bindgen_futures::spawn_local(async move {
                        let result = future.await;
                        if let Some(rc) = weak.upgrade() {
                            rc.borrow_mut().engine.reply(id, result);
                            schedule_drive(&rc);
                        }
                    });
                }
            }
        }
        Delivery::Reply { call, result } => {
            if let Some(tx) = rc.borrow_mut().calls.remove(&call) {
                let _ = tx.send(result);
            }
        }
        Delivery::Event { topic, payload } => {
            let subscribers: Vec<_> = rc
                .borrow()
                .subscribers
                .get(&topic)
                .map(|v| v.iter().map(|(_, s)| s.clone()).collect())
                .unwrap_or_default();
            for s in subscribers {
                s(&payload);
            }
        }
        Delivery::Cancelled(_) => {}
        Delivery::Rejected(rejection) => {
            tracing::debug!(reason = %rejection.reason, origin = ?rejection.origin, "rejected a frame");
            let watchers: Vec<_> = rc
                .borrow()
                .rejection_watchers
                .iter()
                .map(|(_, w)| w.clone())
                .collect();
            for w in watchers {
                w(&rejection);
            }
        }
    }
}

/// Drives the connection at the end of the current task rather than now, so
/// every call, reply and event the application makes in one turn of the event
/// loop leaves in one coalesced frame.
fn schedule_drive(rc: &Rc<RefCell<Inner>>) {
    let Ok(mut inner) = rc.try_borrow_mut() else {
        return;
    };
    if inner.flush_scheduled || inner.torn_down {
        return;
    }
    inner.flush_scheduled = true;
    let _ = js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL).then(&inner.flush_fn);
}

/// Copies at most `limit + 1` bytes of an `ArrayBuffer` message: enough for
/// the engine to refuse an oversized frame without copying all of it.
fn read_bytes(data: &wasm_bindgen::JsValue, limit: usize) -> Option<Vec<u8>> {
    let buffer = data.dyn_ref::<ArrayBuffer>()?;
    let len = (buffer.byte_length() as usize).min(limit.saturating_add(1));
    Some(Uint8Array::new_with_byte_offset_and_length(buffer, 0, len as u32).to_vec())
}

/// A window message for this connection (see [`page`]).
pub(crate) fn receive_window(
    rc: &Rc<RefCell<Inner>>,
    origin: &str,
    source: SourceId,
    data: &wasm_bindgen::JsValue,
    ports: Option<&Array>,
) {
    {
        let mut inner = rc.borrow_mut();
        let Some(bytes) = read_bytes(data, inner.max_frame()) else {
            inner.engine.record_foreign();
            return;
        };
        inner.traffic.window_in += 1;
        inner.incoming_port = ports
            .filter(|p| p.length() > 0)
            .and_then(|p| p.get(0).dyn_into::<MessagePort>().ok());
        let now = inner.now();
        inner
            .engine
            .handle_frame(now, Channel::Window { origin, source }, &bytes);
    }
    drive(rc);
    // A port that came with a frame the engine did not accept is let go.
    rc.borrow_mut().incoming_port = None;
}

fn receive_port(rc: &Rc<RefCell<Inner>>, event: &MessageEvent) {
    {
        let mut inner = rc.borrow_mut();
        let Some(bytes) = read_bytes(&event.data(), inner.max_frame()) else {
            inner.engine.record_foreign();
            return;
        };
        inner.traffic.port_in += 1;
        let now = inner.now();
        inner.engine.handle_frame(now, Channel::Port, &bytes);
    }
    drive(rc);
}

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

/// Builds a connection around a checked engine and starts the handshake.
pub(crate) fn start(
    engine: Engine,
    this_window: Window,
    peer: Window,
    kind: PeerKind,
    liveness_interval: Duration,
) -> Connection {
    let id = page::next_id();
    let perf = this_window.performance();
    let rc = Rc::new_cyclic(|weak: &Weak<RefCell<Inner>>| {
        let w = weak.clone();
        let port_fn = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(rc) = w.upgrade() {
                receive_port(&rc, &e);
            }
        });
        let w = weak.clone();
        let timer_fn = Closure::<dyn FnMut()>::new(move || {
            with_live(&w, |inner| {
                if inner.timer.take().is_some() {
                    page::listener_removed();
                }
                let now = inner.now();
                inner.engine.handle_timeout(now);
            });
        });
        let w = weak.clone();
        let liveness_fn = Closure::<dyn FnMut()>::new(move || {
            with_live(&w, |inner| {
                if inner.peer_is_gone() {
                    inner.engine.peer_gone();
                }
            });
        });
        let w = weak.clone();
        let flush_fn = Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(move |_| {
            with_live(&w, |inner| inner.flush_scheduled = false);
        });
        let w = weak.clone();
        let load_fn = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            with_live(&w, |inner| {
                let now = inner.now();
                inner.engine.verify_peer(now);
            });
        });
        RefCell::new(Inner {
            id,
            engine,
            peer: peer.clone(),
            kind,
            perf,
            port: None,
            incoming_port: None,
            port_fn,
            timer_fn,
            timer: None,
            liveness_fn,
            liveness: None,
            load_fn,
            load_listening: false,
            flush_fn,
            flush_scheduled: false,
            this_window: this_window.clone(),
            handlers: HashMap::new(),
            subscribers: HashMap::new(),
            state_watchers: Vec::new(),
            rejection_watchers: Vec::new(),
            calls: HashMap::new(),
            waiters: Vec::new(),
            next_watch: 0,
            traffic: Traffic::default(),
            torn_down: false,
        })
    });
    page::connection_created();
    page::register(id, &this_window, peer, Rc::downgrade(&rc));
    {
        let mut inner = rc.borrow_mut();
        inner.start_watching(liveness_interval);
        let now = inner.now();
        inner.engine.connect(now);
    }
    drive(&rc);
    Connection { inner: rc }
}

/// A connection to one peer window.
///
/// Cheap to clone; the connection closes (telling the peer, failing pending
/// calls, removing every listener) when the last clone is dropped or on
/// [`Connection::close`]. Inside handlers and callbacks, hold a
/// [`WeakConnection`] instead of a clone, or the connection keeps itself alive.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<RefCell<Inner>>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_borrow() {
            Ok(inner) => f
                .debug_struct("Connection")
                .field("id", &inner.id)
                .field("state", &inner.engine.state())
                .finish(),
            Err(_) => f.write_str("Connection { <busy> }"),
        }
    }
}

/// A connection reference that does not keep it alive.
#[derive(Clone, Debug)]
pub struct WeakConnection {
    inner: Weak<RefCell<Inner>>,
}

impl WeakConnection {
    /// The connection, if it still exists.
    pub fn upgrade(&self) -> Option<Connection> {
        self.inner.upgrade().map(|inner| Connection { inner })
    }
}

/// Keeps a callback registered; dropping it unregisters the callback.
#[must_use = "the callback is removed when this is dropped"]
pub struct Subscription {
    inner: Weak<RefCell<Inner>>,
    remove: Option<Unsubscribe>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}

impl Subscription {
    /// Keeps the callback for the connection's whole life.
    pub fn forever(mut self) {
        self.remove = None;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let (Some(rc), Some(remove)) = (self.inner.upgrade(), self.remove.take())
            && let Ok(mut inner) = rc.try_borrow_mut()
        {
            remove(&mut inner);
        }
    }
}

/// Cancels a call whose future is dropped before it resolves.
struct CancelOnDrop {
    inner: Weak<RefCell<Inner>>,
    call: CallId,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(rc) = self.inner.upgrade() {
            if let Ok(mut inner) = rc.try_borrow_mut() {
                inner.calls.remove(&self.call);
                inner.engine.cancel(self.call);
            }
            drive(&rc);
        }
    }
}

impl Connection {
    /// A reference that does not keep the connection alive.
    pub fn downgrade(&self) -> WeakConnection {
        WeakConnection {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// Identifies this connection within the page.
    pub fn id(&self) -> u64 {
        self.inner.borrow().id
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.inner.borrow().engine.state()
    }

    /// Counters: frames in and out, foreign messages, rejections by reason.
    pub fn stats(&self) -> Stats {
        self.inner.borrow().engine.stats().clone()
    }

    /// Calls waiting for a reply.
    pub fn pending_calls(&self) -> usize {
        self.inner.borrow().engine.pending_calls()
    }

    /// Frames per channel.
    pub fn traffic(&self) -> Traffic {
        self.inner.borrow().traffic
    }

    /// Resolves once connected, or with the reason the connection closed.
    pub async fn connected(&self) -> Result<(), CloseReason> {
        let rx = {
            let mut inner = self.inner.borrow_mut();
            match inner.engine.state() {
                State::Connected { .. } => return Ok(()),
                State::Closed(reason) => return Err(reason),
                _ => {}
            }
            let (tx, rx) = oneshot::channel();
            inner.waiters.push(tx);
            rx
        };
        rx.await
            .unwrap_or_else(|_| Err(CloseReason::Local("connection dropped".into())))
    }

    /// Calls `method` on the peer with the default timeout.
    ///
    /// Dropping the returned future cancels the call and tells the peer.
    pub async fn call<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        self.call_inner(method, request, None).await
    }

    /// Calls `method` with its own deadline.
    pub async fn call_with_timeout<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        self.call_inner(method, request, Some(timeout)).await
    }

    async fn call_inner<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        let (call, rx) = {
            let mut inner = self.inner.borrow_mut();
            let now = inner.now();
            let call = inner.engine.call_method(now, method, request, timeout)?;
            let (tx, rx) = oneshot::channel();
            inner.calls.insert(call, tx);
            (call, rx)
        };
        let mut guard = CancelOnDrop {
            inner: Rc::downgrade(&self.inner),
            call,
            armed: true,
        };
        schedule_drive(&self.inner);
        let outcome = rx.await;
        guard.armed = false;
        match outcome {
            Ok(Ok(bytes)) => Ok(method.decode_response(&bytes)?),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CallError::Closed(CloseReason::Local(
                "connection dropped".into(),
            ))),
        }
    }

    /// Serves `method` with an async handler, replacing any earlier one.
    /// A request that does not decode is answered with `BAD_REQUEST`.
    ///
    /// ```ignore
    /// conn.serve(TOTAL, |items: u32| async move { Ok(Quote { cents: 250 * items as u64 }) });
    /// ```
    pub fn serve<Req, Resp, F, Fut>(&self, method: Method<Req, Resp>, handler: F)
    where
        Req: Serialize + DeserializeOwned + 'static,
        Resp: Serialize + DeserializeOwned + 'static,
        F: Fn(Req) -> Fut + 'static,
        Fut: Future<Output = Result<Resp, RemoteError>> + 'static,
    {
        let name = method.name();
        let handler = Rc::new(handler);
        let erased: Handler = Rc::new(move |bytes: Vec<u8>| {
            let handler = handler.clone();
            Box::pin(async move {
                let request = method.decode_request(&bytes).map_err(|e| {
                    RemoteError::new(RemoteError::BAD_REQUEST, format!("{name}: {e}"))
                })?;
                let response = handler(request).await?;
                Ok(method.encode_response(&response)?)
            })
        });
        self.inner
            .borrow_mut()
            .handlers
            .insert(name.to_owned(), erased);
    }

    /// Emits an event on `topic`.
    pub fn emit<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
    ) -> Result<(), CallError> {
        self.inner.borrow_mut().engine.emit_topic(topic, payload)?;
        schedule_drive(&self.inner);
        Ok(())
    }

    /// Calls `callback` for every event on `topic`. Payloads that do not
    /// decode as `T` are dropped (and logged at debug level).
    pub fn subscribe<T, F>(&self, topic: Topic<T>, callback: F) -> Subscription
    where
        T: Serialize + DeserializeOwned + 'static,
        F: Fn(T) + 'static,
    {
        let name = topic.name();
        let raw: Callback<[u8]> = Rc::new(move |bytes: &[u8]| match topic.decode(bytes) {
            Ok(value) => callback(value),
            Err(e) => tracing::debug!(topic = name, %e, "event payload did not decode"),
        });
        let mut inner = self.inner.borrow_mut();
        inner.next_watch += 1;
        let id = inner.next_watch;
        inner
            .subscribers
            .entry(name.to_owned())
            .or_default()
            .push((id, raw));
        Subscription {
            inner: Rc::downgrade(&self.inner),
            remove: Some(Box::new(move |inner: &mut Inner| {
                if let Some(list) = inner.subscribers.get_mut(name) {
                    list.retain(|(i, _)| *i != id);
                }
            })),
        }
    }

    /// Calls `callback` on every state change.
    pub fn on_state(&self, callback: impl Fn(&State) + 'static) -> Subscription {
        let mut inner = self.inner.borrow_mut();
        inner.next_watch += 1;
        let id = inner.next_watch;
        inner.state_watchers.push((id, Rc::new(callback)));
        Subscription {
            inner: Rc::downgrade(&self.inner),
            remove: Some(Box::new(move |inner: &mut Inner| {
                inner.state_watchers.retain(|(i, _)| *i != id)
            })),
        }
    }

    /// Calls `callback` for every rejected frame, with the reason.
    pub fn on_rejection(&self, callback: impl Fn(&Rejection) + 'static) -> Subscription {
        let mut inner = self.inner.borrow_mut();
        inner.next_watch += 1;
        let id = inner.next_watch;
        inner.rejection_watchers.push((id, Rc::new(callback)));
        Subscription {
            inner: Rc::downgrade(&self.inner),
            remove: Some(Box::new(move |inner: &mut Inner| {
                inner.rejection_watchers.retain(|(i, _)| *i != id)
            })),
        }
    }

    /// Closes the connection: tells the peer, fails pending calls, removes
    /// every listener and closes the port.
    pub fn close(&self, reason: &str) {
        self.inner.borrow_mut().engine.close(reason);
        drive(&self.inner);
    }
}

/// Several connections as one audience: send an event to every connected
/// peer, or to all but one (a chat room relaying a message to the others).
///
/// ```ignore
/// let mut room = Hub::new();
/// room.add(&alice);
/// room.add(&bob);
/// room.emit_except(&MESSAGE, &text, alice.id()); // bob gets it, alice does not
/// ```
#[derive(Debug, Default)]
pub struct Hub {
    members: Vec<WeakConnection>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Adds a connection; the hub does not keep it alive.
    pub fn add(&mut self, connection: &Connection) {
        self.members.push(connection.downgrade());
    }

    /// Removes connection `id`.
    pub fn remove(&mut self, id: u64) {
        self.members
            .retain(|m| m.upgrade().is_some_and(|c| c.id() != id));
    }

    /// Live connections in the hub.
    pub fn connections(&self) -> Vec<Connection> {
        self.members
            .iter()
            .filter_map(WeakConnection::upgrade)
            .collect()
    }

    /// Emits to every connected member; returns how many got it.
    pub fn emit<T: Serialize + DeserializeOwned>(&self, topic: &Topic<T>, payload: &T) -> usize {
        self.emit_where(topic, payload, |_| true)
    }

    /// Emits to every connected member but `except` (a connection id).
    pub fn emit_except<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
        except: u64,
    ) -> usize {
        self.emit_where(topic, payload, |c| c.id() != except)
    }

    fn emit_where<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
        keep: impl Fn(&Connection) -> bool,
    ) -> usize {
        self.connections()
            .iter()
            .filter(|c| keep(c) && c.state().is_connected())
            .filter(|c| c.emit(topic, payload).is_ok())
            .count()
    }
}
