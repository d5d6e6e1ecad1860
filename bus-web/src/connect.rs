//! The ways to connect.

use bus_core::{Engine, Entropy, EntropyError, Role};
use js_sys::Object;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Crypto, DomStringList, HtmlIFrameElement, Window};

use crate::Options;
use crate::connect_error::ConnectError;
use crate::connection::Connection;
use crate::driver::start;
use crate::transport::PeerKind;

/// The browser's `crypto.getRandomValues`.
struct BrowserEntropy(Crypto);

impl Entropy for BrowserEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        self.0
            .get_random_values_with_u8_array(buf)
            .map(|_| ())
            .map_err(|e| EntropyError(crate::diagnostics::js_error_message(&e)))
    }
}

fn this_window() -> Result<Window, ConnectError> {
    web_sys::window().ok_or(ConnectError::NoWindow)
}

fn engine(
    window: &Window,
    options: &Options,
    role: Role,
    peer_origin: Option<String>,
) -> Result<Engine, ConnectError> {
    let crypto = window.crypto().map_err(|_| ConnectError::NoCrypto)?;
    Ok(Engine::new(
        options.config(role, peer_origin),
        BrowserEntropy(crypto),
    )?)
}

fn connection(inner: std::rc::Rc<std::cell::RefCell<crate::driver::Inner>>) -> Connection {
    Connection { inner }
}

/// Resolves `url` against the page and returns its origin.
fn origin_of(window: &Window, url: &str) -> Result<String, ConnectError> {
    let base = window.location().href().unwrap_or_default();
    crate::origins::origin_of(url, &base).map_err(ConnectError::Url)
}

/// Connects to a child iframe.
///
/// The iframe's origin comes from its `src` and must be in the allowlist;
/// the connection then talks to that origin only, even if the allowlist
/// allows more. An iframe without an http(s) `src` (`srcdoc`) is greeted at
/// the allowlist's exact origins. The host waits for the child's bus to
/// knock, so it never posts into a frame that is still loading, and it
/// follows the child across reloads and navigations for as long as the
/// iframe is attached (see [`Options::reconnect_timeout`]).
///
/// ```ignore
/// let frame: HtmlIFrameElement = document.get_element_by_id("checkout")?.dyn_into()?;
/// let allow = bus_web::allowlist(["https://pay.example"])?;
/// let conn = bus_web::connect_iframe(&frame, Options::new(allow))?;
/// conn.connected().await?;
/// let quote = conn.call(&TOTAL, &3).await?;
/// ```
pub fn connect_iframe(
    frame: &HtmlIFrameElement,
    options: Options,
) -> Result<Connection, ConnectError> {
    let window = this_window()?;
    let peer = frame
        .content_window()
        .ok_or(ConnectError::FrameNotAttached)?;
    let src = frame.src();
    let peer_origin = if src.starts_with("http:") || src.starts_with("https:") {
        Some(origin_of(&window, &src)?)
    } else {
        None
    };
    let engine = engine(&window, &options, Role::Host, peer_origin)?;
    Ok(connection(start(
        engine,
        window,
        peer,
        PeerKind::Iframe(frame.clone()),
        options.liveness(),
    )))
}

/// Connects from inside an iframe to the page that embeds it.
///
/// The first message goes to the parent's origin when the browser reveals it
/// (`location.ancestorOrigins`) and it is allowed, otherwise to each exact
/// allowlist entry.
///
/// ```ignore
/// let allow = bus_web::allowlist(["https://shop.example"])?;
/// let conn = bus_web::connect_parent(Options::new(allow))?;
/// conn.serve(TOTAL, |items: u32| async move { Ok(Quote { cents: 250 * items as u64 }) });
/// ```
pub fn connect_parent(options: Options) -> Result<Connection, ConnectError> {
    let window = this_window()?;
    let parent = window
        .parent()
        .ok()
        .flatten()
        .ok_or(ConnectError::NotInIframe)?;
    if Object::is(parent.as_ref(), window.as_ref()) {
        return Err(ConnectError::NotInIframe);
    }
    // `location.ancestorOrigins` (Chromium, WebKit) names the parent's origin.
    let ancestor = js_sys::Reflect::get(
        window.location().as_ref(),
        &JsValue::from_str("ancestorOrigins"),
    )
    .ok()
    .and_then(|list| list.dyn_into::<DomStringList>().ok())
    .and_then(|list| list.item(0))
    .filter(|o| options.allowlist().allows(o));
    let engine = engine(&window, &options, Role::Guest, ancestor)?;
    Ok(connect_window(engine, window, parent, &options))
}

