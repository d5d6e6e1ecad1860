//! Serves the demo on three origins (with [`bus_harness::Origins`]): the
//! host (`parent`) on `127.0.0.1`, the widget (`child`) on `localhost` — a
//! different *site*, so browsers give it a real out-of-process, cross-origin
//! iframe — and a `rogue` page on a third origin. The origins each page
//! allows are written into the page when it is served
//! (`<meta name="bus-allow">`), not compiled in, so tests can serve on free
//! ports. The host's origin also serves the shop's own bus at `/bus`
//! (bus-server over WebSocket), which keeps the cart in sync across the
//! shop's open tabs; with a NATS URL, across server processes too.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::header;
use axum::response::Html;
use axum::routing::get;
use bus_harness::{Origins, Serve, Served, Site};
use bus_server::{BusServer, Hub, Services};
use demo_api::{SERVER_INFO, SERVER_WAIT, SHOP_CART, ServerInfo};
use tower_http::services::ServeDir;

use crate::Error;

/// Ports to bind; 0 picks a free one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The host page.
    pub parent: u16,
    /// The widget.
    pub child: u16,
    /// The rogue page.
    pub rogue: u16,
}

impl Ports {
    /// The demo's defaults: 8080, 8081, 8082.
    pub const DEMO: Ports = Ports {
        parent: 8080,
        child: 8081,
        rogue: 8082,
    };
    /// Free ports, for tests.
    pub const ANY: Ports = Ports {
        parent: 0,
        child: 0,
        rogue: 0,
    };
}

/// What the served demo includes beyond the safe default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// Serve the e2e suite's hooks: `window.__app` on each page (the apps
    /// must be built with them, see [`crate::bundle::build_demo`]).
    pub test_hooks: bool,
    /// Let the rogue origin frame the widget (the widget's
    /// `frame-ancestors` names it), to show the bus rejecting it from
    /// inside a frame. By default only the host may frame the widget, and
    /// the rogue attacks through popups it opens.
    pub rogue_framing: bool,
}

const CSS: &str = include_str!("demo.css");

fn index(title: &str, metas: &[(&str, &str)], test_hooks: bool) -> String {
    let hooks = if test_hooks {
        "// The app's exported functions, for the end-to-end suite.\nwindow.__app = app;\n"
    } else {
        ""
    };
    let metas = bus_harness::origins::meta_tags(metas);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{metas}<link rel="stylesheet" href="/demo.css">
</head>
<body>
<script type="module">
import init, * as app from "/app.js";
await init({{ module_or_path: "/app_bg.wasm" }});
{hooks}</script>
</body>
</html>
"#
    )
}

/// Answers `/favicon.ico` so browsers log no 404 into the demo's console.
fn with_favicon(router: Router) -> Router {
    router.route(
        "/favicon.ico",
        get(|| async { axum::http::StatusCode::NO_CONTENT }),
    )
}

fn app(dist: &Path, page: String) -> Router {
    with_favicon(Router::new())
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/demo.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }),
        )
        .fallback_service(ServeDir::new(dist))
}

/// The shop's server at `/bus` on its origin: the cart relayed between its
/// tabs (through `hub`, so through NATS when the hub has a broker), a slow
/// method for the reconnect scenario, and who answered.
fn shop_server(origin: &str, hub: Hub) -> Result<BusServer, Error> {
    let options = bus_server::Options::new(bus_core::Allowlist::new([origin])?);
    let name = origin.to_owned();
    let members = hub.clone();
    let services = Services::new()
        .serve(SERVER_WAIT, |_tab, ms: u32| async move {
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(ms.min(60_000)))).await;
            Ok(ms)
        })
        .serve(SERVER_INFO, move |_tab, ()| {
            let info = ServerInfo {
                name: name.clone(),
                tabs: u32::try_from(members.len()).unwrap_or(u32::MAX),
            };
            async move { Ok(info) }
        })
        .relay(SHOP_CART);
    Ok(BusServer::with_hub(options, services, hub)?)
}

/// The demo's three origins, named `parent`, `child` and `rogue`, serving
/// the apps built into `dist` (see [`crate::bundle::build_demo`]), with the
/// shop's bus on an in-process hub.
pub fn origins(dist: &Path, ports: Ports, mode: Mode) -> Result<Origins, Error> {
    origins_with_hub(dist, ports, mode, Hub::new())
}

