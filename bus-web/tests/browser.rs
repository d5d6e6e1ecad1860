//! bus-web in headless Chromium (wasm-bindgen-test), for what one origin can
//! show. Every guest is a real second window: a same-origin `srcdoc` (or
//! `blob:`) iframe that loads this test module and runs [`bus_test_guest`].
//! Cross-origin behaviour is proven by the e2e suite.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

#[cfg(feature = "buffers")]
use bus_web::Buffer;
use bus_web::{
    Allowlist, CallError, CloseReason, Connection, Hub, Method, Options, RemoteError, State, Topic,
    Versions, connect_iframe, connect_parent, diagnostics,
};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{HtmlIFrameElement, Window};

#[path = "support/window_open.rs"]
mod window_open;

use window_open::count_window_opens;

wasm_bindgen_test_configure!(run_in_browser);

const ECHO: Method<String, String> = Method::new("echo");
const WHOAMI: Method<(), String> = Method::new("whoami");
const SLOW: Method<(), ()> = Method::new("slow");
const FAIL: Method<(), ()> = Method::new("fail");
const BLOB: Method<Vec<u8>, Vec<u8>> = Method::new("blob");
/// Sums the buffer's bytes in the guest and sends back a buffer of its own.
#[cfg(feature = "buffers")]
const DIGEST: Method<(String, Buffer), (u32, Buffer)> = Method::new("digest");
const RESIZE: Method<u32, u32> = Method::new("host.resize");
const ANNOUNCE: Method<String, ()> = Method::new("announce");
const PING: Topic<String> = Topic::new("ping");
const PONG: Topic<String> = Topic::new("pong");
const REPORT: Topic<String> = Topic::new("report");

thread_local! {
    static GUESTS: RefCell<Vec<Connection>> = const { RefCell::new(Vec::new()) };
    /// Guest side: SLOW handlers whose future was dropped.
    static DROPPED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Guest side, read by the host test through the child window: handlers
/// alive in this window right now.
#[wasm_bindgen]
pub fn bus_test_live_handlers() -> u32 {
    diagnostics::live_handlers() as u32
}

/// Guest side: SLOW handlers dropped so far.
#[wasm_bindgen]
pub fn bus_test_dropped_handlers() -> u32 {
    DROPPED.with(std::cell::Cell::get)
}

/// Drops count in [`DROPPED`].
struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        DROPPED.with(|d| d.set(d.get() + 1));
    }
}

fn window() -> Window {
    web_sys::window().unwrap()
}

/// The document's origin (`location.origin` is "null" in a srcdoc frame).
fn origin() -> String {
    window().origin()
}

fn options() -> Options {
    Options::new(Allowlist::new([origin()]).unwrap()).handshake_timeout(Duration::from_secs(5))
}

/// The guest side, run inside a child window by the iframe's module script.
#[wasm_bindgen]
pub fn bus_test_guest(name: String) -> Result<(), JsValue> {
    // The test harness's panic hook lives in the parent page; record ours here.
    std::panic::set_hook(Box::new(|info| {
        let _ = js_sys::Reflect::set(&window(), &"__bus_panic".into(), &info.to_string().into());
    }));
    let conn = connect_parent(options()).map_err(|e| JsValue::from_str(&e.to_string()))?;
    conn.serve(ECHO, |s: String| async move { Ok(s) });
    conn.serve(WHOAMI, move |()| {
        let name = name.clone();
        async move { Ok(name) }
    });
    conn.serve(SLOW, |()| async {
        let _guard = CountDrop;
        std::future::pending::<()>().await;
        Ok(())
    });
    conn.serve(FAIL, |()| async {
        Err(RemoteError::new(402, "declined").with_raw_data(vec![4, 2]))
    });
    conn.serve(BLOB, |v: Vec<u8>| async move { Ok(v) });
    #[cfg(feature = "buffers")]
    conn.serve(DIGEST, |(tag, data): (String, Buffer)| async move {
        let sum = data.to_vec().iter().map(|&b| u32::from(b)).sum::<u32>();
        let reply = Buffer::from_slice(format!("{tag}:{}", data.len()).as_bytes());
        Ok((sum, reply))
    });
    // Uses the connection before it answers, while the bus is delivering
    // the call: the handler must not find the connection borrowed.
    let weak = conn.downgrade();
    conn.serve(ANNOUNCE, move |s: String| {
        let emitted = weak
            .upgrade()
            .map(|c| c.emit(&REPORT, &format!("announced:{s}")));
        async move {
            match emitted {
                Some(Ok(())) => Ok(()),
                _ => Err(RemoteError::new(500, "could not emit")),
            }
        }
    });
    let weak = conn.downgrade();
    let mut pings = conn.events(PING);
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(s) = pings.next().await {
            if let Some(c) = weak.upgrade() {
                let _ = c.emit(&PONG, &format!("pong:{s}"));
            }
        }
    });
    let weak = conn.downgrade();
    wasm_bindgen_futures::spawn_local(async move {
        let Some(c) = weak.upgrade() else { return };
        if c.connected().await.is_ok() {
            let answer = c.call(&RESIZE, &640).await;
            let _ = c.emit(&REPORT, &format!("{answer:?}"));
        }
    });
    GUESTS.with(|g| g.borrow_mut().push(conn));
    Ok(())
}

