//! Memory one frame from a compromised peer can make the engine allocate,
//! measured with a counting allocator. The audit grew a host from 1.3 MiB to
//! 516 MiB with one 4 MiB frame of `Ping`s; the bound is now about the
//! frame's own size (the binding's copy of it makes about 2x in all).
//!
//! The counting allocator sees every thread, so the tests take turns
//! ([`one_at_a_time`]): another test's allocations must not land in a
//! measurement (one did once, and a 4 MiB frame of pings seemed to grow the
//! guest by 74,208 bytes).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bus_core::envelope::{DEFAULT_MAX_FRAME_BYTES, Envelope, Message, SessionId};
use bus_core::{Channel, Delivery, MAX_MESSAGES_PER_FRAME, MemoryPair, RejectReason, Side};
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for a whole test, so that no two run at once.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A test that failed still leaves the lock usable to the others.
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Feeds `bytes` to the connected guest's port and drains everything it
/// produces; returns the peak bytes allocated above the starting point.
fn peak_growth(pair: &mut MemoryPair, bytes: &[u8]) -> usize {
    let now = pair.now();
    let start = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let _ = pair.guest.handle_frame(now, Channel::Port, bytes);
    while pair.guest.poll_transmit().is_some() {}
    let mut kept = Vec::new();
    while let Some(d) = pair.guest.poll_delivery() {
        kept.push(d); // what the application holds at the same time
    }
    let growth = ALLOC.peak_usage().saturating_sub(start);
    drop(kept);
    growth
}

fn connected() -> (MemoryPair, SessionId) {
    let mut pair = MemoryPair::new();
    pair.set_auto_serve(Side::Guest, false);
    pair.connect();
    let sid = pair
        .wire()
        .iter()
        .rev()
        .find_map(|(_, t)| {
            let e = Envelope::decode(&t.bytes).ok()?;
            (e.session != SessionId::NONE).then_some(e.session)
        })
        .unwrap();
    (pair, sid)
}

/// A 4 MiB frame body of one-byte messages, as the audit's attacker built it.
fn pings_frame(sid: SessionId) -> Vec<u8> {
    let mut bytes = Envelope::session(1, sid, vec![]).encode().unwrap();
    bytes.pop(); // the empty count
    let n = DEFAULT_MAX_FRAME_BYTES - bytes.len() - 4;
    let mut count = n as u64;
    while count >= 0x80 {
        bytes.push((count as u8) | 0x80);
        count >>= 7;
    }
    bytes.push(count as u8);
    bytes.resize(bytes.len() + n, 4); // Message::Ping
    bytes
}

#[test]
fn four_mib_of_pings_is_rejected_whole_without_growing_memory() {
    let _turn = one_at_a_time();
    let (mut pair, sid) = connected();
    let frame = pings_frame(sid);
    assert!(frame.len() <= DEFAULT_MAX_FRAME_BYTES);
    let growth = peak_growth(&mut pair, &frame);
    eprintln!("4 MiB of pings: peak growth {growth} bytes");
    assert!(growth < 64 * 1024, "grew {growth} bytes");
    assert!(pair.guest.state().is_connected());
    assert_eq!(
        pair.guest.stats().rejected_by.get("too-many-messages"),
        Some(&1)
    );
}

#[test]
fn a_full_frame_of_large_calls_allocates_about_its_own_size() {
    let _turn = one_at_a_time();
    let (mut pair, sid) = connected();
    let each = DEFAULT_MAX_FRAME_BYTES / MAX_MESSAGES_PER_FRAME - 64;
    let calls: Vec<Message> = (1..=MAX_MESSAGES_PER_FRAME as u64)
        .map(|id| Message::Call {
            id,
            method: "checkout.confirm".into(),
            payload: vec![7; each],
            timeout_ms: Some(1),
        })
        .collect();
    let frame = Envelope::session(1, sid, calls).encode().unwrap();
    let growth = peak_growth(&mut pair, &frame);
    eprintln!(
        "{} calls in a {}-byte frame: peak growth {growth} bytes",
        MAX_MESSAGES_PER_FRAME,
        frame.len()
    );
    assert!(
        growth <= frame.len() + frame.len() / 4,
        "grew {growth} for a {}-byte frame",
        frame.len()
    );
    assert_eq!(pair.guest.serving_calls(), MAX_MESSAGES_PER_FRAME);
    // Every one of them expires with the caller's 1 ms deadline.
    pair.guest
        .handle_timeout(pair.now() + Duration::from_millis(1));
    assert_eq!(pair.guest.serving_calls(), 0);
    let cancelled = std::iter::from_fn(|| pair.guest.poll_delivery())
        .filter(|d| matches!(d, Delivery::Cancelled(_)))
        .count();
    assert_eq!(cancelled, MAX_MESSAGES_PER_FRAME);
}

#[test]
fn a_full_frame_of_pings_queues_one_pong() {
    let _turn = one_at_a_time();
    let (mut pair, sid) = connected();
    let frame = Envelope::session(1, sid, vec![Message::Ping; MAX_MESSAGES_PER_FRAME])
        .encode()
        .unwrap();
    for _ in 0..1000 {
        let _ = pair.guest.handle_frame(pair.now(), Channel::Port, &frame);
    }
    let mut frames = 0;
    while pair.guest.poll_transmit().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 1);
    assert!(
        !std::iter::from_fn(|| pair.guest.poll_delivery()).any(|d| matches!(
            d,
            Delivery::Rejected(r) if r.reason != RejectReason::WrongSession
        ))
    );
}