/// [`origins`] whose shop server joins `hub` (give it a NATS broker to share
/// the shop's cart with other server processes).
pub fn origins_with_hub(dist: &Path, ports: Ports, mode: Mode, hub: Hub) -> Result<Origins, Error> {
    for app in crate::bundle::APPS {
        let glue = dist.join(app).join("app.js");
        if !glue.is_file() {
            return Err(format!(
                "{} is missing: build the demo first (bundle::build_demo)",
                glue.display()
            )
            .into());
        }
    }
    let demo_ts = crate::bundle::workspace_root().join("demo-ts/dist");
    if !demo_ts.join("host.js").is_file() {
        return Err(format!(
            "{} is missing: build the TypeScript pages first (bundle::build_bus_js, or `cargo xtask js`)",
            demo_ts.join("host.js").display()
        )
        .into());
    }
    let parent_dist = dist.join("demo-parent");
    let demo_ts_for_child = demo_ts.clone();
    let parent = Serve::router_with(move |o| {
        let child_url = format!("{}/", &o["child"]);
        let ts_host = TS_HOST
            .replace("{CHILD_URL}", &child_url)
            .replace("{CHILD_ORIGIN}", &o["child"]);
        let shop = match shop_server(&o["parent"], hub.clone()) {
            Ok(server) => server.route(),
            Err(e) => {
                let why = format!("the shop's bus server could not start: {e}");
                get(move || async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, why) })
            }
        };
        app(
            &parent_dist,
            index(
                "Acme Outdoor — host",
                &[("bus-allow", &o["child"]), ("bus-child-url", &child_url)],
                mode.test_hooks,
            ),
        )
        .route("/bus", shop)
        // The same shop in plain TypeScript (demo-ts/src/host.ts), on wbus.
        .route("/ts-host.html", get(move || async move { Html(ts_host) }))
        .nest_service("/demo-ts", ServeDir::new(&demo_ts))
    })
    .site(Site::Loopback)
    .port(ports.parent)
    // Nobody frames the shop: no clickjacking of its buttons.
    .header("content-security-policy", "frame-ancestors 'self'")
    .header("x-frame-options", "SAMEORIGIN")
    // Keeps `window.opener` for the popups it opens.
    .header("cross-origin-opener-policy", "same-origin-allow-popups");

    let child_dist = dist.join("demo-child");
    let child = Serve::router_with(move |o| {
        app(
            &child_dist,
            index(
                "PayWidget — checkout",
                &[("bus-allow", &o["parent"])],
                mode.test_hooks,
            ),
        )
        // A page of the widget's origin that never starts the bus.
        .route("/no-bus.html", get(|| async { Html(NO_BUS) }))
        // The checkout widget in plain TypeScript (demo-ts/src/widget.ts), on wbus.
        .route(
            "/ts-widget.html",
            get({
                let page = TS_WIDGET.replace("{PARENT_ORIGIN}", &o["parent"]);
                move || async move { Html(page) }
            }),
        )
        .nest_service("/demo-ts", ServeDir::new(&demo_ts_for_child))
    })
    .site(Site::Localhost)
    .port(ports.child)
    // Like a real widget, it names who may embed it: its host only, unless
    // the demo is asked to show the rogue framing it.
    .header_with("content-security-policy", move |o| {
        if mode.rogue_framing {
            format!("frame-ancestors {} {}", &o["parent"], &o["rogue"])
        } else {
            format!("frame-ancestors {}", &o["parent"])
        }
    });

    let rogue = Serve::router_with(move |o| {
        let rogue_page = ROGUE
            .replace("{CHILD_URL}", &format!("{}/", &o["child"]))
            .replace("{PARENT_URL}", &format!("{}/", &o["parent"]))
            .replace(
                "{FRAMING}",
                if mode.rogue_framing { "true" } else { "false" },
            );
        with_favicon(Router::new())
            .route("/", get(move || async move { Html(rogue_page) }))
            .route("/flood", get(|| async { Html(ROGUE_FLOOD) }))
            .route("/knock", get(|| async { Html(ROGUE_KNOCK) }))
    })
    .site(Site::Loopback)
    .port(ports.rogue);

    Ok(Origins::new()
        .add("parent", parent)
        .add("child", child)
        .add("rogue", rogue))
}

/// Serves the demo (see [`origins`]). With `nats` (a `nats://` URL), the
/// shop's server shares its hub with every other process on that NATS.
/// Call it inside a tokio runtime.
pub async fn serve(
    dist: &Path,
    ports: Ports,
    mode: Mode,
    nats: Option<&str>,
) -> Result<Served, Error> {
    let hub = Hub::new();
    if let Some(url) = nats {
        bus_server::nats::NatsBroker::connect(url, "wbus-demo", &hub).await?;
    }
    origins_with_hub(dist, ports, mode, hub)?.serve().await
}

