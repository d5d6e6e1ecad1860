//! Engine behaviour over the in-memory pair: handshake, calls, events,
//! deadlines, cancellation, heartbeats, close, limits, and hostile input.

use std::time::Duration;

use bus_core::envelope::{Body, Envelope, HEADER_LEN, Message, Nonce, Outcome, SessionId};
use bus_core::{
    Allowlist, CallError, Channel, CloseReason, Config, ConfigError, Delivery, Engine, Heartbeat,
    MemoryPair, Method, RejectReason, RemoteError, Role, Route, SessionEnd, Side, SourceId, State,
    SystemEntropy, Topic, Versions,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Cart {
    items: u32,
    coupon: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Total {
    cents: u64,
}

const TOTAL: Method<Cart, Total> = Method::new("checkout.total");
const RESIZE: Method<u32, bool> = Method::new("host.resize");
const DECLINE: Method<(), ()> = Method::new("checkout.decline");
const ECHO: Method<u64, u64> = Method::new("echo");
const PAID: Topic<Total> = Topic::new("checkout.paid");
const THEME: Topic<String> = Topic::new("host.theme");

const EVIL: &str = "https://evil.example";
const OTHER_WINDOW: SourceId = SourceId(7);

fn serve(pair: &mut MemoryPair) {
    pair.guest_router
        .route(TOTAL, |cart: Cart| {
            let off = if cart.coupon.is_some() { 100 } else { 0 };
            Ok(Total {
                cents: u64::from(cart.items) * 250 - off,
            })
        })
        .route(DECLINE, |()| {
            Err(RemoteError::new(402, "card declined").with_data(&Total { cents: 999 })?)
        })
        .route(ECHO, Ok);
    pair.host_router.route(RESIZE, |h| Ok(h < 2000));
}

fn connected() -> MemoryPair {
    let mut pair = MemoryPair::new();
    serve(&mut pair);
    pair.connect();
    assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    assert!(
        pair.guest.state().is_connected(),
        "{:?}",
        pair.guest.state()
    );
    pair.take_deliveries(Side::Host);
    pair.take_deliveries(Side::Guest);
    pair
}

fn rejections(pair: &MemoryPair, side: Side) -> Vec<RejectReason> {
    pair.deliveries(side)
        .iter()
        .filter_map(|d| match d {
            Delivery::Rejected(r) => Some(r.reason.clone()),
            _ => None,
        })
        .collect()
}

fn frame(session: SessionId, messages: Vec<Message>) -> Vec<u8> {
    Envelope::session(1, session, messages).encode().unwrap()
}

/// The session id, read off the last frame the host sent on the port.
fn session_id(pair: &MemoryPair) -> SessionId {
    pair.wire()
        .iter()
        .rev()
        .find_map(|(_, t)| {
            let e = Envelope::decode(&t.bytes).ok()?;
            (e.session != SessionId::NONE).then_some(e.session)
        })
        .unwrap()
}

fn window(origin: &str) -> Channel<'_> {
    Channel::Window {
        origin,
        source: SourceId::PEER,
        with_port: false,
    }
}

// ---- handshake ----

#[test]
fn handshake_connects_both_sides_with_peer_origins() {
    let mut pair = MemoryPair::new();
    pair.connect();
    assert_eq!(
        pair.host.state(),
        State::Connected {
            origin: MemoryPair::GUEST_ORIGIN.into(),
            version: 1
        }
    );
    assert_eq!(
        pair.guest.state(),
        State::Connected {
            origin: MemoryPair::HOST_ORIGIN.into(),
            version: 1
        }
    );
    assert!(
        pair.deliveries(Side::Host)
            .contains(&Delivery::State(State::Connecting))
    );
}

#[test]
fn handshake_frames_use_concrete_target_origins() {
    let mut pair = connected();
    pair.call(Side::Host, &ECHO, &1).unwrap();
    for (_, t) in pair.wire() {
        match &t.route {
            Route::Window { target_origin } => assert_ne!(target_origin, "*"),
            Route::Port => {}
            #[cfg(feature = "sockets")]
            Route::Socket => panic!("a window connection routed a frame to a socket"),
        }
    }
    // Only the host's Ready carries the private port.
    let ports: Vec<_> = pair.wire().iter().filter(|(_, t)| t.attach_port).collect();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].0, Side::Host);
}

#[test]
fn host_retries_hello_until_guest_starts() {
    let mut pair = MemoryPair::new();
    pair.host.connect(pair.now());
    pair.pump();
    pair.advance(Duration::from_millis(400));
    assert_eq!(pair.host.state(), State::Connecting);
    // The guest starts late and, without knocking, answers the next retry.
    let now = pair.now();
    pair.guest.connect(now);
    while pair.guest.poll_transmit().is_some() {} // its knock is lost
    pair.advance(Duration::from_secs(1));
    assert!(pair.host.state().is_connected());
    let hellos = pair.wire().iter().filter(|(s, _)| *s == Side::Host).count();
    assert!(
        (3..=8).contains(&hellos),
        "backoff should space retries: {hellos} frames"
    );
}

#[test]
fn knock_from_late_guest_connects_without_waiting_for_retry() {
    let mut pair = MemoryPair::new();
    pair.host.connect(pair.now());
    pair.advance(Duration::from_secs(2)); // retries have backed off to 1 s
    pair.guest.connect(pair.now());
    pair.pump();
    assert!(pair.host.state().is_connected());
    assert!(pair.guest.state().is_connected());
}

#[test]
fn host_waiting_for_knock_posts_nothing_until_the_guest_speaks() {
    let (mut host, guest) = MemoryPair::default_configs();
    host.wait_for_knock = true;
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.host.connect(pair.now());
    pair.advance(Duration::from_secs(5));
    assert!(pair.wire().is_empty(), "host posted before any knock");
    pair.guest.connect(pair.now());
    pair.pump();
    assert!(pair.host.state().is_connected());
    assert!(pair.guest.state().is_connected());
}

