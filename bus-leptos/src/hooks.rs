//! The hooks: each connects when its component mounts and closes the
//! connection when the component is cleaned up. Under SSR they return an
//! idle [`Bus`] and do nothing.

use std::ops::Deref;

use bus_web::ConnectError;
use leptos::html::Iframe;
use leptos::prelude::*;

use crate::{Bus, UseBusOptions};

/// Connects to the widget in an `<iframe>` (the host's side), like
/// [`bus_web::connect_iframe`].
///
/// Connects once the element is mounted, reconnects if `frame` gets another
/// element, closes when the element leaves (the `NodeRef` is cleared) or
/// the component is cleaned up. The bus follows the widget across reloads
/// by itself ([`bus_web::State::Reconnecting`]).
///
/// ```no_run
/// use bus_leptos::{use_iframe_bus, use_topic};
/// use leptos::{html::Iframe, prelude::*};
/// # use bus_web::{Method, Topic};
/// # const QUOTE: Method<u32, u64> = Method::new("checkout.quote");
/// # const PAID: Topic<String> = Topic::new("checkout.paid");
///
/// #[component]
/// fn Checkout() -> impl IntoView {
///     let frame = NodeRef::<Iframe>::new();
///     let allow = bus_web::allowlist!["https://pay.example"];
///     let bus = use_iframe_bus(frame, bus_web::Options::new(allow));
///     let paid = use_topic(bus, PAID);
///     let quote = bus.action(QUOTE);
///     view! {
///         <p>{move || bus.state.get().to_string()}</p>
///         <button on:click=move |_| { quote.dispatch(3); }>"Quote"</button>
///         <p>{move || paid.get()}</p>
///         <iframe node_ref=frame src="https://pay.example/checkout"></iframe>
///     }
/// }
/// ```
// The frame is only read in the browser.
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_variables))]
pub fn use_iframe_bus(frame: NodeRef<Iframe>, options: impl Into<UseBusOptions>) -> Bus {
    let options = options.into();
    let bus = Bus::new(&options);
    #[cfg(target_arch = "wasm32")]
    {
        let connect_with = options.bus.clone();
        let element = StoredValue::new_local(None::<web_sys::HtmlIFrameElement>);
        Effect::new(move |_| {
            let el = frame.get();
            untrack(|| {
                if element.with_value(|current| *current == el) {
                    return;
                }
                element.set_value(el.clone());
                match el {
                    Some(el) => bus.attach(bus_web::connect_iframe(&el, connect_with.clone())),
                    None => bus.detach("the iframe left the page"),
                }
            });
        });
        browser::until_cleanup(bus, &options);
    }
    bus
}

/// Connects from inside an iframe to the page that embeds it (the widget's
/// side), like [`bus_web::connect_parent`]. Connects on mount, closes on
/// cleanup.
///
/// ```no_run
/// use bus_leptos::use_parent_bus;
/// use leptos::prelude::*;
/// # use bus_web::{Method, Topic};
/// # const QUOTE: Method<u32, u64> = Method::new("checkout.quote");
/// # const PAID: Topic<String> = Topic::new("checkout.paid");
///
/// #[component]
/// fn Widget() -> impl IntoView {
///     let allow = bus_web::allowlist!["https://shop.example"];
///     let bus = use_parent_bus(bus_web::Options::new(allow));
///     bus.serve(QUOTE, |items: u32| async move { Ok(250 * u64::from(items)) });
///     view! { <p>{move || bus.state.get().to_string()}</p> }
/// }
/// ```
pub fn use_parent_bus(options: impl Into<UseBusOptions>) -> Bus {
    connect_on_mount(options.into(), Side::Parent)
}

/// Connects from inside a popup to the window that opened it, like
/// [`bus_web::connect_opener`]. Connects on mount, closes on cleanup.
///
/// ```no_run
/// use bus_leptos::use_opener_bus;
/// use leptos::prelude::*;
/// # use bus_web::{Method, Topic};
/// # const QUOTE: Method<u32, u64> = Method::new("checkout.quote");
/// # const PAID: Topic<String> = Topic::new("checkout.paid");
///
/// #[component]
/// fn PopupCheckout() -> impl IntoView {
///     let allow = bus_web::allowlist!["https://shop.example"];
///     let bus = use_opener_bus(bus_web::Options::new(allow));
///     let pay = move |_| {
///         if let Err(e) = bus.emit(&PAID, &"PW-000042".to_owned()) {
///             leptos::logging::warn!("not sent: {e}");
///         }
///     };
///     view! { <button on:click=pay>"Pay"</button> }
/// }
/// ```
pub fn use_opener_bus(options: impl Into<UseBusOptions>) -> Bus {
    connect_on_mount(options.into(), Side::Opener)
}