/// Serves until Ctrl-C (or SIGTERM), printing the URLs. For `cargo xtask
/// demo` and the `demo-server` binary.
pub fn serve_until_ctrl_c(
    dist: PathBuf,
    ports: Ports,
    mode: Mode,
    nats: Option<String>,
) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let servers = serve(&dist, ports, mode, nats.as_deref()).await?;
        println!("\nThe demo is up:");
        println!("  host (parent)   {}/", servers.origin("parent"));
        println!("  widget (child)  {}/", servers.origin("child"));
        println!("  rogue           {}/", servers.origin("rogue"));
        match &nats {
            Some(url) => println!(
                "  the shop's bus  /bus on the host, sharing its hub through NATS at {url}"
            ),
            None => println!("  the shop's bus  /bus on the host (an in-process hub)"),
        }
        println!("\nOpen the host page; press Ctrl-C to stop.");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        println!("\nstopping…");
        servers.stop().await;
        Ok(())
    })
}

/// A hostile page on a third origin. It opens the widget and the host as
/// popups (or, in the rogue-framing demo mode, frames them) and throws forged
/// bus frames at both, by hand: the bytes follow the wire format, so they
/// get past the namespace check and must be rejected on origin, source and
/// session.
const ROGUE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Totally legit deals — rogue origin</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #2b0d12; color: #fde8ea; }
header { padding: 16px 24px; background: #5b0f1b; display: flex; gap: 16px; align-items: baseline; }
h1 { margin: 0; font-size: 20px; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 24px; }
button { font: inherit; }
iframe { width: 100%; height: 720px; border: 2px dashed #f05a6e; border-radius: 8px; background: white; }
ol { margin: 0 24px; font-family: ui-monospace, monospace; font-size: 13px; }
.count { font-weight: 700; color: #ffb3bd; }
</style>
</head>
<body>
<header>
  <h1>☠ Rogue origin</h1>
  <span>Opens the widget and the host, then forges bus messages at both. Sent: <span class="count" data-testid="rogue-sent">0</span>, answers received: <span class="count" data-testid="rogue-answers">0</span></span>
  <button id="open-widget" data-testid="open-widget">Open the widget</button>
  <button id="open-host" data-testid="open-host">Open the shop</button>
</header>
<ol id="attacks"></ol>
<main id="frames"></main>
<script>
const NS = [0x77, 0x62, 0x75, 0x73]; // "wbus"
const utf8 = (s) => Array.from(new TextEncoder().encode(s));
const rand16 = () => Array.from(crypto.getRandomValues(new Uint8Array(16)));
const frame = (session, body) => new Uint8Array([...NS, 1, 0, ...session, ...body]);
const guessed = new Array(16).fill(7);
const attacks = [
  ["forged hello: take over the session", () => frame(new Array(16).fill(0), [1, 1, 1, ...rand16(), 0x80, 0x80, 0x40])],
  ["forged call checkout.quote", () => frame(guessed, [5, 1, 0, 1, 14, ...utf8("checkout.quote"), 0, 0])],
  ["spoofed reply to call #1", () => frame(guessed, [5, 1, 1, 1, 0, 3, 65, 66, 67])],
  ["spoofed checkout.paid event", () => frame(guessed, [5, 1, 2, 13, ...utf8("checkout.paid"), 0])],
  ["garbage in the bus namespace", () => frame(guessed, [0xff, 0xff, 0xff, 0xff])],
];
const list = document.getElementById("attacks");
for (const [name] of attacks) {
  const li = document.createElement("li");
  li.textContent = name;
  list.appendChild(li);
}
let sent = 0, answers = 0;
// Nothing the victims send should ever reach this page.
window.addEventListener("message", () => {
  answers++;
  document.querySelector("[data-testid=rogue-answers]").textContent = String(answers);
});
// Their frame-ancestors keep both out of frames here, unless the demo runs
// with --rogue-framing; popups the rogue opens need no permission.
const framing = {FRAMING};
const victims = {};
if (framing) {
  for (const [id, url] of [["victim-widget", "{CHILD_URL}"], ["victim-host", "{PARENT_URL}"]]) {
    const f = document.createElement("iframe");
    f.id = id; f.src = url; f.title = id;
    document.getElementById("frames").appendChild(f);
    victims[id] = () => f.contentWindow;
  }
}
document.getElementById("open-widget").onclick = () => {
  const w = window.open("{CHILD_URL}", "victim-widget", "popup,width=520,height=760");
  victims["victim-widget"] = () => w;
};
document.getElementById("open-host").onclick = () => {
  const w = window.open("{PARENT_URL}", "victim-host", "popup,width=900,height=760");
  victims["victim-host"] = () => w;
};
function attack() {
  for (const get of Object.values(victims)) {
    const target = get();
    if (!target || target.closed) continue;
    for (const [, make] of attacks) {
      const bytes = make();
      target.postMessage(bytes, "*", [bytes.buffer]);
      sent++;
    }
  }
  document.querySelector("[data-testid=rogue-sent]").textContent = String(sent);
}
setInterval(attack, 1000);
</script>
</body>
</html>
"#;

/// The shop's page in TypeScript: its script is `demo-ts/src/host.ts`
/// (served built from `demo-ts/dist/`), embedding the Rust PayWidget in the
/// types generated from demo-api. The allowed origin comes in a meta tag;
/// `window.__ts` is the e2e suite's handle on it.
const TS_HOST: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="bus-allow" content="{CHILD_ORIGIN}">
<title>Acme Outdoor — TypeScript host</title>
<link rel="stylesheet" href="/demo.css">
<script type="module" src="/demo-ts/host.js"></script>
</head>
<body>
<header style="padding: 12px 24px">
  <h1>Acme Outdoor — host in TypeScript</h1>
  <p>This page (<code>demo-ts/src/host.ts</code>) embeds the Rust PayWidget with <code>wbus</code>, the
  TypeScript peer, and talks to it in the types generated from the Rust contract.
  Bus: <strong data-testid="ts-status">connecting</strong></p>
  <button data-testid="ts-quote">Ask for a quote (1 tent, 100.00 EUR)</button>
  <button data-testid="ts-empty">Ask for an empty cart's quote</button>
  <output data-testid="ts-result"></output>
  <p>Events: <span data-testid="ts-events">none yet</span></p>
</header>
<iframe id="widget" src="{CHILD_URL}" title="PayWidget checkout" style="width: 100%; height: 640px; border: 0"></iframe>
</body>
</html>
"#;

/// The checkout widget's page in TypeScript, for a Rust host to embed
/// (`?child-path=ts-widget.html`): its script is `demo-ts/src/widget.ts`,
/// pricing carts as the Rust widget does in the generated contract's types.
/// `?versions=N` makes it speak only protocol version N.
const TS_WIDGET: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="bus-allow" content="{PARENT_ORIGIN}">
<title>PayWidget — TypeScript</title>
<link rel="stylesheet" href="/demo.css">
<script type="module" src="/demo-ts/widget.js"></script>
</head>
<body style="padding: 12px 24px">
<h2>PayWidget in TypeScript</h2>
<p>This page is <code>demo-ts/src/widget.ts</code>, on <code>wbus</code>.
Bus: <strong data-testid="bus-status">connecting</strong></p>
<p data-testid="last-quote"></p>
</body>
</html>
"#;

/// Served by the widget's origin: a page that never starts the bus.
const NO_BUS: &str = r#"<!doctype html><meta charset="utf-8"><title>Maintenance</title>
<p style="font: 15px system-ui; padding: 24px">PayWidget is down for maintenance.</p>"#;

/// Floods its parent with `?n=` messages (default 10,000): half garbage in
/// the bus namespace, half other libraries' messages.
const ROGUE_FLOOD: &str = r#"<!doctype html><meta charset="utf-8"><title>flood</title>
<p style="font: 13px system-ui">flooding the parent… <span data-testid="flood-sent">0</span></p>
<script>
const n = Number(new URLSearchParams(location.search).get("n") || 10000);
const junk = new Uint8Array([0x77, 0x62, 0x75, 0x73, 1, 0, ...new Array(16).fill(3), 0xff, 0xff]);
for (let i = 0; i < n; i++) {
  if (i % 2 === 0) {
    const bytes = junk.slice();
    parent.postMessage(bytes, "*", [bytes.buffer]);
  } else {
    parent.postMessage({ type: "penpal", id: i, payload: "x".repeat(i % 64) }, "*");
  }
}
document.querySelector("[data-testid=flood-sent]").textContent = String(n);
</script>"#;

/// A bus-speaking page on the rogue origin: it knocks at its parent, as a
/// widget would after the frame navigated here.
const ROGUE_KNOCK: &str = r#"<!doctype html><meta charset="utf-8"><title>knock</title>
<p style="font: 13px system-ui">rogue document, knocking at the parent</p>
<script>
// Counts whatever the parent sends back: a host bound to another origin sends nothing.
window.__got = 0;
window.addEventListener("message", () => { window.__got++; });
const knock = new Uint8Array([0x77, 0x62, 0x75, 0x73, 1, 0, ...new Array(16).fill(0), 0, 1, 1]);
for (let i = 0; i < 3; i++) {
  const bytes = knock.slice();
  parent.postMessage(bytes, "*", [bytes.buffer]);
}
</script>"#;
