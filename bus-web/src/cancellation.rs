//! What a served call's handler is told when nobody waits for its answer.
//! (The browser-only `handlers` module cancels; this compiles everywhere,
//! so code that serves methods also builds for the server under SSR.)

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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

// Only the browser build cancels calls.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
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

    pub(crate) fn wake_on_cancel(&self, cx: &Context<'_>) {
        let mut wakers = self.signal.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
    }

    pub(crate) fn cancel(&self) {
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
