//! A connection to one peer window: the public API.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bus_core::attach::decode_parts;
use bus_core::{
    CallError, CallId, CloseReason, Method, Rejection, RemoteError, State, Stats, Topic,
};
use futures_channel::oneshot;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cancellation::Cancellation;
use crate::driver::{Inner, drive, send_queued};
use crate::handlers::Handler;
use crate::parts::{Parts, join, split};
use crate::streams::{Feed, Stream};
use crate::transport::Traffic;

/// A connection to one peer window.
///
/// Cheap to clone; the connection closes (telling the peer, failing pending
/// calls, stopping handlers, removing every listener) when the last clone is
/// dropped or on [`Connection::close`]. Inside handlers and callbacks, hold a
/// [`WeakConnection`] instead of a clone, or the connection keeps itself alive.
///
/// A session that ends because the peer reloaded, navigated away or went
/// silent does not close the connection: it shows
/// [`State::Reconnecting`] and reconnects when the peer's bus knocks again.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Rc<RefCell<Inner>>,
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

    /// The peer's calls being served by a live handler right now.
    pub fn serving_calls(&self) -> usize {
        self.inner.borrow().handlers.running()
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
    /// Dropping the returned future cancels the call and tells the peer,
    /// whose handler is then dropped.
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

    /// Calls `method` with its own deadline, which the peer honours too.
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
        send_queued(&self.inner, 1);
        let outcome = rx.await;
        guard.armed = false;
        match outcome {
            Ok(Ok(parts)) => {
                let (bytes, attachments) = split(parts);
                Ok(decode_parts(&bytes, attachments)?)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CallError::Closed(CloseReason::Local(
                "connection dropped".into(),
            ))),
        }
    }

    /// Serves `method` with an async handler, replacing any earlier one.
    /// A request that does not decode is answered with `BAD_REQUEST`. When
    /// the caller gives up, the handler's future is dropped.
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
        self.serve_cancellable(method, move |request, _| handler(request));
    }

    /// Like [`Connection::serve`], and the handler also gets a
    /// [`Cancellation`] to observe when nobody waits for its answer (the
    /// caller cancelled or timed out, or the session ended).
    pub fn serve_cancellable<Req, Resp, F, Fut>(&self, method: Method<Req, Resp>, handler: F)
    where
        Req: Serialize + DeserializeOwned + 'static,
        Resp: Serialize + DeserializeOwned + 'static,
        F: Fn(Req, Cancellation) -> Fut + 'static,
        Fut: Future<Output = Result<Resp, RemoteError>> + 'static,
    {
        let handler = Rc::new(handler);
        let erased: Handler = Rc::new(move |parts, cancel: Cancellation| {
            let (bytes, attachments) = split(parts);
            let handler = handler.clone();
            Box::pin(async move {
                let request = method.accept_request_parts(&bytes, attachments)?;
                let (bytes, attachments) =
                    method.finish_response_parts(handler(request, cancel).await)?;
                Ok(join(bytes, attachments))
            })
        });
        self.inner
            .borrow_mut()
            .handlers
            .insert(method.name(), erased);
    }

    /// Emits an event on `topic`. While the connection is between sessions
    /// (connecting or reconnecting), events wait for the next session, up to
    /// [`bus_core::Limits::max_queued_messages`]; those waiting when a
    /// session ends are dropped with it.
    pub fn emit<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
    ) -> Result<(), CallError> {
        self.inner.borrow_mut().engine.emit_topic(topic, payload)?;
        send_queued(&self.inner, 0);
        Ok(())
    }

    /// Every event on `topic` from now on, as a stream that ends when the
    /// connection closes. Payloads that do not decode as `T` are skipped
    /// (and logged at debug level).
    ///
    /// ```ignore
    /// let mut paid = conn.events(PAID);
    /// spawn_local(async move {
    ///     while let Some(receipt) = paid.next().await {
    ///         show(receipt);
    ///     }
    /// });
    /// ```
    pub fn events<T>(&self, topic: Topic<T>) -> Events<T>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut inner = self.inner.borrow_mut();
        let raw = if inner.is_closed() {
            Feed::ended()
        } else {
            inner
                .events
                .get_or_insert_with(topic.name().to_owned(), Feed::default)
                .stream()
        };
        Events { raw, topic }
    }

    /// Every state change from now on; ends after [`State::Closed`].
    pub fn states(&self) -> Stream<State> {
        let inner = self.inner.borrow();
        if inner.is_closed() {
            Feed::ended()
        } else {
            inner.states.stream()
        }
    }

    /// Every rejected frame from now on, with the reason; ends when the
    /// connection closes.
    pub fn rejections(&self) -> Stream<Rejection> {
        let inner = self.inner.borrow();
        if inner.is_closed() {
            Feed::ended()
        } else {
            inner.rejections.stream()
        }
    }

    /// Closes the connection: tells the peer, fails pending calls, stops
    /// handlers, removes every listener and closes the port.
    pub fn close(&self, reason: &str) {
        self.inner.borrow_mut().engine.close(reason);
        drive(&self.inner);
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

/// The events of one topic, decoded. See [`Connection::events`].
pub struct Events<T> {
    raw: Stream<Parts>,
    topic: Topic<T>,
}

impl<T> fmt::Debug for Events<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("topic", &self.topic.name())
            .field("raw", &self.raw)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Events<T> {
    /// The next event; `None` once the connection closed.
    pub async fn next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Events dropped because nobody read them in time.
    pub fn dropped(&self) -> u64 {
        self.raw.dropped()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            match futures_core::Stream::poll_next(Pin::new(&mut self.raw), cx) {
                Poll::Ready(Some(parts)) => {
                    let (bytes, attachments) = split(parts);
                    match decode_parts(&bytes, attachments) {
                        Ok(value) => return Poll::Ready(Some(value)),
                        Err(e) => {
                            let what = format!(
                                "bus: an event on {} did not decode ({e}); the peer sends another type",
                                self.topic.name()
                            );
                            crate::diagnostics::console_error(
                                &what,
                                &wasm_bindgen::JsValue::UNDEFINED,
                            );
                        }
                    }
                }
                other => return other.map(|_| None),
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned> futures_core::Stream for Events<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_event(cx)
    }
}

impl<T> Unpin for Events<T> {}

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
