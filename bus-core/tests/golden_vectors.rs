//! The golden wire vectors of `docs/PROTOCOL.md`: frames with their decoded
//! meaning, committed in `docs/protocol/vectors.json` for other
//! implementations (the TypeScript peer's tests read the same file).
//!
//! Two checks hold the code and the file together:
//! - the vectors this test builds from bus-core must equal the committed
//!   file, so a wire change cannot slip in without the file changing;
//! - every committed vector decodes to its meaning (and a valid one
//!   re-encodes to its bytes; an invalid one is refused for its reason),
//!   so the file is checked against the decoder, not only the encoder.
//!
//! After an intended wire change: `BUS_BLESS_VECTORS=1 cargo test -p
//! bus-core --test golden_vectors`, then describe the change in
//! docs/PROTOCOL.md.

use std::path::PathBuf;

use bus_core::RemoteError;
use bus_core::envelope::{
    Body, DecodeError, Envelope, Message, Nonce, Outcome, Refusal, SessionId, Versions,
};
use serde_json::{Value, json};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol/vectors.json")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

const SESSION: SessionId = SessionId::from_bytes([
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
]);
const NONCE: Nonce = Nonce([
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
]);
const V1: Versions = Versions { min: 1, max: 1 };

fn session(messages: Vec<Message>) -> Envelope {
    Envelope::session(1, SESSION, messages)
}

/// The valid vectors: (name, what it shows, frame).
fn valid() -> Vec<(&'static str, &'static str, Envelope)> {
    let call = |id, method: &str, payload: &[u8], timeout_ms| Message::Call {
        id,
        method: method.into(),
        payload: payload.to_vec(),
        timeout_ms,
    };
    vec![
        (
            "knock",
            "guest to host, before a session: the guest supports v1 only",
            Envelope::handshake(1, Body::Knock { versions: V1 }),
        ),
        (
            "knock-range",
            "a guest supporting v1 to v3 writes its handshake in its newest version",
            Envelope::handshake(
                3,
                Body::Knock {
                    versions: Versions { min: 1, max: 3 },
                },
            ),
        ),
        (
            "hello",
            "host to guest: versions, the 16-byte nonce, the host's frame limit (4 MiB)",
            Envelope::handshake(
                1,
                Body::Hello {
                    versions: V1,
                    nonce: NONCE,
                    max_frame_bytes: 4 * 1024 * 1024,
                },
            ),
        ),
        (
            "welcome",
            "guest to host: the header carries the session id the guest picked",
            Envelope {
                version: 1,
                session: SESSION,
                body: Body::Welcome {
                    nonce: NONCE,
                    version: 1,
                    max_frame_bytes: 1024 * 1024,
                },
            },
        ),
        (
            "refuse",
            "either side: no common version; carries what the refusing side supports",
            Envelope::handshake(
                1,
                Body::Refuse {
                    reason: Refusal::VersionMismatch {
                        supported: Versions { min: 2, max: 3 },
                    },
                },
            ),
        ),
        (
            "ready",
            "host to guest, posted with the private MessagePort in its transfer list",
            Envelope {
                version: 1,
                session: SESSION,
                body: Body::Ready,
            },
        ),
        (
            "call",
            "a call without a deadline; the payload is the method's postcard request",
            session(vec![call(1, "quote", &[0x02, 0x07], None)]),
        ),
        (
            "call-deadline",
            "a call whose caller waits 5000 ms; a large id shows the varint",
            session(vec![call(1 << 40, "pay.charge", b"\x2a", Some(5000))]),
        ),
        (
            "reply-ok",
            "the answer to call 1",
            session(vec![Message::Reply {
                id: 1,
                outcome: Outcome::Ok(vec![0x90, 0x4e]),
            }]),
        ),
        (
            "reply-method-not-found",
            "a bus error code (negative, zigzag-encoded) without data",
            session(vec![Message::Reply {
                id: 2,
                outcome: Outcome::Err(RemoteError::new(
                    RemoteError::METHOD_NOT_FOUND,
                    "no such method",
                )),
            }]),
        ),
        (
            "reply-app-error",
            "an application error code with postcard data",
            session(vec![Message::Reply {
                id: 3,
                outcome: Outcome::Err(
                    RemoteError::new(402, "card declined").with_raw_data(vec![0x1e]),
                ),
            }]),
        ),
        (
            "event",
            "a message on a topic",
            session(vec![Message::Event {
                topic: "cart.updated".into(),
                payload: vec![0x03, 0x61, 0x62, 0x63],
            }]),
        ),
        (
            "cancel",
            "the caller no longer waits for call 7",
            session(vec![Message::Cancel { id: 7 }]),
        ),
        (
            "heartbeat",
            "a ping and a pong coalesced in one frame",
            session(vec![Message::Ping, Message::Pong]),
        ),
        (
            "close",
            "the sender ends the session",
            session(vec![Message::Close {
                reason: "bye".into(),
            }]),
        ),
        (
            "attach",
            "the call owns the frame's one attachment, posted as [frame, buffer]; its payload names index 0",
            session(vec![
                Message::Attach { count: 1 },
                call(8, "upload", &[0x00], None),
            ]),
        ),
        (
            "coalesced",
            "one turn's messages in one frame, acted on in order",
            session(vec![
                call(9, "quote", &[0x01, 0x01], Some(30_000)),
                Message::Event {
                    topic: "t".into(),
                    payload: vec![],
                },
                Message::Reply {
                    id: 4,
                    outcome: Outcome::Ok(vec![]),
                },
            ]),
        ),
    ]
}

