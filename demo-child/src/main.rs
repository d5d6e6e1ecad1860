//! The demo widget: "PayWidget", a third-party checkout. Embedded in an
//! iframe it talks to `window.parent`; opened as a popup, to `window.opener`.
//! It serves the host a quote, asks the host who it serves and to resize
//! its frame, and emits `checkout.paid`.

#[cfg(target_arch = "wasm32")]
fn main() {
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("demo-child is a WebAssembly app: run `cargo xtask demo` to build and serve it.");
    std::process::exit(2);
}

#[cfg(target_arch = "wasm32")]
mod app {
    use std::cell::{Cell, RefCell};

    use bus_leptos::{Bus, use_opener_bus, use_parent_bus, use_topic};
    use bus_web::{Cancellation, Options, RemoteError};
    use demo_api::ui::{BusPanel, BusView, meta};
    use demo_api::{
        CART_CHANGED, CART_TOO_LARGE, CONFIRM, Cart, CartProblem, ECHO_BYTES, EMPTY_CART,
        HOST_INFO, PAID, QUOTE, Quote, RESIZE, Receipt, money, price,
    };
    use futures_channel::oneshot;
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    thread_local! {
        static BUS: Cell<Option<Bus>> = const { Cell::new(None) };
        /// `checkout.confirm` calls waiting for the customer to click Pay, by id.
        static CONFIRMS: RefCell<Vec<(u64, oneshot::Sender<Receipt>)>> = const { RefCell::new(Vec::new()) };
        static NEXT_CONFIRM: Cell<u64> = const { Cell::new(0) };
    }