fn guest_html(name: &str, module_base: &str) -> String {
    // The status lands on the child window, where a failing test reads it.
    format!(
        r#"<!doctype html><meta charset="utf-8"><script type="module">
try {{
  const m = await import("{module_base}/wasm-bindgen-test.js");
  await m.default({{ module_or_path: "{module_base}/wasm-bindgen-test_bg.wasm" }});
  window.__bus_status = "initialised";
  window.__bus = m;
  m.bus_test_guest("{name}");
  window.__bus_status = "running";
}} catch (e) {{
  window.__bus_status = "failed after " + (window.__bus_status || "nothing") + ": " + e + "\n" + (e.stack || "");
}}
</script>"#
    )
}

/// What the guest script in `frame` reported about itself.
fn guest_status(frame: &HtmlIFrameElement) -> String {
    let status = frame
        .content_window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("__bus_status")).ok())
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| "no status (script not run yet?)".into());
    let panic = frame
        .content_window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("__bus_panic")).ok())
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    format!("{status} {panic}")
}

/// An iframe that removes itself when the test ends.
struct Frame(HtmlIFrameElement);

impl Drop for Frame {
    fn drop(&mut self) {
        self.0.remove();
    }
}

fn frame_with(setup: impl FnOnce(&HtmlIFrameElement)) -> Frame {
    let doc = window().document().unwrap();
    let frame: HtmlIFrameElement = doc.create_element("iframe").unwrap().dyn_into().unwrap();
    setup(&frame);
    doc.body().unwrap().append_child(&frame).unwrap();
    Frame(frame)
}

fn guest_frame(name: &str) -> Frame {
    // An absolute module URL: WebKit does not resolve a root-relative import
    // against a srcdoc document's inherited base URL.
    frame_with(|f| f.set_srcdoc(&guest_html(name, &origin())))
}

fn blob_guest_frame(name: &str) -> Frame {
    let parts = js_sys::Array::of1(&JsValue::from_str(&guest_html(name, &origin())));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/html");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).unwrap();
    let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap();
    frame_with(|f| f.set_src(&url))
}

async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
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

/// Everything that arrives on `topic`, until the connection closes.
fn collect(conn: &Connection, topic: Topic<String>) -> Rc<RefCell<Vec<String>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let mut events = conn.events(topic);
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(s) = events.next().await {
            sink.borrow_mut().push(s);
        }
    });
    seen
}

/// Calls an exported `bus_test_*` function of the guest module in `frame`.
fn guest_number(frame: &Frame, export: &str) -> u32 {
    let window = frame.0.content_window().unwrap();
    let module = js_sys::Reflect::get(&window, &"__bus".into()).unwrap();
    let f: js_sys::Function = js_sys::Reflect::get(&module, &export.into())
        .unwrap()
        .dyn_into()
        .unwrap();
    f.call0(&module).unwrap().as_f64().unwrap() as u32
}

/// The bytes of this module's wasm memory.
fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().dyn_into().unwrap();
    memory
        .buffer()
        .dyn_into::<js_sys::ArrayBuffer>()
        .unwrap()
        .byte_length() as f64
}

async fn connected_host(frame: &Frame) -> Connection {
    let conn = connect_iframe(&frame.0, options()).unwrap();
    conn.serve(RESIZE, |h: u32| async move { Ok(h + 1) });
    if let Err(e) = conn.connected().await {
        panic!("{e}; guest says: {}", guest_status(&frame.0));
    }
    conn
}

