//! The bus across real origins in a real browser: the demo host on
//! 127.0.0.1, the widget on localhost (a cross-site, out-of-process iframe),
//! a rogue page on a third origin. Each test names the behaviour it proves.
//! Every test binary that includes this module runs all of it in its own
//! browser (`super::BROWSER`): `tests/chromium.rs`, `tests/firefox.rs`.

use e2e::Error;
use e2e::browser::{Demo, Harness, Test};
use playwright_rs::{Locator, Page};
use serde::Deserialize;

/// `window.__app.test_stats(..)` of the host page.
#[derive(Debug, Deserialize)]
struct Stats {
    state: String,
    pending: u64,
    rejected: u64,
    foreign: u64,
    disallowed_origin: u64,
    too_many_messages: u64,
    unexpected: u64,
    stray_bus: u64,
    stray_foreign: u64,
    memory_bytes: f64,
}

/// `window.__app.test_widget_stats()` of the widget.
#[derive(Debug, Deserialize)]
struct WidgetStats {
    confirms_waiting: u64,
    serving: u64,
    live_handlers: u64,
    memory_bytes: f64,
}

async fn widget_stats(t: &Test) -> Result<WidgetStats, Error> {
    let frame = t.child_frame(t.page()).await?;
    let v = frame
        .evaluate::<()>("window.__app.test_widget_stats()", None)
        .await?;
    let json = v.as_str().ok_or("test_widget_stats returned no string")?;
    Ok(serde_json::from_str(json)?)
}

/// Wraps `MessagePort.prototype.postMessage` in every frame so a test can
/// act as a compromised widget: it keeps the widget's private port and the
/// session id of the last frame it sent.
const CAPTURE_PORT: &str = "
  const post = MessagePort.prototype.postMessage;
  MessagePort.prototype.postMessage = function (msg, transfer) {
    if (msg instanceof Uint8Array && msg.byteLength >= 22) {
      window.__evil = { port: this, session: Array.from(msg.subarray(6, 22)) };
    }
    return post.call(this, msg, transfer);
  };";

/// This binary's suite, in its browser.
fn suite() -> &'static Harness {
    e2e::browser::suite(super::BROWSER)
}

fn status(page: &Page) -> Locator {
    page.get_by_test_id("bus-status")
}

fn widget(page: &Page, test_id: &str) -> Locator {
    page.frame_locator("iframe#widget").get_by_test_id(test_id)
}

fn ensure(ok: bool, what: impl Into<String>) -> Result<(), Error> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

/// Waits until the host's bus status shows `host` and the widget's shows
/// `widget`.
async fn statuses(t: &Test, host: &str, widget_text: &str, timeout_ms: u64) -> Result<(), Error> {
    t.wait_text(&status(t.page()), host, timeout_ms).await?;
    t.wait_text(&widget(t.page(), "bus-status"), widget_text, timeout_ms)
        .await
}

/// Opens the host page (with `query`) and waits until host and widget are connected.
async fn connected_host(t: &Test, query: &str) -> Result<(), Error> {
    t.goto(&t.parent_url(query)).await?;
    statuses(t, "connected", "connected", 20_000).await
}

async fn app_call(
    t: &Test,
    page: &Page,
    which: &str,
    what: &str,
    timeout_ms: u32,
) -> Result<String, Error> {
    t.eval(
        page,
        &format!("window.__app.test_call({which:?}, {what:?}, {timeout_ms})"),
    )
    .await
}

/// The host still gets the widget's quote (20700) after `what`.
async fn quote_still_answers(t: &Test, what: &str) -> Result<(), Error> {
    let got = app_call(t, t.page(), "frame", "quote", 5_000).await?;
    ensure(got == "ok:20700", format!("quote after {what}: {got}"))
}

/// The host's session survived `what`: still connected, and still quoting.
async fn session_survived(t: &Test, state: &str, what: &str) -> Result<(), Error> {
    ensure(
        state.starts_with("Connected"),
        format!("{what} broke the session: {state}"),
    )?;
    quote_still_answers(t, what).await
}

async fn stats(t: &Test, page: &Page, which: &str) -> Result<Stats, Error> {
    let json: String = t
        .eval(page, &format!("window.__app.test_stats({which:?})"))
        .await?;
    Ok(serde_json::from_str(&json)?)
}

/// Sends, from the widget frame, a Messages frame of `count` one-byte
/// messages (`tag`) with the real session id, on `channel` ("port" or
/// "window"); returns its length.
async fn forge_from_widget(t: &Test, tag: u8, count: u32, channel: &str) -> Result<u64, Error> {
    let frame = t.child_frame(t.page()).await?;
    let parent = t.parent_url("");
    let parent = parent.trim_end_matches('/');
    let script = format!(
        "(() => {{
          const e = window.__evil;
          if (!e) return -1;
          const varint = [];
          let n = {count};
          while (n >= 0x80) {{ varint.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }}
          varint.push(n);
          const head = [0x77, 0x62, 0x75, 0x73, 1, 0, ...e.session, 5, ...varint];
          const bytes = new Uint8Array(head.length + {count});
          bytes.set(head);
          bytes.fill({tag}, head.length);
          const len = bytes.byteLength;
          if ({channel:?} === 'port') e.port.postMessage(bytes, [bytes.buffer]);
          else parent.postMessage(bytes, {parent:?}, [bytes.buffer]);
          return len;
        }})()"
    );
    let v = frame.evaluate::<()>(&script, None).await?;
    let len = v.as_i64().unwrap_or(-1);
    ensure(len > 0, "the widget's port was not captured")?;
    Ok(len as u64)
}

