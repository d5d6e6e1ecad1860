//! Scale-out on a real `nats-server`: two servers (each with its own hub and
//! NATS connection, as two processes would have) share their broadcasts. A
//! client on one receives what a client on the other emitted, and the
//! sender still never gets its own event back. The broker restarting does
//! not stop local traffic, and sharing resumes.
#![cfg(feature = "nats")]

mod common;

use std::time::Duration;

use bus_core::Topic;
use bus_harness::nats::NatsServer;
use bus_server::nats::NatsBroker;
use bus_server::{BusServer, Hub, Services};
use common::{client, connected, options, serve};

const CART: Topic<u32> = Topic::new("cart.changed");
const FENCE: Topic<u32> = Topic::new("fence");

async fn process(nats: &str) -> (common::Running, std::sync::Arc<NatsBroker>) {
    let hub = Hub::new();
    let broker = NatsBroker::connect(nats, "wbus-test", &hub)
        .await
        .expect("broker");
    let server = BusServer::with_hub(options(|_| {}), Services::new().relay(CART), hub).unwrap();
    (serve(server, 0).await, broker)
}

async fn next<T: serde::de::DeserializeOwned>(events: &mut bus_server::Events<T>) -> Option<T> {
    match tokio::time::timeout(Duration::from_secs(10), events.next()).await {
        Ok(Some(Ok(v))) => Some(v),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_crosses_processes_through_nats_and_never_returns_to_its_sender() {
    let mut nats = NatsServer::start().expect("nats-server");
    let (a, broker_a) = process(&nats.url()).await;
    let (b, broker_b) = process(&nats.url()).await;
    let on_a = client(&a.url, Services::new());
    let on_b = client(&b.url, Services::new());
    let also_a = client(&a.url, Services::new());
    for c in [&on_a, &on_b, &also_a] {
        connected(c).await;
    }
    let mut carts_a = on_a.events(&CART).await;
    let mut fence_a = on_a.events(&FENCE).await;
    let mut carts_b = on_b.events(&CART).await;
    let mut carts_also = also_a.events(&CART).await;

    on_a.emit(&CART, &3).unwrap();
    assert_eq!(
        next(&mut carts_b).await,
        Some(3),
        "the other process's client"
    );
    assert_eq!(
        next(&mut carts_also).await,
        Some(3),
        "this process's other client"
    );
    // The sender: a broadcast made after its event arrives, and its own
    // event never did.
    a.server.hub().broadcast(&FENCE, &1).unwrap();
    assert_eq!(next(&mut fence_a).await, Some(1));
    let own = tokio::time::timeout(Duration::from_millis(300), carts_a.next()).await;
    assert!(own.is_err(), "the sender got its own event back: {own:?}");
    // And the other way.
    on_b.emit(&CART, &4).unwrap();
    assert_eq!(next(&mut carts_a).await, Some(4));
    assert_eq!(next(&mut carts_also).await, Some(4));
    assert!(broker_a.stats().published >= 1 && broker_b.stats().received >= 1);

    // The broker restarts: local broadcasts go on, and sharing resumes.
    nats.kill();
    also_a.emit(&CART, &5).unwrap();
    assert_eq!(
        next(&mut carts_a).await,
        Some(5),
        "local traffic without the broker"
    );
    nats.restart().expect("nats-server again");
    let resumed = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 100;
        loop {
            on_b.emit(&CART, &n).unwrap();
            if let Ok(Some(Ok(v))) =
                tokio::time::timeout(Duration::from_millis(250), carts_a.next()).await
                && v >= 100
            {
                return v;
            }
            n += 1;
        }
    })
    .await;
    assert!(
        resumed.is_ok(),
        "broadcasts did not cross processes after the broker restarted"
    );
}

#[tokio::test]
async fn a_broker_that_cannot_be_reached_is_an_error_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let err = NatsBroker::connect(&url, "wbus-test", &Hub::new())
        .await
        .expect_err("nothing listens there");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach NATS at {url}")),
        "{err}"
    );
}