#[wasm_bindgen_test]
async fn iframe_handshake_connects_and_moves_traffic_to_the_port() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    assert!(matches!(conn.state(), State::Connected { version: 1, .. }));
    for i in 0..10 {
        assert_eq!(
            conn.call(&ECHO, &format!("m{i}")).await,
            Ok(format!("m{i}"))
        );
    }
    let t = conn.traffic();
    assert!(t.port_out >= 10 && t.port_in >= 10, "{t:?}");
    // Over the window: only the hello and the ready out, the knock(s) and welcome in.
    assert!(t.window_out <= 3 && t.window_in <= 4, "{t:?}");
}

#[wasm_bindgen_test]
async fn calls_events_and_errors_flow_both_ways() {
    let frame = guest_frame("alpha");
    let conn = connect_iframe(&frame.0, options()).unwrap();
    conn.serve(RESIZE, |h: u32| async move { Ok(h + 1) });
    let reports = collect(&conn, REPORT);
    let pongs = collect(&conn, PONG);
    conn.connected().await.unwrap();
    // The guest called the host as soon as it connected.
    assert!(eventually(2000, || !reports.borrow().is_empty()).await);
    assert_eq!(reports.borrow()[0], "Ok(641)");
    conn.emit(&PING, &"x".to_string()).unwrap();
    assert!(eventually(2000, || !pongs.borrow().is_empty()).await);
    assert_eq!(pongs.borrow()[0], "pong:x");
    let Err(CallError::Remote(e)) = conn.call(&FAIL, &()).await else {
        panic!("expected a remote error")
    };
    assert_eq!(
        (e.code(), e.message(), e.data()),
        (402, "declined", Some(&[4u8, 2][..]))
    );
    const MISSING: Method<(), ()> = Method::new("missing");
    let Err(CallError::Remote(e)) = conn.call(&MISSING, &()).await else {
        panic!("expected not found")
    };
    assert_eq!(e.code(), RemoteError::METHOD_NOT_FOUND);
    // A handler that answers at once, and uses the connection first.
    assert_eq!(conn.call(&ANNOUNCE, &"y".to_string()).await, Ok(()));
    assert!(eventually(2000, || reports.borrow().iter().any(|r| r == "announced:y")).await);
    assert_eq!(
        guest_status(&frame.0).trim(),
        "running",
        "the guest panicked"
    );
}

#[cfg(feature = "buffers")]
#[wasm_bindgen_test]
async fn buffers_are_transferred_beside_the_frame_both_ways() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let bytes = js_sys::Uint8Array::new_with_length(65536);
    bytes.fill(3, 0, 65536);
    let sent = Buffer::new(bytes.clone());
    let (sum, back) = conn.call(&DIGEST, &("t".to_string(), sent)).await.unwrap();
    assert_eq!(sum, 3 * 65536);
    assert_eq!(back.to_vec(), b"t:65536");
    // Moved, not copied: the sender's buffer is detached.
    assert_eq!(bytes.byte_length(), 0);
    // A view over part of a larger buffer is sent as a copy: the rest stays.
    let whole = js_sys::Uint8Array::new_with_length(100);
    whole.fill(1, 0, 100);
    let (sum, _) = conn
        .call(
            &DIGEST,
            &("p".to_string(), Buffer::new(whole.subarray(10, 20))),
        )
        .await
        .unwrap();
    assert_eq!((sum, whole.byte_length()), (10, 100));
    assert_eq!(conn.stats().rejected, 0);
}

#[wasm_bindgen_test]
async fn call_timeout_fails_and_leaves_nothing_pending() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let result = conn
        .call_with_timeout(&SLOW, &(), Duration::from_millis(200))
        .await;
    assert_eq!(result, Err(CallError::Timeout(Duration::from_millis(200))));
    assert_eq!(conn.pending_calls(), 0);
    assert_eq!(
        conn.call(&ECHO, &"still".to_string()).await,
        Ok("still".into())
    );
}

