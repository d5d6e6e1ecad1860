//! Without the `attachments` feature (the browser build unless bus-web's
//! `buffers` feature is on): a frame that brings attachments is refused
//! before they are looked at, and a payload that names one does not decode.
#![cfg(not(feature = "attachments"))]

use std::borrow::Cow;

use bus_core::envelope::{Envelope, HEADER_LEN, Message, SessionId};
use bus_core::{Attachment, Channel, Delivery, FrameSource, MemoryPair, RejectReason, Side};

/// A frame that brings `count` attachments, and fails the test if the
/// engine looks at them.
struct Brings {
    bytes: Vec<u8>,
    count: usize,
}

impl FrameSource for Brings {
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
        panic!("a bus without attachments looked at them");
    }
}

#[test]
fn a_frame_that_brings_attachments_is_refused() {
    let mut pair = MemoryPair::new();
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
    pair.take_deliveries(Side::Guest);
    let event = Message::Event {
        topic: "t".into(),
        payload: vec![0],
    };
    let frame = Brings {
        bytes: Envelope::session(1, sid, vec![Message::Attach { count: 1 }, event])
            .encode()
            .unwrap(),
        count: 1,
    };
    let now = pair.now();
    let _ = pair
        .engine(Side::Guest)
        .handle_frame(now, Channel::Port, &frame);
    pair.pump();
    let got = pair.take_deliveries(Side::Guest);
    assert!(
        matches!(
            got.as_slice(),
            [Delivery::Rejected(r)] if matches!(r.reason, RejectReason::BadAttachments(_))
        ),
        "{got:?}"
    );
}

#[test]
fn a_payload_that_names_an_attachment_does_not_decode() {
    // (No payload can hold one on the sending side: `Attachment` has no
    // values without the feature.)
    assert!(bus_core::attach::decode_parts::<Attachment>(&[0], Vec::new()).is_err());
}
