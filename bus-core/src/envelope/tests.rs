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