/// Polls the host's stats until `done` holds (or 15 s pass).
async fn wait_stats(t: &Test, page: &Page, done: impl Fn(&Stats) -> bool) -> Result<Stats, Error> {
    for _ in 0..300 {
        let s = stats(t, page, "frame").await?;
        if done(&s) {
            return Ok(s);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stats(t, page, "frame").await
}

async fn rejected_count(t: &Test, locator: &Locator, at_least: u64) -> Result<u64, Error> {
    let text = t
        .wait_for(locator, 15_000, |s| {
            s.trim().parse::<u64>().is_ok_and(|n| n >= at_least)
        })
        .await?;
    Ok(text.trim().parse().unwrap_or(0))
}

async fn open_popup(t: &Test) -> Result<Page, Error> {
    let popup = t
        .popup_from(t.page(), &t.page().get_by_test_id("open-popup"))
        .await?;
    t.wait_text(&status(&popup), "connected", 20_000).await?;
    t.wait_text(
        &t.page().get_by_test_id("popup-status"),
        "connected",
        20_000,
    )
    .await?;
    Ok(popup)
}

#[test]
fn iframe_handshake_reaches_connected_on_both_sides() {
    suite().run(
        "iframe_handshake_reaches_connected_on_both_sides",
        |t| async move {
            connected_host(&t, "").await?;
            let host = format!("connected to {}", t.child_origin());
            statuses(&t, &host, "connected to http://127.0.0.1", 1_000).await
        },
    );
}

#[test]
fn parent_to_child_call_returns_the_typed_quote() {
    suite().run(
        "parent_to_child_call_returns_the_typed_quote",
        |t| async move {
            connected_host(&t, "").await?;
            t.page().get_by_test_id("call-child").click(None).await?;
            t.wait_text(
                &t.page().get_by_test_id("call-result"),
                "Widget quotes 207.00 EUR",
                10_000,
            )
            .await?;
            // The typed value itself: 172.50 + 20% tax, in cents.
            let got = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(got == "ok:20700", format!("quote came back as {got}"))
        },
    );
}

#[test]
fn child_to_parent_call_is_answered_by_the_host() {
    suite().run(
        "child_to_parent_call_is_answered_by_the_host",
        |t| async move {
            connected_host(&t, "").await?;
            t.click_in_frame(&widget(t.page(), "call-parent")).await?;
            t.wait_text(
                &widget(t.page(), "call-result"),
                "Serving Acme Outdoor for Ada Lovelace",
                10_000,
            )
            .await?;
            t.wait_text(&t.page().get_by_test_id("message-log"), "host.info", 5_000)
                .await
        },
    );
}

#[test]
fn events_flow_in_both_directions() {
    suite().run("events_flow_in_both_directions", |t| async move {
        connected_host(&t, "").await?;
        // Host -> widget: the cart update reprices the checkout.
        t.page().get_by_test_id("push-cart").click(None).await?;
        t.wait_text(
            &widget(t.page(), "message-log"),
            "host.cart-changed",
            10_000,
        )
        .await?;
        // Widget -> host: paying emits checkout.paid.
        t.click_in_frame(&widget(t.page(), "pay")).await?;
        t.wait_text(
            &t.page().get_by_test_id("call-result"),
            "Payment received: 207.00 EUR",
            10_000,
        )
        .await?;
        t.wait_text(
            &t.page().get_by_test_id("message-log"),
            "checkout.paid",
            5_000,
        )
        .await
    });
}

#[test]
fn popup_opened_by_the_parent_calls_both_ways_through_opener() {
    suite().run(
        "popup_opened_by_the_parent_calls_both_ways_through_opener",
        |t| async move {
            connected_host(&t, "").await?;
            let popup = open_popup(&t).await?;
            t.wait_text(&popup.locator(".tag"), "popup", 5_000).await?;
            popup.get_by_test_id("call-parent").click(None).await?;
            t.wait_text(
                &popup.get_by_test_id("call-result"),
                "Serving Acme Outdoor for Ada Lovelace",
                10_000,
            )
            .await?;
            let got = app_call(&t, t.page(), "popup", "quote", 5_000).await?;
            ensure(got == "ok:20700", format!("popup quote came back as {got}"))
        },
    );
}

#[test]
fn rogue_origin_opening_the_widget_gets_no_answer_and_is_counted() {
    suite().run(
        "rogue_origin_opening_the_widget_gets_no_answer_and_is_counted",
        |t| async move {
            let rogue = t.context().new_page().await?;
            t.capture_console(&rogue, "rogue").await;
            rogue.goto(&format!("{}/", t.rogue_origin()), None).await?;
            let victim = t
                .popup_from(&rogue, &rogue.get_by_test_id("open-widget"))
                .await?;
            let n = rejected_count(&t, &victim.get_by_test_id("rejected-count"), 5).await?;
            ensure(n >= 5, format!("the widget counted {n} rejections"))?;
            t.wait_text(
                &victim.locator(".rejections"),
                "origin not in the allowlist",
                5_000,
            )
            .await?;
            let answers = rogue
                .get_by_test_id("rogue-answers")
                .text_content()
                .await?
                .unwrap_or_default();
            ensure(
                answers.trim() == "0",
                format!("the rogue received {answers} answers"),
            )?;
            // The widget still serves the real host.
            connected_host(&t, "").await?;
            let got = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(
                got == "ok:20700",
                format!("real host's quote came back as {got}"),
            )
        },
    );
}

#[test]
fn rogue_opening_the_host_is_cut_off_by_its_opener_policy() {
    suite().run(
        "rogue_opening_the_host_is_cut_off_by_its_opener_policy",
        |t| async move {
            t.goto(&format!("{}/", t.rogue_origin())).await?;
            let host = t
                .popup_from(t.page(), &t.page().get_by_test_id("open-host"))
                .await?;
            t.wait_text(&status(&host), "connected", 20_000).await?;
            // Cross-Origin-Opener-Policy severs the rogue's handle: the host
            // has no opener, so the rogue's forgeries cannot reach it.
            let opener: bool = t.eval(&host, "window.opener === null").await?;
            ensure(opener, "the host popup still has the rogue as opener")?;
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            let sent: String = t
                .eval(
                    t.page(),
                    "document.querySelector('[data-testid=rogue-sent]').textContent",
                )
                .await?;
            // Nothing spoofed got through: no payment, no event in the log.
            let result = host
                .get_by_test_id("call-result")
                .text_content()
                .await?
                .unwrap_or_default();
            ensure(
                !result.contains("Payment"),
                format!("spoofed event reached the host: {result}"),
            )?;
            let log = host
                .get_by_test_id("message-log")
                .text_content()
                .await?
                .unwrap_or_default();
            ensure(
                !log.contains("checkout.paid"),
                format!("spoofed checkout.paid is in the host's log (rogue sent {sent})"),
            )
        },
    );
}

#[test]
fn same_origin_impostor_window_is_rejected_by_source() {
    suite().run(
        "same_origin_impostor_window_is_rejected_by_source",
        |t| async move {
            connected_host(&t, "").await?;
            // A second widget window of the allowed origin, not the bound one.
            let url = format!("{}/", t.child_origin());
            t.eval::<serde_json::Value>(t.page(), &format!("window.__app.test_embed({url:?})"))
                .await?;
            let s = wait_stats(&t, t.page(), |s| s.stray_bus > 0).await?;
            ensure(s.stray_bus > 0, format!("impostor not counted: {s:?}"))?;
            ensure(s.rejected == 0, format!("the connection read it: {s:?}"))?;
            ensure(
                s.state.starts_with("Connected"),
                format!("the session moved: {}", s.state),
            )?;
            let got = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(
                got == "ok:20700",
                format!("quote after the impostor: {got}"),
            )
        },
    );
}

#[test]
fn version_mismatch_is_a_clear_error_on_both_sides() {
    suite().run(
        "version_mismatch_is_a_clear_error_on_both_sides",
        |t| async move {
            t.goto(&t.parent_url("?child-path=%3Fversions%3D2")).await?;
            statuses(
                &t,
                "version mismatch: this side supports v1, the peer supports v2",
                "version mismatch: this side supports v2, the peer supports v1",
                15_000,
            )
            .await
        },
    );
}

#[test]
fn child_reload_mid_call_fails_fast_then_reconnects() {
    suite().run(
        "child_reload_mid_call_fails_fast_then_reconnects",
        |t| async move {
            connected_host(&t, "").await?;
            // The customer never pays, so this call would wait 60 s.
            t.page()
                // `void`: evaluate would otherwise wait for the promise to settle.
                .evaluate_expression(
                    "void (window.__pending = window.__app.test_call('frame', 'confirm', 60000))",
                )
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let frame = t.child_frame(t.page()).await?;
            let _ = frame.evaluate::<()>("location.reload()", None).await;
            let got: String = t.eval(t.page(), "window.__pending").await?;
            ensure(
                got == "err:Disconnected",
                format!("pending call ended with {got}"),
            )?;
            t.wait_text(&status(t.page()), "connected", 15_000).await?;
            let got = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(
                got == "ok:20700",
                format!("quote after reconnecting: {got}"),
            )
        },
    );
}

#[test]
fn child_navigating_to_a_disallowed_origin_ends_the_session_with_that_reason() {
    suite().run(
        "child_navigating_to_a_disallowed_origin_ends_the_session_with_that_reason",
        |t| async move {
            connected_host(&t, "").await?;
            let frame = t.child_frame(t.page()).await?;
            let target = format!("{}/knock", t.rogue_origin());
            let _ = frame
                .evaluate::<()>(&format!("location.href = {target:?}"), None)
                .await;
            let reason = format!(
                "reconnecting: the peer window navigated to \"{}\"",
                t.rogue_origin()
            );
            t.wait_text(&status(t.page()), &reason, 15_000).await
        },
    );
}

#[test]
fn closing_the_popup_fails_pending_calls_fast_and_closes() {
    suite().run(
        "closing_the_popup_fails_pending_calls_fast_and_closes",
        |t| async move {
            connected_host(&t, "").await?;
            let popup = open_popup(&t).await?;
            t.page()
                .evaluate_expression(
                    "void (window.__pending = window.__app.test_call('popup', 'confirm', 60000))",
                )
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            popup.close().await?;
            let got: String = t.eval(t.page(), "window.__pending").await?;
            ensure(
                got == "err:Closed(PeerGone)",
                format!("pending popup call ended with {got}"),
            )?;
            t.wait_text(
                &t.page().get_by_test_id("popup-status"),
                "closed: the peer window was closed",
                5_000,
            )
            .await
        },
    );
}

#[test]
fn handler_error_arrives_as_a_typed_remote_error() {
    suite().run("handler_error_arrives_as_a_typed_remote_error", |t| async move {
        connected_host(&t, "").await?;
        let got = app_call(&t, t.page(), "frame", "empty", 5_000).await?;
        let want = "err:remote 400 cannot price an empty cart: Some(Ok(CartProblem { reason: \"the cart is empty\", lines: 0 }))";
        ensure(got == want, format!("got {got}"))
    });
}

#[test]
fn per_call_timeout_is_an_error_and_leaks_nothing() {
    suite().run(
        "per_call_timeout_is_an_error_and_leaks_nothing",
        |t| async move {
            connected_host(&t, "").await?;
            let got = app_call(&t, t.page(), "frame", "confirm", 300).await?;
            ensure(got == "err:Timeout(300ms)", format!("got {got}"))?;
            let s = stats(&t, t.page(), "frame").await?;
            ensure(s.pending == 0, format!("calls still pending: {s:?}"))?;
            quote_still_answers(&t, "the timeout").await
        },
    );
}

#[test]
fn thousand_concurrent_calls_each_get_their_own_answer() {
    suite().run(
        "thousand_concurrent_calls_each_get_their_own_answer",
        |t| async move {
            connected_host(&t, "").await?;
            let correct: u32 = t
                .eval(t.page(), "window.__app.test_quote_many(1000)")
                .await?;
            ensure(
                correct == 1000,
                format!("{correct} of 1000 calls got their own answer"),
            )
        },
    );
}

#[test]
fn one_mebibyte_payload_round_trips_in_transferred_buffers() {
    suite().run(
        "one_mebibyte_payload_round_trips_in_transferred_buffers",
        |t| async move {
            // Watch MessagePort.postMessage: a transferred buffer is detached
            // (byteLength 0) once posted; a cloned one keeps its bytes.
            t.page()
                .add_init_script(
                    "window.__posted = []; const orig = MessagePort.prototype.postMessage;
                 MessagePort.prototype.postMessage = function (msg, transfer) {
                   const size = msg instanceof Uint8Array ? msg.byteLength : -1;
                   const r = orig.call(this, msg, transfer);
                   if (size > 0) window.__posted.push([size, msg.byteLength]);
                   return r;
                 };",
                )
                .await?;
            connected_host(&t, "").await?;
            let got: String = t
                .eval(t.page(), "window.__app.test_echo_bytes(1048576)")
                .await?;
            ensure(got == "ok:1048576", format!("got {got}"))?;
            let posted: Vec<(u64, u64)> = t.eval(t.page(), "window.__posted").await?;
            let big: Vec<_> = posted
                .iter()
                .filter(|(size, _)| *size > 1_000_000)
                .collect();
            ensure(
                !big.is_empty(),
                format!("no large frame was posted on the port: {posted:?}"),
            )?;
            ensure(
                big.iter().all(|(_, after)| *after == 0),
                format!("a large frame was cloned, not transferred: {big:?}"),
            )
        },
    );
}

#[test]
fn flood_of_garbage_and_foreign_messages_only_moves_the_counters() {
    suite().run(
        "flood_of_garbage_and_foreign_messages_only_moves_the_counters",
        |t| async move {
            connected_host(&t, "").await?;
            let url = format!("{}/flood?n=10000", t.rogue_origin());
            t.eval::<serde_json::Value>(t.page(), &format!("window.__app.test_embed({url:?})"))
                .await?;
            let s = wait_stats(&t, t.page(), |s| {
                s.stray_foreign >= 5_000 && s.stray_bus >= 5_000
            })
            .await?;
            ensure(
                s.stray_foreign >= 5_000 && s.stray_bus >= 5_000,
                format!("stray counters after the flood: {s:?}"),
            )?;
            // Counted once for the page, never handed to the connection.
            ensure(s.rejected == 0 && s.foreign == 0, format!("{s:?}"))?;
            rejected_count(&t, &t.page().get_by_test_id("rejected-count"), 5_000).await?;
            session_survived(&t, &s.state, "the flood").await
        },
    );
}

#[test]
fn handshake_times_out_when_the_child_never_loads_the_bus() {
    suite().run(
        "handshake_times_out_when_the_child_never_loads_the_bus",
        |t| async move {
            t.goto(&t.parent_url("?child-path=no-bus.html&handshake-ms=1500"))
                .await?;
            t.wait_text(
                &status(t.page()),
                "closed: no handshake within 1500 ms",
                10_000,
            )
            .await
        },
    );
}

// ---- hardening: the audit's findings, in the browser ----

#[test]
fn widget_away_on_another_origin_for_15_s_then_back_reconnects() {
    suite().run(
        "widget_away_on_another_origin_for_15_s_then_back_reconnects",
        |t| async move {
            connected_host(&t, "").await?;
            let frame = t.child_frame(t.page()).await?;
            let away = format!("{}/knock", t.rogue_origin());
            let _ = frame
                .evaluate::<()>(&format!("location.href = {away:?}"), None)
                .await;
            t.wait_text(&status(t.page()), "reconnecting", 10_000)
                .await?;
            tokio::time::sleep(std::time::Duration::from_secs(15)).await;
            let s = stats(&t, t.page(), "frame").await?;
            ensure(
                s.state.starts_with("Reconnecting"),
                format!("after 15 s away: {}", s.state),
            )?;
            // Back to the widget, from inside the frame.
            let main = t.page().main_frame().await?;
            let frame = main
                .child_frames()
                .into_iter()
                .find(|f| f.url().starts_with(t.rogue_origin()))
                .ok_or("the frame is not on the rogue origin")?;
            let back = format!("{}/", t.child_origin());
            let start = std::time::Instant::now();
            let _ = frame
                .evaluate::<()>(&format!("location.href = {back:?}"), None)
                .await;
            t.wait_text(&status(t.page()), "connected to", 20_000)
                .await?;
            eprintln!(
                "reconnected {} ms after the widget came back",
                start.elapsed().as_millis()
            );
            quote_still_answers(&t, "coming back").await
        },
    );
}

#[test]
fn compromised_widget_four_mib_frame_leaves_host_memory_bounded() {
    suite().run(
        "compromised_widget_four_mib_frame_leaves_host_memory_bounded",
        |t| async move {
            t.context().add_init_script(CAPTURE_PORT).await?;
            connected_host(&t, "").await?;
            // A call makes the widget answer on its port, so its port is captured.
            app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            let before = stats(&t, t.page(), "frame").await?;
            // One frame of 4 MiB of Pings (4,194,280 one-byte messages).
            let len = forge_from_widget(&t, 4, 4 * 1024 * 1024 - 40, "port").await?;
            let after = wait_stats(&t, t.page(), |s| s.too_many_messages > 0).await?;
            let grown = after.memory_bytes - before.memory_bytes;
            eprintln!(
                "a {len}-byte frame of pings: host wasm memory {} -> {} bytes (+{grown})",
                before.memory_bytes, after.memory_bytes
            );
            ensure(after.too_many_messages == 1, format!("{after:?}"))?;
            ensure(
                grown <= 2.0 * len as f64,
                format!("host memory grew {grown} bytes for a {len}-byte frame"),
            )?;
            session_survived(&t, &after.state, "the frame").await
        },
    );
}

#[test]
fn cancelled_confirm_drops_the_handler_and_pay_emits_nothing() {
    suite().run(
        "cancelled_confirm_drops_the_handler_and_pay_emits_nothing",
        |t| async move {
            connected_host(&t, "").await?;
            let got = app_call(&t, t.page(), "frame", "confirm", 300).await?;
            ensure(got == "err:Timeout(300ms)", format!("got {got}"))?;
            let w = widget_stats(&t).await?;
            ensure(
                w.confirms_waiting == 0 && w.serving == 0 && w.live_handlers == 0,
                format!("the widget still serves the confirm: {w:?}"),
            )?;
            // Pay after the shop gave up: nothing to pay, no checkout.paid.
            t.click_in_frame(&widget(t.page(), "pay")).await?;
            t.wait_text(
                &widget(t.page(), "call-result"),
                "Ask the host for a quote first.",
                5_000,
            )
            .await?;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let log = t
                .page()
                .get_by_test_id("message-log")
                .text_content()
                .await?
                .unwrap_or_default();
            ensure(
                !log.contains("checkout.paid"),
                "a withdrawn confirm still paid",
            )?;
            // 5,000 more that time out after 1 ms: the widget's memory stays put.
            let before = widget_stats(&t).await?;
            let n: u32 = t
                .eval(t.page(), "window.__app.test_confirm_many(5000, 500, 1)")
                .await?;
            ensure(n == 5000, format!("{n} of 5000 timed out"))?;
            let mut after = widget_stats(&t).await?;
            for _ in 0..100 {
                if after.live_handlers == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                after = widget_stats(&t).await?;
            }
            let grown = after.memory_bytes - before.memory_bytes;
            eprintln!(
                "5,000 timed-out confirms: widget memory {} -> {} bytes (+{grown})",
                before.memory_bytes, after.memory_bytes
            );
            ensure(
                after.live_handlers == 0 && after.confirms_waiting == 0,
                format!("handlers left alive: {after:?}"),
            )?;
            ensure(
                grown <= 2.0 * 1024.0 * 1024.0,
                format!("widget memory grew {grown} bytes"),
            )
        },
    );
}

#[test]
fn session_frame_on_the_window_after_the_port_hand_over_is_refused() {
    suite().run(
        "session_frame_on_the_window_after_the_port_hand_over_is_refused",
        |t| async move {
            t.context().add_init_script(CAPTURE_PORT).await?;
            connected_host(&t, "").await?;
            app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            // Three Pings with the live session id, from the peer window itself.
            forge_from_widget(&t, 4, 3, "window").await?;
            let s = wait_stats(&t, t.page(), |s| s.unexpected > 0).await?;
            ensure(s.unexpected == 1, format!("not refused: {s:?}"))?;
            session_survived(&t, &s.state, "the refused pings").await
        },
    );
}

#[test]
fn host_with_a_two_origin_allowlist_binds_to_its_iframes_origin() {
    suite().run(
        "host_with_a_two_origin_allowlist_binds_to_its_iframes_origin",
        |t| async move {
            let extra: String = t
                .rogue_origin()
                .chars()
                .flat_map(|c| match c {
                    ':' => "%3A".chars().collect::<Vec<_>>(),
                    '/' => "%2F".chars().collect(),
                    c => vec![c],
                })
                .collect();
            connected_host(&t, &format!("?extra-allow={extra}")).await?;
            // The frame now shows the rogue: allowed by the list, not embedded.
            let frame = t.child_frame(t.page()).await?;
            let away = format!("{}/knock", t.rogue_origin());
            let _ = frame
                .evaluate::<()>(&format!("location.href = {away:?}"), None)
                .await;
            let s = wait_stats(&t, t.page(), |s| s.disallowed_origin > 0).await?;
            ensure(
                s.state.starts_with("Reconnecting"),
                format!("the host took the rogue: {}", s.state),
            )?;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let main = t.page().main_frame().await?;
            let rogue = main
                .child_frames()
                .into_iter()
                .find(|f| f.url().starts_with(t.rogue_origin()))
                .ok_or("the frame is not on the rogue origin")?;
            let got = rogue.evaluate::<()>("window.__got", None).await?;
            ensure(
                got.as_i64() == Some(0),
                format!("the host sent the rogue {got} messages"),
            )
        },
    );
}

#[test]
fn another_origin_cannot_frame_the_host_or_the_widget() {
    suite().run(
        "another_origin_cannot_frame_the_host_or_the_widget",
        |t| async move {
            let rogue = t.context().new_page().await?;
            t.capture_console(&rogue, "rogue").await;
            rogue
                .goto(&format!("{}/flood?n=0", t.rogue_origin()), None)
                .await?;
            let host = t.parent_url("");
            let widget = format!("{}/", t.child_origin());
            t.eval::<serde_json::Value>(
                &rogue,
                &format!(
                    "for (const [id, url] of [['h', {host:?}], ['w', {widget:?}]]) {{
                       const f = document.createElement('iframe');
                       f.id = id; f.src = url; document.body.appendChild(f);
                     }}"
                ),
            )
            .await?;
            // The pages would show their bus status within a second or two.
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            for id in ["#h", "#w"] {
                let framed = rogue
                    .frame_locator(id)
                    .get_by_test_id("bus-status")
                    .count()
                    .await?;
                ensure(
                    framed == 0,
                    format!("{id} rendered inside the rogue's frame"),
                )?;
            }
            Ok(())
        },
    );
}