#[test]
fn handshake_timeout_is_a_clear_error_not_a_hang() {
    let mut pair = MemoryPair::new();
    pair.host.connect(pair.now());
    let call = pair
        .host
        .call_method(pair.now(), &ECHO, &1, Some(Duration::from_secs(60)))
        .unwrap();
    pair.advance(Duration::from_secs(11));
    let reason = CloseReason::HandshakeTimeout(Duration::from_secs(10));
    assert_eq!(pair.host.state(), State::Closed(reason.clone()));
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Closed(reason.clone())))
    );
    assert!(reason.to_string().contains("allowlist"));
}

#[test]
fn version_mismatch_names_both_versions_on_both_sides() {
    let (host, mut guest) = MemoryPair::default_configs();
    guest.versions = Versions { min: 2, max: 3 };
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.connect();
    let (v1, v23) = (Versions::CURRENT, Versions { min: 2, max: 3 });
    assert_eq!(
        pair.host.state(),
        State::Closed(CloseReason::VersionMismatch {
            local: v1,
            remote: v23
        })
    );
    assert_eq!(
        pair.guest.state(),
        State::Closed(CloseReason::VersionMismatch {
            local: v23,
            remote: v1
        })
    );
    let msg = CloseReason::VersionMismatch {
        local: v1,
        remote: v23,
    }
    .to_string();
    assert!(msg.contains("v1") && msg.contains("v2..=v3"), "{msg}");
}

#[test]
fn negotiates_highest_common_version() {
    let (mut host, mut guest) = MemoryPair::default_configs();
    host.versions = Versions { min: 1, max: 3 };
    guest.versions = Versions { min: 2, max: 5 };
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.connect();
    assert!(matches!(
        pair.host.state(),
        State::Connected { version: 3, .. }
    ));
    assert!(matches!(
        pair.guest.state(),
        State::Connected { version: 3, .. }
    ));
}

#[test]
fn config_without_allowlist_or_target_is_refused() {
    let empty = Allowlist::new(Vec::<&str>::new()).unwrap();
    assert_eq!(
        Engine::new(Config::new(Role::Host, empty), SystemEntropy).unwrap_err(),
        ConfigError::EmptyAllowlist
    );
    let wild = Allowlist::new(["https://*.example.com"]).unwrap();
    assert_eq!(
        Engine::new(Config::new(Role::Host, wild.clone()), SystemEntropy).unwrap_err(),
        ConfigError::NoTargetOrigin
    );
    assert!(Engine::new(Config::new(Role::Guest, wild.clone()), SystemEntropy).is_ok());
    let cfg = Config::new(Role::Host, wild).with_peer_origin("https://other.org");
    assert!(matches!(
        Engine::new(cfg, SystemEntropy).unwrap_err(),
        ConfigError::PeerOriginNotAllowed(_)
    ));
}

#[test]
fn opaque_peer_needs_opt_in_and_only_then_gets_star() {
    let strict = Allowlist::new(["https://a.example"]).unwrap();
    let cfg = Config::new(Role::Host, strict.clone()).with_peer_origin("null");
    assert!(Engine::new(cfg, SystemEntropy).is_err());
    let cfg = Config::new(Role::Host, strict.allow_opaque_origins()).with_peer_origin("null");
    let mut host = Engine::new(cfg, SystemEntropy).unwrap();
    host.connect(Duration::ZERO);
    assert_eq!(host.poll_transmit().unwrap().target_origin(), Some("*"));
}

// ---- calls, errors, events ----

#[test]
fn host_calls_guest_and_gets_typed_answer() {
    let mut pair = connected();
    let total = pair.call(
        Side::Host,
        &TOTAL,
        &Cart {
            items: 4,
            coupon: Some("X".into()),
        },
    );
    assert_eq!(total, Ok(Total { cents: 900 }));
}

#[test]
fn guest_calls_host() {
    let mut pair = connected();
    assert_eq!(pair.call(Side::Guest, &RESIZE, &640), Ok(true));
    assert_eq!(pair.call(Side::Guest, &RESIZE, &4000), Ok(false));
}

#[test]
fn handler_error_arrives_as_remote_error_with_data() {
    let mut pair = connected();
    let Err(CallError::Remote(e)) = pair.call(Side::Host, &DECLINE, &()) else {
        panic!("expected a remote error");
    };
    assert_eq!((e.code(), e.message()), (402, "card declined"));
    assert_eq!(e.data_as::<Total>(), Some(Ok(Total { cents: 999 })));
}

#[test]
fn unknown_method_is_an_error_not_a_hang() {
    let mut pair = connected();
    let Err(CallError::Remote(e)) = pair.call(
        Side::Guest,
        &TOTAL,
        &Cart {
            items: 1,
            coupon: None,
        },
    ) else {
        panic!("expected method-not-found");
    };
    assert_eq!(e.code(), RemoteError::METHOD_NOT_FOUND);
}

#[test]
fn mismatched_types_are_a_bad_request() {
    let mut pair = connected();
    const WRONG: Method<String, Total> = Method::new("checkout.total");
    let Err(CallError::Remote(e)) = pair.call(Side::Host, &WRONG, &"x".repeat(3)) else {
        panic!("expected bad request");
    };
    assert_eq!(e.code(), RemoteError::BAD_REQUEST);
}

#[test]
fn pair_call_without_an_answer_is_cancelled_not_left_pending() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    assert_eq!(pair.call(Side::Host, &ECHO, &1), Err(CallError::Cancelled));
    assert_eq!(pair.host.pending_calls(), 0);
    assert_eq!(pair.guest.serving_calls(), 0);
}

