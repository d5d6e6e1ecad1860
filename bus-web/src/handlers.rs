//! Handlers the application serves, and the calls they are serving.
//!
//! Each served call runs as its own task. When the engine says nobody waits
//! any more ([`bus_core::Delivery::Cancelled`]: the caller cancelled, its
//! deadline passed, or the session ended), the task is woken and drops the
//! handler's future, so the handler's state is freed and its drop guards
//! run; a handler that must clean up something it started elsewhere can
//! also watch its [`Cancellation`](crate::Cancellation).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bus_core::vec_map::VecMap;
use bus_core::{RemoteError, RequestId};

use crate::cancellation::Cancellation;
use crate::diagnostics;
use crate::parts::Parts;

pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Parts, RemoteError>>>>;
pub(crate) type Handler = Rc<dyn Fn(Parts, Cancellation) -> HandlerFuture>;

/// A handler's future that stops (and is dropped) once cancelled.
struct Abortable {
    inner: HandlerFuture,
    cancel: Cancellation,
}

impl Future for Abortable {
    type Output = Option<Result<Parts, RemoteError>>;

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
        payload: Parts,
    ) -> Option<impl Future<Output = Option<Result<Parts, RemoteError>>> + use<>> {
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
