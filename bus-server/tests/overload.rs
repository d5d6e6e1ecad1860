//! A slow consumer: a client that stops reading while the hub keeps
//! broadcasting. Its queue fills, it is disconnected with a reason, the
//! others get everything, and the server's memory stays bounded whatever
//! the volume broadcast (counted by this test binary's allocator).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bus_core::Topic;
use bus_server::{BusServer, Services};
use common::{client, connected, options, raw_guest, serve};
use futures_util::StreamExt;
use peak_alloc::PeakAlloc;
use tokio_tungstenite::tungstenite::Message;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const NEWS: Topic<Vec<u8>> = Topic::new("news");

/// Broadcasts made while the slow client is stuck: 4,000 × 16 KiB, 64 MB.
const BROADCASTS: usize = 4_000;
const SIZE: usize = 16 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_with_a_reason_and_memory_stays_bounded() {
    let running = serve(
        BusServer::new(options(|o| o.queue = 64), Services::new()).unwrap(),
        0,
    )
    .await;
    let (mut stuck, _engine) = raw_guest(&running.url).await;
    let fast = client(&running.url, Services::new());
    connected(&fast).await;
    let mut news = fast.events(&NEWS).await;
    let hub = running.server.hub();
    while hub.len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let start = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let payload = vec![7u8; SIZE];
    let received = Arc::new(AtomicUsize::new(0));
    let reader = tokio::spawn({
        let received = Arc::clone(&received);
        async move {
            let mut got = 0;
            while got < BROADCASTS {
                match tokio::time::timeout(Duration::from_secs(20), news.next()).await {
                    Ok(Some(Ok(v))) => {
                        assert_eq!(v.len(), SIZE);
                        got += 1;
                        received.store(got, Ordering::Release);
                    }
                    other => panic!("the fast client stopped after {got}: {other:?}"),
                }
            }
            got
        }
    });
    for sent in 0..BROADCASTS {
        // As fast as the fast client reads, so its own queue never fills.
        while sent - received.load(Ordering::Acquire) >= 32 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        hub.broadcast(&NEWS, &payload).unwrap();
    }
    assert_eq!(
        reader.await.unwrap(),
        BROADCASTS,
        "the fast client missed broadcasts"
    );
    let growth = ALLOC.peak_usage().saturating_sub(start);
    println!(
        "broadcast {} MB; the server's peak memory grew by {:.1} MB",
        BROADCASTS * SIZE / 1_000_000,
        growth as f64 / 1e6
    );
    // Unbounded queues would have kept everything for the stuck client.
    assert!(
        growth < (BROADCASTS * SIZE) / 4,
        "memory grew by {growth} bytes while {} were broadcast",
        BROADCASTS * SIZE
    );
    assert_eq!(hub.len(), 1, "the stuck client is still a member");

    // The stuck client, reading again, finds the reason at the end.
    let close = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(m) = stuck.next().await {
            match m {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(e) => panic!("no close frame: {e}"),
            }
        }
        None
    })
    .await
    .expect("no close frame")
    .expect("a close frame without a reason");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("slow consumer"), "{}", close.reason);
}