#[test]
fn events_flow_both_ways() {
    let mut pair = connected();
    pair.guest.emit_topic(&PAID, &Total { cents: 42 }).unwrap();
    pair.host.emit_topic(&THEME, &"dark".to_string()).unwrap();
    pair.pump();
    let got = pair.take_deliveries(Side::Host);
    let Some(Delivery::Event { topic, payload, .. }) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (topic.as_str(), PAID.decode(payload).unwrap()),
        ("checkout.paid", Total { cents: 42 })
    );
    let got = pair.take_deliveries(Side::Guest);
    assert_eq!(
        got,
        vec![Delivery::Event {
            topic: "host.theme".into(),
            payload: THEME.encode(&"dark".into()).unwrap(),
            attachments: vec![],
        }]
    );
}

#[test]
fn calls_made_before_connecting_are_sent_once_connected() {
    let mut pair = MemoryPair::new();
    serve(&mut pair);
    let call = pair.host.call_method(pair.now(), &ECHO, &77, None).unwrap();
    pair.connect();
    assert_eq!(
        pair.reply(Side::Host, call)
            .map(|r| r.map(|b| ECHO.decode_response(&b).unwrap())),
        Some(Ok(77))
    );
}

#[test]
fn thousand_concurrent_calls_each_get_their_own_answer_in_few_frames() {
    let mut pair = connected();
    let before = pair.wire().len();
    let calls: Vec<_> = (0..1000u64)
        .map(|i| {
            (
                i,
                pair.host
                    .call_method(pair.now(), &ECHO, &(i * 3), None)
                    .unwrap(),
            )
        })
        .collect();
    pair.pump();
    for (i, call) in calls {
        let bytes = pair.reply(Side::Host, call).unwrap().unwrap();
        assert_eq!(ECHO.decode_response(&bytes).unwrap(), i * 3);
    }
    let frames = pair.wire().len() - before;
    assert!(
        frames <= 4,
        "1000 calls and replies should coalesce, took {frames} frames"
    );
}

// ---- deadlines and cancellation ----

#[test]
fn call_times_out_and_callee_is_told_to_stop() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let call = pair
        .host
        .call_method(pair.now(), &ECHO, &1, Some(Duration::from_millis(500)))
        .unwrap();
    pair.pump();
    let Some(Delivery::Request { id, .. }) = pair.take_deliveries(Side::Guest).pop() else {
        panic!("guest got no request")
    };
    pair.advance(Duration::from_millis(499));
    assert_eq!(pair.reply(Side::Host, call), None);
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Timeout(Duration::from_millis(500))))
    );
    assert_eq!(
        pair.take_deliveries(Side::Guest),
        vec![Delivery::Cancelled(id)]
    );
    assert_eq!(pair.host.pending_calls(), 0);
    assert_eq!(pair.guest.serving_calls(), 0);
    // The late answer goes nowhere.
    assert!(!pair.guest.reply(id, Ok(vec![1])));
}

#[test]
fn late_reply_after_timeout_is_dropped_without_side_effect() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let call = pair
        .host
        .call_method(pair.now(), &ECHO, &1, Some(Duration::from_millis(100)))
        .unwrap();
    pair.pump();
    let sid = session_id(&pair);
    pair.advance(Duration::from_millis(200));
    pair.take_deliveries(Side::Host);
    let late = frame(
        sid,
        vec![Message::Reply {
            id: call.0,
            outcome: Outcome::Ok(vec![9]),
        }],
    );
    pair.inject(Side::Host, Channel::Port, &late);
    assert_eq!(
        rejections(&pair, Side::Host),
        vec![RejectReason::UnknownReply(call.0)]
    );
    assert!(
        !pair
            .deliveries(Side::Host)
            .iter()
            .any(|d| matches!(d, Delivery::Reply { .. }))
    );
}

#[test]
fn cancel_withdraws_the_call_and_notifies_the_callee() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.pump();
    let Some(Delivery::Request { id, .. }) = pair.take_deliveries(Side::Guest).pop() else {
        panic!()
    };
    assert!(pair.host.cancel(call));
    assert!(!pair.host.cancel(call));
    pair.pump();
    assert_eq!(
        pair.take_deliveries(Side::Guest),
        vec![Delivery::Cancelled(id)]
    );
    assert!(!pair.guest.reply(id, Ok(vec![])));
    assert_eq!(pair.reply(Side::Host, call), None);
}

#[test]
fn cancelling_an_unsent_call_sends_nothing() {
    let mut pair = MemoryPair::new();
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    assert!(pair.host.cancel(call));
    pair.set_auto_serve(Side::Guest, false);
    pair.connect();
    assert!(
        !pair
            .deliveries(Side::Guest)
            .iter()
            .any(|d| matches!(d, Delivery::Request { .. }))
    );
}

// ---- heartbeats, close, lifecycle ----

fn with_heartbeat() -> MemoryPair {
    let (mut host, mut guest) = MemoryPair::default_configs();
    let hb = Heartbeat {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(3),
    };
    host.heartbeat = Some(hb);
    guest.heartbeat = Some(hb);
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    serve(&mut pair);
    pair.connect();
    pair
}

#[test]
fn heartbeat_keeps_a_healthy_idle_session_open() {
    let mut pair = with_heartbeat();
    pair.advance(Duration::from_secs(60));
    assert!(pair.host.state().is_connected());
    assert!(pair.guest.state().is_connected());
}

