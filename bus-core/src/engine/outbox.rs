//! Session messages waiting to be sent, coalesced into frames.
//!
//! Everything in it is bounded: what the application queues is refused past
//! [`Limits::max_queued_messages`](super::Limits), what the engine queues in
//! answer to the peer is dropped past it (and counted), and heartbeat
//! answers collapse into one, however many pings a frame carried.

use crate::envelope::{HEADER_LEN, MAX_MESSAGES_PER_FRAME, Message, Outcome, SessionId};

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
            Message::Cancel { .. } | Message::Ping | Message::Pong => 0,
        }
}

#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Oldest first. (A `Vec`: frames take from the front in bulk.)
    queue: Vec<Message>,
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
        self.queue.push(message);
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
            .position(|m| matches!(m, Message::Call { id: i, .. } if *i == id));
        at.map(|i| self.queue.remove(i)).is_some()
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.ping = false;
        self.pong = false;
    }

    /// The next frame: as many queued messages as fit in `max_frame` bytes
    /// and [`MAX_MESSAGES_PER_FRAME`], in order; `None` when nothing waits.
    pub(super) fn next_frame(
        &mut self,
        version: u16,
        session: SessionId,
        max_frame: usize,
    ) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let budget = max_frame.saturating_sub(HEADER_LEN + BATCH_OVERHEAD);
        let heartbeats = [
            (std::mem::take(&mut self.pong), &Message::Pong),
            (std::mem::take(&mut self.ping), &Message::Ping),
        ];
        let heartbeats = heartbeats.iter().filter(|(due, _)| *due).map(|(_, m)| *m);
        let mut count = heartbeats.clone().count();
        let mut size = count * MESSAGE_OVERHEAD;
        let mut taken = 0;
        for m in &self.queue {
            let len = message_size(m);
            if count == MAX_MESSAGES_PER_FRAME || (count > 0 && size + len > budget) {
                break;
            }
            size += len;
            count += 1;
            taken += 1;
        }
        // Written straight from the queue: no intermediate `Envelope`.
        let messages = heartbeats.chain(self.queue.get(..taken).unwrap_or_default());
        let frame = crate::envelope::session_frame(version, session, count, messages, size);
        self.queue.drain(..taken);
        Some(frame)
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
        let frame = o.next_frame(1, session, 1 << 20).unwrap();
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
        let frame = o.next_frame(1, SessionId::NONE, 1 << 20).unwrap();
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
        while let Some(f) = o.next_frame(1, SessionId::NONE, 1 << 22) {
            frames.push(count(&f));
        }
        assert_eq!(frames, vec![1024, 1024, 952]);
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
        let frame = o.next_frame(1, SessionId::NONE, max).unwrap();
        assert!(frame.len() <= max, "{} > {max}", frame.len());
    }
}
