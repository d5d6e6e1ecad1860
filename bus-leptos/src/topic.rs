//! Events on a topic as a signal.

use bus_web::Topic;
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Bus;

/// The latest event on `topic` from the peer, as a signal: `None` until the
/// first one arrives. Follows every connection `bus` makes, and stops when
/// the component that called it is cleaned up (which may be before the
/// bus's own component is).
///
/// ```no_run
/// # use bus_leptos::use_topic;
/// # use leptos::prelude::*;
/// # const PAID: bus_web::Topic<String> = bus_web::Topic::new("checkout.paid");
/// # fn receipt(bus: bus_leptos::Bus) -> impl IntoView {
/// let paid = use_topic(bus, PAID);
/// view! { <p>{move || paid.get().map(|reference| format!("Paid: {reference}"))}</p> }
/// # }
/// ```
pub fn use_topic<T>(bus: Bus, topic: Topic<T>) -> Signal<Option<T>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let latest = RwSignal::new(None);
    #[cfg(target_arch = "wasm32")]
    browser::follow(bus, topic, latest);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (bus, topic);
    latest.into()
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::Poll;

    use bus_web::{Connection, Topic};
    use futures_channel::oneshot;
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::Bus;

    pub(super) fn follow<T>(bus: Bus, topic: Topic<T>, latest: RwSignal<Option<T>>)
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        // One sender per connection followed; dropping them (when this
        // owner is cleaned up) ends the readers at once.
        let stops = StoredValue::new_local(Vec::<oneshot::Sender<()>>::new());
        let id = bus.bind(Rc::new(move |conn: &Connection| {
            let (stop, stopped) = oneshot::channel();
            stops.try_update_value(|s| {
                s.retain(|tx| !tx.is_canceled());
                s.push(stop);
            });
            let events = conn.events(topic);
            spawn_local(read_until_stopped(events, stopped, bus, latest));
        }));
        on_cleanup(move || bus.unbind(id));
    }

    /// Sets `latest` to each event until the stream ends (its connection
    /// closed) or `stopped` fires.
    async fn read_until_stopped<T>(
        mut events: bus_web::Events<T>,
        mut stopped: oneshot::Receiver<()>,
        bus: Bus,
        latest: RwSignal<Option<T>>,
    ) where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        loop {
            let next = std::future::poll_fn(|cx| {
                if Pin::new(&mut stopped).poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                futures_core::Stream::poll_next(Pin::new(&mut events), cx)
            })
            .await;
            let Some(event) = next else { return };
            if latest.try_set(Some(event)).is_some() {
                return; // the signal is gone
            }
            bus.refresh_stats();
        }
    }
}
