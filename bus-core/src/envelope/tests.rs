use super::*;

fn sample() -> Envelope {
    Envelope::session(
        1,
        SessionId([9; 16]),
        vec![
            Message::Call {
                id: 7,
                method: "checkout.total".into(),
                payload: vec![1, 2, 3],
                timeout_ms: Some(500),
            },
            Message::Reply {
                id: 3,
                outcome: Outcome::Err(RemoteError::new(42, "nope").with_raw_data(vec![5])),
            },
        ],
    )
}

#[test]
fn round_trips_every_kind() {
    let n = Nonce([3; 16]);
    let bodies = [
        Body::Knock {
            versions: Versions::CURRENT,
        },
        Body::Hello {
            versions: Versions { min: 1, max: 3 },
            nonce: n,
            max_frame_bytes: 1024,
        },
        Body::Welcome {
            nonce: n,
            version: 1,
            max_frame_bytes: 99,
        },
        Body::Refuse {
            reason: Refusal::VersionMismatch {
                supported: Versions { min: 2, max: 2 },
            },
        },
        Body::Ready,
        Body::Messages(vec![
            Message::Event {
                topic: "t".into(),
                payload: vec![],
            },
            Message::Cancel { id: u64::MAX },
            Message::Ping,
            Message::Pong,
            Message::Close {
                reason: "bye".into(),
            },
            Message::Attach { count: 2 },
            Message::Reply {
                id: 0,
                outcome: Outcome::Ok(vec![0; 300]),
            },
        ]),
    ];
    for body in bodies {
        let e = Envelope::handshake(1, body);
        assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
    }
    let e = sample();
    assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
}

#[test]
fn foreign_messages_are_recognised() {
    for b in [
        &b""[..],
        b"wbus",
        b"hello world, this is not ours",
        b"{\"type\":\"penpal\"}",
        &[0u8; 64],
    ] {
        assert_eq!(Envelope::decode(b), Err(DecodeError::Foreign));
    }
}