/// bus-web's live listeners, timers and connections on the host page.
#[derive(Debug, Deserialize, PartialEq)]
struct Live {
    listeners: u64,
    timers: u64,
    connections: u64,
}

async fn live(t: &Test) -> Result<Live, Error> {
    let json: String = t.eval(t.page(), "window.__app.test_diagnostics()").await?;
    Ok(serde_json::from_str(&json)?)
}

#[test]
fn mounting_and_unmounting_the_embedded_widget_100_times_leaves_nothing_behind() {
    suite().run(
        "mounting_and_unmounting_the_embedded_widget_100_times_leaves_nothing_behind",
        |t| async move {
            connected_host(&t, "").await?;
            // The baseline: the checkout component (use_iframe_bus) unmounted.
            t.page().get_by_test_id("toggle-widget").click(None).await?;
            t.wait_text(&status(t.page()), "not mounted", 5_000).await?;
            let baseline = live(&t).await?;
            // Each cycle mounts the component, waits for the hook's state
            // signal to show the connection, makes a call through it, and
            // unmounts it again.
            let cycles: u32 = t
                .eval(
                    t.page(),
                    "(async () => {
                       const $ = (id) => document.querySelector(`[data-testid=\"${id}\"]`);
                       const until = async (ok, what) => {
                         const start = performance.now();
                         while (!ok()) {
                           if (performance.now() - start > 15000) {
                             throw new Error(`timed out waiting for ${what}; status: ${$('bus-status').textContent}`);
                           }
                           await new Promise((r) => setTimeout(r, 5));
                         }
                       };
                       for (let i = 1; i <= 100; i++) {
                         $('toggle-widget').click();
                         await until(() => $('bus-status').textContent.startsWith('connected'), `connection ${i}`);
                         const quote = await window.__app.test_call('frame', 'quote', 5000);
                         if (quote !== 'ok:20700') throw new Error(`call ${i}: ${quote}`);
                         $('toggle-widget').click();
                         await until(() => !document.querySelector('iframe#widget')
                           && $('bus-status').textContent === 'not mounted', `unmount ${i}`);
                       }
                       return 100;
                     })()",
                )
                .await?;
            ensure(cycles == 100, format!("{cycles} cycles ran"))?;
            let after = live(&t).await?;
            ensure(
                after == baseline,
                format!("after 100 mounts: {after:?}, before: {baseline:?}"),
            )?;
            // And the 101st still connects.
            t.page().get_by_test_id("toggle-widget").click(None).await?;
            t.wait_text(&status(t.page()), "connected", 15_000).await?;
            quote_still_answers(&t, "100 mounts").await
        },
    );
}

