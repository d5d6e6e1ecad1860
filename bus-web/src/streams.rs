//! Bounded feeds and the streams that read them: events, states,
//! rejections. A stream does not keep its connection alive, ends when the
//! connection closes, and drops its oldest items when nobody reads it, so a
//! peer cannot grow memory through an unread stream.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// How many items a stream holds before it drops the oldest.
pub const STREAM_CAPACITY: usize = 1024;

/// Items travel type-erased, so the queue code exists once in the wasm
/// rather than once per item type; each stream turns them back into its `T`.
type Item = Rc<dyn Any>;

struct Queue {
    items: VecDeque<Item>,
    waker: Option<Waker>,
    closed: bool,
    dropped: u64,
}

type Queues = RefCell<Vec<Weak<RefCell<Queue>>>>;

/// The sending side: every live stream made from it gets each item.
pub(crate) struct Feed<T> {
    queues: Queues,
    item: PhantomData<fn(T)>,
}

impl<T> Default for Feed<T> {
    fn default() -> Self {
        Feed {
            queues: RefCell::new(Vec::new()),
            item: PhantomData,
        }
    }
}

impl<T: Clone + 'static> Feed<T> {
    pub(crate) fn stream(&self) -> Stream<T> {
        let queue = Rc::new(RefCell::new(Queue {
            items: VecDeque::new(),
            waker: None,
            closed: false,
            dropped: 0,
        }));
        self.queues.borrow_mut().push(Rc::downgrade(&queue));
        Stream {
            queue,
            item: PhantomData,
        }
    }

    /// A stream that is already over (the connection is closed).
    pub(crate) fn ended() -> Stream<T> {
        let stream = Feed::default().stream();
        stream.queue.borrow_mut().closed = true;
        stream
    }

    pub(crate) fn send(&self, item: &T) {
        if !self.queues.borrow().is_empty() {
            send(&self.queues, Rc::new(item.clone()));
        }
    }

    /// Ends every stream: they yield what they hold, then `None`.
    pub(crate) fn close(&self) {
        close(&self.queues);
    }
}

fn send(queues: &Queues, item: Item) {
    queues.borrow_mut().retain(|q| {
        let Some(q) = q.upgrade() else { return false };
        let mut q = q.borrow_mut();
        if q.items.len() == STREAM_CAPACITY {
            q.items.pop_front();
            q.dropped += 1;
        }
        q.items.push_back(item.clone());
        if let Some(w) = q.waker.take() {
            w.wake();
        }
        true
    });
}

fn close(queues: &Queues) {
    for q in queues.borrow_mut().drain(..) {
        if let Some(q) = q.upgrade() {
            let mut q = q.borrow_mut();
            q.closed = true;
            if let Some(w) = q.waker.take() {
                w.wake();
            }
        }
    }
}

fn poll_queue(queue: &RefCell<Queue>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
    let mut q = queue.borrow_mut();
    if let Some(item) = q.items.pop_front() {
        return Poll::Ready(Some(item));
    }
    if q.closed {
        return Poll::Ready(None);
    }
    q.waker = Some(cx.waker().clone());
    Poll::Pending
}

/// A stream of items from a connection (or the page). Implements
/// `futures_core::Stream`; without a futures crate, read it with
/// [`Stream::next`].
pub struct Stream<T> {
    queue: Rc<RefCell<Queue>>,
    item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.queue.borrow();
        f.debug_struct("Stream")
            .field("queued", &q.items.len())
            .field("closed", &q.closed)
            .field("dropped", &q.dropped)
            .finish()
    }
}

impl<T: Clone + 'static> Stream<T> {
    /// The next item; `None` once the connection closed and the stream is empty.
    // Named like StreamExt::next on purpose: the same call reads with or without futures-util.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, T> {
        Next { stream: self }
    }

    /// Items dropped because the stream was full ([`STREAM_CAPACITY`]).
    pub fn dropped(&self) -> u64 {
        self.queue.borrow().dropped
    }

    fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        poll_queue(&self.queue, cx).map(|item| {
            // Only a `Feed<T>` fills a `Stream<T>`: the downcast holds.
            let item = item?.downcast::<T>().ok()?;
            Some(Rc::try_unwrap(item).unwrap_or_else(|shared| (*shared).clone()))
        })
    }
}

impl<T: Clone + 'static> futures_core::Stream for Stream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_item(cx)
    }
}

/// The future of [`Stream::next`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Next<'a, T> {
    stream: &'a mut Stream<T>,
}

impl<T: Clone + 'static> Future for Next<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.stream.poll_item(cx)
    }
}
