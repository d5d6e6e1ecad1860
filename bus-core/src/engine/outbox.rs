//! Session messages waiting to be sent, coalesced into frames.
//!
//! Everything in it is bounded: what the application queues is refused past
//! [`Limits::max_queued_messages`](super::Limits), what the engine queues in
//! answer to the peer is dropped past it (and counted), and heartbeat
//! answers collapse into one, however many pings a frame carried.

use std::collections::VecDeque;

use crate::envelope::{Envelope, HEADER_LEN, MAX_MESSAGES_PER_FRAME, Message, Outcome, SessionId};

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
    queue: VecDeque<Message>,
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
        self.queue.push_back(message);
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
        at.and_then(|i| self.queue.remove(i)).is_some()
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
        let mut batch = Vec::new();
        let mut size = 0;
        for (due, message) in [
            (&mut self.pong, Message::Pong),
            (&mut self.ping, Message::Ping),
        ] {
            if std::mem::take(due) {
                size += message_size(&message);
                batch.push(message);
            }
        }
        while let Some(m) = self.queue.front() {
            let len = message_size(m);
            if batch.len() == MAX_MESSAGES_PER_FRAME || (!batch.is_empty() && size + len > budget) {
                break;
            }
            size += len;
            batch.extend(self.queue.pop_front());
        }
        // Our own messages always encode; if one ever did not, sending
        // nothing ends in a call timeout rather than a panic.
        Envelope::session(version, session, batch).encode().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Body;

    fn count(frame: &[u8]) -> usize {
        match Envelope::decode(frame).map(|e| e.body) {
            Ok(Body::Messages(m)) => m.len(),
            other => panic!("{other:?}"),
        }
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