/// Connects from inside a popup to the window that opened it.
///
/// The first message goes to the opener's origin as `document.referrer`
/// reveals it when that is allowed, otherwise to each exact allowlist entry.
///
/// ```ignore
/// let allow = bus_web::allowlist(["https://shop.example"])?;
/// let conn = bus_web::connect_opener(Options::new(allow))?;
/// conn.emit(&PAID, &Quote { cents: 1000 })?;
/// ```
pub fn connect_opener(options: Options) -> Result<Connection, ConnectError> {
    let window = this_window()?;
    let opener: JsValue = window.opener().unwrap_or(JsValue::NULL);
    if opener.is_null() || opener.is_undefined() {
        return Err(ConnectError::NoOpener);
    }
    let opener: Window = opener.unchecked_into();
    let referrer = window
        .document()
        .map(|d| d.referrer())
        .filter(|r| !r.is_empty())
        .and_then(|r| crate::origins::origin_of(&r, &r).ok())
        .filter(|o| options.allowlist().allows(o));
    let engine = engine(&window, &options, Role::Guest, referrer)?;
    Ok(connect_window(engine, window, opener, &options))
}

/// Opens `url` in a popup and connects to it. Call it from a user gesture,
/// or the browser blocks the popup. `features` is `window.open`'s third
/// argument (`""` for a tab, `"popup,width=480,height=640"` for a window);
/// it must not contain `noopener`.
///
/// ```ignore
/// let allow = bus_web::allowlist(["https://pay.example"])?;
/// let conn = bus_web::open_popup("https://pay.example/checkout", "popup", Options::new(allow))?;
/// ```
pub fn open_popup(url: &str, features: &str, options: Options) -> Result<Connection, ConnectError> {
    open_popup_window(url, features, options).map(|(conn, _)| conn)
}

/// [`open_popup`], also handing back the popup's window, for apps that keep
/// it (to close the popup with the component that opened it). The options
/// and `url` are checked before any window opens, as in [`open_popup`].
///
/// ```ignore
/// let (conn, popup) = bus_web::open_popup_window(url, "popup", Options::new(allow))?;
/// // later: popup.close()
/// ```
pub fn open_popup_window(
    url: &str,
    features: &str,
    options: Options,
) -> Result<(Connection, Window), ConnectError> {
    let window = this_window()?;
    // Refuse before opening a window the bus could not talk to.
    let engine = popup_host(&window, url, &options)?;
    let popup = window
        .open_with_url_and_target_and_features(url, "_blank", features)
        .ok()
        .flatten()
        .ok_or(ConnectError::PopupBlocked)?;
    let conn = connect_window(engine, window, popup.clone(), &options);
    Ok((conn, popup))
}

/// Connects to a popup this page has already opened at `url` (with
/// `window.open`, without `noopener`), for apps that open windows
/// themselves — and keep the handle, for example to close the popup with
/// the component that opened it. The peer's origin comes from `url`.
///
/// ```ignore
/// let popup = window.open_with_url_and_target_and_features(url, "_blank", "popup")?.unwrap();
/// let conn = bus_web::connect_popup(&popup, url, Options::new(allow))?;
/// ```
pub fn connect_popup(
    popup: &Window,
    url: &str,
    options: Options,
) -> Result<Connection, ConnectError> {
    let window = this_window()?;
    let engine = popup_host(&window, url, &options)?;
    Ok(connect_window(engine, window, popup.clone(), &options))
}

