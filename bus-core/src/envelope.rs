//! The versioned envelope: what goes over the wire.
//!
//! A frame is a fixed 22-byte header followed by a postcard-encoded [`Body`]:
//!
//! | bytes  | field                                                          |
//! |--------|----------------------------------------------------------------|
//! | 0..4   | [`NAMESPACE`], so other libraries' messages are dropped cheaply |
//! | 4..6   | protocol version the frame is written in, little-endian        |
//! | 6..22  | [`SessionId`] (all zero before a session exists)               |
//! | 22..   | postcard [`Body`]; bytes after it are ignored (room for fields |
//! |        | a newer minor version appends)                                 |
//!
//! The handshake bodies (`Knock`, `Hello`, `Welcome`, `Refuse`, `Ready`) keep
//! their layout in every protocol version, so two peers can always negotiate.
//! Methods and topics travel by name, never by index.
//!
//! ```
//! use bus_core::envelope::{Body, Envelope, Message, SessionId};
//!
//! let frame = Envelope::session(1, SessionId::from_bytes([7; 16]), vec![Message::Event {
//!     topic: "cart.updated".into(),
//!     payload: vec![1, 2, 3],
//! }]);
//! let bytes = frame.encode()?;
//! assert_eq!(Envelope::decode(&bytes)?, frame);
//! assert!(Envelope::decode(b"{\"penpal\":1}").unwrap_err().is_foreign());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::bytes;
use crate::error::RemoteError;
pub use crate::version::{PROTOCOL_VERSION, Versions};

/// First four bytes of every frame of this protocol.
pub const NAMESPACE: [u8; 4] = *b"wbus";

/// Length of the fixed header before the body.
pub const HEADER_LEN: usize = 22;

/// Frames larger than this are refused by [`Envelope::decode`] (4 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// The most messages one frame may carry. A frame that declares more is
/// refused whole before any of them is decoded, so the work and memory one
/// frame can cause stay proportional to its size (a frame of a million
/// one-byte `Ping`s would otherwise become a million queued answers).
pub const MAX_MESSAGES_PER_FRAME: usize = 1024;

/// The postcard index of [`Body::Messages`].
const MESSAGES_TAG: u8 = 5;

/// Identifies one session: 128 random bits chosen by the guest at handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// The id carried by frames sent before a session exists.
    pub const NONE: SessionId = SessionId([0; 16]);

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> SessionId {
        SessionId(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a prefix: enough to tell sessions apart in logs.
        write!(
            f,
            "SessionId({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A 128-bit random value that ties a `Welcome` to the `Hello` it answers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Nonce(pub [u8; 16]);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// One frame: header fields plus body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Protocol version the frame is written in.
    pub version: u16,
    /// The session it belongs to, or [`SessionId::NONE`] before one exists.
    pub session: SessionId,
    /// What the frame says.
    pub body: Body,
}

/// What a frame says.
///
/// The first five variants are the handshake and keep their index and layout
/// in every protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Guest to host: "I am here, greet me." Lets a reloaded child reconnect at once.
    Knock {
        /// Versions the guest supports.
        versions: Versions,
    },
    /// Host to guest: opens a handshake.
    Hello {
        /// Versions the host supports.
        versions: Versions,
        /// Echoed by the `Welcome` that answers this hello.
        nonce: Nonce,
        /// Largest frame the host accepts.
        max_frame_bytes: u32,
    },
    /// Guest to host: accepts a hello; the header carries the new session id.
    Welcome {
        /// The nonce of the hello this answers.
        nonce: Nonce,
        /// The negotiated version.
        version: u16,
        /// Largest frame the guest accepts.
        max_frame_bytes: u32,
    },
    /// Either side: the handshake cannot succeed.
    Refuse {
        /// Why.
        reason: Refusal,
    },
    /// Host to guest: the session is open. The binding attaches the private
    /// channel (a `MessagePort`) to this frame.
    Ready,
    /// Session traffic, several messages coalesced into one frame (at most
    /// [`MAX_MESSAGES_PER_FRAME`]).
    Messages(#[serde(deserialize_with = "capped::deserialize")] Vec<Message>),
}

/// Why a handshake was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// No common protocol version; carries what the refusing side supports.
    VersionMismatch {
        /// The refusing side's versions.
        supported: Versions,
    },
}

/// One unit of session traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Invoke `method` on the peer.
    Call {
        /// Caller-chosen id, echoed by the reply.
        id: u64,
        /// The method's name.
        method: String,
        /// The encoded request.
        #[serde(with = "bytes")]
        payload: Vec<u8>,
        /// How long the caller will wait, so the callee may give up early.
        timeout_ms: Option<u32>,
    },
    /// The answer to a call.
    Reply {
        /// The call's id.
        id: u64,
        /// Its result.
        outcome: Outcome,
    },
    /// A message on a topic; no answer expected.
    Event {
        /// The topic's name.
        topic: String,
        /// The encoded payload.
        #[serde(with = "bytes")]
        payload: Vec<u8>,
    },
    /// The caller no longer waits for call `id`.
    Cancel {
        /// The call's id.
        id: u64,
    },
    /// Heartbeat request.
    Ping,
    /// Heartbeat answer.
    Pong,
    /// The sender ends the session.
    Close {
        /// A human-readable reason.
        reason: String,
    },
    /// The next message (a call, a successful reply or an event) owns the
    /// frame's next `count` attachments, in order (see [`crate::attach`]).
    Attach {
        /// How many; at least one.
        count: u32,
    },
}

/// The result carried by a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The encoded response.
    Ok(#[serde(with = "bytes")] Vec<u8>),
    /// The handler failed.
    Err(RemoteError),
}