#[test]
fn the_state_signal_follows_connect_reload_and_close() {
    suite().run(
        "the_state_signal_follows_connect_reload_and_close",
        |t| async move {
            connected_host(&t, "").await?;
            let log = || t.eval::<String>(t.page(), "window.__app.test_state_log()");
            let frame = t.child_frame(t.page()).await?;
            let _ = frame.evaluate::<()>("location.reload()", None).await;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while !log().await?.ends_with("reconnecting connected") {
                ensure(
                    std::time::Instant::now() < deadline,
                    format!("no reconnect after the reload: {}", log().await?),
                )?;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let closed: bool = t.eval(t.page(), "window.__app.test_close_frame()").await?;
            ensure(closed, "the frame bus was not mounted")?;
            t.wait_text(&status(t.page()), "closed by the application", 5_000)
                .await?;
            let seen = log().await?;
            // An effect sees each value the signal settles on; `connecting`
            // may be passed before the first run.
            ensure(
                seen == "connecting connected reconnecting connected closed"
                    || seen == "idle connecting connected reconnecting connected closed"
                    || seen == "connected reconnecting connected closed",
                format!("state signal went: {seen}"),
            )
        },
    );
}

#[test]
fn use_topic_updates_the_view_on_both_sides() {
    suite().run("use_topic_updates_the_view_on_both_sides", |t| async move {
        connected_host(&t, "").await?;
        // Host → widget: the widget's use_topic(CART_CHANGED) reprices
        // its checkout view.
        t.page().get_by_test_id("push-cart").click(None).await?;
        t.wait_text(&widget(t.page(), "quote-total"), "207.00 EUR", 10_000)
            .await?;
        // Widget → host: the host's use_topic(PAID) shows the receipt
        // the widget emitted, reference and all.
        t.click_in_frame(&widget(t.page(), "pay")).await?;
        t.wait_text(&widget(t.page(), "call-result"), "Paid 207.00 EUR", 10_000)
            .await?;
        let paid = widget(t.page(), "call-result")
            .text_content()
            .await?
            .unwrap_or_default();
        let reference = paid
            .split('(')
            .nth(1)
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("no reference in {paid:?}"))?;
        t.wait_text(
            &t.page().get_by_test_id("call-result"),
            &format!("Payment received: 207.00 EUR ({reference})"),
            10_000,
        )
        .await
    });
}