#[test]
fn heartbeat_loss_ends_the_session_fails_pending_calls_and_reconnects() {
    let mut pair = with_heartbeat();
    let call = pair
        .host
        .call_method(pair.now(), &ECHO, &1, Some(Duration::from_secs(30)))
        .unwrap();
    pair.set_link_up(false);
    pair.advance(Duration::from_secs(4));
    let why = SessionEnd::HeartbeatTimeout(Duration::from_secs(3));
    assert_eq!(pair.host.state(), State::Reconnecting(why));
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Disconnected))
    );
    // Minutes later the link heals: the same documents find each other again.
    pair.advance(Duration::from_secs(300));
    pair.set_link_up(true);
    pair.advance(Duration::from_secs(3));
    assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    assert_eq!(pair.call(Side::Host, &ECHO, &3), Ok(3));
}

#[test]
fn close_tells_the_peer_and_fails_everything_pending() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.pump();
    pair.guest.close("widget done");
    pair.pump();
    assert_eq!(
        pair.guest.state(),
        State::Closed(CloseReason::Local("widget done".into()))
    );
    let remote = CloseReason::Remote("widget done".into());
    assert_eq!(pair.host.state(), State::Closed(remote.clone()));
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Closed(remote.clone())))
    );
    assert_eq!(
        pair.host.call_method(pair.now(), &ECHO, &1, None),
        Err(CallError::Closed(remote))
    );
    assert!(pair.host.emit_topic(&THEME, &"x".into()).is_err());
}

#[test]
fn peer_reload_fails_pending_calls_fast_then_reconnects() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.pump();
    // The iframe reloads: a new document with a new engine knocks.
    let (_, guest_cfg) = MemoryPair::default_configs();
    pair.guest = Engine::new(guest_cfg, SystemEntropy).unwrap();
    pair.set_auto_serve(Side::Guest, true);
    pair.guest.connect(pair.now());
    pair.pump();
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Disconnected))
    );
    assert!(
        pair.deliveries(Side::Host)
            .contains(&Delivery::State(State::Reconnecting(
                SessionEnd::PeerReloaded
            )))
    );
    assert!(pair.host.state().is_connected());
    assert_eq!(pair.call(Side::Host, &ECHO, &5), Ok(5));
}

#[test]
fn load_event_with_a_silent_peer_ends_the_session_after_the_probe() {
    let mut pair = connected();
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.set_link_up(false); // the old document is gone
    pair.host.verify_peer(pair.now());
    pair.advance(Duration::from_millis(999));
    assert!(pair.host.state().is_connected());
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.host.state(),
        State::Reconnecting(SessionEnd::PeerSilent)
    );
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Disconnected))
    );
    // A bus document in the window answers the next hello: a fresh session.
    pair.set_link_up(true);
    pair.advance(Duration::from_secs(2));
    assert!(pair.host.state().is_connected());
    assert_eq!(pair.call(Side::Host, &ECHO, &6), Ok(6));
}

#[test]
fn load_event_for_a_live_peer_keeps_the_session() {
    let mut pair = connected();
    let sid = session_id(&pair);
    pair.host.verify_peer(pair.now());
    pair.pump();
    pair.advance(Duration::from_secs(5));
    assert!(pair.host.state().is_connected());
    assert_eq!(pair.call(Side::Host, &ECHO, &2), Ok(2));
    assert_eq!(session_id(&pair), sid);
}

#[test]
fn reload_reconnects_when_the_host_waits_for_knocks() {
    let (mut host, guest_cfg) = MemoryPair::default_configs();
    host.wait_for_knock = true;
    let mut pair = MemoryPair::with_configs(host, guest_cfg.clone()).unwrap();
    serve(&mut pair);
    pair.connect();
    assert!(pair.host.state().is_connected());
    pair.guest = Engine::new(guest_cfg, SystemEntropy).unwrap();
    pair.guest.connect(pair.now());
    pair.pump();
    assert!(pair.host.state().is_connected());
    assert!(pair.guest.state().is_connected());
    assert_eq!(pair.call(Side::Host, &ECHO, &9), Ok(9));
}

fn knock() -> Vec<u8> {
    Envelope::handshake(
        1,
        Body::Knock {
            versions: Versions::CURRENT,
        },
    )
    .encode()
    .unwrap()
}

#[test]
fn peer_navigating_to_disallowed_origin_ends_the_session_not_the_connection() {
    let mut pair = connected();
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.inject(Side::Host, window(EVIL), &knock());
    let why = SessionEnd::PeerNavigated(EVIL.into());
    assert_eq!(pair.host.state(), State::Reconnecting(why.clone()));
    assert!(
        pair.deliveries(Side::Host)
            .contains(&Delivery::State(State::Reconnecting(why)))
    );
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Disconnected))
    );
    assert!(!pair.has_port(Side::Host), "the session's port is dropped");
    // Only a knock from an allowed origin resumes; nothing is sent meanwhile.
    let sent = pair.wire().len();
    pair.advance(Duration::from_secs(600));
    assert_eq!(
        pair.wire().len(),
        sent,
        "the host greeted a foreign document"
    );
    assert!(matches!(pair.host.state(), State::Reconnecting(_)));
    pair.guest = Engine::new(MemoryPair::default_configs().1, SystemEntropy).unwrap();
    pair.guest.connect(pair.now());
    pair.pump();
    assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    assert_eq!(pair.call(Side::Host, &ECHO, &7), Ok(7));
}

#[test]
fn garbage_from_the_peer_window_at_a_disallowed_origin_ends_nothing() {
    let mut pair = connected();
    let mut junk = knock();
    junk.truncate(HEADER_LEN + 1);
    junk.push(0xff);
    pair.inject(Side::Host, window(EVIL), &junk);
    let big = frame(SessionId::NONE, vec![Message::Ping; 200]);
    pair.inject(Side::Host, window(EVIL), &big);
    assert!(pair.host.state().is_connected());
    assert_eq!(
        rejections(&pair, Side::Host),
        vec![
            RejectReason::DisallowedOrigin,
            RejectReason::DisallowedOrigin
        ]
    );
}

