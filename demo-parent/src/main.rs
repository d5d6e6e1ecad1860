//! The demo host: "Acme Outdoor", a shop that embeds the PayWidget checkout
//! from another origin, calls it, listens to its events, resizes its frame
//! when asked, and can open it as a popup instead.

#[cfg(target_arch = "wasm32")]
fn main() {
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("demo-parent is a WebAssembly app: run `cargo xtask demo` to build and serve it.");
    std::process::exit(2);
}

#[cfg(target_arch = "wasm32")]
mod app {
    use std::cell::RefCell;

    use bus_web::{Allowlist, Connection, Options};
    use demo_api::ui::{BusPanel, BusView, follow_state, meta};
    use demo_api::{CART_CHANGED, HOST_INFO, HostInfo, PAID, QUOTE, RESIZE, money, sample_cart};
    use leptos::html::Iframe;
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    thread_local! {
        static FRAME: RefCell<Option<Connection>> = const { RefCell::new(None) };
        static POPUP: RefCell<Option<Connection>> = const { RefCell::new(None) };
    }

    fn frame_conn() -> Option<Connection> {
        FRAME.with(|c| c.borrow().clone())
    }

    fn options() -> Result<Options, String> {
        let origins = meta("bus-allow").unwrap_or_default();
        Ok(Options::new(
            Allowlist::new(origins.split_whitespace()).map_err(|e| e.to_string())?,
        ))
    }

    /// What the host serves and listens to, on any connection to the widget.
    fn serve(
        conn: &Connection,
        view: BusView,
        height: Option<RwSignal<u32>>,
        result: RwSignal<String>,
    ) {
        conn.serve(HOST_INFO, move |()| async move {
            view.record("←", "call", HOST_INFO.name(), None, String::new());
            Ok(HostInfo {
                shop: "Acme Outdoor".into(),
                customer: "Ada Lovelace".into(),
            })
        });
        conn.serve(RESIZE, move |h: u32| async move {
            view.record("←", "call", RESIZE.name(), None, format!("{h}px"));
            let h = h.clamp(240, 1400);
            if let Some(height) = height {
                height.set(h);
            }
            Ok(h)
        });
        conn.subscribe(PAID, move |r| {
            view.record("←", "event", PAID.name(), None, r.reference.clone());
            result.set(format!(
                "Payment received: {} ({})",
                money(r.total_cents, &r.currency),
                r.reference
            ));
        })
        .forever();
    }

    #[component]
    pub fn App() -> impl IntoView {
        let view = BusView::new();
        let popup_status = RwSignal::new("not open".to_string());
        let result = RwSignal::new(String::new());
        let height = RwSignal::new(560u32);
        let frame = NodeRef::<Iframe>::new();
        let child_url = meta("bus-child-url").unwrap_or_default();

        Effect::new(move |_| {
            let Some(el) = frame.get() else { return };
            if frame_conn().is_some() {
                return;
            }
            match options().and_then(|o| bus_web::connect_iframe(&el, o).map_err(|e| e.to_string()))
            {
                Ok(conn) => {
                    view.watch(&conn);
                    serve(&conn, view, Some(height), result);
                    FRAME.with(|slot| *slot.borrow_mut() = Some(conn));
                }
                Err(e) => view.status.set(format!("closed: {e}")),
            }
        });

        let call_child = move |_| {
            let Some(c) = frame_conn() else { return };
            spawn_local(async move {
                match view.call(&c, &QUOTE, &sample_cart()).await {
                    Ok(q) => result.set(format!(
                        "Widget quotes {}",
                        money(q.total_cents, &q.currency)
                    )),
                    Err(e) => result.set(format!("error: {e}")),
                }
            });
        };
        let push_cart = move |_| {
            if let Some(c) = frame_conn()
                && c.emit(&CART_CHANGED, &sample_cart()).is_ok()
            {
                view.record(
                    "→",
                    "event",
                    CART_CHANGED.name(),
                    None,
                    "sample cart".into(),
                );
            }
        };
        let popup_url = format!("{child_url}?popup");
        let open_popup = move |_| {
            let opened = options().and_then(|o| {
                bus_web::open_popup(&popup_url, "popup,width=520,height=760", o)
                    .map_err(|e| e.to_string())
            });
            match opened {
                Ok(conn) => {
                    follow_state(&conn, popup_status);
                    view.watch_rejections(&conn);
                    serve(&conn, view, None, result);
                    POPUP.with(|slot| *slot.borrow_mut() = Some(conn));
                }
                Err(e) => popup_status.set(format!("closed: {e}")),
            }
        };

        let cart = sample_cart();
        view! {
            <main class="app shop">
                <header class="brand">
                    <span class="logo">"▲"</span>
                    <span>"Acme Outdoor"</span>
                    <span class="tag">"host"</span>
                    <span class="origin">{move || web_sys::window().map(|w| w.origin()).unwrap_or_default()}</span>
                </header>
                <div class="columns">
                    <section class="card">
                        <h1>"Your cart"</h1>
                        <ul class="cart">
                            {cart.lines.iter().map(|l| view! {
                                <li><span>{format!("{} × {}", l.qty, l.name)}</span><span class="num">{money(u64::from(l.qty) * l.unit_cents, &cart.currency)}</span></li>
                            }).collect_view()}
                        </ul>
                        <div class="actions">
                            <button class="primary" data-testid="call-child" on:click=call_child>"Get a quote from the widget"</button>
                            <button data-testid="push-cart" on:click=push_cart>"Send cart update"</button>
                            <button data-testid="open-popup" on:click=open_popup>"Open checkout in a popup"</button>
                        </div>
                        <output class="result" data-testid="call-result">{move || result.get()}</output>
                        <p class="muted">"Popup: " <span data-testid="popup-status">{move || popup_status.get()}</span></p>
                        <h2>"Embedded checkout"</h2>
                        <iframe
                            node_ref=frame
                            id="widget"
                            title="PayWidget checkout"
                            src=child_url
                            style=move || format!("height: {}px", height.get())
                        ></iframe>
                    </section>
                    <BusPanel view=view/>
                </div>
            </main>
        }
    }
}