/// Opens the shop written in TypeScript (`/ts-host.html`, on bus-js) and
/// waits until it and the Rust widget are connected.
async fn connected_ts_host(t: &Test) -> Result<(), Error> {
    t.goto(&t.url("parent", "/ts-host.html")).await?;
    let host = format!("connected to {}", t.child_origin());
    t.wait_text(&t.page().get_by_test_id("ts-status"), &host, 20_000)
        .await?;
    t.wait_text(&widget(t.page(), "bus-status"), "connected", 20_000)
        .await
}

/// Runs `call` (an expression giving a call's promise) on the TypeScript
/// host: `ok:<bytes>`, `remote:<code>:<message>` or `bus:<kind>`.
async fn ts_call(t: &Test, call: &str) -> Result<String, Error> {
    t.eval(
        t.page(),
        &format!(
            "(async () => {{ const {{ bus, RemoteError, BusError }} = window.__ts; \
             try {{ return 'ok:' + Array.from(await {call}).join(','); }} \
             catch (e) {{ return e instanceof RemoteError ? `remote:${{e.code}}:${{e.message}}` \
             : e instanceof BusError ? `bus:${{e.kind}}` : `other:${{e}}`; }} }})()"
        ),
    )
    .await
}

#[test]
fn ts_host_calls_the_rust_widget_and_gets_its_typed_errors() {
    suite().run(
        "ts_host_calls_the_rust_widget_and_gets_its_typed_errors",
        |t| async move {
            connected_ts_host(&t).await?;
            let echo = ts_call(
                &t,
                "bus.call('checkout.echo-bytes', new Uint8Array([3, 1, 2, 3]))",
            )
            .await?;
            ensure(echo == "ok:3,1,2,3", format!("echo: {echo}"))?;
            // demo_api::Quote for one 100.00 EUR tent: 10000 + 2000 tax = 12000, "EUR".
            let quote = ts_call(&t, "bus.call('checkout.quote', window.__ts.tentCart)").await?;
            ensure(
                quote == "ok:144,78,208,15,224,93,3,69,85,82",
                format!("quote: {quote}"),
            )?;
            // An empty cart: the widget's typed error, code EMPTY_CART.
            let empty = ts_call(
                &t,
                "bus.call('checkout.quote', new Uint8Array([0, 3, 69, 85, 82]))",
            )
            .await?;
            ensure(
                empty == "remote:400:cannot price an empty cart",
                format!("empty cart: {empty}"),
            )?;
            let missing = ts_call(&t, "bus.call('checkout.refund', new Uint8Array())").await?;
            ensure(
                missing.starts_with("remote:-32601:"),
                format!("unknown method: {missing}"),
            )?;
            let bad = ts_call(&t, "bus.call('checkout.quote', new Uint8Array([9]))").await?;
            ensure(
                bad.starts_with("remote:-32602:"),
                format!("bad request: {bad}"),
            )?;
            // The same through the types generated from demo-api: a Quote,
            // and the refusal's CartProblem decoded by the generated codec.
            let typed: String = t
                .eval(t.page(), "window.__ts.quote(window.__ts.tent)")
                .await?;
            ensure(
                typed == "total 120.00 EUR (tax 20.00 EUR)",
                format!("typed quote: {typed}"),
            )?;
            t.page().get_by_test_id("ts-empty").click(None).await?;
            t.wait_text(
                &t.page().get_by_test_id("ts-result"),
                "refused (400): the cart is empty, 0 lines",
                5_000,
            )
            .await
        },
    );
}