#[wasm_bindgen_test]
async fn impostor_frames_of_the_same_origin_are_stray_not_the_peers() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let before = diagnostics::stray().bus_frames;
    let mut strays = diagnostics::stray_frames();
    // Two more same-origin windows, not the bound one, knock at this page.
    let _srcdoc = guest_frame("impostor-srcdoc");
    let _blob = blob_guest_frame("impostor-blob");
    assert!(
        eventually(4000, || diagnostics::stray().bus_frames >= before + 2).await,
        "{:?}",
        diagnostics::stray()
    );
    let first = strays.next().await.unwrap();
    assert_eq!(first.reason, bus_web::RejectReason::WrongSource);
    // The connection never saw them, and still talks to its own child.
    assert_eq!(conn.stats().rejected, 0, "{:?}", conn.stats());
    assert_eq!(conn.call(&WHOAMI, &()).await, Ok("alpha".into()));
}

#[wasm_bindgen_test]
async fn stray_four_mebibyte_frames_are_counted_without_being_copied() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let before = (diagnostics::stray(), wasm_memory_bytes());
    // This page posts to itself: it is nobody's peer.
    let n: u32 = 20;
    let start = window().performance().unwrap().now();
    for _ in 0..n {
        let bytes = js_sys::Uint8Array::new_with_length(4 << 20);
        bytes.set(&js_sys::Uint8Array::from(&b"wbus"[..]), 0);
        let buffer = bytes.buffer();
        window()
            .post_message_with_transfer(&bytes, &origin(), &js_sys::Array::of1(&buffer))
            .unwrap();
    }
    assert!(
        eventually(4000, || diagnostics::stray().bus_frames
            >= before.0.bus_frames + u64::from(n))
        .await
    );
    let elapsed = window().performance().unwrap().now() - start;
    let grown = wasm_memory_bytes() - before.1;
    wasm_bindgen_test::console_log!(
        "{}",
        format!(
            "{n} stray 4 MiB frames: wasm memory +{grown} bytes, {:.3} ms each end to end",
            elapsed / f64::from(n)
        )
    );
    // 80 MiB went by; copying even one would grow memory by 4 MiB.
    assert!(grown < f64::from(1 << 20), "wasm memory grew {grown} bytes");
    assert_eq!(conn.stats().rejected, 0);
}

#[wasm_bindgen_test]
async fn a_timed_out_call_drops_the_handler_on_the_serving_side() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let dropped = guest_number(&frame, "bus_test_dropped_handlers");
    for _ in 0..50 {
        let r = conn
            .call_with_timeout(&SLOW, &(), Duration::from_millis(5))
            .await;
        assert_eq!(r, Err(CallError::Timeout(Duration::from_millis(5))));
    }
    assert!(
        eventually(2000, || guest_number(&frame, "bus_test_dropped_handlers")
            >= dropped + 50)
        .await,
        "dropped {} of 50",
        guest_number(&frame, "bus_test_dropped_handlers") - dropped
    );
    assert!(eventually(2000, || guest_number(&frame, "bus_test_live_handlers") == 0).await);
    // A dropped call future cancels too.
    let call = Box::pin(conn.call(&SLOW, &()));
    let pending = futures_join(
        async {
            sleep(100).await;
        },
        std::future::poll_fn({
            let mut call = Some(call);
            move |cx| {
                if let Some(c) = call.as_mut() {
                    let _ = c.as_mut().poll(cx);
                }
                call = None; // dropped: the peer is told
                Poll::Ready(())
            }
        }),
    );
    pending.await;
    assert!(eventually(2000, || guest_number(&frame, "bus_test_live_handlers") == 0).await);
    assert_eq!(conn.pending_calls(), 0);
}

#[wasm_bindgen_test]
async fn reload_fails_pending_calls_fast_then_reconnects() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let reloading = {
        let frame = frame.0.clone();
        async move {
            sleep(50).await;
            frame.content_window().unwrap().location().reload().unwrap();
        }
    };
    // The slow call would time out after 20 s; it fails at the reload instead.
    let (result, ()) = futures_join(
        conn.call_with_timeout(&SLOW, &(), Duration::from_secs(20)),
        reloading,
    )
    .await;
    assert_eq!(result, Err(CallError::Disconnected));
    conn.connected().await.unwrap();
    assert_eq!(
        conn.call(&ECHO, &"after".to_string()).await,
        Ok("after".into())
    );
}

#[wasm_bindgen_test]
async fn removed_iframe_closes_and_fails_pending_calls() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let removing = {
        let frame = frame.0.clone();
        async move {
            sleep(50).await;
            frame.remove();
        }
    };
    let (result, ()) = futures_join(
        conn.call_with_timeout(&SLOW, &(), Duration::from_secs(20)),
        removing,
    )
    .await;
    assert_eq!(result, Err(CallError::Closed(CloseReason::PeerGone)));
    assert_eq!(conn.state(), State::Closed(CloseReason::PeerGone));
}

