//! Errors that cross the wire ([`RemoteError`]) and errors a caller sees
//! ([`CallError`], [`CloseReason`]).

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, bytes, decode, encode};
use crate::version::Versions;

/// An error returned by the peer's handler: a code, a message and optional
/// typed data.
///
/// ```
/// use bus_core::RemoteError;
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Declined { retry_in_s: u32 }
///
/// let err = RemoteError::new(402, "card declined").with_data(&Declined { retry_in_s: 30 })?;
/// assert_eq!(err.data_as::<Declined>(), Some(Ok(Declined { retry_in_s: 30 })));
/// # Ok::<(), bus_core::CodecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    code: i32,
    message: String,
    #[serde(with = "bytes::option")]
    data: Option<Vec<u8>>,
}

impl RemoteError {
    /// No handler is registered for the method.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// The request could not be decoded as the method's request type.
    pub const BAD_REQUEST: i32 = -32602;
    /// The callee failed without a more specific code.
    pub const INTERNAL: i32 = -32603;
    /// The callee serves too many calls already.
    pub const OVERLOADED: i32 = -32001;

    /// An error with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> RemoteError {
        RemoteError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches typed data, encoded with postcard.
    pub fn with_data<T: Serialize>(mut self, data: &T) -> Result<RemoteError, CodecError> {
        self.data = Some(encode(data)?);
        Ok(self)
    }

    /// Attaches already-encoded data.
    pub fn with_raw_data(mut self, data: Vec<u8>) -> RemoteError {
        self.data = Some(data);
        self
    }

    /// The error code. Negative codes from -32768 to -32000 are the bus's own.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The raw data, if any.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// Decodes the data as `T`; `None` when there is none.
    pub fn data_as<T: DeserializeOwned>(&self) -> Option<Result<T, CodecError>> {
        self.data.as_deref().map(decode)
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RemoteError {}

/// Why a session or connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// This side called `close`.
    Local(String),
    /// The peer sent `close`.
    Remote(String),
    /// The first handshake did not complete in time.
    HandshakeTimeout(Duration),
    /// After a session ended, no new one began within
    /// `Config::reconnect_timeout`.
    ReconnectTimeout(Duration),
    /// The two sides share no protocol version.
    VersionMismatch {
        /// What this side supports.
        local: Versions,
        /// What the peer supports.
        remote: Versions,
    },
    /// The peer window was closed or removed.
    PeerGone,
    /// No secure random numbers were available for a session nonce.
    NoEntropy,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Local(r) => write!(f, "closed locally: {r}"),
            CloseReason::Remote(r) => write!(f, "closed by the peer: {r}"),
            CloseReason::HandshakeTimeout(d) => write!(
                f,
                "no handshake within {} ms: is the bus running in the other window, and is each side's origin in the other's allowlist?",
                millis(*d)
            ),
            CloseReason::VersionMismatch { local, remote } => write!(
                f,
                "protocol version mismatch: this side supports {local}, the peer supports {remote}; upgrade the older side"
            ),
            CloseReason::ReconnectTimeout(d) => write!(
                f,
                "no new session within {} ms of the last one ending; raise Config::reconnect_timeout or leave it unlimited",
                millis(*d)
            ),
            CloseReason::PeerGone => f.write_str("the peer window was closed or removed"),
            CloseReason::NoEntropy => f.write_str("no secure random source for the session nonce"),
        }
    }
}

impl std::error::Error for CloseReason {}

