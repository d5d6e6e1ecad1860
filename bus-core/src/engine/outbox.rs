//! Session messages waiting to be sent, coalesced into frames.
//!
//! Everything in it is bounded: what the application queues is refused past
//! [`Limits::max_queued_messages`](super::Limits), what the engine queues in
//! answer to the peer is dropped past it (and counted), and heartbeat
//! answers collapse into one, however many pings a frame carried.

use crate::attach::{Attachment, MAX_ATTACHMENTS_PER_FRAME};
use crate::envelope::{
    HEADER_LEN, MAX_MESSAGES_PER_FRAME, Message, Outcome, SessionId, session_frame, write_message,
};

/// What a `Messages` body adds around its messages: the body tag (1 byte)
/// and the message count (a varint, at most 5 bytes).
pub(super) const BATCH_OVERHEAD: usize = 1 + 5;

/// The most a message adds around its variable-length fields: its tag (1),
/// an id (varint, 10), two length prefixes (5 each), an outcome tag and an
/// error code (1 + 5), an optional field (1 + 5), rounded up.
pub(super) const MESSAGE_OVERHEAD: usize = 40;

/// The largest payload (with its method or topic name) one message may
/// carry in a frame of `max_frame` bytes.
pub(super) fn payload_limit(max_frame: usize) -> usize {
    max_frame.saturating_sub(HEADER_LEN + BATCH_OVERHEAD + MESSAGE_OVERHEAD)
}

/// An upper bound of a message's encoded size.
fn message_size(m: &Message) -> usize {
    MESSAGE_OVERHEAD
        + match m {
            Message::Call {
                method, payload, ..
            } => method.len() + payload.len(),
            Message::Reply {
                outcome: Outcome::Ok(p),
                ..
            } => p.len(),
            Message::Reply {
                outcome: Outcome::Err(e),
                ..
            } => e.message().len() + e.data().map_or(0, <[u8]>::len),
            Message::Event { topic, payload } => topic.len() + payload.len(),
            Message::Close { reason } => reason.len(),
            Message::Cancel { .. } | Message::Ping | Message::Pong | Message::Attach { .. } => 0,
        }
}

/// A queued message with its attachments (announced by a `Message::Attach`
/// written just before it when there are any).
#[derive(Debug)]
struct Queued {
    message: Message,
    attachments: Vec<Attachment>,
}

impl Queued {
    /// What it adds to a frame: messages, an upper bound of the frame's
    /// bytes, its attachments' bytes, attachments.
    fn cost(&self) -> (usize, usize, usize, usize) {
        let extra = usize::from(!self.attachments.is_empty());
        (
            1 + extra,
            message_size(&self.message) + extra * MESSAGE_OVERHEAD,
            attachment_bytes(&self.attachments),
            self.attachments.len(),
        )
    }
}

/// The attachments' total length, for the frame-size check.
pub(super) fn attachment_bytes(attachments: &[Attachment]) -> usize {
    let mut total = 0usize;
    for a in attachments {
        total = total.saturating_add(a.len());
    }
    total
}

/// A frame stops taking more messages once it holds this many bytes,
/// attachments included (one larger message still goes, alone, up to the
/// frame limit). Coalescing saves a post per message, but in Chromium a post
/// that carries megabytes costs more per byte than several smaller ones: 100
/// calls of 64 KiB in flight, packed into frames of up to 4 MiB, ran at less
/// than half the raw port's rate; in frames of at most 256 KiB they keep up
/// with it, while small calls still go ~45 to a frame.
pub(super) const COALESCE_BYTES: usize = 256 * 1024;

#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Oldest first. (A `Vec`: frames take from the front in bulk.)
    queue: Vec<Queued>,
    /// One `Ping` owed, however many were asked for.
    ping: bool,
    /// One `Pong` owed, however many pings arrived.
    pong: bool,
}