/// Connects to the page's server over WebSocket (`websocket` feature), like
/// [`bus_web::connect_websocket`]: the same [`Bus`] as for windows, with the
/// socket's heartbeat and redial. Connects on mount, closes on cleanup.
///
/// ```no_run
/// use bus_leptos::{use_topic, use_websocket_bus};
/// use leptos::prelude::*;
/// # use bus_web::Topic;
/// # const CART: Topic<u32> = Topic::new("shop.cart");
///
/// #[component]
/// fn Cart() -> impl IntoView {
///     let allow = bus_web::allowlist!["https://shop.example"];
///     let server = use_websocket_bus("/bus", bus_web::Options::new(allow));
///     let synced = use_topic(server, CART);
///     view! { <p>{move || server.state.get().to_string()}</p><p>{move || synced.get()}</p> }
/// }
/// ```
#[cfg(feature = "websocket")]
pub fn use_websocket_bus(url: &str, options: impl Into<UseBusOptions>) -> Bus {
    connect_on_mount(options.into(), Side::Socket(url.to_owned()))
}

/// Whom a guest connects to (read in the browser only).
#[derive(Clone)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
enum Side {
    Parent,
    Opener,
    #[cfg(feature = "websocket")]
    Socket(String),
}

// The side is only read in the browser.
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_variables))]
fn connect_on_mount(options: UseBusOptions, side: Side) -> Bus {
    let bus = Bus::new(&options);
    #[cfg(target_arch = "wasm32")]
    {
        let connect_with = options.bus.clone();
        // An effect that reads no signal runs once, after mount, and never
        // on the server.
        Effect::new(move |_| {
            let options = connect_with.clone();
            untrack(|| {
                bus.attach(match &side {
                    Side::Parent => bus_web::connect_parent(options),
                    Side::Opener => bus_web::connect_opener(options),
                    #[cfg(feature = "websocket")]
                    Side::Socket(url) => bus_web::connect_websocket(url, options),
                })
            })
        });
        browser::until_cleanup(bus, &options);
    }
    bus
}

/// A bus to a popup that a component opens (from a click) and that lives
/// no longer than the component: cleanup closes the connection and the
/// popup window. It derefs to its [`Bus`].
///
/// ```no_run
/// use bus_leptos::use_popup_bus;
/// use leptos::prelude::*;
///
/// #[component]
/// fn PopupButton() -> impl IntoView {
///     let allow = bus_web::allowlist!["https://pay.example"];
///     let popup = use_popup_bus(bus_web::Options::new(allow));
///     let open = move |_| {
///         // The error also shows in `popup.state`.
///         let _ = popup.open("https://pay.example/checkout", "popup,width=480,height=640");
///     };
///     view! {
///         <button on:click=open>"Pay in a popup"</button>
///         <span>{move || popup.state.get().to_string()}</span>
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PopupBus {
    bus: Bus,
    #[cfg(target_arch = "wasm32")]
    options: StoredValue<bus_web::Options, LocalStorage>,
}

impl Deref for PopupBus {
    type Target = Bus;

    fn deref(&self) -> &Bus {
        &self.bus
    }
}

impl PopupBus {
    /// Opens `url` in a popup and connects to it, closing the popup this
    /// handle opened before, if any. Call it from a user gesture (a click),
    /// or the browser blocks the popup. `features` is `window.open`'s third
    /// argument; it must not contain `noopener`. Under SSR it fails with
    /// [`ConnectError::NoWindow`].
    pub fn open(&self, url: &str, features: &str) -> Result<(), ConnectError> {
        #[cfg(target_arch = "wasm32")]
        {
            let opened = self.try_open(url, features);
            if let Err(e) = &opened {
                // Shown in `state` too, like any connection that failed.
                self.bus.attach(Err(e.clone()));
            }
            opened
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (url, features);
            Err(ConnectError::NoWindow)
        }
    }

    /// The bus to the popup.
    pub fn bus(&self) -> Bus {
        self.bus
    }

    #[cfg(target_arch = "wasm32")]
    fn try_open(&self, url: &str, features: &str) -> Result<(), ConnectError> {
        let options = self.options.try_get_value().ok_or(ConnectError::NoWindow)?;
        self.bus.detach("replaced by a new popup");
        // bus-web checks `url` and the options before any window opens.
        let (conn, popup) = bus_web::open_popup_window(url, features, options)?;
        self.bus.attach(Ok(conn));
        self.bus.keep_popup(popup);
        Ok(())
    }
}

/// Makes a [`PopupBus`] (see it for an example): nothing opens until
/// [`PopupBus::open`].
pub fn use_popup_bus(options: impl Into<UseBusOptions>) -> PopupBus {
    let options = options.into();
    let bus = Bus::new(&options);
    #[cfg(target_arch = "wasm32")]
    {
        browser::until_cleanup(bus, &options);
        PopupBus {
            bus,
            options: StoredValue::new_local(options.bus),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    PopupBus { bus }
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use leptos::prelude::*;

    use crate::{Bus, UseBusOptions};

    /// Refreshes the stats on a timer, and closes everything when the
    /// component is cleaned up.
    pub(super) fn until_cleanup(bus: Bus, options: &UseBusOptions) {
        let ticker = options.stats_interval.and_then(|every| {
            leptos::leptos_dom::helpers::set_interval_with_handle(
                move || bus.refresh_stats(),
                every,
            )
            .ok()
        });
        on_cleanup(move || {
            if let Some(ticker) = ticker {
                ticker.clear();
            }
            bus.detach("the component was unmounted");
        });
    }
}
