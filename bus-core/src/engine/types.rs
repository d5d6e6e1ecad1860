//! What goes into the engine and what comes out of it.

use std::borrow::Cow;
use std::fmt;

use crate::attach::Attachment;
use crate::envelope::{DecodeError, HEADER_LEN};
use crate::error::{CallError, CloseReason, SessionEnd};

/// Which end of the handshake this engine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The window that knows the other's origin: a page embedding an iframe or
    /// opening a popup. It sends `Hello`.
    Host,
    /// The embedded iframe or the popup. It answers `Hello` and may `Knock`.
    Guest,
}

/// A binding's label for the window a message came from.
///
/// The binding gives the peer window (the iframe's `contentWindow`, the
/// parent, the opener or the popup) [`SourceId::PEER`] and any other window
/// another value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u64);

impl SourceId {
    /// The label of the peer window.
    pub const PEER: SourceId = SourceId(1);
}

/// Where a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    /// A `message` event on the window.
    Window {
        /// `MessageEvent.origin`, exactly as the browser serialized it.
        origin: &'a str,
        /// The binding's label for `MessageEvent.source`.
        source: SourceId,
        /// Whether a `MessagePort` came with the message. The engine says
        /// whether to keep it ([`Received::adopt_port`]).
        with_port: bool,
    },
    /// The private channel the engine told the binding to adopt.
    Port,
    /// A message on the connection's socket ([`crate::engine::Link::Socket`]).
    #[cfg(feature = "sockets")]
    Socket {
        /// The peer's origin, fixed when the socket opened: the `Origin`
        /// header a server checked before the upgrade, or the `http(s)`
        /// origin of the URL a client dialled.
        origin: &'a str,
    },
}

/// A received frame, read lazily: the engine looks at its length and
/// header first, and asks for the rest only once the sender passed the
/// checks. A binding implements it over the browser's buffer so that a
/// rejected frame is never copied into wasm memory.
pub trait FrameSource {
    /// The frame's length in bytes.
    fn len(&self) -> usize;

    /// Whether the frame is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first [`HEADER_LEN`] bytes, or `None` if the frame is shorter.
    fn header(&self) -> Option<[u8; HEADER_LEN]>;

    /// All the bytes.
    fn bytes(&self) -> Cow<'_, [u8]>;

    /// How many attachments came with the frame (see [`crate::attach`]).
    /// Read before [`FrameSource::attachments`], so a frame with too many is
    /// refused without looking at them.
    fn attachment_count(&self) -> usize {
        0
    }

    /// The attachments that came with the frame, in order, or `None` if one
    /// of them is not a byte buffer.
    fn attachments(&self) -> Option<Vec<Attachment>> {
        Some(Vec::new())
    }
}

/// A frame with the attachments that came with it.
#[derive(Debug, Clone, Copy)]
pub struct WithAttachments<'a, F: ?Sized> {
    /// The frame.
    pub frame: &'a F,
    /// Its attachments.
    pub attachments: &'a [Attachment],
}

impl<F: FrameSource + ?Sized> FrameSource for WithAttachments<'_, F> {
    fn len(&self) -> usize {
        self.frame.len()
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        self.frame.header()
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        self.frame.bytes()
    }

    fn attachment_count(&self) -> usize {
        self.attachments.len()
    }

    fn attachments(&self) -> Option<Vec<Attachment>> {
        Some(self.attachments.to_vec())
    }
}

impl FrameSource for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        self.first_chunk::<HEADER_LEN>().copied()
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl FrameSource for Vec<u8> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        self.as_slice().header()
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

/// What the binding must do after [`crate::Engine::handle_frame`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a port the engine adopts must be kept, any other must be closed"]
pub struct Received {
    /// Keep the `MessagePort` that came with the frame as the session's
    /// private channel. When false, close any port that came with it.
    pub adopt_port: bool,
}

/// Where a frame must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `peer.postMessage(bytes, target_origin)` on the peer window. The target
    /// is a concrete origin, or `"*"` only when the peer is opaque and the
    /// allowlist explicitly opted in to opaque origins.
    Window {
        /// The targetOrigin to post with.
        target_origin: String,
    },
    /// The private channel.
    Port,
    /// The connection's socket ([`crate::engine::Link::Socket`]): every frame,
    /// handshake and session alike.
    #[cfg(feature = "sockets")]
    Socket,
}

/// A frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub route: Route,
    /// The encoded frame.
    pub bytes: Vec<u8>,
    /// Create the private channel, keep one end, and transfer the other
    /// with this frame.
    pub attach_port: bool,
    /// Buffers to send beside the frame, in order (see [`crate::attach`]).
    pub attachments: Vec<Attachment>,
}

impl Transmit {
    /// The targetOrigin, for window routes.
    pub fn target_origin(&self) -> Option<&str> {
        match &self.route {
            Route::Window { target_origin } => Some(target_origin),
            Route::Port => None,
            #[cfg(feature = "sockets")]
            Route::Socket => None,
        }
    }
}

/// The connection's observable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Created; [`crate::Engine::connect`] not called yet.
    Idle,
    /// First handshake under way.
    Connecting,
    /// A session is open.
    Connected {
        /// The peer's origin.
        origin: String,
        /// The negotiated protocol version.
        version: u16,
    },
    /// The session ended; the engine waits for the peer and handshakes anew.
    Reconnecting(SessionEnd),
    /// Done for good.
    Closed(CloseReason),
}

