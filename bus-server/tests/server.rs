//! The bus over real WebSockets on loopback: the engine per socket, typed
//! calls and events both ways, the Origin check before the upgrade, the
//! hub's fan-out to everyone but the sender, the frame limit, a flood, a
//! restart and a shutdown.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus_core::{CallError, Method, RemoteError, Topic};
use bus_server::{BusServer, Services};
use common::{PAGE, client, client_with, connected, options, raw, raw_guest, serve, start};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const ADD: Method<(i32, i32), i32> = Method::new("add");
const WHO: Method<(), String> = Method::new("who");
const SLOW: Method<u64, u64> = Method::new("slow");
const NEWS: Topic<String> = Topic::new("news");
const CART: Topic<u32> = Topic::new("cart.changed");
const FENCE: Topic<u32> = Topic::new("fence");

fn adder() -> Services {
    Services::new()
        .serve(ADD, |_client, (a, b): (i32, i32)| async move {
            a.checked_add(b)
                .ok_or_else(|| RemoteError::new(400, "overflow"))
        })
        .serve(SLOW, |_client, ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })
        .relay(CART)
}

#[tokio::test]
async fn calls_and_events_travel_both_ways_over_one_socket() {
    let running = start(adder()).await;
    let me = client(
        &running.url,
        Services::new().serve(WHO, |_server, ()| async move {
            Ok("a native client".to_owned())
        }),
    );
    connected(&me).await;
    assert_eq!(me.call(&ADD, &(2, 3)).await.unwrap(), 5);
    let err = me.call(&ADD, &(i32::MAX, 1)).await.unwrap_err();
    assert!(
        matches!(err, CallError::Remote(ref e) if e.code() == 400),
        "{err:?}"
    );
    // The server calls and emits to that one client.
    let hub = running.server.hub();
    assert_eq!(hub.len(), 1);
    let them = hub.peers().pop().unwrap();
    assert_eq!(them.origin(), PAGE);
    assert_eq!(them.call(&WHO, &()).await.unwrap(), "a native client");
    let mut news = me.events(&NEWS).await;
    them.emit(&NEWS, &"hello".to_owned()).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), news.next()).await;
    assert_eq!(got.unwrap().unwrap().unwrap(), "hello");
    assert_eq!(running.server.stats().accepted, 1);
}

#[tokio::test]
async fn a_socket_from_a_disallowed_or_missing_origin_gets_403_and_no_socket() {
    let running = start(adder()).await;
    for origin in [Some("https://evil.example"), Some("null"), None] {
        match raw(&running.url, origin).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403, "{origin:?}"),
            Err(e) => panic!("{origin:?}: expected a 403, got {e}"),
            Ok(_) => panic!("{origin:?}: a socket was opened"),
        }
    }
    let stats = running.server.stats();
    assert_eq!(
        (stats.refused, stats.accepted, stats.connections),
        (3, 0, 0)
    );
    // An allowed page still gets its socket.
    assert!(raw(&running.url, Some(PAGE)).await.is_ok());
}