#[test]
fn peer_gone_fails_pending_calls_at_once() {
    let mut pair = connected();
    let call = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.host.peer_gone();
    assert_eq!(pair.host.state(), State::Closed(CloseReason::PeerGone));
    pair.pump();
    assert_eq!(
        pair.reply(Side::Host, call),
        Some(Err(CallError::Closed(CloseReason::PeerGone)))
    );
}

// ---- hostile input ----

#[test]
fn frame_from_disallowed_origin_is_rejected_and_reported() {
    let mut pair = connected();
    let sid = session_id(&pair);
    let spoof = frame(
        sid,
        vec![Message::Event {
            topic: "checkout.paid".into(),
            payload: vec![],
        }],
    );
    let mut other = connected();
    other.inject(
        Side::Guest,
        Channel::Window {
            origin: EVIL,
            source: OTHER_WINDOW,
            with_port: false,
        },
        &spoof,
    );
    assert_eq!(
        rejections(&other, Side::Guest),
        vec![RejectReason::WrongSource]
    );
    pair.inject(Side::Host, window(EVIL), &spoof);
    assert!(rejections(&pair, Side::Host).contains(&RejectReason::DisallowedOrigin));
    assert!(
        !pair
            .deliveries(Side::Host)
            .iter()
            .any(|d| matches!(d, Delivery::Event { .. }))
    );
    let Some(Delivery::Rejected(r)) = pair
        .deliveries(Side::Host)
        .iter()
        .find(|d| matches!(d, Delivery::Rejected(_)))
    else {
        panic!()
    };
    assert_eq!(r.origin.as_deref(), Some(EVIL));
}

#[test]
fn same_origin_impostor_window_is_rejected() {
    let mut pair = connected();
    let sid = session_id(&pair);
    let spoof = frame(
        sid,
        vec![Message::Call {
            id: 1,
            method: "echo".into(),
            payload: vec![1],
            timeout_ms: None,
        }],
    );
    let impostor = Channel::Window {
        origin: MemoryPair::HOST_ORIGIN,
        source: OTHER_WINDOW,
        with_port: false,
    };
    pair.inject(Side::Guest, impostor, &spoof);
    assert_eq!(
        rejections(&pair, Side::Guest),
        vec![RejectReason::WrongSource]
    );
    assert_eq!(pair.guest.serving_calls(), 0);
}

#[test]
fn third_party_hello_cannot_take_over_a_session() {
    let mut pair = connected();
    let sid = session_id(&pair);
    let hello = Envelope::handshake(
        1,
        Body::Hello {
            versions: Versions::CURRENT,
            nonce: Nonce([1; 16]),
            max_frame_bytes: 1 << 20,
        },
    )
    .encode()
    .unwrap();
    pair.inject(
        Side::Guest,
        Channel::Window {
            origin: MemoryPair::HOST_ORIGIN,
            source: OTHER_WINDOW,
            with_port: false,
        },
        &hello,
    );
    pair.inject(
        Side::Guest,
        Channel::Window {
            origin: EVIL,
            source: OTHER_WINDOW,
            with_port: false,
        },
        &hello,
    );
    assert!(pair.guest.state().is_connected());
    assert_eq!(
        rejections(&pair, Side::Guest),
        vec![RejectReason::WrongSource, RejectReason::WrongSource]
    );
    assert_eq!(pair.call(Side::Host, &ECHO, &3), Ok(3));
    assert_eq!(session_id(&pair), sid);
    assert!(pair.host.stats().rejected == 0);
}

#[test]
fn forged_welcome_with_wrong_nonce_is_rejected() {
    let mut pair = MemoryPair::new();
    pair.host.connect(pair.now());
    pair.pump();
    let welcome = Envelope {
        version: 1,
        session: SessionId::from_bytes([5; 16]),
        body: Body::Welcome {
            nonce: Nonce([0xAB; 16]),
            version: 1,
            max_frame_bytes: 1 << 20,
        },
    };
    pair.inject(
        Side::Host,
        window(MemoryPair::GUEST_ORIGIN),
        &welcome.encode().unwrap(),
    );
    assert_eq!(pair.host.state(), State::Connecting);
    assert_eq!(
        rejections(&pair, Side::Host),
        vec![RejectReason::StaleHandshake]
    );
}

#[test]
fn replayed_frame_from_an_old_session_is_rejected() {
    let mut pair = connected();
    pair.guest.emit_topic(&PAID, &Total { cents: 1 }).unwrap();
    pair.pump();
    let old = pair.wire().last().unwrap().1.bytes.clone();
    let (_, guest_cfg) = MemoryPair::default_configs();
    pair.guest = Engine::new(guest_cfg, SystemEntropy).unwrap();
    pair.guest.connect(pair.now());
    pair.pump();
    assert!(pair.host.state().is_connected());
    pair.take_deliveries(Side::Host);
    pair.inject(Side::Host, Channel::Port, &old);
    assert_eq!(
        rejections(&pair, Side::Host),
        vec![RejectReason::WrongSession]
    );
    assert!(
        !pair
            .deliveries(Side::Host)
            .iter()
            .any(|d| matches!(d, Delivery::Event { .. }))
    );
}

#[test]
fn duplicate_reply_is_dropped_without_side_effect() {
    let mut pair = connected();
    assert_eq!(pair.call(Side::Host, &ECHO, &8), Ok(8));
    let reply = pair
        .wire()
        .iter()
        .rev()
        .find(|(s, _)| *s == Side::Guest)
        .unwrap()
        .1
        .bytes
        .clone();
    pair.inject(Side::Host, Channel::Port, &reply);
    assert!(matches!(
        rejections(&pair, Side::Host)[..],
        [RejectReason::UnknownReply(_)]
    ));
    assert!(
        !pair
            .deliveries(Side::Host)
            .iter()
            .any(|d| matches!(d, Delivery::Reply { .. }))
    );
}

