//! The engine's phases, the session, and session traffic.

use std::time::Duration;

use crate::attach::Attachment;
use crate::envelope::{Message, Nonce, Outcome, SessionId};
use crate::error::{CallError, CloseReason, RemoteError, SessionEnd};

use super::Engine;
use super::types::{CallId, Delivery, RejectReason, RequestId};

/// One open (or, for a guest, welcomed) session.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) id: SessionId,
    /// The host's hello nonce this session answered.
    pub(super) hello: Nonce,
    pub(super) origin: String,
    pub(super) version: u16,
    pub(super) peer_max_frame: usize,
    pub(super) last_heard: Duration,
    pub(super) next_ping: Option<Duration>,
    /// Set by [`Engine::verify_peer`]: end the session unless the peer speaks by then.
    pub(super) probe_deadline: Option<Duration>,
}

/// Handshake retries with doubling delays.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retry {
    pub(super) next: Duration,
    pub(super) delay: Duration,
}

/// When a host sends `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Greet {
    /// On its own, retrying with backoff.
    Unprompted,
    /// Only in answer to the guest's `Knock`.
    OnKnock,
}

#[derive(Debug)]
pub(super) enum Phase {
    Idle,
    /// Host: greeting, or waiting for a knock.
    Greeting {
        nonce: Nonce,
        greet: Greet,
        /// `None` while reconnecting without a limit.
        deadline: Option<Duration>,
        retry: Retry,
    },
    /// Guest: knocking, waiting for a hello.
    Knocking {
        deadline: Option<Duration>,
        retry: Retry,
    },
    /// Guest: welcomed a hello, waiting for `Ready`.
    Welcomed {
        session: Session,
        deadline: Option<Duration>,
        /// Knock again if no `Ready` came by then.
        fallback: Duration,
    },
    Connected(Session),
    Closed(CloseReason),
}

impl Engine {
    pub(super) fn on_messages(
        &mut self,
        now: Duration,
        session_id: SessionId,
        version: u16,
        messages: Vec<Message>,
        attachments: Vec<Attachment>,
    ) -> Result<(), RejectReason> {
        let Phase::Connected(session) = &mut self.phase else {
            return Err(RejectReason::Unexpected(
                "session traffic before the handshake",
            ));
        };
        if session.id != session_id {
            return Err(RejectReason::WrongSession);
        }
        if version != session.version {
            return Err(RejectReason::WrongVersion(version));
        }
        check_attachments(&messages, attachments.len())?;
        session.last_heard = now;
        session.probe_deadline = None;
        let mut attachments = attachments;
        let mut owed = 0;
        for message in messages {
            if let Message::Attach { count } = message {
                owed = count as usize;
                continue;
            }
            // Checked above: `owed` of them are there. (At most 64, so the
            // drain from the front is cheap.)
            let own = if owed == 0 || !crate::attach::ENABLED {
                Vec::new()
            } else {
                attachments.drain(..std::mem::take(&mut owed)).collect()
            };
            if let Err(reason) = self.on_message(now, message, own) {
                self.reject(reason, None);
            }
            if !matches!(self.phase, Phase::Connected(_)) {
                break;
            }
        }
        Ok(())
    }

    fn on_message(
        &mut self,
        now: Duration,
        message: Message,
        attachments: Vec<Attachment>,
    ) -> Result<(), RejectReason> {
        match message {
            Message::Call {
                id,
                method,
                payload,
                timeout_ms,
            } => {
                if self.serving.contains(id) {
                    return Err(RejectReason::DuplicateCall(id));
                }
                if self.serving.len() >= self.config.limits.max_inbound_calls {
                    let err = RemoteError::new(
                        RemoteError::OVERLOADED,
                        "too many calls in progress; try again later",
                    );
                    self.queue_answer(Message::Reply {
                        id,
                        outcome: Outcome::Err(err),
                    });
                    return Ok(());
                }
                // The caller's deadline, honoured here: past it nobody waits.
                let deadline =
                    timeout_ms.map(|ms| now.saturating_add(Duration::from_millis(u64::from(ms))));
                self.serving.insert(id, deadline, ());
                self.deliver(Delivery::Request {
                    id: RequestId {
                        epoch: self.epoch,
                        id,
                    },
                    method,
                    payload,
                    attachments,
                });
            }
            Message::Reply { id, outcome } => {
                if self.pending.remove(id).is_none() {
                    return Err(RejectReason::UnknownReply(id));
                }
                let result = match outcome {
                    Outcome::Ok(bytes) => Ok(bytes),
                    Outcome::Err(e) => Err(CallError::Remote(e)),
                };
                self.deliver(Delivery::Reply {
                    call: CallId(id),
                    result,
                    attachments,
                });
            }
            Message::Event { topic, payload } => self.deliver(Delivery::Event {
                topic,
                payload,
                attachments,
            }),
            Message::Cancel { id } => {
                if self.serving.remove(id).is_some() {
                    self.deliver(Delivery::Cancelled(RequestId {
                        epoch: self.epoch,
                        id,
                    }));
                }
            }
            Message::Ping => self.outbox.pong(),
            Message::Pong => {}
            Message::Close { reason } => self.close_with(CloseReason::Remote(reason), false),
            // Paired with the message that follows it by `on_messages`.
            Message::Attach { .. } => {}
        }
        Ok(())
    }

