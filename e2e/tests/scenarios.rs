//! The bus across real origins in real Chromium: the demo host on
//! 127.0.0.1, the widget on localhost (a cross-site, out-of-process iframe),
//! a rogue page on a third origin. Each test names the behaviour it proves.

use e2e::Error;
use e2e::browser::{Test, suite};
use playwright_rs::{Locator, Page};
use serde::Deserialize;

/// `window.__app.test_stats(..)` of the host page.
#[derive(Debug, Deserialize)]
struct Stats {
    state: String,
    pending: u64,
    rejected: u64,
    foreign: u64,
    wrong_source: u64,
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

/// Opens the host page (with `query`) and waits until host and widget are connected.
async fn connected_host(t: &Test, query: &str) -> Result<(), Error> {
    t.goto(&t.parent_url(query)).await?;
    t.wait_text(&status(t.page()), "connected", 20_000).await?;
    t.wait_text(&widget(t.page(), "bus-status"), "connected", 20_000)
        .await
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

async fn stats(t: &Test, page: &Page, which: &str) -> Result<Stats, Error> {
    let json: String = t
        .eval(page, &format!("window.__app.test_stats({which:?})"))
        .await?;
    Ok(serde_json::from_str(&json)?)
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
            t.wait_text(
                &status(t.page()),
                &format!("connected to {}", t.child_origin()),
                1_000,
            )
            .await?;
            t.wait_text(
                &widget(t.page(), "bus-status"),
                "connected to http://127.0.0.1",
                1_000,
            )
            .await
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
            widget(t.page(), "call-parent").click(None).await?;
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
        widget(t.page(), "pay").click(None).await?;
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
fn rogue_origin_embedding_the_widget_gets_no_answer_and_is_counted() {
    suite().run(
        "rogue_origin_embedding_the_widget_gets_no_answer_and_is_counted",
        |t| async move {
            let rogue = t.context().new_page().await?;
            t.capture_console(&rogue, "rogue").await;
            rogue.goto(&format!("{}/", t.rogue_origin()), None).await?;
            let framed = rogue
                .frame_locator("#victim-widget")
                .get_by_test_id("rejected-count");
            let n = rejected_count(&t, &framed, 5).await?;
            ensure(n >= 5, format!("the framed widget counted {n} rejections"))?;
            let log = rogue.frame_locator("#victim-widget").locator(".rejections");
            t.wait_text(&log, "origin not in the allowlist", 5_000)
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
fn rogue_spoofed_replies_and_events_at_the_host_are_rejected() {
    suite().run(
        "rogue_spoofed_replies_and_events_at_the_host_are_rejected",
        |t| async move {
            t.goto(&format!("{}/", t.rogue_origin())).await?;
            let host = t.page().frame_locator("#victim-host");
            let n = rejected_count(&t, &host.get_by_test_id("rejected-count"), 5).await?;
            ensure(n >= 5, format!("the framed host counted {n} rejections"))?;
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
                "spoofed checkout.paid is in the host's log",
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
            let s = wait_stats(&t, t.page(), |s| s.wrong_source > 0).await?;
            ensure(s.wrong_source > 0, format!("impostor not rejected: {s:?}"))?;
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
            t.wait_text(
                &status(t.page()),
                "version mismatch: this side supports v1, the peer supports v2",
                15_000,
            )
            .await?;
            t.wait_text(
                &widget(t.page(), "bus-status"),
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
fn child_navigating_to_a_disallowed_origin_closes_with_that_reason() {
    suite().run(
        "child_navigating_to_a_disallowed_origin_closes_with_that_reason",
        |t| async move {
            connected_host(&t, "").await?;
            let frame = t.child_frame(t.page()).await?;
            let target = format!("{}/knock", t.rogue_origin());
            let _ = frame
                .evaluate::<()>(&format!("location.href = {target:?}"), None)
                .await;
            let reason = format!("the peer window navigated to \"{}\"", t.rogue_origin());
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
            let got = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(got == "ok:20700", format!("quote after the timeout: {got}"))
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
                   const size = msg instanceof ArrayBuffer ? msg.byteLength : -1;
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
                s.foreign >= 5_000 && s.wrong_source >= 5_000
            })
            .await?;
            ensure(
                s.foreign >= 5_000 && s.wrong_source >= 5_000,
                format!("counters after the flood: {s:?}"),
            )?;
            ensure(
                s.rejected >= 5_000,
                format!("rejections not counted: {s:?}"),
            )?;
            rejected_count(&t, &t.page().get_by_test_id("rejected-count"), 5_000).await?;
            ensure(
                s.state.starts_with("Connected"),
                format!("the flood broke the session: {}", s.state),
            )?;
            let got = app_call(&t, t.page(), "frame", "quote", 5_000).await?;
            ensure(got == "ok:20700", format!("quote after the flood: {got}"))
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
