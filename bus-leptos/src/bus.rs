//! The handle every hook returns: the connection's state, stats and latest
//! rejections as signals, and calls, actions, services and emits that go to
//! whichever connection the hook holds now.

use std::future::Future;

use bus_web::{CallError, CloseReason, Method, RemoteError, State, Stats, Topic};
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_arch = "wasm32")]
pub(crate) use browser::Shared;

/// A bus bound to a component: what [`crate::use_iframe_bus`],
/// [`crate::use_parent_bus`] and [`crate::use_opener_bus`] return (and
/// [`crate::use_popup_bus`], through [`crate::PopupBus`]).
///
/// `Copy`, like a signal: move it into as many closures as you like. It
/// stops working when the component that made it is cleaned up.
///
/// Services ([`Bus::serve`]) and topic signals ([`crate::use_topic`]) are
/// bound to every connection the hook makes: declare them once, in the
/// component body, before or after the bus connects.
#[derive(Debug, Clone, Copy)]
pub struct Bus {
    /// The connection's state: [`State::Idle`] before the hook connects (and
    /// always under SSR), then `Connecting`, `Connected`, `Reconnecting`,
    /// `Closed`. A connection that could not be made shows
    /// `Closed(Local("could not connect: …"))`.
    pub state: Signal<State>,
    /// The connection's counters (frames, rejections by reason), refreshed
    /// on every state change, rejection, call through this handle and event
    /// read by [`crate::use_topic`], and every
    /// [`crate::UseBusOptions::stats_interval`].
    pub stats: Signal<Stats>,
    /// The latest rejected frames, newest first, at most
    /// [`crate::UseBusOptions::keep_rejections`]; `stats.rejected` counts
    /// them all.
    pub rejections: Signal<Vec<bus_web::Rejection>>,
    // Natively nothing writes: the hooks do nothing under SSR.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) writers: Writers,
    #[cfg(target_arch = "wasm32")]
    pub(crate) shared: StoredValue<Shared, LocalStorage>,
}

#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) struct Writers {
    pub(crate) state: RwSignal<State>,
    pub(crate) stats: RwSignal<Stats>,
    pub(crate) rejections: RwSignal<Vec<bus_web::Rejection>>,
    pub(crate) keep: usize,
}

fn not_connected() -> CallError {
    CallError::Closed(CloseReason::Local(
        "no connection: the component that owns the bus is not mounted, or the bus was closed"
            .into(),
    ))
}

impl Bus {
    pub(crate) fn new(options: &crate::UseBusOptions) -> Bus {
        let writers = Writers {
            state: RwSignal::new(State::Idle),
            stats: RwSignal::new(Stats::default()),
            rejections: RwSignal::new(Vec::new()),
            keep: options.keep_rejections,
        };
        Bus {
            state: writers.state.into(),
            stats: writers.stats.into(),
            rejections: writers.rejections.into(),
            writers,
            #[cfg(target_arch = "wasm32")]
            shared: StoredValue::new_local(Shared::default()),
        }
    }