/// Why a session ended while the connection goes on: the engine waits for
/// the peer to come back and starts a new handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// A new document in the peer window knocked (a reload).
    PeerReloaded,
    /// The host greeted anew (it reloaded or lost the session).
    PeerRestarted,
    /// The peer window changed documents and the old one did not answer the
    /// probe.
    PeerSilent,
    /// The peer stopped answering heartbeats.
    HeartbeatTimeout(Duration),
    /// The peer window now shows a document from an origin this connection
    /// does not talk to. Only a knock from an allowed origin resumes.
    PeerNavigated(String),
    /// The socket carrying the session closed ([`crate::engine::Link::Socket`]).
    #[cfg(feature = "sockets")]
    ChannelLost,
    /// A socket opened, but the handshake on it did not finish within the
    /// handshake timeout ([`crate::engine::Link::Socket`], guest): the
    /// binding drops that socket and dials again.
    #[cfg(feature = "sockets")]
    SocketStalled(Duration),
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEnd::PeerReloaded => f.write_str("the peer window reloaded"),
            SessionEnd::PeerRestarted => f.write_str("the peer started a new session"),
            SessionEnd::PeerSilent => {
                f.write_str("the peer window changed documents and the old one is gone")
            }
            SessionEnd::HeartbeatTimeout(d) => write!(
                f,
                "the peer did not answer for {} ms (heartbeat)",
                millis(*d)
            ),
            #[cfg(feature = "sockets")]
            SessionEnd::ChannelLost => f.write_str("the connection dropped"),
            #[cfg(feature = "sockets")]
            SessionEnd::SocketStalled(d) => write!(
                f,
                "the server did not finish the handshake within {} ms; dialling again",
                millis(*d)
            ),
            SessionEnd::PeerNavigated(o) => write!(
                f,
                "the peer window navigated to \"{o}\", which this connection does not talk to; waiting for an allowed document"
            ),
        }
    }
}

/// Why a call did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The peer's handler returned an error.
    Remote(RemoteError),
    /// No reply before the call's deadline.
    Timeout(Duration),
    /// The caller cancelled the call.
    Cancelled,
    /// The session ended (the peer reloaded or navigated) before the reply;
    /// the bus may reconnect, so a retry can succeed.
    Disconnected,
    /// The connection is closed for good.
    Closed(CloseReason),
    /// Too many calls are waiting for replies already.
    TooManyPending(usize),
    /// Too many messages are queued while the connection is not up.
    QueueFull(usize),
    /// The encoded request is larger than a frame may be.
    PayloadTooLarge {
        /// Encoded size.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The request could not be encoded, or the response decoded.
    Codec(CodecError),
    /// The payload holds more attachments than a frame may carry
    /// ([`crate::MAX_ATTACHMENTS_PER_FRAME`]).
    TooManyAttachments(usize),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Remote(e) => e.fmt(f),
            CallError::Timeout(d) => write!(f, "no reply within {} ms", millis(*d)),
            CallError::Cancelled => f.write_str("call cancelled"),
            CallError::Disconnected => f.write_str(
                "disconnected: the session ended before the reply (peer reloaded or navigated)",
            ),
            CallError::Closed(r) => write!(f, "connection closed: {r}"),
            CallError::TooManyPending(n) => write!(
                f,
                "{n} calls already wait for replies; await some or raise Limits::max_pending_calls"
            ),
            CallError::QueueFull(n) => write!(
                f,
                "{n} messages already wait for the connection; await it or raise Limits::max_queued_messages"
            ),
            CallError::PayloadTooLarge { len, max } => write!(
                f,
                "request of {len} bytes exceeds the {max}-byte frame limit; transfer large data separately or raise Limits::max_frame_bytes on both sides"
            ),
            CallError::Codec(e) => e.fmt(f),
            CallError::TooManyAttachments(n) if !crate::attach::ENABLED => write!(
                f,
                "{n} attachments in one payload, and this bus is built without them: enable bus-web's `buffers` feature"
            ),
            CallError::TooManyAttachments(n) => write!(
                f,
                "{n} attachments in one payload; a frame carries at most {}",
                crate::attach::MAX_ATTACHMENTS_PER_FRAME
            ),
        }
    }
}

impl std::error::Error for CallError {}

impl From<CodecError> for CallError {
    fn from(e: CodecError) -> CallError {
        CallError::Codec(e)
    }
}

impl From<CodecError> for RemoteError {
    /// Lets a handler use `?` on encoding: the caller sees an internal error.
    fn from(e: CodecError) -> RemoteError {
        RemoteError::new(RemoteError::INTERNAL, e.to_string())
    }
}

/// Whole milliseconds of `d`, for messages (u64: no u128 formatting code).
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