#[test]
fn duplicate_call_id_in_flight_is_rejected() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let sid = session_id(&pair);
    let call = frame(
        sid,
        vec![Message::Call {
            id: 99,
            method: "echo".into(),
            payload: vec![1],
            timeout_ms: None,
        }],
    );
    pair.inject(Side::Guest, Channel::Port, &call);
    pair.inject(Side::Guest, Channel::Port, &call);
    assert_eq!(
        rejections(&pair, Side::Guest),
        vec![RejectReason::DuplicateCall(99)]
    );
    assert_eq!(pair.guest.serving_calls(), 1);
}

#[test]
fn session_traffic_before_handshake_is_rejected() {
    let mut pair = MemoryPair::new();
    pair.guest.connect(pair.now());
    let call = frame(SessionId::from_bytes([1; 16]), vec![Message::Ping]);
    pair.inject(Side::Guest, window(MemoryPair::HOST_ORIGIN), &call);
    pair.inject(Side::Guest, Channel::Port, &call);
    assert_eq!(rejections(&pair, Side::Guest).len(), 2);
}

#[test]
fn handshake_frames_in_the_wrong_role_are_rejected() {
    let mut pair = connected();
    let knock = Envelope::handshake(
        1,
        Body::Knock {
            versions: Versions::CURRENT,
        },
    )
    .encode()
    .unwrap();
    pair.inject(Side::Guest, window(MemoryPair::HOST_ORIGIN), &knock);
    assert!(matches!(
        rejections(&pair, Side::Guest)[..],
        [RejectReason::Unexpected(_)]
    ));
    assert!(pair.guest.state().is_connected());
}

#[test]
fn over_limit_and_malformed_frames_are_rejected() {
    let mut pair = connected();
    let sid = session_id(&pair);
    let big = frame(
        sid,
        vec![Message::Event {
            topic: "t".into(),
            payload: vec![0; 5 << 20],
        }],
    );
    pair.inject(Side::Host, Channel::Port, &big);
    let mut bad = frame(sid, vec![Message::Ping]);
    bad.truncate(bad.len() - 1);
    bad.push(0xEE);
    pair.inject(Side::Host, Channel::Port, &bad);
    let r = rejections(&pair, Side::Host);
    assert!(
        matches!(
            r[..],
            [RejectReason::TooLarge { .. }, RejectReason::Malformed(_)]
        ),
        "{r:?}"
    );
    assert!(pair.host.state().is_connected());
}

#[test]
fn foreign_messages_are_counted_silently() {
    let mut pair = connected();
    for msg in [&b"{\"penpal\":\"SYN\"}"[..], b"", b"wbus"] {
        pair.inject(Side::Host, window(EVIL), msg);
    }
    pair.host.record_foreign();
    assert_eq!(pair.host.stats().foreign, 4);
    assert_eq!(pair.host.stats().rejected, 0);
    assert!(rejections(&pair, Side::Host).is_empty());
}

#[test]
fn flood_of_rejections_is_counted_but_reports_stay_bounded() {
    let mut pair = connected();
    let hello = Envelope::handshake(
        1,
        Body::Knock {
            versions: Versions::CURRENT,
        },
    )
    .encode()
    .unwrap();
    let rogue = Channel::Window {
        origin: EVIL,
        source: OTHER_WINDOW,
        with_port: false,
    };
    for _ in 0..10_000 {
        let _ = pair.guest.handle_frame(pair.now(), rogue, &hello);
    }
    let mut reported = 0;
    while pair.guest.poll_delivery().is_some() {
        reported += 1;
    }
    let stats = pair.guest.stats();
    assert_eq!(stats.rejected, 10_000);
    assert_eq!(reported, 256);
    assert_eq!(stats.unreported, 10_000 - 256);
    assert_eq!(stats.rejected_by.get("wrong-source"), Some(&10_000));
    assert_eq!(pair.call(Side::Host, &ECHO, &4), Ok(4));
}

// ---- limits ----

#[test]
fn pending_call_limit_is_enforced() {
    let (mut host, guest) = MemoryPair::default_configs();
    host.limits.max_pending_calls = 2;
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    pair.host.call_method(pair.now(), &ECHO, &2, None).unwrap();
    assert_eq!(
        pair.host.call_method(pair.now(), &ECHO, &3, None),
        Err(CallError::TooManyPending(2))
    );
}

#[test]
fn queue_limit_bounds_messages_while_disconnected() {
    let (mut host, guest) = MemoryPair::default_configs();
    host.limits.max_queued_messages = 3;
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    for _ in 0..3 {
        pair.host.emit_topic(&THEME, &"x".into()).unwrap();
    }
    assert_eq!(
        pair.host.emit_topic(&THEME, &"x".into()),
        Err(CallError::QueueFull(3))
    );
}

#[test]
fn inbound_call_limit_answers_overloaded() {
    let (host, mut guest) = MemoryPair::default_configs();
    guest.limits.max_inbound_calls = 1;
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.set_auto_serve(Side::Guest, false);
    pair.connect();
    let a = pair.host.call_method(pair.now(), &ECHO, &1, None).unwrap();
    let b = pair.host.call_method(pair.now(), &ECHO, &2, None).unwrap();
    pair.pump();
    assert_eq!(pair.reply(Side::Host, a), None);
    let Some(Err(CallError::Remote(e))) = pair.reply(Side::Host, b) else {
        panic!()
    };
    assert_eq!(e.code(), RemoteError::OVERLOADED);
}