/// Frames a decoder must refuse: (name, why, bytes, frame limit, the
/// error's kind).
fn invalid() -> Vec<(&'static str, &'static str, Vec<u8>, usize, &'static str)> {
    let header = |version: u16, session: &SessionId| {
        let mut h = b"wbus".to_vec();
        h.extend_from_slice(&version.to_le_bytes());
        h.extend_from_slice(session.as_bytes());
        h
    };
    let with = |body: &[u8]| {
        let mut f = header(1, &SESSION);
        f.extend_from_slice(body);
        f
    };
    let max = bus_core::envelope::DEFAULT_MAX_FRAME_BYTES;
    vec![
        (
            "short",
            "shorter than the 22-byte header",
            b"wbus\x01\x00".to_vec(),
            max,
            "foreign",
        ),
        (
            "other-namespace",
            "another library's bytes",
            {
                let mut f = with(&[4]);
                f[..4].copy_from_slice(b"pnpl");
                f
            },
            max,
            "foreign",
        ),
        (
            "too-large",
            "longer than the receiver's limit (here 32 bytes): refused before the body is read",
            with(&[
                5, 1, 6, 16, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
                0x78, 0x78, 0x78, 0x78, 0x78,
            ]),
            32,
            "too-large",
        ),
        (
            "too-many-messages",
            "declares 1025 messages: refused before any is read",
            with(&[5, 0x81, 0x08, 4]),
            max,
            "too-many-messages",
        ),
        ("no-body", "the header alone", with(&[]), max, "malformed"),
        (
            "unknown-body",
            "body kind 6 does not exist in v1",
            with(&[6]),
            max,
            "malformed",
        ),
        (
            "unknown-message",
            "message kind 8 does not exist in v1",
            with(&[5, 1, 8]),
            max,
            "malformed",
        ),
        (
            "count-lies",
            "declares two messages, carries one",
            with(&[5, 2, 4]),
            max,
            "malformed",
        ),
        (
            "bad-option",
            "an option byte other than 0 or 1",
            with(&[5, 1, 0, 1, 1, 0x71, 0, 2]),
            max,
            "malformed",
        ),
        (
            "not-utf8",
            "a method name that is not UTF-8",
            with(&[5, 1, 0, 1, 1, 0xff, 0, 0]),
            max,
            "malformed",
        ),
        (
            "u16-overflow",
            "a Welcome whose version does not fit 16 bits (65536)",
            with(&[
                2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x80, 0x80, 0x04, 0x80,
                0x01,
            ]),
            max,
            "malformed",
        ),
        (
            "truncated-nonce",
            "a Hello cut inside its nonce",
            with(&[1, 1, 1, 0, 1, 2]),
            max,
            "malformed",
        ),
    ]
}

fn session_hex(s: &SessionId) -> String {
    hex(s.as_bytes())
}

fn versions(v: Versions) -> Value {
    json!({ "min": v.min, "max": v.max })
}

/// What a frame means, field by field (ids as decimal strings: they are
/// 64-bit, wider than a JSON number is exact in JavaScript).
fn meaning(e: &Envelope) -> Value {
    let body = match &e.body {
        Body::Knock { versions: v } => json!({ "kind": "knock", "versions": versions(*v) }),
        Body::Hello {
            versions: v,
            nonce,
            max_frame_bytes,
        } => json!({
            "kind": "hello", "versions": versions(*v), "nonce": hex(&nonce.0),
            "max_frame_bytes": max_frame_bytes,
        }),
        Body::Welcome {
            nonce,
            version,
            max_frame_bytes,
        } => json!({
            "kind": "welcome", "nonce": hex(&nonce.0), "version": version,
            "max_frame_bytes": max_frame_bytes,
        }),
        Body::Refuse {
            reason: Refusal::VersionMismatch { supported },
        } => json!({
            "kind": "refuse",
            "reason": { "kind": "version-mismatch", "supported": versions(*supported) },
        }),
        Body::Ready => json!({ "kind": "ready" }),
        Body::Messages(messages) => json!({
            "kind": "messages",
            "messages": messages.iter().map(message).collect::<Vec<_>>(),
        }),
    };
    json!({ "version": e.version, "session": session_hex(&e.session), "body": body })
}