/// Evaluates `expression` on the TypeScript host until it is true (10 s).
async fn ts_until(t: &Test, expression: &str) -> Result<(), Error> {
    for _ in 0..200 {
        if t.eval::<bool>(t.page(), expression).await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stats: serde_json::Value = t
        .eval(
            t.page(),
            "({ state: window.__ts.bus.state, ...window.__ts.bus.stats })",
        )
        .await?;
    Err(format!("still false after 10 s: {expression} (bus: {stats})").into())
}

#[test]
fn ts_host_refuses_a_rogue_origin_and_an_impostor_window() {
    suite().run(
        "ts_host_refuses_a_rogue_origin_and_an_impostor_window",
        |t| async move {
            connected_ts_host(&t).await?;
            let quote = "window.__ts.quote(window.__ts.tent)";
            let priced = "total 120.00 EUR (tax 20.00 EUR)";
            // An impostor: a second widget window of the allowed origin,
            // knocking at the host, which is bound to its own iframe.
            t.eval::<bool>(
                t.page(),
                &format!(
                    "(() => {{ const f = document.createElement('iframe'); \
                     f.src = '{}/ts-widget.html'; document.body.append(f); return true; }})()",
                    t.child_origin()
                ),
            )
            .await?;
            ts_until(
                &t,
                "(window.__ts.bus.stats.rejected['wrong-source'] ?? 0) >= 2",
            )
            .await?;
            ts_until(&t, "window.__ts.bus.state == 'connected'").await?;
            let after: String = t.eval(t.page(), quote).await?;
            ensure(
                after == priced,
                format!("quote after the impostor: {after}"),
            )?;

            // A rogue origin: the widget's frame navigates to a rogue
            // document that knocks. The session ends, every knock is
            // refused, and the rogue hears nothing back.
            let widget_src = "document.getElementById('widget').src";
            t.eval::<bool>(
                t.page(),
                &format!("({widget_src} = '{}/knock', true)", t.rogue_origin()),
            )
            .await?;
            ts_until(
                &t,
                "(window.__ts.bus.stats.rejected['disallowed-origin'] ?? 0) >= 3",
            )
            .await?;
            ts_until(&t, "window.__ts.bus.state == 'reconnecting'").await?;
            let rogue = t.frame_of(t.page(), "rogue").await?;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let got = rogue.evaluate::<()>("window.__got", None).await?;
            ensure(got == 0, format!("the rogue heard {got} messages"))?;

            // The widget comes back and is served again.
            t.eval::<bool>(
                t.page(),
                &format!("({widget_src} = '{}/', true)", t.child_origin()),
            )
            .await?;
            ts_until(&t, "window.__ts.bus.state == 'connected'").await?;
            let back: String = t.eval(t.page(), quote).await?;
            ensure(back == priced, format!("quote after the rogue: {back}"))
        },
    );
}

#[test]
fn ts_host_gets_the_widgets_event_and_reconnects_after_its_reload() {
    suite().run(
        "ts_host_gets_the_widgets_event_and_reconnects_after_its_reload",
        |t| async move {
            connected_ts_host(&t).await?;
            // A payment the customer confirms: the reply, and checkout.paid.
            t.eval::<bool>(
                t.page(),
                "(window.__paid = window.__ts.bus.call('checkout.confirm', window.__ts.tentCart), true)",
            )
            .await?;
            t.wait_text(&widget(t.page(), "quote-total"), "120.00", 10_000)
                .await?;
            t.click_in_frame(&widget(t.page(), "pay")).await?;
            let paid: String = t
                .eval(
                    t.page(),
                    "window.__paid.then((r) => 'ok:' + r.length, (e) => 'err:' + e.message)",
                )
                .await?;
            ensure(paid.starts_with("ok:"), format!("confirm: {paid}"))?;
            t.wait_text(
                &t.page().get_by_test_id("ts-events"),
                "1 × checkout.paid",
                10_000,
            )
            .await?;

            // A payment still waiting when the widget reloads fails as
            // disconnected; the new document connects and answers.
            t.eval::<bool>(
                t.page(),
                "(window.__waiting = window.__ts.bus.call('checkout.confirm', window.__ts.tentCart).then(() => 'ok', (e) => e.kind), true)",
            )
            .await?;
            t.wait_text(&widget(t.page(), "quote-total"), "120.00", 10_000)
                .await?;
            t.eval::<bool>(
                t.page(),
                "(document.getElementById('widget').src = document.getElementById('widget').src, true)",
            )
            .await?;
            let waiting: String = t.eval(t.page(), "window.__waiting").await?;
            ensure(waiting == "disconnected", format!("pending confirm: {waiting}"))?;
            t.wait_text(&widget(t.page(), "bus-status"), "connected", 20_000)
                .await?;
            let echo = ts_call(&t, "bus.call('checkout.echo-bytes', new Uint8Array([1, 7]))").await?;
            ensure(echo == "ok:1,7", format!("echo after the reload: {echo}"))
        },
    );
}

#[test]
fn rust_host_embeds_a_ts_widget_with_calls_both_ways() {
    suite().run(
        "rust_host_embeds_a_ts_widget_with_calls_both_ways",
        |t| async move {
            connected_host(&t, "?child-path=ts-widget.html").await?;
            // The Rust host's typed call, priced by the TypeScript widget.
            let quote = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(quote == "ok:20700", format!("quote: {quote}"))?;
            t.wait_text(&widget(t.page(), "last-quote"), "quoted 20700 cents", 5_000)
                .await?;
            // Its typed error, with the CartProblem data the Rust host decodes.
            let empty = app_call(&t, t.page(), "frame", "empty", 5_000).await?;
            ensure(
                empty.starts_with("err:remote 400 cannot price an empty cart")
                    && empty.contains("the cart is empty"),
                format!("empty cart: {empty}"),
            )?;
            // And the other way: the TypeScript widget calls the Rust host.
            let frame = t.child_frame(t.page()).await?;
            let info = frame.evaluate::<()>("window.__ts.hostInfo()", None).await?;
            ensure(
                info.as_str() == Some("Acme Outdoor|Ada Lovelace"),
                format!("host.info: {info}"),
            )
        },
    );
}

#[test]
fn version_mismatch_across_languages_is_a_clear_error_on_both_sides() {
    suite().run(
        "version_mismatch_across_languages_is_a_clear_error_on_both_sides",
        |t| async move {
            // The Rust host speaks v1; the TypeScript widget only v2.
            t.goto(&t.parent_url("?child-path=ts-widget.html%3Fversions%3D2"))
                .await?;
            statuses(
                &t,
                "version mismatch: this side supports v1, the peer supports v2",
                "closed: protocol version mismatch: this side supports v2, the peer supports v1",
                15_000,
            )
            .await
        },
    );
}

// ---- the shop's own server, over WebSocket (bus-server at /bus) ----

/// The demo served by a `demo-server` process of its own (the demo the
/// suite built, with its test hooks), its shop bus on NATS at `nats`.
fn demo_process(nats: Option<&str>) -> Result<e2e::process::DemoServer, Error> {
    suite();
    let dist = e2e::bundle::demo_dist(true)?;
    e2e::process::DemoServer::start(env!("CARGO_BIN_EXE_demo-server").as_ref(), &dist, nats)
}

/// Opens the shop at `url` in a new page and waits for its server bus.
async fn shop_tab(t: &Test, url: &str) -> Result<Page, Error> {
    let page = t.open(url).await?;
    t.wait_text(&page.get_by_test_id("server-status"), "connected", 20_000)
        .await?;
    // The bus panel shows the server's connection too.
    t.wait_text(
        &page.get_by_test_id("panel-server-status"),
        "connected",
        5_000,
    )
    .await?;
    Ok(page)
}

async fn app_u32(t: &Test, page: &Page, call: &str) -> Result<u32, Error> {
    t.eval(page, &format!("window.__app.{call}")).await
}

/// Polls `call` on `page` until it returns `want` (or 15 s pass).
async fn until_u32(t: &Test, page: &Page, call: &str, want: u32) -> Result<(), Error> {
    let mut got = 0;
    for _ in 0..300 {
        got = app_u32(t, page, call).await?;
        if got == want {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(format!("{call} stayed {got}, not {want}").into())
}

/// Starts a server call on `page` that waits 60 s (`window.__pending`), and
/// gives it time to reach the server.
async fn start_pending_call(t: &Test, page: &Page) -> Result<(), Error> {
    t.eval::<bool>(
        page,
        "(window.__pending = window.__app.test_server_call('wait', 60000), true)",
    )
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Ok(())
}

/// Checks that the call [`start_pending_call`] made failed as `Disconnected`.
async fn pending_call_disconnected(t: &Test, page: &Page) -> Result<(), Error> {
    let failed: String = t.eval(page, "window.__pending").await?;
    ensure(
        failed == "err:Disconnected",
        format!("the pending call ended as {failed}"),
    )
}

/// Waits until `page`'s server bus is connected again, then checks that a
/// call succeeds.
async fn reconnected_and_calls(t: &Test, page: &Page) -> Result<(), Error> {
    t.wait_text(&page.get_by_test_id("server-status"), "connected", 30_000)
        .await?;
    let next: String = t
        .eval(page, "window.__app.test_server_call('wait', 1)")
        .await?;
    ensure(next == "ok:1", format!("the next call: {next}"))
}

#[test]
fn shop_tabs_on_two_server_processes_share_the_cart_through_nats_not_with_themselves() {
    suite().run(
        "shop_tabs_on_two_server_processes_share_the_cart_through_nats_not_with_themselves",
        |t| async move {
            let nats = bus_harness::nats::NatsServer::start()?;
            let one = demo_process(Some(&nats.url()))?;
            let two = demo_process(Some(&nats.url()))?;
            let a = shop_tab(&t, &one.parent_url()).await?;
            let b = shop_tab(&t, &two.parent_url()).await?;
            // Each page is served by its own process.
            let (wa, wb): (String, String) = (
                t.eval(&a, "window.__app.test_server_call('info', 0)")
                    .await?,
                t.eval(&b, "window.__app.test_server_call('info', 0)")
                    .await?,
            );
            ensure(wa != wb, format!("one process for both pages: {wa} / {wb}"))?;
            t.eval::<()>(&a, "window.__app.test_set_socks(7)").await?;
            until_u32(&t, &b, "test_socks()", 7).await?;
            t.eval::<()>(&b, "window.__app.test_set_socks(9)").await?;
            until_u32(&t, &a, "test_socks()", 9).await?;
            t.wait_text(&a.get_by_test_id("cart"), "9 × Merino socks", 5_000)
                .await?;
            // Each got the other's update, and never its own.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let (sa, sb) = (
                app_u32(&t, &a, "test_cart_synced()").await?,
                app_u32(&t, &b, "test_cart_synced()").await?,
            );
            ensure(
                (sa, sb) == (1, 1),
                format!("updates from other tabs: a {sa}, b {sb} (each sent one)"),
            )
        },
    );
}

#[test]
fn a_restarted_server_process_fails_the_pending_call_then_the_page_reconnects() {
    suite().run(
        "a_restarted_server_process_fails_the_pending_call_then_the_page_reconnects",
        |t| async move {
            let mut server = demo_process(None)?;
            let page = shop_tab(&t, &server.parent_url()).await?;
            start_pending_call(&t, &page).await?;
            server.kill();
            pending_call_disconnected(&t, &page).await?;
            server.restart()?;
            reconnected_and_calls(&t, &page).await
        },
    );
}

#[test]
fn a_hung_server_process_is_noticed_by_the_heartbeat_then_the_page_redials() {
    suite().run(
        "a_hung_server_process_is_noticed_by_the_heartbeat_then_the_page_redials",
        |t| async move {
            let server = demo_process(None)?;
            // Pings every 300 ms; 900 ms of silence ends the session.
            let url = format!("{}?server-heartbeat-ms=300", server.parent_url());
            let page = shop_tab(&t, &url).await?;
            start_pending_call(&t, &page).await?;
            // Frozen, not killed: its socket stays open and says nothing, so
            // only the heartbeat can tell.
            server.pause()?;
            pending_call_disconnected(&t, &page).await?;
            // The heartbeat ended the session, not a closed socket.
            t.wait_text(
                &page.get_by_test_id("server-status"),
                "did not answer for 900 ms (heartbeat)",
                5_000,
            )
            .await?;
            // The page dropped the silent socket and dials again; the server
            // answers once it runs.
            server.resume()?;
            reconnected_and_calls(&t, &page).await
        },
    );
}

#[test]
fn a_page_on_a_disallowed_origin_cannot_open_the_shop_socket() {
    suite().run(
        "a_page_on_a_disallowed_origin_cannot_open_the_shop_socket",
        |t| async move {
            let socket = format!("ws{}bus", t.parent_url("").trim_start_matches("http"));
            let open = format!(
                "new Promise((done) => {{
                   const ws = new WebSocket({socket:?});
                   ws.onopen = () => {{ done('open'); ws.close(); }};
                   ws.onclose = (e) => done('closed ' + e.code);
                 }})"
            );
            let rogue = t.open(&format!("{}/", t.rogue_origin())).await?;
            let refused: String = t.eval(&rogue, &open).await?;
            ensure(
                refused == "closed 1006",
                format!("the rogue page's socket: {refused}"),
            )?;
            // The shop's own page opens it.
            let shop = shop_tab(&t, &t.parent_url("")).await?;
            let allowed: String = t.eval(&shop, &open).await?;
            ensure(
                allowed == "open",
                format!("the shop page's socket: {allowed}"),
            )
        },
    );
}