#[wasm_bindgen_test]
async fn close_and_drop_leave_no_listener_timer_or_connection_behind() {
    // Relative to what is live already (a failed test aborts without dropping).
    let (listeners, timers, connections) = (
        diagnostics::live_listeners(),
        diagnostics::live_timers(),
        diagnostics::live_connections(),
    );
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    assert!(diagnostics::live_listeners() >= listeners + 2); // port, load (+ page)
    assert!(diagnostics::live_timers() > timers); // liveness (+ handshake timeout)
    conn.close("test done");
    assert_eq!(
        conn.state(),
        State::Closed(CloseReason::Local("test done".into()))
    );
    assert_eq!(diagnostics::live_listeners(), listeners);
    assert_eq!(diagnostics::live_timers(), timers);
    assert!(conn.emit(&PING, &"late".into()).is_err());
    drop(conn);
    assert_eq!(diagnostics::live_connections(), connections);

    // Dropping without close releases the same. (The first guest heard the
    // close and is done for good, so this needs a new one.)
    let frame = guest_frame("beta");
    let conn = connected_host(&frame).await;
    let _states = conn.states();
    assert_eq!(diagnostics::live_connections(), connections + 1);
    drop(conn);
    assert_eq!(diagnostics::live_listeners(), listeners);
    assert_eq!(diagnostics::live_timers(), timers);
    assert_eq!(diagnostics::live_connections(), connections);
}

#[wasm_bindgen_test]
async fn each_child_of_one_origin_has_its_own_session() {
    let (a, b) = (guest_frame("alpha"), guest_frame("beta"));
    // Both connections exist before either child loads, as in a real host.
    let (ca, cb) = (
        connect_iframe(&a.0, options()).unwrap(),
        connect_iframe(&b.0, options()).unwrap(),
    );
    ca.connected().await.unwrap();
    cb.connected().await.unwrap();
    for _ in 0..10 {
        let (ra, rb) = futures_join(ca.call(&WHOAMI, &()), cb.call(&WHOAMI, &())).await;
        assert_eq!(
            (ra.unwrap().as_str(), rb.unwrap().as_str()),
            ("alpha", "beta")
        );
    }
    assert_eq!(ca.stats().rejected, 0);
    assert_eq!(cb.stats().rejected, 0);
}

#[wasm_bindgen_test]
async fn hub_reaches_every_child_or_all_but_one() {
    let (a, b) = (guest_frame("alpha"), guest_frame("beta"));
    let (ca, cb) = (connected_host(&a).await, connected_host(&b).await);
    let pa = collect(&ca, PONG);
    let pb = collect(&cb, PONG);
    let mut hub = Hub::new();
    hub.add(&ca);
    hub.add(&cb);
    assert_eq!(hub.emit(&PING, &"all".into()), 2);
    assert!(eventually(2000, || pa.borrow().len() == 1 && pb.borrow().len() == 1).await);
    assert_eq!(hub.emit_except(&PING, &"not-a".into(), ca.id()), 1);
    assert!(eventually(2000, || pb.borrow().len() == 2).await);
    sleep(100).await;
    assert_eq!(pa.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn handshake_times_out_when_the_child_has_no_bus() {
    let frame = frame_with(|f| f.set_srcdoc("<p>no bus here</p>"));
    let conn = connect_iframe(
        &frame.0,
        options().handshake_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    assert_eq!(
        conn.connected().await,
        Err(CloseReason::HandshakeTimeout(Duration::from_millis(500)))
    );
}

#[wasm_bindgen_test]
async fn version_mismatch_is_a_clear_error_not_a_hang() {
    let frame = guest_frame("alpha");
    let conn = connect_iframe(&frame.0, options().versions(Versions { min: 2, max: 2 })).unwrap();
    let Err(CloseReason::VersionMismatch { local, remote }) = conn.connected().await else {
        panic!("expected a version mismatch, got {:?}", conn.state())
    };
    assert_eq!(
        (local, remote),
        (Versions { min: 2, max: 2 }, Versions::CURRENT)
    );
}

#[wasm_bindgen_test]
async fn one_mebibyte_payload_round_trips() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(conn.call(&BLOB, &data).await, Ok(data));
}

/// Frames are read whole up to 1 KiB, by header then body above, cloned up
/// to 4 KiB and transferred above: payloads on either side of each size
/// come back intact, each frame read and posted both ways.
#[wasm_bindgen_test]
async fn payloads_round_trip_on_either_side_of_each_frame_size() {
    let frame = guest_frame("alpha");
    let conn = connected_host(&frame).await;
    for len in [0, 1, 900, 980, 1000, 1100, 4000, 4050, 4096, 4200, 9000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(conn.call(&BLOB, &data).await, Ok(data), "{len} bytes");
    }
}

/// A host connected to `frame`'s guest once the guest's own start-up
/// traffic has passed (it calls the host and reports as soon as it
/// connects), so frames can be counted from here.
async fn settled_host(frame: &Frame) -> Connection {
    let conn = connected_host(frame).await;
    let reports = collect(&conn, REPORT);
    assert!(eventually(2000, || !reports.borrow().is_empty()).await);
    conn
}

#[wasm_bindgen_test]
async fn calls_made_in_one_turn_leave_in_one_coalesced_frame() {
    let frame = guest_frame("alpha");
    let conn = settled_host(&frame).await;
    let before = conn.traffic();
    let texts: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let calls: Vec<_> = texts
        .iter()
        .map(|t| Box::pin(conn.call(&ECHO, t)))
        .collect();
    let answers = join_all(calls).await;
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a, Ok(format!("m{i}")));
    }
    let after = conn.traffic();
    // 100 calls out, 100 replies back: a frame or two each way, not 100.
    assert!(
        after.port_out - before.port_out <= 2,
        "{before:?} -> {after:?}"
    );
    assert!(
        after.port_in - before.port_in <= 4,
        "{before:?} -> {after:?}"
    );
}

