//! What both demo apps show about their bus: the connection state, a live
//! message log, and every rejected message with its reason.

use bus_leptos::Bus;
use bus_web::{CallError, Method};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One line of the message log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    id: u64,
    /// `→` sent, `←` received.
    pub direction: &'static str,
    /// call, reply, error, event.
    pub kind: &'static str,
    /// Method or topic.
    pub name: String,
    /// Round trip, for replies.
    pub latency_ms: Option<f64>,
    /// A short human summary.
    pub detail: String,
}

/// The message log, and the page's stray frames (from windows that are no
/// connection's peer). Each bus's own state and rejections come from its
/// hook's signals.
#[derive(Debug, Clone, Copy)]
pub struct BusView {
    /// Newest first, capped.
    pub log: RwSignal<Vec<LogEntry>>,
    strays: RwSignal<Vec<String>>,
    stray_count: RwSignal<u64>,
    next: StoredValue<u64>,
}

const KEEP: usize = 60;

impl BusView {
    /// An empty log, following the page's stray frames.
    pub fn new() -> BusView {
        let view = BusView {
            log: RwSignal::new(Vec::new()),
            strays: RwSignal::new(Vec::new()),
            stray_count: RwSignal::new(0),
            next: StoredValue::new(0),
        };
        let mut strays = bus_web::diagnostics::stray_frames();
        spawn_local(async move {
            while let Some(r) = strays.next().await {
                view.stray_count.update(|n| *n += 1);
                let line = format!("{}: {}", r.origin.unwrap_or_default(), r.reason);
                view.strays.update(|l| {
                    l.insert(0, line);
                    l.truncate(KEEP);
                });
            }
        });
        view
    }

    /// Adds a log line.
    pub fn record(
        &self,
        direction: &'static str,
        kind: &'static str,
        name: &str,
        latency_ms: Option<f64>,
        detail: String,
    ) {
        let id = self.next.get_value() + 1;
        self.next.set_value(id);
        let entry = LogEntry {
            id,
            direction,
            kind,
            name: name.to_owned(),
            latency_ms,
            detail,
        };
        self.log.update(|l| {
            l.insert(0, entry);
            l.truncate(KEEP);
        });
    }

    /// Calls `method`, logging the call and its reply with the round trip.
    pub async fn call<Req, Resp>(
        &self,
        bus: Bus,
        method: &Method<Req, Resp>,
        request: &Req,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned + std::fmt::Debug,
    {
        self.record("→", "call", method.name(), None, String::new());
        let start = now_ms();
        let result = bus.call(method, request).await;
        let latency = Some(now_ms() - start);
        match &result {
            Ok(v) => self.record("←", "reply", method.name(), latency, format!("{v:?}")),
            Err(e) => self.record("←", "error", method.name(), latency, e.to_string()),
        }
        result
    }
}

impl Default for BusView {
    fn default() -> Self {
        BusView::new()
    }
}

/// The size of this page's wasm memory in bytes (it only ever grows).
pub fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| f64::from(b.byte_length()))
}

/// `performance.now()` in milliseconds.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// The percent-decoded value of `?{name}=…` in the page's URL. Only the
/// test-hooks build of the demo reads parameters that change its behaviour.
pub fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let prefix = format!("{name}=");
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix(prefix.as_str()))
        .and_then(|v| js_sys::decode_uri_component(v).ok())
        .map(String::from)
}

/// The `content` of `<meta name="{name}">`, where the server puts the
/// origins this deployment allows.
pub fn meta(name: &str) -> Option<String> {
    let doc = web_sys::window()?.document()?;
    doc.query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()
        .flatten()?
        .get_attribute("content")
}

/// The badge's class for a connection state as it reads.
fn badge_class(state: &str) -> &'static str {
    if state.starts_with("connected") {
        "badge ok"
    } else if state.starts_with("closed") {
        "badge bad"
    } else {
        "badge wait"
    }
}

/// The status badge, the log and the rejections: `bus`'s (when there is
/// one), `also`'s (another bus of the page), and the page's strays.
#[component]
pub fn BusPanel(
    view: BusView,
    #[prop(into)] bus: Signal<Option<Bus>>,
    #[prop(optional)] also: Option<Bus>,
    /// The page's bus to its own server, if it has one.
    #[prop(default = None)]
    server: Option<Bus>,
) -> impl IntoView {
    let buses = move || bus.get().into_iter().chain(also).chain(server);
    let status = move || {
        bus.get()
            .map_or_else(|| "not mounted".to_owned(), |b| b.state.get().to_string())
    };
    let badge = move || {
        let s = status();
        (badge_class(&s), s)
    };
    let rejected =
        move || buses().map(|b| b.stats.get().rejected).sum::<u64>() + view.stray_count.get();
    let rejections = move || {
        let mut lines: Vec<String> = buses()
            .flat_map(|b| b.rejections.get())
            .map(|r| {
                format!(
                    "{}: {}",
                    r.origin.unwrap_or_else(|| "private port".into()),
                    r.reason
                )
            })
            .collect();
        lines.extend(view.strays.get());
        lines.truncate(KEEP);
        lines
    };
    let server_badge = move || {
        server.map(|s| {
            let state = s.state.get().to_string();
            (badge_class(&state), state)
        })
    };
    view! {
        <section class="panel">
            <header class="panel-head">
                <h2>"Message bus"</h2>
                <span class=move || badge().0 data-testid="bus-status">{move || badge().1}</span>
            </header>
            {move || server_badge().map(|(class, state)| view! {
                <header class="panel-head">
                    <h3>"Shop server (WebSocket /bus)"</h3>
                    <span class=class data-testid="panel-server-status">{state}</span>
                </header>
            })}
            <table class="log" data-testid="message-log">
                <thead><tr><th></th><th>"kind"</th><th>"method / topic"</th><th>"latency"</th><th>"detail"</th></tr></thead>
                <tbody>
                    <For each=move || view.log.get() key=|e| e.id let:e>
                        <tr class=e.kind>
                            <td class="dir">{e.direction}</td>
                            <td>{e.kind}</td>
                            <td class="mono">{e.name.clone()}</td>
                            <td class="num">{e.latency_ms.map(|ms| format!("{ms:.1} ms")).unwrap_or_default()}</td>
                            <td class="detail">{e.detail.clone()}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <header class="panel-head">
                <h3>"Rejected messages"</h3>
                <span class=move || { if rejected() > 0 { "count hot" } else { "count" } } data-testid="rejected-count">
                    {rejected}
                </span>
            </header>
            <ul class="rejections">
                {move || rejections().into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}
            </ul>
        </section>
    }
}
