//! The connection pool: every connected client of a server, and the topics
//! broadcast to them. A broadcast goes to every client but the sender (or to
//! all); each client has its own bounded queue, and a client that lets it
//! fill is disconnected with a reason instead of growing memory. With a
//! [`Broker`], broadcasts also reach the clients of other server processes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bus_core::{CodecError, Topic};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use crate::peer::{Command, Peer, PeerId};

/// Why a connection's socket is being closed by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// The WebSocket close code: 1008 for a slow or flooding client, 1012
    /// (service restart: reconnect) for a shutdown.
    pub code: u16,
    /// What the client is told.
    pub reason: String,
}

/// Carries broadcasts between the hubs of several server processes. The
/// hub calls [`Broker::publish`] for every broadcast; the broker hands what
/// other processes published to [`Hub::deliver_remote`] and never hands a
/// process its own broadcasts back.
pub trait Broker: Send + Sync + 'static {
    /// Publishes a broadcast on `topic` to the other processes.
    fn publish(&self, topic: &str, payload: &[u8]);
}

pub(crate) struct Member {
    pub(crate) peer: Peer,
    pub(crate) kick: watch::Sender<Option<Kick>>,
}

#[derive(Default)]
struct Inner {
    members: Mutex<HashMap<PeerId, Member>>,
    broker: Mutex<Option<Arc<dyn Broker>>>,
}

/// The clients connected to one server process (see the [module docs](self)).
/// Cheap to clone.
///
/// ```no_run
/// # fn example(server: &bus_server::BusServer) -> Result<(), bus_core::CodecError> {
/// use bus_core::Topic;
/// const VISITORS: Topic<u32> = Topic::new("visitors");
///
/// let hub = server.hub();
/// let count = hub.len() as u32;
/// hub.broadcast(&VISITORS, &count)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("clients", &self.len()).finish()
    }
}

impl Hub {
    /// An in-process hub: broadcasts reach this process's clients only.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Sends every broadcast through `broker` as well, so the clients of
    /// every process on it receive it.
    pub fn set_broker(&self, broker: Arc<dyn Broker>) {
        *lock(&self.inner.broker) = Some(broker);
    }

    /// Connected clients in this process.
    pub fn len(&self) -> usize {
        lock(&self.inner.members).len()
    }

    /// Whether no client is connected here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client `id`, if connected here.
    pub fn peer(&self, id: PeerId) -> Option<Peer> {
        lock(&self.inner.members).get(&id).map(|m| m.peer.clone())
    }

    /// Every client connected here.
    pub fn peers(&self) -> Vec<Peer> {
        lock(&self.inner.members)
            .values()
            .map(|m| m.peer.clone())
            .collect()
    }

    /// Emits `value` on `topic` to every connected client, in every process
    /// of the broker. Returns how many clients of this process it reached.
    pub fn broadcast<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        value: &T,
    ) -> Result<usize, CodecError> {
        let payload = topic.encode(value)?;
        Ok(self.publish(topic.name(), &payload, None))
    }

    /// [`Hub::broadcast`] to every client but `except` (its sender).
    pub fn broadcast_except<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        value: &T,
        except: PeerId,
    ) -> Result<usize, CodecError> {
        let payload = topic.encode(value)?;
        Ok(self.publish(topic.name(), &payload, Some(except)))
    }

    /// A broadcast of encoded bytes: to the broker, and to the local clients
    /// but `except`.
    pub(crate) fn publish(&self, topic: &str, payload: &[u8], except: Option<PeerId>) -> usize {
        let broker = lock(&self.inner.broker).clone();
        if let Some(broker) = broker {
            broker.publish(topic, payload);
        }
        self.fan_out(topic, payload, except)
    }

    /// Delivers a broadcast another process published to every client here.
    /// For [`Broker`] implementations.
    pub fn deliver_remote(&self, topic: &str, payload: &[u8]) -> usize {
        self.fan_out(topic, payload, None)
    }

    fn fan_out(&self, topic: &str, payload: &[u8], except: Option<PeerId>) -> usize {
        let topic: Arc<str> = topic.into();
        let payload: Arc<[u8]> = payload.into();
        let mut members = lock(&self.inner.members);
        let mut reached = 0;
        members.retain(|id, m| {
            if Some(*id) == except {
                return true;
            }
            let emit = Command::Emit {
                topic: Arc::clone(&topic),
                payload: Arc::clone(&payload),
            };
            match m.peer.commands.try_send(emit) {
                Ok(()) => {
                    reached += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let reason = format!(
                        "slow consumer: {} messages wait to be sent to this client; it is disconnected (read faster, or raise Options::queue)",
                        m.peer.commands.max_capacity()
                    );
                    let _ = m.kick.send(Some(Kick { code: 1008, reason }));
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        reached
    }

    pub(crate) fn join(&self, member: Member) {
        lock(&self.inner.members).insert(member.peer.id, member);
    }

    pub(crate) fn leave(&self, id: PeerId) {
        lock(&self.inner.members).remove(&id);
    }
}

/// The hub's maps hold no invariant a panicking holder could break halfway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