#[wasm_bindgen_test]
async fn calls_kept_in_flight_keep_travelling_in_batches() {
    // 100 calls in flight, each answer starting the next call, as a busy app
    // does: answers arrive a few at a time, and the calls they start must
    // still leave together, not one frame each.
    let frame = guest_frame("alpha");
    let conn = settled_host(&frame).await;
    let before = conn.traffic();
    let total = 1000;
    let started = Rc::new(std::cell::Cell::new(0u32));
    let done = Rc::new(std::cell::Cell::new(0u32));
    fn next(
        conn: Connection,
        started: Rc<std::cell::Cell<u32>>,
        done: Rc<std::cell::Cell<u32>>,
        total: u32,
    ) {
        if started.get() == total {
            return;
        }
        started.set(started.get() + 1);
        wasm_bindgen_futures::spawn_local(async move {
            let answer = conn.call(&ECHO, &"x".to_string()).await;
            assert_eq!(answer, Ok("x".to_string()));
            done.set(done.get() + 1);
            next(conn, started, done, total);
        });
    }
    for _ in 0..100 {
        next(conn.clone(), started.clone(), done.clone(), total);
    }
    assert!(
        eventually(20_000, || done.get() == total).await,
        "{} of {total} answered",
        done.get()
    );
    let frames = conn.traffic().port_out - before.port_out;
    wasm_bindgen_test::console_log!("{}", format!("{frames} frames for {total} calls"));
    // One frame per turn of the event loop that had calls to send: here 10
    // (a round of 100 answers arrives in one frame and starts 100 calls in
    // one turn). Sending each turn's first call at once fragmented the
    // batches: 65 frames, and half the throughput in the benchmark.
    assert!(frames <= 30, "{frames} frames for {total} calls");
}

