//! The hooks in a real browser (wasm-bindgen-test; `cargo xtask test` runs
//! them in headless Chromium and Firefox). Every guest is a real second
//! window: a same-origin `srcdoc` iframe that loads this test module and
//! mounts [`bus_leptos_test_guest`], itself built on `use_parent_bus`.
//! The cross-origin demo on the hooks is proven by the e2e suite.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::time::Duration;

use bus_leptos::{Bus, PopupBus, use_iframe_bus, use_parent_bus, use_popup_bus, use_topic};
use bus_web::{
    Allowlist, CallError, CloseReason, ConnectError, Method, Options, RemoteError, Topic,
    diagnostics,
};
use leptos::html::Iframe;
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[path = "../../bus-web/tests/support/window_open.rs"]
mod window_open;

use window_open::count_window_opens;

wasm_bindgen_test_configure!(run_in_browser);

const WHOAMI: Method<(), String> = Method::new("whoami");
const FAIL: Method<(), ()> = Method::new("fail");
const HELLO: Topic<String> = Topic::new("hello");

thread_local! {
    static BUS: Cell<Option<Bus>> = const { Cell::new(None) };
    static POPUP: Cell<Option<PopupBus>> = const { Cell::new(None) };
}

fn window() -> web_sys::Window {
    web_sys::window().unwrap()
}

fn options() -> Options {
    Options::new(Allowlist::new([window().origin()]).unwrap())
        .handshake_timeout(Duration::from_secs(10))
}

/// The guest, mounted inside a child window by the iframe's module script:
/// serves WHOAMI, fails FAIL, and says hello on every connection.
#[wasm_bindgen]
pub fn bus_leptos_test_guest(name: String) {
    leptos::mount::mount_to_body(move || {
        let bus = use_parent_bus(options());
        let me = name.clone();
        bus.serve(WHOAMI, move |()| {
            let me = me.clone();
            async move { Ok(me) }
        });
        bus.serve(FAIL, |()| async { Err(RemoteError::new(402, "declined")) });
        let hello = format!("hello from {name}");
        Effect::new(move || {
            if bus.state.get().is_connected() {
                let _ = bus.emit(&HELLO, &hello);
            }
        });
        view! { <p>{move || bus.state.get().to_string()}</p> }
    });
}

fn guest_html(name: &str) -> String {
    let base = window().origin();
    format!(
        r#"<!doctype html><meta charset="utf-8"><script type="module">
const m = await import("{base}/wasm-bindgen-test.js");
await m.default({{ module_or_path: "{base}/wasm-bindgen-test_bg.wasm" }});
m.bus_leptos_test_guest("{name}");
</script>"#
    )
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Polls `cond` every 20 ms for up to `ms`.
async fn eventually(ms: i32, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..ms / 20 {
        if cond() {
            return true;
        }
        sleep(20).await;
    }
    cond()
}

fn container() -> web_sys::HtmlElement {
    let doc = window().document().unwrap();
    let div = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&div).unwrap();
    div.unchecked_into()
}