#[test]
fn refuses_oversized_frame_before_parsing() {
    let mut big = vec![0u8; 16 * 1024 * 1024];
    big[..4].copy_from_slice(&NAMESPACE);
    let err = Envelope::decode(&big).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            len: big.len(),
            max: DEFAULT_MAX_FRAME_BYTES
        }
    );
    let small = sample().encode().unwrap();
    assert!(matches!(
        Envelope::decode_limited(&small, small.len() - 1),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(Envelope::decode_limited(&small, small.len()).is_ok());
}

#[test]
fn tolerates_fields_appended_by_newer_minor_version() {
    let e = sample();
    let mut bytes = e.encode().unwrap();
    bytes.extend_from_slice(&[0xAA, 0xBB, 0x01, 0x02]);
    assert_eq!(Envelope::decode(&bytes).unwrap(), e);
}

#[test]
fn truncated_frames_are_malformed_not_panics() {
    let bytes = sample().encode().unwrap();
    for cut in HEADER_LEN..bytes.len() {
        assert!(
            matches!(
                Envelope::decode(&bytes[..cut]),
                Err(DecodeError::Malformed(_))
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    // A Messages body claiming u32::MAX entries is refused by count...
    let mut b = Vec::from(NAMESPACE);
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&[0; 16]);
    b.push(5); // Body::Messages
    let header = b.clone();
    b.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
    assert!(matches!(
        Envelope::decode(&b),
        Err(DecodeError::TooManyMessages { count: 0xFFFF_FFFF })
    ));
    // ...and one call claiming a 4 GiB payload does not allocate it.
    let mut b = header;
    b.push(1);
    b.push(0); // Message::Call
    b.push(1); // id
    b.push(1);
    b.push(b'm');
    b.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
    assert!(matches!(
        Envelope::decode(&b),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn version_negotiation_picks_highest_common() {
    let v = |min, max| Versions { min, max };
    assert_eq!(v(1, 3).negotiate(v(2, 5)), Some(3));
    assert_eq!(v(1, 1).negotiate(v(1, 1)), Some(1));
    assert_eq!(v(1, 1).negotiate(v(2, 2)), None);
    assert_eq!(v(3, 1).negotiate(v(1, 3)), None);
}

#[test]
fn frame_with_more_messages_than_the_cap_is_refused_before_decoding() {
    let ok = Envelope::session(
        1,
        SessionId([1; 16]),
        vec![Message::Ping; MAX_MESSAGES_PER_FRAME],
    );
    assert_eq!(Envelope::decode(&ok.encode().unwrap()).unwrap(), ok);
    let over = Envelope::session(
        1,
        SessionId([1; 16]),
        vec![Message::Ping; MAX_MESSAGES_PER_FRAME + 1],
    );
    assert_eq!(
        Envelope::decode(&over.encode().unwrap()),
        Err(DecodeError::TooManyMessages {
            count: MAX_MESSAGES_PER_FRAME as u64 + 1
        })
    );
    // A length prefix of u64::MAX with nothing behind it.
    let mut lying = Envelope::session(1, SessionId([1; 16]), vec![])
        .encode()
        .unwrap();
    lying.pop();
    lying.extend_from_slice(&[0xff; 9]);
    lying.push(0x01);
    assert!(matches!(
        Envelope::decode(&lying),
        Err(DecodeError::TooManyMessages { .. })
    ));
}

mod hand_written_codec {
    //! The hand-written codec (`wire`) against postcard with the serde
    //! derives: same bytes out, same verdict and value in.
    use proptest::prelude::*;

    use super::super::*;
    use crate::error::RemoteError;

    fn versions() -> impl Strategy<Value = Versions> {
        (any::<u16>(), any::<u16>()).prop_map(|(min, max)| Versions { min, max })
    }

    fn message() -> impl Strategy<Value = Message> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            (any::<u64>(), ".{0,12}", bytes(), any::<Option<u32>>()).prop_map(
                |(id, method, payload, timeout_ms)| Message::Call {
                    id,
                    method,
                    payload,
                    timeout_ms
                }
            ),
            (any::<u64>(), bytes()).prop_map(|(id, p)| Message::Reply {
                id,
                outcome: Outcome::Ok(p)
            }),
            (
                any::<u64>(),
                any::<i32>(),
                ".{0,12}",
                proptest::option::of(bytes())
            )
                .prop_map(|(id, code, message, data)| {
                    let e = RemoteError::new(code, message);
                    let e = match data {
                        Some(d) => e.with_raw_data(d),
                        None => e,
                    };
                    Message::Reply {
                        id,
                        outcome: Outcome::Err(e),
                    }
                }),
            (".{0,12}", bytes()).prop_map(|(topic, payload)| Message::Event { topic, payload }),
            any::<u64>().prop_map(|id| Message::Cancel { id }),
            Just(Message::Ping),
            Just(Message::Pong),
            ".{0,20}".prop_map(|reason| Message::Close { reason }),
            any::<u32>().prop_map(|count| Message::Attach { count }),
        ]
    }

    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            versions().prop_map(|versions| Body::Knock { versions }),
            (versions(), any::<[u8; 16]>(), any::<u32>()).prop_map(
                |(versions, n, max_frame_bytes)| {
                    Body::Hello {
                        versions,
                        nonce: Nonce(n),
                        max_frame_bytes,
                    }
                }
            ),
            (any::<[u8; 16]>(), any::<u16>(), any::<u32>()).prop_map(
                |(n, version, max_frame_bytes)| {
                    Body::Welcome {
                        nonce: Nonce(n),
                        version,
                        max_frame_bytes,
                    }
                }
            ),
            versions().prop_map(|supported| Body::Refuse {
                reason: Refusal::VersionMismatch { supported }
            }),
            Just(Body::Ready),
            proptest::collection::vec(message(), 0..6).prop_map(Body::Messages),
        ]
    }

    fn by_postcard(rest: &[u8]) -> Option<Body> {
        postcard::take_from_bytes::<Body>(rest).ok().map(|(b, _)| b)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn writes_what_postcard_writes(body in body()) {
            let mut ours = Vec::new();
            wire::write_body(&mut ours, &body);
            prop_assert_eq!(&ours, &postcard::to_allocvec(&body).unwrap());
            prop_assert_eq!(wire::read_body(&ours), Ok(body));
        }

        #[test]
        fn reads_what_postcard_reads(body in body(), cut in any::<usize>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
            let mut bytes = postcard::to_allocvec(&body).unwrap();
            for (at, x) in flips {
                let n = bytes.len();
                if n > 0 {
                    bytes[at % n] ^= x;
                }
            }
            bytes.truncate(cut % (bytes.len() + 1));
            prop_assert_eq!(wire::read_body(&bytes).ok(), by_postcard(&bytes), "{:?}", bytes);
        }

        #[test]
        fn reads_arbitrary_bytes_as_postcard_does(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(wire::read_body(&bytes).ok(), by_postcard(&bytes), "{:?}", bytes);
        }
    }

    #[test]
    fn varint_edges_read_as_postcard_reads_them() {
        // Knock with u16 versions: overlong, maximal and over-wide varints.
        for versions in [
            &[0x80, 0x00, 0x01][..],
            &[0xff, 0xff, 0x03, 0x01],
            &[0xff, 0xff, 0x04, 0x01],
            &[0xff, 0xff, 0x83, 0x01],
            &[0x80, 0x80, 0x80],
        ] {
            let mut bytes = vec![0];
            bytes.extend_from_slice(versions);
            bytes.push(0x01);
            assert_eq!(
                wire::read_body(&bytes).ok(),
                by_postcard(&bytes),
                "{bytes:?}"
            );
        }
    }
}