    /// Confirms waiting for the customer.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn confirms_waiting() -> usize {
        CONFIRMS.with(|c| c.borrow().len())
    }

    /// Test hook: `?versions=N` makes the widget speak only protocol version
    /// N (to show what an incompatible deployment looks like).
    #[cfg(feature = "test-hooks")]
    fn with_test_versions(options: Options) -> Options {
        let v = demo_api::ui::query("versions").and_then(|v| v.parse::<u16>().ok());
        match v {
            Some(v) => options.versions(bus_web::Versions { min: v, max: v }),
            None => options,
        }
    }

    #[cfg(not(feature = "test-hooks"))]
    fn with_test_versions(options: Options) -> Options {
        options
    }

    /// Prices a cart from the host, refusing what cannot be priced.
    fn quote_for(cart: &Cart) -> Result<Quote, RemoteError> {
        if cart.lines.is_empty() {
            let problem = CartProblem {
                reason: "the cart is empty".into(),
                lines: 0,
            };
            let err = RemoteError::new(EMPTY_CART, "cannot price an empty cart");
            return Err(err.with_data(&problem)?);
        }
        price(cart).ok_or_else(|| {
            RemoteError::new(CART_TOO_LARGE, "the cart's total is too large to price")
        })
    }

    /// Where this page runs, which decides whom it talks to.
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Embedded,
        Popup,
        Standalone,
    }

    fn mode() -> Mode {
        let Some(w) = web_sys::window() else {
            return Mode::Standalone;
        };
        let in_frame = w.parent().ok().flatten().is_some_and(|p| p != w);
        let opened = w.opener().is_ok_and(|o| !o.is_null() && !o.is_undefined());
        match (in_frame, opened) {
            (true, _) => Mode::Embedded,
            (false, true) => Mode::Popup,
            _ => Mode::Standalone,
        }
    }

    /// Serves the host: quotes, and confirmations that wait for the customer.
    fn serve(bus: Bus, view: BusView, quote: RwSignal<Option<Quote>>) {
        bus.serve(QUOTE, move |cart| async move {
            view.record(
                "←",
                "call",
                QUOTE.name(),
                None,
                format!("{} lines", cart.lines.len()),
            );
            let q = quote_for(&cart).inspect_err(|e| {
                view.record("→", "error", QUOTE.name(), None, e.message().to_owned());
            })?;
            quote.set(Some(q.clone()));
            view.record(
                "→",
                "reply",
                QUOTE.name(),
                None,
                money(q.total_cents, &q.currency),
            );
            Ok(q)
        });
        // Waits for the customer. If the shop stops waiting (it cancels, its
        // deadline passes, or it reloads), the bus drops this handler: the
        // guard withdraws the request, so a later click on Pay cannot pay it.
        bus.serve_cancellable(
            CONFIRM,
            move |cart: Cart, cancel: Cancellation| async move {
                view.record(
                    "←",
                    "call",
                    CONFIRM.name(),
                    None,
                    "waiting for the customer".into(),
                );
                quote.set(Some(quote_for(&cart)?));
                let id = NEXT_CONFIRM.with(|n| {
                    n.set(n.get() + 1);
                    n.get()
                });
                let (tx, rx) = oneshot::channel();
                CONFIRMS.with(|c| c.borrow_mut().push((id, tx)));
                let _withdraw = cancel.on_drop(move || {
                    let was_waiting = CONFIRMS.with(|c| {
                        let mut c = c.borrow_mut();
                        let before = c.len();
                        c.retain(|(i, _)| *i != id);
                        before != c.len()
                    });
                    if was_waiting {
                        quote.set(None);
                        let why = "the shop withdrew the payment request";
                        view.record("←", "cancel", CONFIRM.name(), None, why.into());
                    }
                });
                rx.await.map_err(|_| {
                    RemoteError::new(
                        RemoteError::INTERNAL,
                        "the widget went away before the customer paid",
                    )
                })
            },
        );
        bus.serve(ECHO_BYTES, |bytes: Vec<u8>| async move { Ok(bytes) });
    }

    #[component]
    pub fn App() -> impl IntoView {
        let origins = meta("bus-allow").unwrap_or_default();
        match bus_web::allowlist(origins.split_whitespace()) {
            Ok(allow) => {
                view! { <Checkout options=with_test_versions(Options::new(allow))/> }.into_any()
            }
            Err(e) => {
                view! { <p class="result" data-testid="bus-status">{format!("closed: {e}")}</p> }
                    .into_any()
            }
        }
    }

    #[component]
    fn Checkout(options: Options) -> impl IntoView {
        let view = BusView::new();
        let quote = RwSignal::new(None::<Quote>);
        let result = RwSignal::new(String::new());
        let mode = mode();
        // Standalone, the parent bus says why it cannot connect.
        let bus = match mode {
            Mode::Popup => use_opener_bus(options),
            Mode::Embedded | Mode::Standalone => use_parent_bus(options),
        };
        BUS.set(Some(bus));
        serve(bus, view, quote);
        let cart = use_topic(bus, CART_CHANGED);
        Effect::new(move || {
            if let Some(cart) = cart.get() {
                view.record(
                    "←",
                    "event",
                    CART_CHANGED.name(),
                    None,
                    format!("{} lines", cart.lines.len()),
                );
                quote.set(quote_for(&cart).ok());
            }
        });
        if mode == Mode::Embedded {
            // Ask the host to fit the frame to the content once connected.
            let asked = StoredValue::new(false);
            Effect::new(move || {
                if bus.state.get().is_connected() && !asked.get_value() {
                    asked.set_value(true);
                    let height = web_sys::window()
                        .and_then(|w| w.document())
                        .and_then(|d| d.body())
                        .map_or(560, |b| b.scroll_height().max(0) as u32 + 24);
                    spawn_local(async move {
                        let _ = view.call(bus, &RESIZE, &height).await;
                    });
                }
            });
        }
        let ask_host = move |_| {
            spawn_local(async move {
                match view.call(bus, &HOST_INFO, &()).await {
                    Ok(info) => result.set(format!("Serving {} for {}", info.shop, info.customer)),
                    Err(e) => result.set(format!("error: {e}")),
                }
            });
        };
        let pay = move |_| {
            let Some(q) = quote.get_untracked() else {
                result.set("Ask the host for a quote first.".into());
                return;
            };
            let receipt = Receipt {
                reference: format!("PW-{:06}", (demo_api::ui::now_ms() as u64) % 1_000_000),
                total_cents: q.total_cents,
                currency: q.currency.clone(),
            };
            // Answer every host call waiting for this payment.
            for (_, waiting) in CONFIRMS.with(|c| std::mem::take(&mut *c.borrow_mut())) {
                let _ = waiting.send(receipt.clone());
            }
            match bus.emit(&PAID, &receipt) {
                Ok(()) => {
                    view.record("→", "event", PAID.name(), None, receipt.reference.clone());
                    result.set(format!(
                        "Paid {} ({})",
                        money(receipt.total_cents, &receipt.currency),
                        receipt.reference
                    ));
                }
                Err(e) => result.set(format!("error: {e}")),
            }
        };
        let where_ = match mode {
            Mode::Embedded => "embedded",
            Mode::Popup => "popup",
            Mode::Standalone => "standalone",
        };
        view! {
            <main class="app widget">
                <header class="brand">
                    <span class="logo">"◆"</span>
                    <span>"PayWidget"</span>
                    <span class="tag">{where_}</span>
                    <span class="origin">{move || web_sys::window().map(|w| w.origin()).unwrap_or_default()}</span>
                </header>
                <section class="card">
                    <h1>"Checkout"</h1>
                    {move || match quote.get() {
                        Some(q) => view! {
                            <dl class="quote">
                                <dt>"Subtotal"</dt><dd>{money(q.subtotal_cents, &q.currency)}</dd>
                                <dt>"Tax (20%)"</dt><dd>{money(q.tax_cents, &q.currency)}</dd>
                                <dt class="total">"Total"</dt><dd class="total" data-testid="quote-total">{money(q.total_cents, &q.currency)}</dd>
                            </dl>
                        }.into_any(),
                        None => view! { <p class="muted">"Waiting for the shop's cart…"</p> }.into_any(),
                    }}
                    <div class="actions">
                        <button data-testid="call-parent" on:click=ask_host>"Ask the host who I serve"</button>
                        <button class="primary" data-testid="pay" on:click=pay>"Pay now"</button>
                    </div>
                    <output class="result" data-testid="call-result">{move || result.get()}</output>
                </section>
                <BusPanel view bus=Some(bus)/>
            </main>
        }
    }

    /// The widget's test API (`window.__app`), only in the test-hooks build.
    #[cfg(feature = "test-hooks")]
    pub mod test_api {
        use wasm_bindgen::prelude::*;

        /// What the widget holds for the host's calls, and its memory, as JSON.
        #[wasm_bindgen]
        pub fn test_widget_stats() -> String {
            let serving = super::BUS
                .get()
                .and_then(|b| b.connection())
                .map_or(0, |c| c.serving_calls());
            format!(
                r#"{{"confirms_waiting":{},"serving":{},"live_handlers":{},"memory_bytes":{}}}"#,
                super::confirms_waiting(),
                serving,
                bus_web::diagnostics::live_handlers(),
                demo_api::ui::wasm_memory_bytes(),
            )
        }
    }
}
