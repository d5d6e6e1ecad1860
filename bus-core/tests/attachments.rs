//! Attachments over the in-memory pair: typed payloads that hold buffers
//! beside the frame, and the rules a received frame's attachments must
//! follow (each broken rule rejects the frame whole, before it acts).
#![cfg(feature = "attachments")]

use std::borrow::Cow;
use std::time::Duration;

use bus_core::envelope::{Envelope, HEADER_LEN, Message, Outcome, SessionId};
use bus_core::{
    Attachment, CallError, Channel, Delivery, FrameSource, MAX_ATTACHMENTS_PER_FRAME, MemoryPair,
    Method, RejectReason, Side, SourceId, Topic, WithAttachments,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct Upload {
    name: String,
    data: Attachment,
}

const STORE: Method<Upload, (u32, Attachment)> = Method::new("files.store");
const PREVIEW: Topic<Vec<Attachment>> = Topic::new("files.preview");

fn buffer(len: usize) -> Attachment {
    Attachment::new(vec![7u8; len], len)
}

fn connected() -> (MemoryPair, SessionId) {
    let mut pair = MemoryPair::new();
    pair.guest_router.route(STORE, |u: Upload| {
        let n = u32::try_from(u.data.len()).unwrap_or(u32::MAX) + u32::from(u.name == "a");
        Ok((n, u.data))
    });
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
    pair.take_deliveries(Side::Host);
    pair.take_deliveries(Side::Guest);
    (pair, sid)
}

fn rejections(pair: &mut MemoryPair, side: Side) -> Vec<RejectReason> {
    pair.take_deliveries(side)
        .into_iter()
        .filter_map(|d| match d {
            Delivery::Rejected(r) => Some(r.reason),
            _ => None,
        })
        .collect()
}

/// Feeds `messages` to the guest on the port, with `attachments`.
fn feed(pair: &mut MemoryPair, sid: SessionId, messages: Vec<Message>, attachments: &[Attachment]) {
    let bytes = Envelope::session(1, sid, messages).encode().unwrap();
    let frame = WithAttachments {
        frame: bytes.as_slice(),
        attachments,
    };
    let now = pair.now();
    let _ = pair
        .engine(Side::Guest)
        .handle_frame(now, Channel::Port, &frame);
    pair.pump();
}

fn event(topic: &str) -> Message {
    Message::Event {
        topic: topic.into(),
        payload: vec![0],
    }
}

#[test]
fn a_call_and_its_reply_carry_their_buffers_beside_the_frame() {
    let (mut pair, _) = connected();
    let data = buffer(65536);
    let upload = Upload {
        name: "a".into(),
        data: data.clone(),
    };
    let (n, back) = pair.call(Side::Host, &STORE, &upload).unwrap();
    assert_eq!(n, 65537);
    // The very buffer, handed over and back: never copied into a frame.
    assert_eq!(back, data);
    let biggest = pair.wire().iter().map(|(_, t)| t.bytes.len()).max();
    assert!(biggest < Some(100), "{biggest:?}");
}

#[test]
fn an_event_carries_its_buffers_in_order() {
    let (mut pair, _) = connected();
    let sent = vec![buffer(1), buffer(2), buffer(3)];
    pair.host.emit_topic(&PREVIEW, &sent).unwrap();
    pair.pump();
    let got = pair.take_deliveries(Side::Guest);
    let Some(Delivery::Event {
        payload,
        attachments,
        ..
    }) = got.first()
    else {
        panic!("{got:?}")
    };
    let received: Vec<Attachment> =
        bus_core::attach::decode_parts(payload, attachments.clone()).unwrap();
    assert_eq!(received, sent);
}

#[test]
fn a_payload_with_more_buffers_than_a_frame_carries_is_refused_when_sent() {
    let (mut pair, _) = connected();
    let many: Vec<Attachment> = (0..=MAX_ATTACHMENTS_PER_FRAME).map(buffer).collect();
    assert_eq!(
        pair.host.emit_topic(&PREVIEW, &many),
        Err(CallError::TooManyAttachments(MAX_ATTACHMENTS_PER_FRAME + 1))
    );
}

#[test]
fn buffers_count_against_the_frame_limit_when_sent() {
    let (mut pair, _) = connected();
    let max = pair.host.config().limits.max_frame_bytes;
    let err = pair.host.emit_topic(&PREVIEW, &vec![buffer(max)]);
    assert!(
        matches!(err, Err(CallError::PayloadTooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn announcements_must_hand_out_exactly_the_frame_s_buffers() {
    let (mut pair, sid) = connected();
    let bad: Vec<(Vec<Message>, usize)> = vec![
        // Buffers nobody owns.
        (vec![event("a")], 1),
        // Fewer buffers than announced.
        (vec![Message::Attach { count: 2 }, event("a")], 1),
        // More.
        (vec![Message::Attach { count: 1 }, event("a")], 2),
        // An announcement of none.
        (vec![Message::Attach { count: 0 }, event("a")], 0),
        // One that no message follows, or one that cannot own buffers.
        (vec![event("a"), Message::Attach { count: 1 }], 1),
        (vec![Message::Attach { count: 1 }, Message::Ping], 1),
        (
            vec![
                Message::Attach { count: 1 },
                Message::Attach { count: 1 },
                event("a"),
            ],
            2,
        ),
        (
            vec![
                Message::Attach { count: 1 },
                Message::Reply {
                    id: 0,
                    outcome: Outcome::Err(bus_core::RemoteError::new(1, "no")),
                },
            ],
            1,
        ),
    ];
    for (messages, n) in bad {
        let attachments: Vec<Attachment> = (0..n).map(buffer).collect();
        feed(&mut pair, sid, messages.clone(), &attachments);
        let got = pair.take_deliveries(Side::Guest);
        // Rejected whole: not even the well-formed event was delivered.
        assert!(
            matches!(
                got.as_slice(),
                [Delivery::Rejected(r)] if matches!(r.reason, RejectReason::BadAttachments(_))
            ),
            "{messages:?} with {n}: {got:?}"
        );
    }
    // And the well-formed frame passes.
    feed(
        &mut pair,
        sid,
        vec![Message::Attach { count: 1 }, event("a"), event("b")],
        &[buffer(1)],
    );
    let got = pair.take_deliveries(Side::Guest);
    let owned: Vec<usize> = got
        .iter()
        .filter_map(|d| match d {
            Delivery::Event { attachments, .. } => Some(attachments.len()),
            _ => None,
        })
        .collect();
    assert_eq!(owned, [1, 0]);
}

/// A frame that says it brings `count` attachments, and fails the test if
/// the engine looks at them.
struct Claims {
    bytes: Vec<u8>,
    count: usize,
}

impl FrameSource for Claims {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        self.bytes.first_chunk().copied()
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn attachment_count(&self) -> usize {
        self.count
    }

    fn attachments(&self) -> Option<Vec<Attachment>> {
        panic!("the engine looked at the attachments of a frame with too many");
    }
}

#[test]
fn a_frame_with_too_many_buffers_is_refused_before_they_are_looked_at() {
    let (mut pair, sid) = connected();
    let frame = Claims {
        bytes: Envelope::session(1, sid, vec![event("a")])
            .encode()
            .unwrap(),
        count: MAX_ATTACHMENTS_PER_FRAME + 1,
    };
    let now = pair.now();
    let _ = pair
        .engine(Side::Guest)
        .handle_frame(now, Channel::Port, &frame);
    pair.pump();
    assert!(matches!(
        rejections(&mut pair, Side::Guest).as_slice(),
        [RejectReason::BadAttachments(_)]
    ));
}

#[test]
fn a_frame_whose_buffers_overflow_the_limit_is_refused() {
    let (mut pair, sid) = connected();
    let max = pair.guest.config().limits.max_frame_bytes;
    feed(
        &mut pair,
        sid,
        vec![Message::Attach { count: 1 }, event("a")],
        &[buffer(max)],
    );
    assert!(matches!(
        rejections(&mut pair, Side::Guest).as_slice(),
        [RejectReason::TooLarge { len }] if *len > max
    ));
}

#[test]
fn buffers_are_refused_on_a_window_frame() {
    let (mut pair, _) = connected();
    // A handshake frame of the peer's, with a buffer.
    let knock = pair
        .wire()
        .iter()
        .find(|(side, t)| *side == Side::Guest && t.target_origin().is_some())
        .map(|(_, t)| t.bytes.clone())
        .unwrap();
    let origin = pair.origin(Side::Guest).to_owned();
    let channel = Channel::Window {
        origin: &origin,
        source: SourceId::PEER,
        with_port: false,
    };
    let frame = WithAttachments {
        frame: knock.as_slice(),
        attachments: &[buffer(1)],
    };
    let now = pair.now() + Duration::from_millis(1);
    let _ = pair.engine(Side::Host).handle_frame(now, channel, &frame);
    pair.pump();
    assert!(matches!(
        rejections(&mut pair, Side::Host).as_slice(),
        [RejectReason::BadAttachments(_)]
    ));
}
