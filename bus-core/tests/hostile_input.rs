//! Properties over arbitrary input: the envelope round-trips, and nothing a
//! hostile window sends makes the decoder, the allowlist or the engine panic.

use std::time::Instant;

use bus_core::envelope::{
    Body, DEFAULT_MAX_FRAME_BYTES, Envelope, Message, NAMESPACE, Nonce, Outcome, Refusal, SessionId,
};
use bus_core::{
    Allowlist, Channel, DecodeError, MemoryPair, RemoteError, Side, SourceId, Versions,
};
use proptest::prelude::*;

fn versions() -> impl Strategy<Value = Versions> {
    (any::<u16>(), any::<u16>()).prop_map(|(min, max)| Versions { min, max })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u64>(), ".{0,20}", bytes(64), any::<Option<u32>>()).prop_map(
            |(id, method, payload, timeout_ms)| {
                Message::Call {
                    id,
                    method,
                    payload,
                    timeout_ms,
                }
            }
        ),
        (any::<u64>(), bytes(64)).prop_map(|(id, p)| Message::Reply {
            id,
            outcome: Outcome::Ok(p)
        }),
        (
            any::<u64>(),
            any::<i32>(),
            ".{0,20}",
            proptest::option::of(bytes(16))
        )
            .prop_map(|(id, code, msg, data)| {
                let mut e = RemoteError::new(code, msg);
                if let Some(d) = data {
                    e = e.with_raw_data(d);
                }
                Message::Reply {
                    id,
                    outcome: Outcome::Err(e),
                }
            }),
        (".{0,20}", bytes(64)).prop_map(|(topic, payload)| Message::Event { topic, payload }),
        any::<u64>().prop_map(|id| Message::Cancel { id }),
        Just(Message::Ping),
        Just(Message::Pong),
        ".{0,20}".prop_map(|reason| Message::Close { reason }),
        any::<u32>().prop_map(|count| Message::Attach { count }),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let nonce = any::<[u8; 16]>().prop_map(Nonce);
    prop_oneof![
        versions().prop_map(|versions| Body::Knock { versions }),
        (versions(), nonce.clone(), any::<u32>()).prop_map(|(versions, nonce, max_frame_bytes)| {
            Body::Hello {
                versions,
                nonce,
                max_frame_bytes,
            }
        }),
        (nonce, any::<u16>(), any::<u32>()).prop_map(|(nonce, version, max_frame_bytes)| {
            Body::Welcome {
                nonce,
                version,
                max_frame_bytes,
            }
        }),
        versions().prop_map(|supported| Body::Refuse {
            reason: Refusal::VersionMismatch { supported }
        }),
        Just(Body::Ready),
        proptest::collection::vec(message(), 0..8).prop_map(Body::Messages),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (any::<u16>(), any::<[u8; 16]>(), body()).prop_map(|(version, s, body)| Envelope {
        version,
        session: SessionId::from_bytes(s),
        body,
    })
}