/// Runs futures to completion concurrently, in order of the output.
async fn join_all<F: Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none()
                && let Poll::Ready(v) = std::pin::Pin::new(f).poll(cx)
            {
                *slot = Some(v);
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(out.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Runs two futures to completion concurrently.
async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(move |cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}

#[wasm_bindgen_test]
fn the_browsers_url_parser_canonicalises_allowlist_entries() {
    // International names, upper case and default ports come out as the
    // browser serializes `MessageEvent.origin`.
    let allow = bus_web::allowlist([
        "HTTPS://Bücher.Example:443/",
        "http://LOCALHOST:80",
        "https://*.Shop.example:8443",
        "http://[0:0:0:0:0:0:0:1]:8080",
    ])
    .unwrap();
    for (origin, allowed) in [
        ("https://xn--bcher-kva.example", true),
        ("http://localhost", true),
        ("https://eu.cdn.shop.example:8443", true),
        ("http://[::1]:8080", true),
        ("https://Bücher.example", false),
        ("https://shop.example:8443", false),
        ("https://xn--bcher-kva.example:443", false),
    ] {
        assert_eq!(allow.allows(origin), allowed, "{origin}");
    }
    // What the browser says an origin is, the allowlist agrees with.
    let url = web_sys::Url::new("https://Bücher.Example:443/path?q").unwrap();
    assert!(allow.allows(&url.origin()));
}

#[wasm_bindgen_test]
fn the_browser_build_refuses_wildcards_over_common_public_suffixes() {
    for entry in [
        "https://*.com",
        "https://*.co.uk",
        "https://*.github.io",
        "https://*.vercel.app",
        "https://*.pages.dev",
        "https://*.web.app",
        "https://*.herokuapp.com",
        "https://*.internal",
    ] {
        let err = bus_web::allowlist([entry]).unwrap_err();
        assert!(err.to_string().contains("public suffix"), "{entry}: {err}");
    }
    for entry in [
        "https://*.shop.co.uk",
        "https://*.me.github.io",
        "http://*.localhost:8081",
    ] {
        assert!(bus_web::allowlist([entry]).is_ok(), "{entry}");
    }
    // Everything else that is not an origin is refused as natively.
    for entry in [
        "https://a.com/path",
        "https://u:p@a.com",
        "null",
        "https://a.*.com",
        "ftp://a.com",
    ] {
        assert!(bus_web::allowlist([entry]).is_err(), "{entry}");
    }
}

#[wasm_bindgen_test]
fn a_compile_time_checked_allowlist_matches_like_the_runtime_one() {
    let literal = bus_web::allowlist!["https://Bücher.example", "https://*.cdn.example:8443"];
    let runtime =
        bus_web::allowlist(["https://Bücher.example", "https://*.cdn.example:8443"]).unwrap();
    assert_eq!(literal, runtime);
}

#[wasm_bindgen_test]
fn a_popup_is_refused_before_any_window_opens() {
    use bus_web::{ConnectError, open_popup, open_popup_window};

    // A URL whose origin the allowlist does not name, or no URL at all.
    for url in ["https://rogue.example/checkout", "http://[::1"] {
        let opens = count_window_opens(|| {
            assert!(open_popup(url, "popup", options()).is_err(), "{url}");
            assert!(open_popup_window(url, "popup", options()).is_err(), "{url}");
        });
        assert_eq!(opens, 0, "a window was opened for {url}");
    }
    // An allowed URL opens one window each (here blocked, and said so).
    let url = format!("{}/popup", origin());
    let opens = count_window_opens(|| {
        assert!(matches!(
            open_popup(&url, "popup", options()),
            Err(ConnectError::PopupBlocked)
        ));
        assert!(matches!(
            open_popup_window(&url, "popup", options()),
            Err(ConnectError::PopupBlocked)
        ));
    });
    assert_eq!(opens, 2);
}

/// `connect_websocket` takes `ws://`, `wss://` and a path on the page's
/// server, refuses anything else before a socket opens, and refuses a server
/// whose origin the allowlist does not name.
#[cfg(feature = "websocket")]
#[wasm_bindgen_test]
fn connect_websocket_takes_only_websocket_urls_and_allowed_servers() {
    use bus_web::{ConnectError, connect_websocket};

    for url in [
        "https://example.com/bus",
        "ftp://example.com/bus",
        "javascript:alert(1)",
        "ws://[::1",
    ] {
        match connect_websocket(url, options()) {
            Err(ConnectError::NotAWebSocketUrl(u)) => {
                assert_eq!(u, url);
                let text = ConnectError::NotAWebSocketUrl(u).to_string();
                assert!(text.contains(&format!("\"{url}\"")), "{text}");
            }
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url}: accepted"),
        }
    }
    // A server on an origin the allowlist does not name.
    assert!(matches!(
        connect_websocket("wss://elsewhere.example/bus", options()),
        Err(ConnectError::Config(_))
    ));
    // A path on this page's server (nothing answers there: it dials until
    // closed).
    for url in ["/bus", "bus?x=1"] {
        let server = connect_websocket(url, options()).unwrap_or_else(|e| panic!("{url}: {e}"));
        server.close("done");
    }
}
