//! Load on loopback, bounded in count and time: 1,000 native clients on one
//! hub, one of them emitting events the server relays to the other 999.
//! Reports the p50 and p99 delivery latency (sender's emit to each
//! receiver's feed) on stdout and in `target/tmp/bus-server-load.json`,
//! which `cargo xtask bench` puts in its report. No timing is asserted:
//! only that every receiver got every event, and the sender none.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus_core::Topic;
use bus_server::Services;
use common::{client_with, start};
use tokio::sync::Mutex;

/// (sequence number, micros since the test's epoch when emitted)
const TICK: Topic<(u32, u64)> = Topic::new("tick");
const CLIENTS: usize = 1_000;

fn how_many() -> usize {
    std::env::var("LOAD_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CLIENTS)
}
const TICKS: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_on_one_hub() {
    let running = start(Services::new().relay(TICK)).await;
    let epoch = Instant::now();
    let began = Instant::now();
    let clients: Vec<_> = (0..how_many())
        .map(|_| {
            client_with(&running.url, Services::new(), |o| {
                o.handshake_timeout = Duration::from_secs(60);
            })
        })
        .collect();
    let up = tokio::time::timeout(Duration::from_secs(120), async {
        for c in &clients {
            c.connected().await.expect("closed");
        }
    })
    .await;
    assert!(up.is_ok(), "not every client connected within 120 s");
    let connect_s = began.elapsed().as_secs_f64();
    assert_eq!(running.server.hub().len(), how_many());

    let latencies = Arc::new(Mutex::new(Vec::with_capacity(how_many() * TICKS as usize)));
    let mut readers = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let mut feed = c.events(&TICK).await;
        let latencies = Arc::clone(&latencies);
        let expect = if i == 0 { 0 } else { TICKS };
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            let mut mine = Vec::with_capacity(TICKS as usize);
            while got < expect {
                let Ok(Some(Ok((_, sent)))) =
                    tokio::time::timeout(Duration::from_secs(30), feed.next()).await
                else {
                    break;
                };
                let now = epoch.elapsed().as_micros() as u64;
                mine.push(now.saturating_sub(sent));
                got += 1;
            }
            // The sender must not get its own events back.
            if expect == 0 {
                got = tokio::time::timeout(Duration::from_millis(500), feed.next())
                    .await
                    .map_or(0, |_| 1);
            }
            latencies.lock().await.extend(mine);
            got
        }));
    }
    let sender = clients[0].clone();
    for seq in 0..TICKS {
        let sent = epoch.elapsed().as_micros() as u64;
        sender.emit(&TICK, &(seq, sent)).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.await.unwrap();
        let expect = if i == 0 { 0 } else { TICKS };
        assert_eq!(got, expect, "client {i}");
    }
    let mut all = latencies.lock().await.clone();
    all.sort_unstable();
    let pct = |p: usize| all[(all.len() * p / 100).min(all.len() - 1)];
    let (p50, p99) = (pct(50), pct(99));
    println!(
        "{} clients connected in {connect_s:.1} s; {} deliveries; latency p50 {p50} µs, p99 {p99} µs",
        how_many(),
        all.len()
    );
    let report = format!(
        "{{\"clients\":{},\"events\":{TICKS},\"deliveries\":{},\"connect_s\":{connect_s:.2},\"p50_us\":{p50},\"p99_us\":{p99}}}\n",
        how_many(),
        all.len()
    );
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bus-server-load.json"),
        report,
    );
}