fn message(m: &Message) -> Value {
    match m {
        Message::Call {
            id,
            method,
            payload,
            timeout_ms,
        } => json!({
            "kind": "call", "id": id.to_string(), "method": method,
            "payload": hex(payload), "timeout_ms": timeout_ms,
        }),
        Message::Reply { id, outcome } => {
            let outcome = match outcome {
                Outcome::Ok(payload) => json!({ "kind": "ok", "payload": hex(payload) }),
                Outcome::Err(e) => json!({
                    "kind": "err", "code": e.code(), "message": e.message(),
                    "data": e.data().map(hex),
                }),
            };
            json!({ "kind": "reply", "id": id.to_string(), "outcome": outcome })
        }
        Message::Event { topic, payload } => {
            json!({ "kind": "event", "topic": topic, "payload": hex(payload) })
        }
        Message::Cancel { id } => json!({ "kind": "cancel", "id": id.to_string() }),
        Message::Ping => json!({ "kind": "ping" }),
        Message::Pong => json!({ "kind": "pong" }),
        Message::Close { reason } => json!({ "kind": "close", "reason": reason }),
        Message::Attach { count } => json!({ "kind": "attach", "count": count }),
    }
}

fn error_kind(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::Foreign => "foreign",
        DecodeError::TooLarge { .. } => "too-large",
        DecodeError::TooManyMessages { .. } => "too-many-messages",
        DecodeError::Malformed(_) => "malformed",
        _ => "other",
    }
}

fn generate() -> Value {
    let mut valid_vectors: Vec<Value> = valid()
        .into_iter()
        .map(|(name, about, frame)| {
            let bytes = frame.encode().expect("every frame encodes");
            json!({ "name": name, "about": about, "hex": hex(&bytes), "frame": meaning(&frame) })
        })
        .collect();
    // Decode-only: bytes after the body are ignored (room for fields a newer
    // minor version appends), so this frame means the same as "ready".
    let ready = valid()
        .into_iter()
        .find(|v| v.0 == "ready")
        .expect("ready")
        .2;
    let mut bytes = ready.encode().expect("encodes");
    bytes.extend_from_slice(&[0xde, 0xad]);
    valid_vectors.push(json!({
        "name": "trailing-bytes",
        "about": "bytes after the body are ignored; decode only (an encoder never writes them)",
        "decode_only": true,
        "hex": hex(&bytes),
        "frame": meaning(&ready),
    }));
    let invalid_vectors: Vec<Value> = invalid()
        .into_iter()
        .map(|(name, about, bytes, max, kind)| {
            json!({ "name": name, "about": about, "hex": hex(&bytes), "max_frame_bytes": max, "error": kind })
        })
        .collect();
    json!({
        "about": "Golden vectors of the wbus wire protocol v1 (docs/PROTOCOL.md), generated by bus-core's tests/golden_vectors.rs. Byte strings are lower-case hex; ids are decimal strings (64-bit).",
        "protocol_version": bus_core::PROTOCOL_VERSION,
        "max_messages_per_frame": bus_core::MAX_MESSAGES_PER_FRAME,
        "valid": valid_vectors,
        "invalid": invalid_vectors,
    })
}

#[test]
fn the_code_and_the_committed_vectors_agree() {
    let generated = serde_json::to_string_pretty(&generate()).expect("json") + "\n";
    let path = vectors_path();
    if std::env::var_os("BUS_BLESS_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("create docs/protocol");
        std::fs::write(&path, &generated).expect("write the vectors");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} does not match what bus-core encodes. If the wire change is intended, run \
         `BUS_BLESS_VECTORS=1 cargo test -p bus-core --test golden_vectors` and describe it in \
         docs/PROTOCOL.md; otherwise the change broke the protocol.",
        path.display()
    );
}

#[test]
fn every_committed_vector_decodes_to_its_meaning() {
    let text = std::fs::read_to_string(vectors_path()).expect("docs/protocol/vectors.json");
    let file: Value = serde_json::from_str(&text).expect("the vectors are JSON");
    let valid = file["valid"].as_array().expect("valid vectors");
    assert!(valid.len() >= 18);
    for v in valid {
        let name = v["name"].as_str().expect("name");
        let bytes = unhex(v["hex"].as_str().expect("hex"));
        let frame = Envelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(meaning(&frame), v["frame"], "{name}: decoded meaning");
        if v["decode_only"] != json!(true) {
            assert_eq!(
                frame.encode().expect("encodes"),
                bytes,
                "{name}: re-encoded"
            );
        }
    }
    let invalid = file["invalid"].as_array().expect("invalid vectors");
    assert!(invalid.len() >= 12);
    for v in invalid {
        let name = v["name"].as_str().expect("name");
        let bytes = unhex(v["hex"].as_str().expect("hex"));
        let max = v["max_frame_bytes"].as_u64().expect("limit") as usize;
        let err =
            Envelope::decode_limited(&bytes, max).expect_err(&format!("{name}: must be refused"));
        assert_eq!(error_kind(&err), v["error"], "{name}: {err}");
    }
}
