//! The demo host: "Acme Outdoor", a shop that embeds the PayWidget checkout
//! from another origin, calls it, listens to its events, resizes its frame
//! when asked, and can open it as a popup instead. Over WebSocket to its own
//! server (`/bus`), its cart stays in sync across every open tab of the shop.

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
    use std::cell::Cell;

    use bus_leptos::{Bus, PopupBus, use_iframe_bus, use_popup_bus, use_topic, use_websocket_bus};
    use bus_web::Options;
    #[cfg(feature = "test-hooks")]
    use demo_api::ui::query;
    use demo_api::ui::{BusPanel, BusView, meta};
    use demo_api::{
        CART_CHANGED, Cart, HOST_INFO, HostInfo, PAID, QUOTE, RESIZE, SERVER_INFO, SHOP_CART,
        money, sample_cart,
    };
    use leptos::html::Iframe;
    use leptos::prelude::*;

    thread_local! {
        /// The buses, for the test API.
        /// The checkout's bus while it is mounted (`Shop`'s signal).
        static FRAME: Cell<Option<RwSignal<Option<Bus>>>> = const { Cell::new(None) };
        static POPUP: Cell<Option<PopupBus>> = const { Cell::new(None) };
        /// The bus to the shop's server, and the cart it keeps in sync.
        #[cfg(feature = "test-hooks")]
        static SERVER: Cell<Option<ServerSide>> = const { Cell::new(None) };
    }

    /// The tab's bus to the shop's server, the cart it keeps in sync with
    /// the other tabs, and how many updates came from them.
    #[cfg(feature = "test-hooks")]
    #[derive(Clone, Copy)]
    struct ServerSide {
        bus: Bus,
        cart: RwSignal<Cart>,
        synced: RwSignal<u32>,
        view: BusView,
    }

    /// The socks line of the cart (the one the buttons change).
    const SOCKS: usize = 1;

    /// The bus to the shop's own server: WebSocket at `/bus` on this origin.
    fn server_options() -> Result<Options, String> {
        let origin = web_sys::window().map(|w| w.origin()).ok_or("no window")?;
        let options = Options::new(bus_web::allowlist([origin]).map_err(|e| e.to_string())?);
        // Test hook: `?server-heartbeat-ms=N` pings the server every N ms and
        // ends the session after 3N ms of silence (to see a hung server noticed).
        #[cfg(feature = "test-hooks")]
        let options = match query("server-heartbeat-ms").and_then(|v| v.parse().ok()) {
            Some(ms) => {
                let every = std::time::Duration::from_millis(ms);
                options.heartbeat(every, every * 3)
            }
            None => options,
        };
        Ok(options)
    }

    /// Changes the socks quantity here, and tells the other tabs.
    fn set_socks(server: Bus, cart: RwSignal<Cart>, view: BusView, qty: u32) {
        cart.update(|c| c.lines[SOCKS].qty = qty);
        let sent = server.emit(&SHOP_CART, &cart.get_untracked());
        let detail = match sent {
            Ok(()) => format!("{qty} pairs of socks"),
            Err(e) => format!("not sent: {e}"),
        };
        view.record("→", "event", SHOP_CART.name(), None, detail);
    }

    fn options() -> Result<Options, String> {
        let origins = meta("bus-allow").unwrap_or_default();
        // Test hook: `?extra-allow=ORIGIN` widens the allowlist (the host must
        // still talk only to the origin it embedded).
        #[cfg(feature = "test-hooks")]
        let origins = origins + " " + &query("extra-allow").unwrap_or_default();
        let options = Options::new(
            bus_web::allowlist(origins.split_whitespace()).map_err(|e| e.to_string())?,
        );
        // Test hook: `?handshake-ms=N` shortens the handshake timeout (to see it fail).
        #[cfg(feature = "test-hooks")]
        let options = match query("handshake-ms").and_then(|v| v.parse().ok()) {
            Some(ms) => options.handshake_timeout(std::time::Duration::from_millis(ms)),
            None => options,
        };
        Ok(options)
    }

    /// What the host serves and listens to, on either bus to the widget.
    fn serve(bus: Bus, view: BusView, height: Option<RwSignal<u32>>, result: RwSignal<String>) {
        bus.serve(HOST_INFO, move |()| async move {
            view.record("←", "call", HOST_INFO.name(), None, String::new());
            Ok(HostInfo {
                shop: "Acme Outdoor".into(),
                customer: "Ada Lovelace".into(),
            })
        });
        bus.serve(RESIZE, move |h: u32| async move {
            view.record("←", "call", RESIZE.name(), None, format!("{h}px"));
            let h = h.clamp(240, 1400);
            if let Some(height) = height {
                height.set(h);
            }
            Ok(h)
        });
        let paid = use_topic(bus, PAID);
        Effect::new(move || {
            if let Some(r) = paid.get() {
                view.record("←", "event", PAID.name(), None, r.reference.clone());
                result.set(format!(
                    "Payment received: {} ({})",
                    money(r.total_cents, &r.currency),
                    r.reference
                ));
            }
        });
    }

    #[component]
    pub fn App() -> impl IntoView {
        match options() {
            Ok(options) => view! { <Shop options/> }.into_any(),
            Err(e) => {
                view! { <p class="result" data-testid="bus-status">{format!("closed: {e}")}</p> }
                    .into_any()
            }
        }
    }

    /// The embedded checkout: mounting it connects, unmounting closes.
    #[component]
    fn Checkout(
        options: Options,
        view: BusView,
        result: RwSignal<String>,
        mounted: RwSignal<Option<Bus>>,
    ) -> impl IntoView {
        let height = RwSignal::new(560u32);
        let frame = NodeRef::<Iframe>::new();
        let bus = use_iframe_bus(frame, options);
        serve(bus, view, Some(height), result);
        mounted.set(Some(bus));
        on_cleanup(move || mounted.set(None));
        #[cfg(feature = "test-hooks")]
        test_api::record_states(bus);
        let child_url = meta("bus-child-url").unwrap_or_default();
        // Test hook: `?child-path=...` loads another page of the widget's origin.
        #[cfg(feature = "test-hooks")]
        let child_url = child_url
            + query("child-path")
                .unwrap_or_default()
                .trim_start_matches('/');
        view! {
            <iframe
                node_ref=frame
                id="widget"
                title="PayWidget checkout"
                src=child_url
                style=move || format!("height: {}px", height.get())
            ></iframe>
        }
    }

    #[component]
    fn Shop(options: Options) -> impl IntoView {
        let view = BusView::new();
        let result = RwSignal::new(String::new());
        let shown = RwSignal::new(true);
        let frame_bus = RwSignal::new(None::<Bus>);
        let popup = use_popup_bus(options.clone());
        serve(*popup, view, None, result);
        POPUP.set(Some(popup));
        FRAME.set(Some(frame_bus));

        // The cart, kept in sync with the shop's other tabs by its server.
        let cart = RwSignal::new(sample_cart());
        let synced = RwSignal::new(0u32);
        let server = match server_options() {
            Ok(o) => Some(use_websocket_bus("/bus", o)),
            Err(e) => {
                result.set(format!("no server bus: {e}"));
                None
            }
        };
        if let Some(server) = server {
            #[cfg(feature = "test-hooks")]
            SERVER.set(Some(ServerSide {
                bus: server,
                cart,
                synced,
                view,
            }));
            let from_tabs = use_topic(server, SHOP_CART);
            Effect::new(move || {
                if let Some(c) = from_tabs.get() {
                    let qty = c.lines.get(SOCKS).map_or(0, |l| l.qty);
                    view.record(
                        "←",
                        "event",
                        SHOP_CART.name(),
                        None,
                        format!("another tab: {qty} pairs of socks"),
                    );
                    synced.update(|n| *n += 1);
                    cart.set(c);
                }
            });
        }
        let socks = move || cart.with(|c| c.lines[SOCKS].qty);
        let more_socks = move |_| {
            if let Some(server) = server {
                set_socks(server, cart, view, socks() + 1);
            }
        };
        let fewer_socks = move |_| {
            if let Some(server) = server {
                set_socks(server, cart, view, socks().saturating_sub(1));
            }
        };
        let server_status =
            move || server.map_or_else(|| "off".to_owned(), |s| s.state.get().to_string());
        let where_served = RwSignal::new(String::new());
        if let Some(server) = server {
            Effect::new(move || {
                if server.state.get().is_connected() {
                    leptos::task::spawn_local(async move {
                        if let Ok(info) = server.call(&SERVER_INFO, &()).await {
                            where_served.set(format!("{} · {} tab(s) on it", info.name, info.tabs));
                        }
                    });
                }
            });
        }

        let call_child = move |_| {
            let Some(bus) = frame_bus.get_untracked() else {
                return;
            };
            leptos::task::spawn_local(async move {
                match view.call(bus, &QUOTE, &cart.get_untracked()).await {
                    Ok(q) => result.set(format!(
                        "Widget quotes {}",
                        money(q.total_cents, &q.currency)
                    )),
                    Err(e) => result.set(format!("error: {e}")),
                }
            });
        };
        let push_cart = move |_| {
            if let Some(bus) = frame_bus.get_untracked()
                && bus.emit(&CART_CHANGED, &cart.get_untracked()).is_ok()
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
        let child_url = meta("bus-child-url").unwrap_or_default();
        let open_popup = move |_| {
            let _ = popup.open(&format!("{child_url}?popup"), "popup,width=520,height=760");
        };
        let checkout_options = options.clone();

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
                        <ul class="cart" data-testid="cart">
                            {move || cart.with(|c| c.lines.iter().map(|l| view! {
                                <li><span>{format!("{} × {}", l.qty, l.name)}</span><span class="num">{money(u64::from(l.qty) * l.unit_cents, &c.currency)}</span></li>
                            }).collect_view())}
                        </ul>
                        <div class="actions">
                            <button data-testid="more-socks" on:click=more_socks>"＋ socks"</button>
                            <button data-testid="fewer-socks" on:click=fewer_socks>"－ socks"</button>
                            <span class="muted">"Open this page in another tab: the cart follows, through the shop's server."</span>
                        </div>
                        <p class="muted">
                            "Server (WebSocket /bus): " <span data-testid="server-status">{server_status}</span>
                            " " <span data-testid="server-where">{move || where_served.get()}</span>
                            " · updates from other tabs: " <span data-testid="cart-synced">{move || synced.get()}</span>
                        </p>
                        <div class="actions">
                            <button class="primary" data-testid="call-child" on:click=call_child>"Get a quote from the widget"</button>
                            <button data-testid="push-cart" on:click=push_cart>"Send cart update"</button>
                            <button data-testid="open-popup" on:click=open_popup>"Open checkout in a popup"</button>
                            <button data-testid="toggle-widget" on:click=move |_| shown.update(|s| *s = !*s)>
                                {move || if shown.get() { "Remove the checkout" } else { "Embed the checkout" }}
                            </button>
                        </div>
                        <output class="result" data-testid="call-result">{move || result.get()}</output>
                        <p class="muted">"Popup: " <span data-testid="popup-status">{move || popup.state.get().to_string()}</span></p>
                        <h2>"Embedded checkout"</h2>
                        <Show when=move || shown.get()>
                            <Checkout options=checkout_options.clone() view result mounted=frame_bus/>
                        </Show>
                    </section>
                    <BusPanel view bus=frame_bus also=*popup server/>
                </div>
            </main>
        }
    }

    /// A small JavaScript API (`window.__app`) for the end-to-end suite: what
    /// a person would do with many clicks, done precisely. Only in the
    /// test-hooks build.
    #[cfg(feature = "test-hooks")]
    pub mod test_api {
        use std::cell::{Cell, RefCell};
        use std::rc::Rc;
        use std::time::Duration;

        use bus_leptos::Bus;
        use bus_web::{CallError, Connection, State};
        use demo_api::{
            CONFIRM, Cart, CartLine, CartProblem, ECHO_BYTES, QUOTE, price, sample_cart,
        };
        use futures_channel::oneshot;
        use leptos::prelude::{Get, GetUntracked, WithUntracked};

        use super::ServerSide;
        use wasm_bindgen::prelude::*;

        thread_local! {
            static STATES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        }

        fn frame_bus() -> Option<Bus> {
            super::FRAME.get().and_then(|s| s.get_untracked())
        }

        fn target(which: &str) -> Result<Connection, String> {
            let conn = match which {
                "popup" => super::POPUP.get().and_then(|p| p.connection()),
                _ => frame_bus().and_then(|b| b.connection()),
            };
            conn.ok_or_else(|| format!("no {which} connection"))
        }

        /// Records every value the frame bus's `state` signal takes (as an
        /// effect sees it), for `test_state_log`.
        pub(crate) fn record_states(bus: Bus) {
            STATES.with(|s| s.borrow_mut().clear());
            leptos::prelude::Effect::new(move || {
                let kind = match bus.state.get() {
                    State::Idle => "idle",
                    State::Connecting => "connecting",
                    State::Connected { .. } => "connected",
                    State::Reconnecting(_) => "reconnecting",
                    State::Closed(_) => "closed",
                };
                STATES.with(|s| s.borrow_mut().push(kind.to_owned()));
            });
        }

        /// The frame bus's states so far, space-separated.
        #[wasm_bindgen]
        pub fn test_state_log() -> String {
            STATES.with(|s| s.borrow().join(" "))
        }

        /// Closes the frame bus through its handle (the component stays).
        #[wasm_bindgen]
        pub fn test_close_frame() -> bool {
            frame_bus().map(|b| b.close()).is_some()
        }

        /// bus-web's live listeners, timers and connections on this page,
        /// as JSON.
        #[wasm_bindgen]
        pub fn test_diagnostics() -> String {
            use bus_web::diagnostics;
            format!(
                r#"{{"listeners":{},"timers":{},"connections":{},"handlers":{}}}"#,
                diagnostics::live_listeners(),
                diagnostics::live_timers(),
                diagnostics::live_connections(),
                diagnostics::live_handlers(),
            )
        }

        fn describe(e: &CallError) -> String {
            match e {
                CallError::Remote(r) => {
                    format!(
                        "remote {} {}: {:?}",
                        r.code(),
                        r.message(),
                        r.data_as::<CartProblem>()
                    )
                }
                other => format!("{other:?}"),
            }
        }

        fn cart(items: u32) -> Cart {
            let line = CartLine {
                name: "Item".into(),
                qty: items,
                unit_cents: 1_000,
            };
            Cart {
                lines: vec![line],
                currency: "EUR".into(),
            }
        }

        /// Calls the widget in the iframe (`"frame"`) or the popup.
        /// `what`: `quote`, `empty` (an empty cart) or `confirm`. Returns
        /// `ok:<detail>` or `err:<error>`.
        #[wasm_bindgen]
        pub async fn test_call(which: String, what: String, timeout_ms: u32) -> String {
            let conn = match target(&which) {
                Ok(c) => c,
                Err(e) => return format!("err:{e}"),
            };
            let timeout = Duration::from_millis(u64::from(timeout_ms));
            let result = match what.as_str() {
                "quote" => conn
                    .call_with_timeout(&QUOTE, &sample_cart(), timeout)
                    .await
                    .map(|q| q.total_cents.to_string()),
                "empty" => {
                    let empty = Cart {
                        lines: vec![],
                        currency: "EUR".into(),
                    };
                    conn.call_with_timeout(&QUOTE, &empty, timeout)
                        .await
                        .map(|q| q.total_cents.to_string())
                }
                "confirm" => conn
                    .call_with_timeout(&CONFIRM, &sample_cart(), timeout)
                    .await
                    .map(|r| r.reference),
                other => return format!("err:unknown call {other}"),
            };
            match result {
                Ok(v) => format!("ok:{v}"),
                Err(e) => format!("err:{}", describe(&e)),
            }
        }

        /// Makes `n` quote calls at once, each for a different cart, and
        /// returns how many came back with their own, correct answer.
        #[wasm_bindgen]
        pub async fn test_quote_many(n: u32) -> u32 {
            let Ok(conn) = target("frame") else { return 0 };
            let correct = Rc::new(Cell::new(0u32));
            let finished = Rc::new(Cell::new(0u32));
            let (tx, rx) = oneshot::channel::<()>();
            let tx = Rc::new(RefCell::new(Some(tx)));
            for i in 1..=n {
                let (conn, correct, finished, tx) =
                    (conn.clone(), correct.clone(), finished.clone(), tx.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let cart = cart(i);
                    if conn.call(&QUOTE, &cart).await.ok() == price(&cart) {
                        correct.set(correct.get() + 1);
                    }
                    finished.set(finished.get() + 1);
                    if finished.get() == n
                        && let Some(tx) = tx.borrow_mut().take()
                    {
                        let _ = tx.send(());
                    }
                });
            }
            if n > 0 {
                let _ = rx.await;
            }
            correct.get()
        }

        /// Makes `n` confirm calls, `batch` at a time, each timing out after
        /// `timeout_ms`; returns how many timed out.
        #[wasm_bindgen]
        pub async fn test_confirm_many(n: u32, batch: u32, timeout_ms: u32) -> u32 {
            let Ok(conn) = target("frame") else { return 0 };
            let timeout = Duration::from_millis(u64::from(timeout_ms));
            let mut timed_out = 0;
            let mut left = n;
            while left > 0 {
                let size = left.min(batch.max(1));
                left -= size;
                let done = Rc::new(Cell::new(0u32));
                let timeouts = Rc::new(Cell::new(0u32));
                let (tx, rx) = oneshot::channel::<()>();
                let tx = Rc::new(RefCell::new(Some(tx)));
                for _ in 0..size {
                    let (conn, done, timeouts, tx) =
                        (conn.clone(), done.clone(), timeouts.clone(), tx.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let r = conn
                            .call_with_timeout(&CONFIRM, &sample_cart(), timeout)
                            .await;
                        if matches!(r, Err(CallError::Timeout(_))) {
                            timeouts.set(timeouts.get() + 1);
                        }
                        done.set(done.get() + 1);
                        if done.get() == size
                            && let Some(tx) = tx.borrow_mut().take()
                        {
                            let _ = tx.send(());
                        }
                    });
                }
                let _ = rx.await;
                timed_out += timeouts.get();
            }
            timed_out
        }

        /// Sends `n` bytes to the widget and back; `ok:<n>` when they match.
        #[wasm_bindgen]
        pub async fn test_echo_bytes(n: u32) -> String {
            let Ok(conn) = target("frame") else {
                return "err:no frame connection".into();
            };
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            match conn.call(&ECHO_BYTES, &data).await {
                Ok(back) if back == data => format!("ok:{}", back.len()),
                Ok(back) => format!("err:{} bytes came back different", back.len()),
                Err(e) => format!("err:{}", describe(&e)),
            }
        }

        /// The connection's counters, the page's stray frames and this
        /// module's wasm memory, as JSON.
        #[wasm_bindgen]
        pub fn test_stats(which: String) -> String {
            let Ok(conn) = target(&which) else {
                return "null".into();
            };
            let stats = conn.stats();
            let by = |label: &str| stats.rejected_by.get(label).copied().unwrap_or(0);
            let traffic = conn.traffic();
            let stray = bus_web::diagnostics::stray();
            format!(
                r#"{{"state":{:?},"pending":{},"rejected":{},"foreign":{},"wrong_source":{},"disallowed_origin":{},"too_many_messages":{},"unexpected":{},"frames_in":{},"port_in":{},"stray_bus":{},"stray_foreign":{},"memory_bytes":{}}}"#,
                format!("{:?}", conn.state()),
                conn.pending_calls(),
                stats.rejected,
                stats.foreign,
                by("wrong-source"),
                by("disallowed-origin"),
                by("too-many-messages"),
                by("unexpected"),
                stats.frames_in,
                traffic.port_in,
                stray.bus_frames,
                stray.foreign,
                demo_api::ui::wasm_memory_bytes(),
            )
        }

        fn server() -> Result<super::ServerSide, String> {
            super::SERVER
                .get()
                .ok_or_else(|| "no server bus".to_owned())
        }

        /// Calls the shop's server: `wait` (answers after `arg` ms) or
        /// `info`. Returns `ok:<detail>` or `err:<error>`.
        #[wasm_bindgen]
        pub async fn test_server_call(what: String, arg: u32) -> String {
            let bus = match server() {
                Ok(s) => s.bus,
                Err(e) => return format!("err:{e}"),
            };
            let result = match what.as_str() {
                "wait" => bus
                    .call(&demo_api::SERVER_WAIT, &arg)
                    .await
                    .map(|ms| ms.to_string()),
                "info" => bus
                    .call(&demo_api::SERVER_INFO, &())
                    .await
                    .map(|i| format!("{} {}", i.name, i.tabs)),
                other => return format!("err:unknown server call {other}"),
            };
            match result {
                Ok(v) => format!("ok:{v}"),
                Err(e) => format!("err:{}", describe(&e)),
            }
        }

        /// Sets the socks in the cart, as the buttons do (the other tabs are told).
        #[wasm_bindgen]
        pub fn test_set_socks(qty: u32) -> Result<(), JsValue> {
            let s = server()?;
            super::set_socks(s.bus, s.cart, s.view, qty);
            Ok(())
        }

        /// The socks in this tab's cart.
        #[wasm_bindgen]
        pub fn test_socks() -> u32 {
            server().map_or(0, |s| s.cart.with_untracked(|c| c.lines[super::SOCKS].qty))
        }

        /// How many cart updates came from other tabs.
        #[wasm_bindgen]
        pub fn test_cart_synced() -> u32 {
            server().map_or(0, |s| s.synced.get_untracked())
        }

        /// The server bus's state: `connecting`, `connected`, `reconnecting` or `closed`.
        #[wasm_bindgen]
        pub fn test_server_state() -> String {
            let Ok(s) = server() else {
                return "none".into();
            };
            match s.bus.state.get_untracked() {
                State::Idle => "idle",
                State::Connecting => "connecting",
                State::Connected { .. } => "connected",
                State::Reconnecting(_) => "reconnecting",
                State::Closed(_) => "closed",
            }
            .into()
        }

        /// Emits `n` cart events to the server as fast as the page can (a
        /// flood); returns how many the bus accepted.
        #[wasm_bindgen]
        pub async fn test_flood(n: u32) -> u32 {
            let Ok(ServerSide { bus, cart, .. }) = server() else {
                return 0;
            };
            let mut c = cart.get_untracked();
            let mut accepted = 0;
            for i in 0..n {
                c.lines[super::SOCKS].qty = 1_000 + i;
                if bus.emit(&demo_api::SHOP_CART, &c).is_ok() {
                    accepted += 1;
                }
                if i % 64 == 63 {
                    // Let the bus flush between bursts.
                    let tick = js_sys::Promise::resolve(&JsValue::NULL);
                    let _ = wasm_bindgen_futures::JsFuture::from(tick).await;
                }
            }
            accepted
        }

        /// Adds an iframe showing `url` to the page.
        #[wasm_bindgen]
        pub fn test_embed(url: String) -> Result<(), JsValue> {
            let doc = web_sys::window()
                .and_then(|w| w.document())
                .ok_or("no document")?;
            let frame = doc.create_element("iframe")?;
            frame.set_attribute("src", &url)?;
            frame.set_attribute("class", "extra")?;
            doc.body().ok_or("no body")?.append_child(&frame)?;
            Ok(())
        }
    }
}