/// Bytes that start with our namespace, so they get past the cheap check.
fn namespaced(max: usize) -> impl Strategy<Value = Vec<u8>> {
    bytes(max).prop_map(|mut b| {
        let mut out = NAMESPACE.to_vec();
        out.append(&mut b);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decode_inverts_encode(e in envelope()) {
        prop_assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(b in bytes(512), n in namespaced(512)) {
        let _ = Envelope::decode(&b);
        let _ = Envelope::decode(&n);
    }

    #[test]
    fn mutated_frames_never_panic_the_decoder(e in envelope(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut b = e.encode().unwrap();
        for (at, x) in flips {
            let i = at % b.len();
            b[i] ^= x;
        }
        b.truncate(cut % (b.len() + 1));
        let _ = Envelope::decode(&b);
    }

    #[test]
    fn allowlist_building_never_panics(entries in proptest::collection::vec(".{0,40}", 0..4)) {
        let _ = Allowlist::new(&entries);
    }

    #[test]
    fn arbitrary_origins_never_match_unless_canonical(origin in "[a-zA-Z0-9:/.*@%\\[\\] \\-]{0,40}") {
        let allow = Allowlist::new(["https://app.example.com", "https://*.example.org", "http://[::1]:8080"]).unwrap();
        if allow.allows(&origin) {
            // Whatever matched is a canonical origin with a clean host.
            #[cfg(feature = "public-suffix")]
            prop_assert_eq!(bus_core::origin::canonical_origin(&origin).unwrap(), origin.clone());
            prop_assert!(!origin.contains('*') && !origin.contains('@') && !origin.contains('%') && !origin.contains(' '));
            prop_assert!(!origin.ends_with('/') && !origin.ends_with('.'));
        }
    }

    /// A connected engine fed garbage from every kind of channel keeps its
    /// session and keeps serving.
    #[test]
    fn engine_survives_arbitrary_frames(frames in proptest::collection::vec((namespaced(200), 0u8..4), 1..30)) {
        let mut pair = MemoryPair::new();
        pair.connect();
        for (bytes, how) in &frames {
            let channel = match how {
                0 => Channel::Port,
                1 => Channel::Window { origin: MemoryPair::GUEST_ORIGIN, source: SourceId::PEER, with_port: true },
                2 => Channel::Window { origin: MemoryPair::GUEST_ORIGIN, source: SourceId(9), with_port: false },
                _ => Channel::Window { origin: "https://evil.example", source: SourceId(9), with_port: false },
            };
            pair.inject(Side::Host, channel, bytes);
        }
        prop_assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    }
}

/// Deterministic xorshift, so the million-input run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn decoder_survives_a_million_random_inputs() {
    let seeds: Vec<Vec<u8>> = [
        Envelope::handshake(
            1,
            Body::Hello {
                versions: Versions::CURRENT,
                nonce: Nonce([1; 16]),
                max_frame_bytes: 9,
            },
        ),
        Envelope::session(
            1,
            SessionId::from_bytes([2; 16]),
            vec![
                Message::Call {
                    id: 1,
                    method: "m".into(),
                    payload: vec![1, 2, 3],
                    timeout_ms: Some(5),
                },
                Message::Reply {
                    id: 2,
                    outcome: Outcome::Err(RemoteError::new(1, "e").with_raw_data(vec![4])),
                },
                Message::Event {
                    topic: "t".into(),
                    payload: vec![5; 40],
                },
            ],
        ),
    ]
    .iter()
    .map(|e| e.encode().unwrap())
    .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut malformed, mut foreign) = (0u32, 0u32, 0u32);
    let start = Instant::now();
    let mut buf = Vec::with_capacity(256);
    for i in 0..1_000_000u32 {
        buf.clear();
        let r = rng.next();
        match i % 3 {
            // Pure noise, a third of it behind our namespace.
            0 => {
                if r.is_multiple_of(3) {
                    buf.extend_from_slice(&NAMESPACE);
                }
                for _ in 0..(r >> 8) % 96 {
                    buf.push(rng.next() as u8);
                }
            }
            // A valid frame with random bytes flipped.
            1 => {
                buf.extend_from_slice(&seeds[(r % 2) as usize]);
                for _ in 0..1 + (r >> 4) % 4 {
                    let at = (rng.next() as usize) % buf.len();
                    buf[at] ^= rng.next() as u8;
                }
            }
            // A valid frame cut short or extended with noise.
            _ => {
                let seed = &seeds[(r % 2) as usize];
                let cut = (r >> 8) as usize % (seed.len() + 1);
                buf.extend_from_slice(&seed[..cut]);
                for _ in 0..(r >> 20) % 8 {
                    buf.push(rng.next() as u8);
                }
            }
        }
        match Envelope::decode(&buf) {
            Ok(_) => ok += 1,
            Err(DecodeError::Foreign) => foreign += 1,
            Err(_) => malformed += 1,
        }
    }
    println!(
        "1,000,000 inputs in {:?}: {ok} decoded, {malformed} malformed, {foreign} foreign",
        start.elapsed()
    );
    assert!(
        ok > 0 && malformed > 100_000 && foreign > 100_000,
        "{ok} {malformed} {foreign}"
    );
}

#[test]
fn sixteen_mib_frame_is_refused_by_the_size_limit() {
    let mut frame = vec![0u8; 16 * 1024 * 1024];
    frame[..4].copy_from_slice(&NAMESPACE);
    let start = Instant::now();
    let result = Envelope::decode(&frame);
    let took = start.elapsed();
    println!("16 MiB frame refused in {took:?}");
    assert_eq!(
        result,
        Err(DecodeError::TooLarge {
            len: frame.len(),
            max: DEFAULT_MAX_FRAME_BYTES
        })
    );
    // The engine refuses it the same way, as a reported rejection.
    let mut pair = MemoryPair::new();
    pair.connect();
    pair.inject(Side::Host, Channel::Port, &frame);
    assert_eq!(pair.host.stats().rejected_by.get("too-large"), Some(&1));
}