impl State {
    /// True when connected.
    pub fn is_connected(&self) -> bool {
        matches!(self, State::Connected { .. })
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Idle => f.write_str("idle"),
            State::Connecting => f.write_str("connecting…"),
            State::Connected { origin, version } => {
                write!(f, "connected to {origin} (v{version})")
            }
            State::Reconnecting(why) => write!(f, "reconnecting: {why}"),
            State::Closed(reason) => write!(f, "closed: {reason}"),
        }
    }
}

/// Identifies one outgoing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Identifies one incoming call, within the session it arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId {
    pub(super) epoch: u64,
    pub(super) id: u64,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// `event.origin` is not one this connection talks to (not in the
    /// allowlist, or not the origin a host embedded).
    DisallowedOrigin,
    /// The frame came from a window other than the peer.
    WrongSource,
    /// Our namespace, but unparsable.
    Malformed(DecodeError),
    /// Larger than the frame limit.
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// More messages than a frame may carry.
    TooManyMessages {
        /// How many it declared.
        count: u64,
    },
    /// The frame names another session, or the origin differs from the session's.
    WrongSession,
    /// The frame is written in a version other than the session's.
    WrongVersion(u16),
    /// A frame this side does not accept in its role, state or channel.
    Unexpected(&'static str),
    /// A reply to no pending call (unknown, duplicate or late).
    UnknownReply(u64),
    /// A call reusing the id of a call still being served.
    DuplicateCall(u64),
    /// A `Welcome` that answers no current `Hello`.
    StaleHandshake,
    /// The frame's attachments break the rules (see [`crate::attach`]):
    /// too many, not byte buffers, not all owned by a message, or on a frame
    /// that cannot carry any.
    BadAttachments(&'static str),
}

impl RejectReason {
    /// A short stable label, for counters.
    pub fn label(&self) -> &'static str {
        match self {
            RejectReason::DisallowedOrigin => "disallowed-origin",
            RejectReason::WrongSource => "wrong-source",
            RejectReason::Malformed(_) => "malformed",
            RejectReason::TooLarge { .. } => "too-large",
            RejectReason::TooManyMessages { .. } => "too-many-messages",
            RejectReason::WrongSession => "wrong-session",
            RejectReason::WrongVersion(_) => "wrong-version",
            RejectReason::Unexpected(_) => "unexpected",
            RejectReason::UnknownReply(_) => "unknown-reply",
            RejectReason::DuplicateCall(_) => "duplicate-call",
            RejectReason::StaleHandshake => "stale-handshake",
            RejectReason::BadAttachments(_) => "bad-attachments",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::DisallowedOrigin => f.write_str("origin not in the allowlist"),
            RejectReason::WrongSource => f.write_str("sent by a window other than the peer"),
            RejectReason::Malformed(e) => e.fmt(f),
            RejectReason::TooLarge { len } => write!(f, "frame of {len} bytes over the limit"),
            RejectReason::TooManyMessages { count } => {
                write!(f, "frame of {count} messages over the per-frame cap")
            }
            RejectReason::WrongSession => f.write_str("not of the current session"),
            RejectReason::WrongVersion(v) => write!(f, "frame in protocol v{v}, not the session's"),
            RejectReason::Unexpected(what) => write!(f, "unexpected {what}"),
            RejectReason::UnknownReply(id) => write!(f, "reply to unknown call {id}"),
            RejectReason::DuplicateCall(id) => write!(f, "duplicate call id {id}"),
            RejectReason::StaleHandshake => f.write_str("welcome for no current hello"),
            RejectReason::BadAttachments(why) => write!(f, "bad attachments: {why}"),
        }
    }
}

/// A dropped frame, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// `event.origin` for window frames.
    pub origin: Option<String>,
}

/// Something for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The state changed.
    State(State),
    /// The peer calls `method`; answer with [`crate::Engine::reply`].
    Request {
        /// Pass back to [`crate::Engine::reply`].
        id: RequestId,
        /// The method's name.
        method: String,
        /// The encoded request.
        payload: Vec<u8>,
        /// The attachments its indexes name.
        attachments: Vec<Attachment>,
    },
    /// A call of ours finished.
    Reply {
        /// Which call.
        call: CallId,
        /// The encoded response or why there is none.
        result: Result<Vec<u8>, CallError>,
        /// The attachments the response's indexes name.
        attachments: Vec<Attachment>,
    },
    /// The peer emitted an event.
    Event {
        /// The topic's name.
        topic: String,
        /// The encoded payload.
        payload: Vec<u8>,
        /// The attachments its indexes name.
        attachments: Vec<Attachment>,
    },
    /// Nobody waits for this request any more (the caller cancelled, its
    /// deadline passed, or the session ended): stop working on it. A reply
    /// to it would be dropped.
    Cancelled(RequestId),
    /// A frame was dropped.
    Rejected(Rejection),
}

/// Counters, for diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to [`crate::Engine::handle_frame`].
    pub frames_in: u64,
    /// Frames returned by [`crate::Engine::poll_transmit`].
    pub frames_out: u64,
    /// Messages of other libraries, dropped silently.
    pub foreign: u64,
    /// Frames rejected.
    pub rejected: u64,
    /// Rejections counted but not delivered (the report queue was full).
    pub unreported: u64,
    /// Answers the engine did not queue because the outbox was full
    /// (`OVERLOADED` replies, cancels): the peer's calls time out instead.
    pub shed: u64,
    /// Rejections by [`RejectReason::label`].
    pub rejected_by: crate::vec_map::VecMap<&'static str, u64>,
}