    /// The session is over but the connection is not: fail what waited on
    /// it, then wait for the peer and handshake anew.
    pub(super) fn end_session(&mut self, now: Duration, why: SessionEnd) {
        self.fail_all(CallError::Disconnected);
        let greet = match why {
            // The document is gone: only a knock from an allowed one resumes.
            SessionEnd::PeerNavigated(_) => Greet::OnKnock,
            // The same document may still be there, silent: greet it.
            SessionEnd::HeartbeatTimeout(_) => Greet::Unprompted,
            _ => self.default_greet(),
        };
        self.last_end = Some(why);
        self.start_handshake(now, greet);
    }

    /// Fails our pending calls, cancels the peer's, drops what was queued.
    pub(super) fn fail_all(&mut self, error: CallError) {
        for (id, _) in self.pending.drain() {
            self.deliver(Delivery::Reply {
                call: CallId(id),
                result: Err(error.clone()),
                attachments: Vec::new(),
            });
        }
        for (id, ()) in self.serving.drain() {
            self.deliver(Delivery::Cancelled(RequestId {
                epoch: self.epoch,
                id,
            }));
        }
        self.outbox.clear();
    }

    /// Drops a call that will not be waited for: unsent, it leaves the
    /// queue; sent, the peer is told to stop.
    pub(super) fn withdraw_call(&mut self, id: u64) {
        if !self.outbox.withdraw_call(id) && matches!(self.phase, Phase::Connected(_)) {
            self.queue_answer(Message::Cancel { id });
        }
    }

    /// Queues a message the engine sends on its own (not the application):
    /// bounded by the queue limit, shed and counted past it.
    fn queue_answer(&mut self, message: Message) {
        if self.outbox.len() >= self.config.limits.max_queued_messages {
            self.stats.shed += 1;
        } else {
            self.outbox.push(message);
        }
    }
}

const NO_OWNER: RejectReason =
    RejectReason::BadAttachments("not each announced just before a call, reply or event");

/// Whether a frame's `Attach` messages hand out exactly its `received`
/// attachments, each `Attach` (of at least one) just before a call, a
/// successful reply or an event. Checked before any message acts, so a
/// frame that fails is rejected whole.
fn check_attachments(messages: &[Message], received: usize) -> Result<(), RejectReason> {
    if !crate::attach::ENABLED {
        // None can arrive (refused when counted), so none may be announced.
        let announced = messages.iter().any(|m| matches!(m, Message::Attach { .. }));
        return if announced { Err(NO_OWNER) } else { Ok(()) };
    }
    let mut announced: usize = 0;
    let mut owner_next = false;
    for m in messages {
        let owner = matches!(
            m,
            Message::Call { .. }
                | Message::Event { .. }
                | Message::Reply {
                    outcome: Outcome::Ok(_),
                    ..
                }
        );
        if owner_next && !owner {
            return Err(NO_OWNER);
        }
        owner_next = false;
        if let Message::Attach { count } = m {
            if *count == 0 {
                return Err(NO_OWNER);
            }
            announced = announced.saturating_add(*count as usize);
            owner_next = true;
        }
    }
    if owner_next {
        return Err(NO_OWNER);
    }
    if announced != received {
        return Err(NO_OWNER);
    }
    Ok(())
}