#[tokio::test]
async fn a_relayed_event_reaches_every_other_client_and_never_its_sender() {
    let running = start(adder()).await;
    let clients: Vec<_> = (0..3)
        .map(|_| client(&running.url, Services::new()))
        .collect();
    for c in &clients {
        connected(c).await;
    }
    let mut carts = Vec::new();
    let mut fences = Vec::new();
    for c in &clients {
        carts.push(c.events(&CART).await);
        fences.push(c.events(&FENCE).await);
    }
    clients[0].emit(&CART, &7).unwrap();
    for cart in &mut carts[1..] {
        let got = tokio::time::timeout(Duration::from_secs(5), cart.next()).await;
        assert_eq!(got.unwrap().unwrap().unwrap(), 7);
    }
    // Everything a client is sent arrives in order: once the sender has a
    // broadcast made after its own event, it would have had its own.
    running.server.hub().broadcast(&FENCE, &1).unwrap();
    let fence = tokio::time::timeout(Duration::from_secs(5), fences[0].next()).await;
    assert_eq!(fence.unwrap().unwrap().unwrap(), 1);
    let own = tokio::time::timeout(Duration::from_millis(50), carts[0].next()).await;
    assert!(own.is_err(), "the sender got its own event back: {own:?}");
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_the_socket_before_it_is_decoded() {
    let running = serve(
        BusServer::new(options(|o| o.limits.max_frame_bytes = 4096), adder()).unwrap(),
        0,
    )
    .await;
    let (mut ws, _engine) = raw_guest(&running.url).await;
    ws.send(Message::Binary(vec![0u8; 64 * 1024].into()))
        .await
        .unwrap();
    // The server drops the socket: nothing but a close or an error follows.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the oversized socket stayed open");
    assert!(!matches!(end, Some(Ok(Message::Binary(_)))), "{end:?}");
}

#[tokio::test]
async fn a_flooding_client_is_throttled_and_cut_off_and_the_others_are_served() {
    let running = serve(
        BusServer::new(
            options(|o| {
                o.relay_rate = 50;
                o.relay_burst = 100;
            }),
            adder(),
        )
        .unwrap(),
        0,
    )
    .await;
    let flooder = client_with(&running.url, Services::new(), |o| {
        o.backoff_initial = Duration::from_secs(30);
        o.backoff_max = Duration::from_secs(30);
    });
    let calm = client(&running.url, Services::new());
    connected(&flooder).await;
    connected(&calm).await;
    let mut carts = calm.events(&CART).await;
    let flood = tokio::spawn({
        let flooder = flooder.clone();
        async move {
            for i in 0..20_000u32 {
                if flooder.emit(&CART, &i).is_err() {
                    tokio::task::yield_now().await;
                }
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    // The calm client is answered while the flood goes on.
    for i in 0..20 {
        let sum = tokio::time::timeout(Duration::from_secs(5), calm.call(&ADD, &(i, 1))).await;
        assert_eq!(sum.expect("the calm client starved").unwrap(), i + 1);
    }
    flood.await.unwrap();
    // It got at most what the relay budget lets through, not 20,000.
    let mut relayed = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), carts.next()).await {
        relayed += 1;
    }
    assert!(relayed <= 400, "{relayed} flood events were relayed");
    // The flooder was disconnected.
    let kicked = tokio::time::timeout(Duration::from_secs(5), async {
        while flooder.state().is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(kicked.is_ok(), "the flooder is still connected");
}

#[tokio::test]
async fn a_restarted_server_fails_the_pending_call_and_the_client_reconnects() {
    let first = start(adder()).await;
    let port = first.port;
    let me = client(&first.url, Services::new());
    connected(&me).await;
    let pending = tokio::spawn({
        let me = me.clone();
        async move { me.call(&SLOW, &60_000).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.stop().await;
    let failed = tokio::time::timeout(Duration::from_secs(10), pending).await;
    assert_eq!(
        failed.expect("the pending call hung").unwrap(),
        Err(CallError::Disconnected)
    );
    // A new process on the same port: the client finds it by itself.
    let second = serve(BusServer::new(options(|_| {}), adder()).unwrap(), port).await;
    connected(&me).await;
    assert_eq!(me.call(&ADD, &(40, 2)).await.unwrap(), 42);
    assert_eq!(second.server.hub().len(), 1);
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect_and_they_do() {
    let first = start(adder()).await;
    let port = first.port;
    let states = Arc::new(Mutex::new(Vec::new()));
    let me = client(&first.url, Services::new());
    connected(&me).await;
    let watcher = tokio::spawn({
        let me = me.clone();
        let states = Arc::clone(&states);
        async move {
            loop {
                let s = me.state();
                states.lock().unwrap().push(format!("{s:?}"));
                if !s.is_connected() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let server = first.server.clone();
    first.stop().await;
    assert_eq!(server.stats().connections, 0);
    tokio::time::timeout(Duration::from_secs(5), watcher)
        .await
        .expect("the client did not notice the shutdown")
        .unwrap();
    // Not closed for good: reconnecting.
    assert!(
        !matches!(me.state(), bus_core::State::Closed(_)),
        "{:?}",
        me.state()
    );
    let _second = serve(BusServer::new(options(|_| {}), adder()).unwrap(), port).await;
    connected(&me).await;
    assert_eq!(me.call(&ADD, &(1, 1)).await.unwrap(), 2);
}

#[tokio::test]
async fn closing_the_client_ends_it_for_good() {
    let running = start(adder()).await;
    let me = client(&running.url, Services::new());
    connected(&me).await;
    me.close("done").await;
    let reason = tokio::time::timeout(Duration::from_secs(5), me.closed()).await;
    assert!(reason.is_ok(), "the client did not close");
    let gone = tokio::time::timeout(Duration::from_secs(5), async {
        while running.server.stats().connections > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the server kept the socket");
    assert!(matches!(
        me.call(&ADD, &(1, 1)).await,
        Err(CallError::Closed(_))
    ));
}

#[tokio::test]
async fn refused_frames_are_reported_with_the_connection_they_came_from() {
    use bus_core::envelope::{Body, Envelope, Message as BusMessage, SessionId};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let services = adder().on_rejection({
        let seen = Arc::clone(&seen);
        move |client, rejection| {
            seen.lock()
                .unwrap()
                .push((client.origin().to_owned(), rejection.reason.label()));
        }
    });
    let running = start(services).await;
    let (mut ws, _engine) = raw_guest(&running.url).await;
    // A session frame under a session id that is not this socket's.
    let forged = Envelope {
        version: 1,
        session: SessionId::from_bytes([9; 16]),
        body: Body::Messages(vec![BusMessage::Ping]),
    }
    .encode()
    .unwrap();
    ws.send(Message::Binary(forged.into())).await.unwrap();
    let reported = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(first) = seen.lock().unwrap().first().cloned() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the refused frame was not reported");
    assert_eq!(reported, (PAGE.to_owned(), "wrong-session"));
}