impl Outbox {
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty() && !self.ping && !self.pong
    }

    pub(super) fn push(&mut self, message: Message) {
        self.push_with(message, Vec::new());
    }

    /// Queues `message` with its attachments (at most
    /// [`MAX_ATTACHMENTS_PER_FRAME`]: the engine checks before).
    pub(super) fn push_with(&mut self, message: Message, attachments: Vec<Attachment>) {
        self.queue.push(Queued {
            message,
            attachments,
        });
    }

    pub(super) fn ping(&mut self) {
        self.ping = true;
    }

    pub(super) fn pong(&mut self) {
        self.pong = true;
    }

    /// Removes a queued, unsent call; false if it was not queued.
    pub(super) fn withdraw_call(&mut self, id: u64) -> bool {
        let at = self
            .queue
            .iter()
            .position(|q| matches!(q.message, Message::Call { id: i, .. } if i == id));
        at.map(|i| self.queue.remove(i)).is_some()
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.ping = false;
        self.pong = false;
    }

    /// The next frame and its attachments: as many queued messages as fit
    /// in `max_frame` bytes (attachments included), [`MAX_MESSAGES_PER_FRAME`]
    /// and [`MAX_ATTACHMENTS_PER_FRAME`], in order, until it holds
    /// [`COALESCE_BYTES`]; `None` when nothing waits.
    pub(super) fn next_frame(
        &mut self,
        version: u16,
        session: SessionId,
        max_frame: usize,
    ) -> Option<(Vec<u8>, Vec<Attachment>)> {
        if self.is_empty() {
            return None;
        }
        let budget = max_frame.saturating_sub(HEADER_LEN + BATCH_OVERHEAD);
        let (pong, ping) = (
            std::mem::take(&mut self.pong),
            std::mem::take(&mut self.ping),
        );
        let mut count = usize::from(pong) + usize::from(ping);
        // The frame's bytes (an upper bound), and its attachments'.
        let mut size = count * MESSAGE_OVERHEAD;
        let mut attached = 0usize;
        let mut taken = 0;
        let mut attachments = 0;
        for q in &self.queue {
            let (messages, len, bytes, buffers) = q.cost();
            let total = size.saturating_add(attached);
            if count + messages > MAX_MESSAGES_PER_FRAME
                || attachments + buffers > MAX_ATTACHMENTS_PER_FRAME
                || (count > 0 && total.saturating_add(len).saturating_add(bytes) > budget)
                || total >= COALESCE_BYTES
            {
                break;
            }
            size += len;
            attached = attached.saturating_add(bytes);
            count += messages;
            attachments += buffers;
            taken += 1;
        }
        // Written straight from the queue: no intermediate `Envelope`.
        let mut frame = session_frame(version, session, count, size);
        if pong {
            write_message(&mut frame, &Message::Pong);
        }
        if ping {
            write_message(&mut frame, &Message::Ping);
        }
        let mut all = Vec::new();
        for q in self.queue.drain(..taken) {
            if crate::attach::ENABLED
                && let Ok(count @ 1..) = u32::try_from(q.attachments.len())
            {
                write_message(&mut frame, &Message::Attach { count });
                all.extend(q.attachments);
            }
            write_message(&mut frame, &q.message);
        }
        Some((frame, all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Body, Envelope};

    fn count(frame: &[u8]) -> usize {
        match Envelope::decode(frame).map(|e| e.body) {
            Ok(Body::Messages(m)) => m.len(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_are_written_as_the_envelope_encodes_them() {
        let mut o = Outbox::default();
        let messages = vec![
            Message::Pong,
            Message::Ping,
            Message::Event {
                topic: "t".into(),
                payload: vec![1, 2],
            },
            Message::Cancel { id: 300 },
        ];
        o.pong();
        o.ping();
        for m in messages.iter().skip(2) {
            o.push(m.clone());
        }
        let session = SessionId::from_bytes([3; 16]);
        let (frame, attachments) = o.next_frame(1, session, 1 << 20).unwrap();
        assert!(attachments.is_empty());
        assert_eq!(
            frame,
            Envelope::session(1, session, messages).encode().unwrap()
        );
        assert!(o.is_empty());
    }

    #[test]
    fn pongs_collapse_into_one() {
        let mut o = Outbox::default();
        for _ in 0..10_000 {
            o.pong();
        }
        let (frame, _) = o.next_frame(1, SessionId::NONE, 1 << 20).unwrap();
        assert_eq!(count(&frame), 1);
        assert!(o.next_frame(1, SessionId::NONE, 1 << 20).is_none());
    }

    #[test]
    fn a_frame_never_carries_more_than_the_cap() {
        let mut o = Outbox::default();
        for id in 0..3000 {
            o.push(Message::Cancel { id });
        }
        let mut frames = Vec::new();
        while let Some((f, _)) = o.next_frame(1, SessionId::NONE, 1 << 22) {
            frames.push(count(&f));
        }
        assert_eq!(frames, vec![1024, 1024, 952]);
    }

    /// Messages per frame as the outbox packs `n` events of `len` bytes each
    /// (payload or attachment) under a 4 MiB frame limit.
    fn packed(n: usize, len: usize, attach: bool) -> Vec<usize> {
        let mut o = Outbox::default();
        for _ in 0..n {
            let payload = if attach { vec![0] } else { vec![0; len] };
            let event = Message::Event {
                topic: "t".into(),
                payload,
            };
            #[cfg(feature = "attachments")]
            if attach {
                o.push_with(event, vec![Attachment::new(vec![0u8; len], len)]);
                continue;
            }
            o.push(event);
        }
        std::iter::from_fn(|| o.next_frame(1, SessionId::NONE, 4 << 20))
            .map(|(f, _)| count(&f))
            .collect()
    }

    #[test]
    fn large_messages_are_not_coalesced_past_coalesce_bytes() {
        // 64 KiB each: four reach COALESCE_BYTES, the limit of 4 MiB would take 63.
        assert_eq!(packed(10, 64 << 10, false), [4, 4, 2]);
        // A message over it still goes, alone.
        assert_eq!(packed(3, COALESCE_BYTES + 1, false), [1, 1, 1]);
        // Small ones are still packed together.
        assert_eq!(packed(500, 40, false), [500]);
    }

    #[cfg(feature = "attachments")]
    #[test]
    fn attachments_count_toward_coalesce_bytes_but_not_the_frame_s_allocation() {
        // Each message is announced by an Attach: two messages apiece.
        assert_eq!(packed(10, 64 << 10, true), [8, 8, 4]);
        let mut o = Outbox::default();
        let big = 1 << 20;
        o.push_with(
            Message::Event {
                topic: "t".into(),
                payload: vec![0],
            },
            vec![Attachment::new(vec![0u8; big], big)],
        );
        let (frame, attachments) = o.next_frame(1, SessionId::NONE, 4 << 20).unwrap();
        assert_eq!(attachments.len(), 1);
        assert!(frame.capacity() < 1024, "{}", frame.capacity());
    }

    #[test]
    fn the_largest_allowed_payload_fits_one_frame() {
        let max = 4096;
        let mut o = Outbox::default();
        let name = "m".to_string();
        o.push(Message::Call {
            id: u64::MAX,
            method: name.clone(),
            payload: vec![7; payload_limit(max) - name.len()],
            timeout_ms: Some(u32::MAX),
        });
        let (frame, _) = o.next_frame(1, SessionId::NONE, max).unwrap();
        assert!(frame.len() <= max, "{} > {max}", frame.len());
    }

    #[cfg(feature = "attachments")]
    fn buffers(n: usize, len: usize) -> Vec<Attachment> {
        (0..n)
            .map(|_| Attachment::new(vec![0u8; len], len))
            .collect()
    }

    #[cfg(feature = "attachments")]
    fn event(topic: &str) -> Message {
        Message::Event {
            topic: topic.into(),
            payload: vec![0],
        }
    }

    #[cfg(feature = "attachments")]
    #[test]
    fn attachments_are_announced_and_travel_with_their_frame() {
        let mut o = Outbox::default();
        let (a, b) = (buffers(2, 10), buffers(1, 10));
        o.push_with(event("a"), a.clone());
        o.push(Message::Cancel { id: 1 });
        o.push_with(event("b"), b.clone());
        let session = SessionId::from_bytes([3; 16]);
        let (frame, attachments) = o.next_frame(1, session, 1 << 20).unwrap();
        let expected = vec![
            Message::Attach { count: 2 },
            event("a"),
            Message::Cancel { id: 1 },
            Message::Attach { count: 1 },
            event("b"),
        ];
        assert_eq!(
            frame,
            Envelope::session(1, session, expected).encode().unwrap()
        );
        assert_eq!(attachments, [a, b].concat());
    }

    #[cfg(feature = "attachments")]
    #[test]
    fn attachments_count_against_the_frame_size_and_the_per_frame_cap() {
        // By bytes: two 600-byte buffers do not fit one 1 KiB frame.
        let mut o = Outbox::default();
        o.push_with(event("a"), buffers(1, 600));
        o.push_with(event("b"), buffers(1, 600));
        let sizes: Vec<usize> = std::iter::from_fn(|| o.next_frame(1, SessionId::NONE, 1024))
            .map(|(_, a)| a.len())
            .collect();
        assert_eq!(sizes, [1, 1]);
        // By count: 40 + 40 attachments exceed the cap of 64.
        o.push_with(event("a"), buffers(40, 1));
        o.push_with(event("b"), buffers(40, 1));
        let counts: Vec<usize> = std::iter::from_fn(|| o.next_frame(1, SessionId::NONE, 1 << 20))
            .map(|(_, a)| a.len())
            .collect();
        assert_eq!(counts, [40, 40]);
        const { assert!(MAX_ATTACHMENTS_PER_FRAME < 80) };
    }

    #[cfg(feature = "attachments")]
    #[test]
    fn a_withdrawn_call_takes_its_attachments_with_it() {
        let mut o = Outbox::default();
        o.push_with(
            Message::Call {
                id: 9,
                method: "m".into(),
                payload: vec![0],
                timeout_ms: None,
            },
            buffers(3, 1),
        );
        o.push(Message::Ping);
        assert!(o.withdraw_call(9));
        let (frame, attachments) = o.next_frame(1, SessionId::NONE, 1 << 20).unwrap();
        assert_eq!(count(&frame), 1);
        assert!(attachments.is_empty());
    }
}
