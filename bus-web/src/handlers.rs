//! Handlers the application serves, and the calls they are serving.
//!
//! Each served call runs as its own task. When the engine says nobody waits
//! any more ([`bus_core::Delivery::Cancelled`]: the caller cancelled, its
//! deadline passed, or the session ended), the task is woken and drops the
//! handler's future, so the handler's state is freed and its drop guards
//! run; a handler that must clean up something it started elsewhere can
//! also watch its [`Cancellation`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bus_core::vec_map::VecMap;
use bus_core::{RemoteError, RequestId};

use crate::diagnostics;

pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, RemoteError>>>>;
pub(crate) type Handler = Rc<dyn Fn(Vec<u8>, Cancellation) -> HandlerFuture>;

#[derive(Default)]
struct Signal {
    cancelled: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

/// Tells a handler that nobody waits for its answer any more. The bus also
/// drops the handler's future at that point; use this to stop work the
/// handler handed to someone else (a timer, a pending UI prompt).
///
/// ```ignore
/// conn.serve_cancellable(CONFIRM, |cart: Cart, cancel: Cancellation| async move {
///     let prompt = show_pay_prompt(&cart);
///     let _guard = cancel.on_drop(move || prompt.hide()); // or: cancel.cancelled().await
///     Ok(prompt.answer().await)
/// });
/// ```
#[derive(Clone, Default)]
pub struct Cancellation {
    signal: Rc<Signal>,
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Cancellation {
    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.signal.cancelled.get()
    }

    /// Resolves once the call is cancelled.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            signal: self.signal.clone(),
        }
    }

    /// Runs `f` when the returned guard is dropped: when the handler
    /// finishes or when it is cancelled, whichever comes first.
    pub fn on_drop<F: FnOnce()>(&self, f: F) -> OnDrop<F> {
        OnDrop(Some(f))
    }

    fn wake_on_cancel(&self, cx: &Context<'_>) {
        let mut wakers = self.signal.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
    }

    fn cancel(&self) {
        self.signal.cancelled.set(true);
        for w in self.signal.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// The future of [`Cancellation::cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled {
    signal: Rc<Signal>,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signal")
    }
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let cancel = Cancellation {
            signal: self.signal.clone(),
        };
        if cancel.is_cancelled() {
            return Poll::Ready(());
        }
        cancel.wake_on_cancel(cx);
        Poll::Pending
    }
}

/// Runs its closure when dropped. See [`Cancellation::on_drop`].
#[must_use = "the closure runs when this is dropped"]
pub struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> fmt::Debug for OnDrop<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnDrop")
    }
}

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A handler's future that stops (and is dropped) once cancelled.
struct Abortable {
    inner: HandlerFuture,
    cancel: Cancellation,
}

impl Future for Abortable {
    type Output = Option<Result<Vec<u8>, RemoteError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(None);
        }
        self.cancel.wake_on_cancel(cx);
        self.inner.as_mut().poll(cx).map(Some)
    }
}

impl Drop for Abortable {
    fn drop(&mut self) {
        diagnostics::handler_ended();
    }
}

/// Served methods and the calls being served.
#[derive(Default)]
pub(crate) struct Handlers {
    by_method: VecMap<String, Handler>,
    running: VecMap<RequestId, Cancellation>,
}

impl Handlers {
    pub(crate) fn insert(&mut self, method: &str, handler: Handler) {
        self.by_method.insert(method.to_owned(), handler);
    }

    /// Starts `method`'s handler on `payload`; `None` when nobody serves it.
    /// The future yields `None` if the call is cancelled first.
    pub(crate) fn start(
        &mut self,
        id: RequestId,
        method: &str,
        payload: Vec<u8>,
    ) -> Option<impl Future<Output = Option<Result<Vec<u8>, RemoteError>>> + use<>> {
        let handler = self.by_method.get(method)?.clone();
        let cancel = Cancellation::default();
        self.running.insert(id, cancel.clone());
        diagnostics::handler_started();
        Some(Abortable {
            inner: handler(payload, cancel.clone()),
            cancel,
        })
    }

    /// The call finished; forget it.
    pub(crate) fn finished(&mut self, id: RequestId) {
        self.running.remove(&id);
    }

    /// Nobody waits for `id`: its handler stops.
    pub(crate) fn cancel(&mut self, id: RequestId) {
        if let Some(c) = self.running.remove(&id) {
            c.cancel();
        }
    }

    /// Stops every running handler (the connection closed).
    pub(crate) fn cancel_all(&mut self) {
        for (_, c) in self.running.take_all() {
            c.cancel();
        }
    }

    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }
}
