//! One WebSocket as the driver sees it ([`Socket`]): a reader task that
//! hands it binary messages and a writer task that sends its frames, in
//! order, and closes with a code and a reason. Written once over any
//! stream-and-sink of messages, for axum's sockets (server) and
//! tokio-tungstenite's (native client).

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::driver::{Incoming, Outgoing, Socket};
use crate::hub::Kick;

/// Frames read ahead of the driver. Past it the reader waits, so a client
/// that floods backs up into its own TCP buffers, not the server's memory.
const READ_AHEAD: usize = 32;

/// What one kind of WebSocket message is to the bus.
pub(crate) enum Read {
    Frame(Vec<u8>),
    Foreign,
    Skip,
    Closed,
}

/// How to read and write one library's messages.
pub(crate) struct Codec<M> {
    pub(crate) read: fn(M) -> Read,
    pub(crate) binary: fn(Vec<u8>) -> M,
    pub(crate) close: fn(Kick) -> M,
}

/// The tasks behind one [`Socket`]; dropping it stops the reader.
pub(crate) struct Tasks {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Tasks {
    /// Waits (at most `grace`) for the writer to send what was queued and
    /// close the socket, then stops the reader.
    pub(crate) async fn finish(self, grace: std::time::Duration) {
        let _ = tokio::time::timeout(grace, self.writer).await;
        self.reader.abort();
    }
}

/// Splits `ws` into a [`Socket`] and its reader and writer tasks. At most
/// `queue` frames wait to be written; the driver disconnects a client that
/// lets them pile up.
pub(crate) fn spawn<S, M, E>(ws: S, queue: usize, codec: Codec<M>) -> (Socket, Tasks)
where
    S: Stream<Item = Result<M, E>> + Sink<M> + Send + Unpin + 'static,
    M: Send + 'static,
    E: Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (in_tx, incoming) = mpsc::channel(READ_AHEAD);
    let (outgoing, mut out_rx) = mpsc::channel(queue.max(1));
    let (urgent, mut urgent_rx) = watch::channel::<Option<Kick>>(None);
    let read = codec.read;
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let incoming = match read(message) {
                Read::Frame(bytes) => Incoming::Frame(bytes),
                Read::Foreign => Incoming::Foreign,
                Read::Skip => continue,
                Read::Closed => break,
            };
            if in_tx.send(incoming).await.is_err() {
                break;
            }
        }
        // Dropping `in_tx` tells the driver the socket closed.
    });
    let (binary, close) = (codec.binary, codec.close);
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                changed = urgent_rx.changed() => {
                    let kick = changed.ok().and_then(|()| urgent_rx.borrow_and_update().clone());
                    if let Some(kick) = kick {
                        let _ = sink.send(close(kick)).await;
                    }
                    break;
                }
                out = out_rx.recv() => match out {
                    Some(Outgoing::Frame(bytes)) => {
                        if sink.send(binary(bytes)).await.is_err() {
                            break;
                        }
                    }
                    Some(Outgoing::Close(kick)) => {
                        let _ = sink.send(close(kick)).await;
                        break;
                    }
                    None => break,
                },
            }
        }
        let _ = sink.close().await;
    });
    let socket = Socket {
        incoming,
        outgoing,
        urgent,
    };
    (socket, Tasks { reader, writer })
}

/// axum's messages (the server's sockets).
pub(crate) fn axum_codec() -> Codec<axum::extract::ws::Message> {
    use axum::extract::ws::{CloseFrame, Message};
    Codec {
        read: |m| match m {
            Message::Binary(b) => Read::Frame(b.into()),
            Message::Text(_) => Read::Foreign,
            Message::Ping(_) | Message::Pong(_) => Read::Skip,
            Message::Close(_) => Read::Closed,
        },
        binary: |b| Message::Binary(b.into()),
        close: |k| {
            Message::Close(Some(CloseFrame {
                code: k.code,
                reason: k.reason.into(),
            }))
        },
    }
}

/// tokio-tungstenite's messages (the native client's sockets).
pub(crate) fn tungstenite_codec() -> Codec<tokio_tungstenite::tungstenite::Message> {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    Codec {
        read: |m| match m {
            Message::Binary(b) => Read::Frame(b.into()),
            Message::Text(_) => Read::Foreign,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Read::Skip,
            Message::Close(_) => Read::Closed,
        },
        binary: |b| Message::Binary(b.into()),
        close: |k| {
            Message::Close(Some(CloseFrame {
                code: k.code.into(),
                reason: k.reason.into(),
            }))
        },
    }
}