/// The engine of a host whose popup is (or will be) at `url`: bound to that
/// URL's origin, which the allowlist must allow.
fn popup_host(window: &Window, url: &str, options: &Options) -> Result<Engine, ConnectError> {
    let origin = origin_of(window, url)?;
    engine(window, options, Role::Host, Some(origin))
}

/// Connects to a bus server over WebSocket (the `websocket` feature), with
/// the same [`Connection`] API and engine as between windows.
///
/// `url` is `ws://…` or `wss://…`, or a path (`"/bus"`) on the page's own
/// server. The server's `http(s)` origin (`wss://shop.example/bus` is
/// `https://shop.example`) must be in the allowlist. The server checks the
/// page's origin before it accepts the socket.
///
/// - Heartbeat on by default (every 10 s; the session ends after 30 s of
///   silence), so a dead socket is noticed; [`Options::heartbeat`] changes
///   it, [`Options::no_heartbeat`] turns it off.
/// - Whenever the socket drops, pending calls fail at once with
///   [`CallError::Disconnected`](bus_core::CallError::Disconnected), and a
///   new socket is dialled after an exponential backoff with jitter (100 ms
///   doubling up to 10 s, reset once a session is up), until
///   [`Connection::close`]. Calls made after the reconnect succeed.
/// - Events emitted while disconnected wait for the next session, up to
///   [`bus_core::Limits::max_queued_messages`] (past it `emit` fails with
///   `QueueFull`); calls made while disconnected wait too, within their
///   timeout. Whatever is queued when a session ends is dropped with it.
/// - [`Options::reconnect_timeout`] does not apply: a socket client dials
///   until closed. [`Options::handshake_timeout`] bounds the handshake on
///   each socket.
///
/// ```ignore
/// let allow = bus_web::allowlist(["https://shop.example"])?;
/// let server = bus_web::connect_websocket("/bus", Options::new(allow))?;
/// server.connected().await?;
/// let stock = server.call(&STOCK, &sku).await?;
/// ```
#[cfg(feature = "websocket")]
pub fn connect_websocket(url: &str, options: Options) -> Result<Connection, ConnectError> {
    use std::time::Duration;

    use bus_core::backoff::Backoff;

    let window = this_window()?;
    let bad = || ConnectError::NotAWebSocketUrl(url.to_owned());
    let base = window.location().href().unwrap_or_default();
    let parsed = web_sys::Url::new_with_base(url, &base).map_err(|_| bad())?;
    // A byte scan: `str::contains` would link a substring searcher for this.
    let relative = !url.as_bytes().windows(3).any(|w| w == b"://");
    let secure = match parsed.protocol().as_str() {
        "ws:" => false,
        "wss:" => true,
        "http:" if relative => false,
        "https:" if relative => true,
        _ => return Err(bad()),
    };
    parsed.set_protocol(if secure { "wss:" } else { "ws:" });
    let origin = format!(
        "{}://{}",
        if secure { "https" } else { "http" },
        parsed.host()
    );
    let mut config = options.config(Role::Guest, Some(origin.clone()));
    config.link = bus_core::Link::Socket;
    if config.heartbeat.is_none() && !options.heartbeat_off() {
        config.heartbeat = Some(bus_core::Heartbeat {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        });
    }
    let crypto = window.crypto().map_err(|_| ConnectError::NoCrypto)?;
    let engine = Engine::new(config, BrowserEntropy(crypto.clone()))?;
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    Ok(connection(crate::driver::start_socket(
        engine,
        window,
        parsed.href(),
        origin,
        backoff,
        Box::new(BrowserEntropy(crypto)),
    )))
}

fn connect_window(engine: Engine, window: Window, peer: Window, options: &Options) -> Connection {
    connection(start(
        engine,
        window,
        peer,
        PeerKind::Window,
        options.liveness(),
    ))
}