/// Why bytes could not be decoded as a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a frame of this protocol (too short or another namespace): someone
    /// else's message on the same window.
    Foreign,
    /// Larger than the limit; refused before reading it.
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame carries more than [`MAX_MESSAGES_PER_FRAME`] messages;
    /// refused before decoding any.
    TooManyMessages {
        /// How many it declares.
        count: u64,
    },
    /// Our namespace, but the body does not parse.
    Malformed(String),
}

impl DecodeError {
    /// True for messages that belong to another library.
    pub fn is_foreign(&self) -> bool {
        matches!(self, DecodeError::Foreign)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Foreign => f.write_str("not a frame of this bus (foreign message)"),
            DecodeError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte limit")
            }
            DecodeError::TooManyMessages { count } => write!(
                f,
                "frame carries {count} messages, more than the {MAX_MESSAGES_PER_FRAME} a frame may"
            ),
            DecodeError::Malformed(why) => write!(f, "malformed frame: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not encode frame: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Whether `bytes` start like a frame of this protocol; a cheap test for
/// foreign messages.
pub fn has_namespace(bytes: &[u8]) -> bool {
    bytes
        .first_chunk::<HEADER_LEN>()
        .is_some_and(|header| header.starts_with(&NAMESPACE))
}

impl Envelope {
    /// A handshake frame (no session yet) in `version`.
    pub fn handshake(version: u16, body: Body) -> Envelope {
        Envelope {
            version,
            session: SessionId::NONE,
            body,
        }
    }

    /// A frame of session traffic.
    pub fn session(version: u16, session: SessionId, messages: Vec<Message>) -> Envelope {
        Envelope {
            version,
            session,
            body: Body::Messages(messages),
        }
    }

    /// Serializes the frame. (Every body encodes; the `Result` is kept for
    /// compatibility.)
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = header(self.version, self.session, 16);
        wire::write_body(&mut out, &self.body);
        Ok(out)
    }

    /// Parses a frame of at most [`DEFAULT_MAX_FRAME_BYTES`]. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        Envelope::decode_limited(bytes, DEFAULT_MAX_FRAME_BYTES)
    }

    /// Parses a frame, refusing one longer than `max_frame_bytes` before
    /// reading past its header. Never panics.
    pub fn decode_limited(bytes: &[u8], max_frame_bytes: usize) -> Result<Envelope, DecodeError> {
        let Some((header, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::Foreign);
        };
        let &[n0, n1, n2, n3, v0, v1, ref session @ ..] = header;
        if [n0, n1, n2, n3] != NAMESPACE {
            return Err(DecodeError::Foreign);
        }
        if bytes.len() > max_frame_bytes {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: max_frame_bytes,
            });
        }
        if let [MESSAGES_TAG, count @ ..] = rest {
            let count = leading_varint(count);
            if count > MAX_MESSAGES_PER_FRAME as u64 {
                return Err(DecodeError::TooManyMessages { count });
            }
        }
        // Trailing bytes are what a newer minor version may append: ignored.
        let body = wire::read_body(rest).map_err(|why| DecodeError::Malformed(why.into()))?;
        Ok(Envelope {
            version: u16::from_le_bytes([v0, v1]),
            session: SessionId(*session),
            body,
        })
    }
}

/// The start of a frame of `count` session messages, each to be appended
/// with [`write_message`] (`capacity`: an estimate of their size). Written
/// in full, the same bytes as `Envelope::session(..).encode()`.
pub(crate) fn session_frame(
    version: u16,
    session: SessionId,
    count: usize,
    capacity: usize,
) -> Vec<u8> {
    let mut out = header(version, session, BATCH_PREFIX + capacity);
    wire::write_messages(&mut out, count, std::iter::empty());
    out
}

pub(crate) use wire::write_message;

/// A frame's fixed header, with room for `body` more bytes.
fn header(version: u16, session: SessionId, body: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body);
    out.extend_from_slice(&NAMESPACE);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(session.as_bytes());
    out
}

/// The body tag and message count before a frame's messages, at most.
const BATCH_PREFIX: usize = 1 + 5;

/// The unsigned LEB128 varint at the start of `bytes` (postcard's length
/// prefix), saturating; a truncated one reads as what it has so far, and the
/// decoder then reports the frame as malformed.
fn leading_varint(bytes: &[u8]) -> u64 {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().take(10).enumerate() {
        let part = u64::from(b & 0x7f);
        value = value.saturating_add(part.checked_shl(7 * i as u32).unwrap_or(u64::MAX));
        if b & 0x80 == 0 {
            break;
        }
    }
    value
}

/// Deserializes the messages of a frame, stopping past the cap even if a
/// length prefix lied (the prefix is checked before decoding as well).
mod capped {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{Error, SeqAccess, Visitor};

    use super::{MAX_MESSAGES_PER_FRAME, Message};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Message>, D::Error> {
        d.deserialize_seq(Capped)
    }

    struct Capped;

    impl<'de> Visitor<'de> for Capped {
        type Value = Vec<Message>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {MAX_MESSAGES_PER_FRAME} messages")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Message>, A::Error> {
            let hint = seq.size_hint().unwrap_or(0);
            if hint > MAX_MESSAGES_PER_FRAME {
                return Err(A::Error::custom("too many messages"));
            }
            let mut out = Vec::with_capacity(hint);
            while let Some(m) = seq.next_element()? {
                if out.len() == MAX_MESSAGES_PER_FRAME {
                    return Err(A::Error::custom("too many messages"));
                }
                out.push(m);
            }
            Ok(out)
        }
    }
}

mod wire;

#[cfg(test)]
mod tests;