#[wasm_bindgen_test]
async fn an_iframe_bus_follows_its_node_ref_and_closes_on_unmount() {
    let (connections, listeners, timers) = (
        diagnostics::live_connections(),
        diagnostics::live_listeners(),
        diagnostics::live_timers(),
    );
    let guest = RwSignal::new("alpha");
    let hello = RwSignal::new(None::<Signal<Option<String>>>);
    let mounted = mount_to(container(), move || {
        let frame = NodeRef::<Iframe>::new();
        let bus = use_iframe_bus(frame, options());
        BUS.set(Some(bus));
        hello.set(Some(use_topic(bus, HELLO)));
        // A new element each time `guest` changes.
        move || view! { <iframe node_ref=frame srcdoc=guest_html(guest.get())></iframe> }
    });
    let bus = BUS.get().unwrap();
    let hello = hello.get_untracked().unwrap();
    let connected = |bus: Bus| bus.state.get_untracked().is_connected();
    assert!(
        eventually(10_000, || connected(bus)).await,
        "state: {}",
        bus.state.get_untracked()
    );
    assert_eq!(bus.call(&WHOAMI, &()).await, Ok("alpha".to_owned()));
    assert!(
        eventually(5_000, || hello.get_untracked().as_deref()
            == Some("hello from alpha"))
        .await
    );
    assert!(bus.stats.get_untracked().frames_in > 0);

    // The NodeRef gets another iframe: the hook closes the old connection
    // and connects to the new element; use_topic follows.
    guest.set("beta");
    assert!(
        eventually(10_000, || hello.get_untracked().as_deref()
            == Some("hello from beta"))
        .await,
        "hello: {:?}, state: {}",
        hello.get_untracked(),
        bus.state.get_untracked()
    );
    assert_eq!(bus.call(&WHOAMI, &()).await, Ok("beta".to_owned()));
    assert_eq!(diagnostics::live_connections(), connections + 1);

    // Unmounting closes it and leaves nothing behind.
    drop(mounted);
    assert_eq!(diagnostics::live_connections(), connections);
    assert_eq!(diagnostics::live_listeners(), listeners);
    assert_eq!(diagnostics::live_timers(), timers);
}

#[wasm_bindgen_test]
async fn an_action_shows_pending_then_the_answer_or_the_remote_error() {
    let mounted = mount_to(container(), move || {
        let frame = NodeRef::<Iframe>::new();
        BUS.set(Some(use_iframe_bus(frame, options())));
        view! { <iframe node_ref=frame srcdoc=guest_html("gamma")></iframe> }
    });
    let bus = BUS.get().unwrap();
    let (whoami, fail) = (bus.action(WHOAMI), bus.action(FAIL));
    // Dispatched while still connecting: the call waits for the session.
    whoami.dispatch(());
    assert!(whoami.pending().get_untracked());
    assert!(eventually(10_000, || !whoami.pending().get_untracked()).await);
    assert_eq!(whoami.value().get_untracked(), Some(Ok("gamma".to_owned())));
    fail.dispatch(());
    assert!(eventually(5_000, || !fail.pending().get_untracked()).await);
    match fail.value().get_untracked() {
        Some(Err(CallError::Remote(e))) => assert_eq!((e.code(), e.message()), (402, "declined")),
        other => panic!("expected the remote error, got {other:?}"),
    }
    drop(mounted);
    // Once its component is gone, the handle fails at once and says why.
    match bus.call(&WHOAMI, &()).await {
        Err(CallError::Closed(CloseReason::Local(why))) => {
            assert!(why.contains("not mounted"), "{why}")
        }
        other => panic!("expected a 'no connection' error, got {other:?}"),
    }
}

#[wasm_bindgen_test]
fn a_popup_bus_refuses_a_disallowed_url_before_any_window_opens() {
    let mounted = mount_to(container(), move || {
        POPUP.set(Some(use_popup_bus(options())));
        view! { <p></p> }
    });
    let popup = POPUP.get().unwrap();
    let opens =
        count_window_opens(
            || match popup.open("https://rogue.example/checkout", "popup") {
                Err(ConnectError::Config(_) | ConnectError::Url(_)) => {}
                other => panic!("expected the URL refused, got {other:?}"),
            },
        );
    assert_eq!(opens, 0, "a window was opened for a disallowed URL");
    assert!(
        popup
            .state
            .get_untracked()
            .to_string()
            .contains("rogue.example"),
        "{}",
        popup.state.get_untracked()
    );
    // An allowed URL opens one (here blocked, and said so).
    let url = format!("{}/popup", window().origin());
    let opens = count_window_opens(|| {
        assert!(matches!(
            popup.open(&url, "popup"),
            Err(ConnectError::PopupBlocked)
        ));
    });
    assert_eq!(opens, 1);
    drop(mounted);
}