#[test]
fn a_flooding_tab_does_not_starve_the_others() {
    suite().run(
        "a_flooding_tab_does_not_starve_the_others",
        |t| async move {
            let server = demo_process(None)?;
            let flooder = shop_tab(&t, &server.parent_url()).await?;
            let calm = shop_tab(&t, &server.parent_url()).await?;
            let other = shop_tab(&t, &server.parent_url()).await?;
            t.eval::<bool>(
                &flooder,
                "(window.__flood = window.__app.test_flood(20000), true)",
            )
            .await?;
            // The calm tab is answered while the flood goes on.
            for i in 0..10 {
                let answer: String = t
                    .eval(&calm, "window.__app.test_server_call('wait', 0)")
                    .await?;
                ensure(
                    answer == "ok:0",
                    format!("call {i} during the flood: {answer}"),
                )?;
            }
            let flooded: u32 = t.eval(&flooder, "window.__flood").await?;
            ensure(flooded > 1000, format!("the flood sent only {flooded}"))?;
            // Only a trickle of it was relayed, and a real update still arrives.
            t.eval::<()>(&other, "window.__app.test_set_socks(5)")
                .await?;
            until_u32(&t, &calm, "test_socks()", 5).await?;
            let relayed = app_u32(&t, &calm, "test_cart_synced()").await?;
            ensure(
                relayed < 2_000,
                format!("{relayed} of {flooded} flood events reached another tab"),
            )
        },
    );
}
