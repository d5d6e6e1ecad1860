//! # bus-leptos
//!
//! [`bus_web`] as Leptos hooks: a component connects in one line, reads the
//! connection's state, stats, rejections and events as signals, and leaves
//! nothing behind when it unmounts — no listener, timer or connection.
//!
//! | hook | side | like |
//! |---|---|---|
//! | [`use_iframe_bus`]`(node_ref, options)` | host of an `<iframe>` | [`bus_web::connect_iframe`] |
//! | [`use_parent_bus`]`(options)` | widget in an iframe | [`bus_web::connect_parent`] |
//! | [`use_opener_bus`]`(options)` | page in a popup | [`bus_web::connect_opener`] |
//! | [`use_popup_bus`]`(options)` then [`PopupBus::open`] | opener of a popup | [`bus_web::open_popup`] |
//! | [`use_topic`]`(bus, TOPIC)` | either | [`bus_web::Connection::events`] |
//!
//! Each hook returns a [`Bus`]: `state`, `stats` and `rejections` signals,
//! [`Bus::call`] (a future), [`Bus::action`] (an [`Action`] for buttons:
//! pending, result, error), [`Bus::serve`] and [`Bus::emit`].
//!
//! - The hooks connect once the component is mounted and close the
//!   connection (telling the peer) when it is cleaned up. An iframe bus
//!   reconnects when its `NodeRef` gets a new element; a popup bus closes
//!   its popup window with the component.
//! - Services and topic signals are declared once and bound to every
//!   connection the hook makes.
//! - Under SSR (or any build that is not wasm32) the hooks compile, do
//!   nothing, and the state stays [`bus_web::State::Idle`] — the same state
//!   the client starts in, so hydration matches.
//!
//! ```no_run
//! use bus_leptos::{use_iframe_bus, use_topic};
//! use bus_web::{Method, Topic};
//! use leptos::{html::Iframe, prelude::*};
//!
//! // The contract, shared with the widget (usually its own crate).
//! const QUOTE: Method<u32, u64> = Method::new("checkout.quote");
//! const PAID: Topic<String> = Topic::new("checkout.paid");
//!
//! #[component]
//! fn Shop() -> impl IntoView {
//!     let frame = NodeRef::<Iframe>::new();
//!     let allow = bus_web::allowlist!["https://pay.example"];
//!     let bus = use_iframe_bus(frame, bus_web::Options::new(allow));
//!     let paid = use_topic(bus, PAID);
//!     let quote = bus.action(QUOTE);
//!     view! {
//!         <span>{move || bus.state.get().to_string()}</span>
//!         <button on:click=move |_| { quote.dispatch(3); } disabled=move || quote.pending().get()>
//!             "Get a quote"
//!         </button>
//!         <output>{move || match quote.value().get() {
//!             Some(Ok(cents)) => format!("{cents} cents"),
//!             Some(Err(e)) => format!("failed: {e}"),
//!             None => String::new(),
//!         }}</output>
//!         <output>{move || paid.get().map(|reference| format!("paid: {reference}"))}</output>
//!         <iframe node_ref=frame src="https://pay.example/checkout"></iframe>
//!     }
//! }
//! ```
#![warn(missing_docs)]

// Imports run one way: hooks and topic → bus → options.
mod bus;
mod hooks;
mod options;
mod topic;

pub use bus::Bus;
#[cfg(feature = "websocket")]
pub use hooks::use_websocket_bus;
pub use hooks::{PopupBus, use_iframe_bus, use_opener_bus, use_parent_bus, use_popup_bus};
pub use options::UseBusOptions;
pub use topic::use_topic;