#[test]
fn oversized_request_is_refused_before_sending() {
    let mut pair = connected();
    let err = pair
        .host
        .call(pair.now(), "echo", vec![0; 5 << 20], None)
        .unwrap_err();
    assert!(matches!(err, CallError::PayloadTooLarge { len, .. } if len > 5 << 20));
    assert_eq!(pair.host.pending_calls(), 0);
}

#[test]
fn large_payload_round_trips_within_the_limit() {
    let mut pair = connected();
    const BLOB: Method<Vec<u8>, Vec<u8>> = Method::new("blob");
    pair.guest_router.route(BLOB, |mut v: Vec<u8>| {
        v.reverse();
        Ok(v)
    });
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut expected = data.clone();
    expected.reverse();
    assert_eq!(pair.call(Side::Host, &BLOB, &data), Ok(expected));
}

// ---- hardening: each finding of the audit, at the engine level ----

#[test]
fn host_keeps_waiting_for_a_peer_away_longer_than_the_handshake_timeout() {
    let (mut host, guest_cfg) = MemoryPair::default_configs();
    host.wait_for_knock = true;
    let mut pair = MemoryPair::with_configs(host, guest_cfg.clone()).unwrap();
    serve(&mut pair);
    pair.connect();
    // The frame navigates away (its old document is gone, silently)...
    pair.set_link_up(false);
    pair.host.verify_peer(pair.now());
    pair.advance(Duration::from_secs(2));
    assert_eq!(
        pair.host.state(),
        State::Reconnecting(SessionEnd::PeerSilent)
    );
    // ...for far longer than the 10 s handshake timeout...
    pair.advance(Duration::from_secs(15 * 60));
    assert_eq!(
        pair.host.state(),
        State::Reconnecting(SessionEnd::PeerSilent)
    );
    // ...and comes back: its new document knocks, and calls work again.
    pair.set_link_up(true);
    pair.guest = Engine::new(guest_cfg, SystemEntropy).unwrap();
    pair.guest.connect(pair.now());
    pair.pump();
    assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    assert_eq!(pair.call(Side::Host, &ECHO, &15), Ok(15));
}

#[test]
fn reconnect_timeout_when_set_closes_with_its_own_reason() {
    let (mut host, guest) = MemoryPair::default_configs();
    host.reconnect_timeout = Some(Duration::from_secs(60));
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.connect();
    pair.set_link_up(false);
    pair.host.verify_peer(pair.now());
    pair.advance(Duration::from_secs(30));
    assert!(matches!(pair.host.state(), State::Reconnecting(_)));
    pair.advance(Duration::from_secs(40));
    let reason = CloseReason::ReconnectTimeout(Duration::from_secs(60));
    assert_eq!(pair.host.state(), State::Closed(reason.clone()));
    assert!(reason.to_string().contains("reconnect_timeout"));
}

#[test]
fn session_frame_on_the_window_after_the_port_hand_over_is_refused() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let sid = session_id(&pair);
    let call = frame(
        sid,
        vec![Message::Call {
            id: 99,
            method: ECHO.name().into(),
            payload: ECHO.encode_request(&1).unwrap(),
            timeout_ms: None,
        }],
    );
    pair.inject(Side::Guest, window(MemoryPair::HOST_ORIGIN), &call);
    assert!(
        !pair
            .deliveries(Side::Guest)
            .iter()
            .any(|d| matches!(d, Delivery::Request { .. }))
    );
    assert!(matches!(
        rejections(&pair, Side::Guest).as_slice(),
        [RejectReason::Unexpected(what)] if what.contains("private port")
    ));
}

#[test]
fn host_with_a_two_origin_allowlist_binds_to_its_iframes_origin() {
    const B: &str = "https://b.example";
    let allow = Allowlist::new([MemoryPair::GUEST_ORIGIN, B]).unwrap();
    let mut host = Config::new(Role::Host, allow).with_peer_origin(MemoryPair::GUEST_ORIGIN);
    host.wait_for_knock = true;
    let mut engine = Engine::new(host, SystemEntropy).unwrap();
    engine.connect(Duration::ZERO);
    // The peer window now shows B (allowed by the list, but not what was embedded).
    let _ = engine.handle_frame(Duration::ZERO, window(B), knock().as_slice());
    let mut sent = Vec::new();
    while let Some(t) = engine.poll_transmit() {
        sent.push(t);
    }
    assert!(sent.is_empty(), "the host greeted {B}: {sent:?}");
    assert_eq!(
        engine.stats().rejected_by.get("disallowed-origin"),
        Some(&1)
    );
    // Its own origin is greeted.
    let _ = engine.handle_frame(
        Duration::ZERO,
        window(MemoryPair::GUEST_ORIGIN),
        knock().as_slice(),
    );
    let hello = engine.poll_transmit().unwrap();
    assert_eq!(hello.target_origin(), Some(MemoryPair::GUEST_ORIGIN));
}

#[test]
fn a_port_is_adopted_only_with_an_accepted_ready() {
    let (host_cfg, guest_cfg) = MemoryPair::default_configs();
    let mut host = Engine::new(host_cfg, SystemEntropy).unwrap();
    let mut guest = Engine::new(guest_cfg, SystemEntropy).unwrap();
    let now = Duration::ZERO;
    host.connect(now);
    guest.connect(now);
    let host_win = |with_port| Channel::Window {
        origin: MemoryPair::HOST_ORIGIN,
        source: SourceId::PEER,
        with_port,
    };
    let guest_win = Channel::Window {
        origin: MemoryPair::GUEST_ORIGIN,
        source: SourceId::PEER,
        with_port: false,
    };
    let hello = host.poll_transmit().unwrap();
    // A port riding on a hello is not adopted.
    assert!(
        !guest
            .handle_frame(now, host_win(true), &hello.bytes)
            .adopt_port
    );
    while let Some(t) = guest.poll_transmit() {
        let _ = host.handle_frame(now, guest_win, &t.bytes);
    }
    let ready = std::iter::from_fn(|| host.poll_transmit())
        .find(|t| t.attach_port)
        .unwrap();
    // A ready that lost its port is refused, and the guest stays unconnected.
    assert!(
        !guest
            .handle_frame(now, host_win(false), &ready.bytes)
            .adopt_port
    );
    assert!(!guest.state().is_connected());
    assert!(
        guest
            .handle_frame(now, host_win(true), &ready.bytes)
            .adopt_port
    );
    assert!(guest.state().is_connected());
}