    /// Calls `method` on the peer, like [`bus_web::Connection::call`]: the
    /// call waits while the bus connects or reconnects, up to its timeout.
    /// Without a connection (not mounted yet, closed, or under SSR) it fails
    /// at once with [`CallError::Closed`].
    ///
    /// ```no_run
    /// # const QUOTE: bus_web::Method<u32, u64> = bus_web::Method::new("checkout.quote");
    /// # async fn quote(bus: bus_leptos::Bus) -> Result<(), bus_web::CallError> {
    /// let cents = bus.call(&QUOTE, &3).await?;
    /// # Ok(()) }
    /// ```
    pub async fn call<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        #[cfg(target_arch = "wasm32")]
        {
            let conn = self.connection().ok_or_else(not_connected)?;
            let result = conn.call(method, request).await;
            self.refresh_stats();
            result
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (method, request);
            Err(not_connected())
        }
    }

    /// An [`Action`] that calls `method`, for buttons: `dispatch` a request
    /// (it is cloned for the call),
    /// show `pending()` while it runs and `value()` when it answers, with
    /// the remote error if it failed.
    ///
    /// ```no_run
    /// # use leptos::prelude::*;
    /// # const QUOTE: bus_web::Method<u32, u64> = bus_web::Method::new("checkout.quote");
    /// # fn button(bus: bus_leptos::Bus) -> impl IntoView {
    /// let quote = bus.action(QUOTE);
    /// view! {
    ///     <button on:click=move |_| { quote.dispatch(3); } disabled=move || quote.pending().get()>
    ///         "Get a quote"
    ///     </button>
    ///     <output>{move || match quote.value().get() {
    ///         Some(Ok(cents)) => format!("{cents} cents"),
    ///         Some(Err(e)) => format!("failed: {e}"),
    ///         None => String::new(),
    ///     }}</output>
    /// }
    /// # }
    /// ```
    pub fn action<Req, Resp>(
        &self,
        method: Method<Req, Resp>,
    ) -> Action<Req, Result<Resp, CallError>>
    where
        Req: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        Resp: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let bus = *self;
        Action::new_unsync(move |request: &Req| {
            let request = request.clone();
            async move { bus.call(&method, &request).await }
        })
    }

    /// Serves `method` on every connection this hook makes, replacing an
    /// earlier handler of the same method. See [`bus_web::Connection::serve`].
    ///
    /// ```no_run
    /// # use bus_web::RemoteError;
    /// # const QUOTE: bus_web::Method<u32, u64> = bus_web::Method::new("checkout.quote");
    /// # fn serve(bus: bus_leptos::Bus) {
    /// bus.serve(QUOTE, |items: u32| async move {
    ///     250u64.checked_mul(u64::from(items)).ok_or_else(|| RemoteError::new(422, "too many items"))
    /// });
    /// # }
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

    /// Like [`Bus::serve`], with a [`bus_web::Cancellation`] that tells the
    /// handler when nobody waits for its answer any more.
    pub fn serve_cancellable<Req, Resp, F, Fut>(&self, method: Method<Req, Resp>, handler: F)
    where
        Req: Serialize + DeserializeOwned + 'static,
        Resp: Serialize + DeserializeOwned + 'static,
        F: Fn(Req, bus_web::Cancellation) -> Fut + 'static,
        Fut: Future<Output = Result<Resp, RemoteError>> + 'static,
    {
        #[cfg(target_arch = "wasm32")]
        {
            let handler = std::rc::Rc::new(handler);
            self.bind(std::rc::Rc::new(move |conn: &bus_web::Connection| {
                let handler = handler.clone();
                conn.serve_cancellable(method, move |request, cancel| handler(request, cancel));
            }));
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (method, handler);
    }

    /// Emits an event on `topic` to the peer. While the bus is between
    /// sessions, events wait for the next one (see
    /// [`bus_web::Connection::emit`]); without a connection this fails with
    /// [`CallError::Closed`].
    pub fn emit<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
    ) -> Result<(), CallError> {
        #[cfg(target_arch = "wasm32")]
        {
            self.connection()
                .ok_or_else(not_connected)?
                .emit(topic, payload)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (topic, payload);
            Err(not_connected())
        }
    }

    /// Closes the connection now (telling the peer) instead of at cleanup.
    /// An iframe bus connects again if its `NodeRef` gets a new element.
    pub fn close(&self) {
        #[cfg(target_arch = "wasm32")]
        self.detach("closed by the application");
    }

    /// Refreshes [`Bus::stats`] from the connection, notifying only when a
    /// counter changed.
    pub fn refresh_stats(&self) {
        #[cfg(target_arch = "wasm32")]
        if let Some(conn) = self.connection() {
            let stats = conn.stats();
            if self
                .writers
                .stats
                .try_with_untracked(|old| *old != stats)
                .unwrap_or(false)
            {
                self.writers.stats.try_set(stats);
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::rc::Rc;

    use bus_web::{ConnectError, Connection, State};
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use super::Bus;

    /// Something to do with every connection the hook makes: serve a
    /// method, follow a topic.
    pub(crate) type Binder = Rc<dyn Fn(&Connection)>;

    #[derive(Default)]
    pub(crate) struct Shared {
        conn: Option<Connection>,
        binders: Vec<(u64, Binder)>,
        next_binder: u64,
        /// The popup window a popup bus opened, closed with the bus.
        pub(crate) popup: Option<web_sys::Window>,
    }

    impl Bus {
        /// The connection the hook holds now, for what the handle does not
        /// wrap ([`Connection::traffic`], [`Connection::states`], …).
        /// `None` before the hook connects and after it closes.
        pub fn connection(&self) -> Option<Connection> {
            self.shared.try_with_value(|s| s.conn.clone()).flatten()
        }

        /// Runs `binder` on the current connection and on every later one,
        /// until [`Bus::unbind`].
        pub(crate) fn bind(&self, binder: Binder) -> u64 {
            let current = self.connection();
            if let Some(conn) = &current {
                binder(conn);
            }
            self.shared
                .try_update_value(|s| {
                    s.next_binder += 1;
                    s.binders.push((s.next_binder, binder));
                    s.next_binder
                })
                .unwrap_or(0)
        }

        pub(crate) fn unbind(&self, id: u64) {
            self.shared
                .try_update_value(|s| s.binders.retain(|(i, _)| *i != id));
        }

        /// Takes over a new connection (closing the one held before) or
        /// shows why there is none.
        pub(crate) fn attach(&self, conn: Result<Connection, ConnectError>) {
            self.detach("replaced by a new connection");
            let conn = match conn {
                Ok(conn) => conn,
                Err(e) => {
                    let why = bus_web::CloseReason::Local(format!("could not connect: {e}"));
                    self.writers.state.try_set(State::Closed(why));
                    return;
                }
            };
            self.writers.state.try_set(conn.state());
            self.writers.rejections.try_set(Vec::new());
            self.follow(&conn);
            let binders: Vec<Binder> = self
                .shared
                .try_update_value(|s| {
                    s.conn = Some(conn.clone());
                    s.binders.iter().map(|(_, b)| b.clone()).collect()
                })
                .unwrap_or_default();
            for binder in binders {
                binder(&conn);
            }
            self.refresh_stats();
        }

        /// Keeps the popup window this bus talks to, to close it with the
        /// bus; closes it at once if the bus is gone already.
        pub(crate) fn keep_popup(&self, popup: web_sys::Window) {
            let kept = self
                .shared
                .try_update_value(|s| s.popup = Some(popup.clone()));
            if kept.is_none() {
                let _ = popup.close();
            }
        }

        /// Closes the connection held now, if any, and the popup it talks to.
        pub(crate) fn detach(&self, reason: &str) {
            let (conn, popup) = self
                .shared
                .try_update_value(|s| (s.conn.take(), s.popup.take()))
                .unwrap_or_default();
            if let Some(conn) = conn {
                conn.close(reason);
                // The state stream delivers `Closed` a microtask later; show
                // it now, and the final counters.
                self.writers.state.try_set(conn.state());
                let stats = conn.stats();
                self.writers.stats.try_set(stats);
            }
            if let Some(popup) = popup {
                let _ = popup.close();
            }
        }

        /// Mirrors the connection's states and rejections into the signals
        /// until it closes (its streams end then).
        fn follow(&self, conn: &Connection) {
            let bus = *self;
            let id = conn.id();
            let current = move || bus.connection().is_some_and(|c| c.id() == id);
            let mut states = conn.states();
            spawn_local(async move {
                while let Some(state) = states.next().await {
                    // A replaced connection's last states are not ours to show.
                    if current() {
                        bus.writers.state.try_set(state);
                        bus.refresh_stats();
                    }
                }
            });
            let mut rejections = conn.rejections();
            spawn_local(async move {
                while let Some(rejection) = rejections.next().await {
                    if !current() {
                        continue;
                    }
                    let keep = bus.writers.keep;
                    bus.writers.rejections.try_update(|list| {
                        list.insert(0, rejection);
                        list.truncate(keep);
                    });
                    bus.refresh_stats();
                }
            });
        }
    }
}