#[test]
fn the_callers_deadline_crosses_the_wire_and_cancels_the_served_call() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let _call = pair
        .host
        .call_method(pair.now(), &ECHO, &1, Some(Duration::from_millis(500)))
        .unwrap();
    pair.pump();
    assert_eq!(pair.guest.serving_calls(), 1);
    let id = pair
        .deliveries(Side::Guest)
        .iter()
        .find_map(|d| match d {
            Delivery::Request { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    // Cut the link: the cancel cannot arrive, the guest's own clock does it.
    pair.set_link_up(false);
    pair.advance(Duration::from_millis(499));
    assert_eq!(pair.guest.serving_calls(), 1);
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.guest.serving_calls(), 0);
    assert!(
        pair.deliveries(Side::Guest)
            .contains(&Delivery::Cancelled(id))
    );
    assert!(
        !pair.guest.reply(id, Ok(vec![1])),
        "a reply after the deadline goes nowhere"
    );
}

#[test]
fn inbound_call_bound_counts_live_calls_and_overloaded_answers_are_bounded() {
    let (host, mut guest) = MemoryPair::default_configs();
    guest.limits.max_inbound_calls = 2;
    guest.limits.max_queued_messages = 8;
    let mut pair = MemoryPair::with_configs(host, guest).unwrap();
    pair.set_auto_serve(Side::Guest, false);
    pair.connect();
    let sid = session_id(&pair);
    let calls: Vec<Message> = (1..=1000)
        .map(|id| Message::Call {
            id,
            method: "slow".into(),
            payload: vec![],
            timeout_ms: None,
        })
        .collect();
    let bytes = frame(sid, calls);
    let now = pair.now();
    let _ = pair.guest.handle_frame(now, Channel::Port, &bytes);
    assert_eq!(pair.guest.serving_calls(), 2);
    // 998 calls over the bound: 8 OVERLOADED answers fit the queue, the rest are shed.
    assert_eq!(pair.guest.stats().shed, 990);
    let mut messages = 0;
    while let Some(t) = pair.guest.poll_transmit() {
        if let Ok(Envelope {
            body: Body::Messages(m),
            ..
        }) = Envelope::decode(&t.bytes)
        {
            messages += m.len();
        }
    }
    assert_eq!(messages, 8);
}

#[test]
fn pings_in_one_frame_get_one_pong() {
    let mut pair = connected();
    let sid = session_id(&pair);
    let pings = frame(sid, vec![Message::Ping; bus_core::MAX_MESSAGES_PER_FRAME]);
    let now = pair.now();
    let _ = pair.guest.handle_frame(now, Channel::Port, &pings);
    let t = pair.guest.poll_transmit().unwrap();
    assert_eq!(
        Envelope::decode(&t.bytes).unwrap().body,
        Body::Messages(vec![Message::Pong])
    );
    assert!(pair.guest.poll_transmit().is_none());
}

#[test]
fn frame_over_the_message_cap_is_rejected_whole() {
    let mut pair = connected();
    pair.set_auto_serve(Side::Guest, false);
    let sid = session_id(&pair);
    let mut messages = vec![Message::Ping; bus_core::MAX_MESSAGES_PER_FRAME];
    messages.push(Message::Event {
        topic: "sneaky".into(),
        payload: vec![],
    });
    pair.inject(Side::Guest, Channel::Port, &frame(sid, messages));
    assert_eq!(
        rejections(&pair, Side::Guest),
        vec![RejectReason::TooManyMessages { count: 1025 }]
    );
    assert!(
        !pair
            .deliveries(Side::Guest)
            .iter()
            .any(|d| matches!(d, Delivery::Event { .. }))
    );
}

#[test]
fn zero_or_absurd_durations_are_refused_with_what_to_write() {
    let base = || MemoryPair::default_configs().0;
    let mut c = base();
    c.handshake_timeout = Duration::ZERO;
    let e = Engine::new(c, SystemEntropy).unwrap_err();
    assert!(matches!(
        e,
        ConfigError::Duration {
            name: "handshake_timeout",
            ..
        }
    ));
    assert!(e.to_string().contains("Duration::from_secs"), "{e}");
    let mut c = base();
    c.call_timeout = Duration::from_secs(30 * 24 * 3600);
    assert!(matches!(
        Engine::new(c, SystemEntropy),
        Err(ConfigError::Duration {
            name: "call_timeout",
            ..
        })
    ));
    let mut c = base();
    c.reconnect_timeout = Some(Duration::ZERO);
    assert!(Engine::new(c, SystemEntropy).is_err());
    let mut c = base();
    c.probe_timeout = Duration::MAX;
    assert!(Engine::new(c, SystemEntropy).is_err());
}

#[test]
fn time_near_the_end_of_duration_saturates_instead_of_panicking() {
    let mut pair = connected();
    let late = Duration::MAX - Duration::from_secs(1);
    pair.host
        .call_method(late, &ECHO, &1, Some(Duration::from_secs(3600)))
        .unwrap();
    pair.host.verify_peer(late);
    pair.host.handle_timeout(late);
    pair.host.handle_timeout(Duration::MAX);
    let _ = pair.host.poll_timeout();
}
