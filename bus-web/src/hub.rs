//! A set of connections as one audience.

use serde::Serialize;
use serde::de::DeserializeOwned;

use bus_core::Topic;

use crate::connection::{Connection, WeakConnection};

/// Several connections as one audience: send an event to every connected
/// peer, or to all but one (a chat room relaying a message to the others).
///
/// ```ignore
/// let mut room = Hub::new();
/// room.add(&alice);
/// room.add(&bob);
/// room.emit_except(&MESSAGE, &text, alice.id()); // bob gets it, alice does not
/// ```
#[derive(Debug, Default)]
pub struct Hub {
    members: Vec<WeakConnection>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Adds a connection; the hub does not keep it alive.
    pub fn add(&mut self, connection: &Connection) {
        self.members.push(connection.downgrade());
    }

    /// Removes connection `id`.
    pub fn remove(&mut self, id: u64) {
        self.members
            .retain(|m| m.upgrade().is_some_and(|c| c.id() != id));
    }

    /// Live connections in the hub.
    pub fn connections(&self) -> Vec<Connection> {
        self.members
            .iter()
            .filter_map(WeakConnection::upgrade)
            .collect()
    }

    /// Emits to every connected member; returns how many got it.
    pub fn emit<T: Serialize + DeserializeOwned>(&self, topic: &Topic<T>, payload: &T) -> usize {
        self.emit_where(topic, payload, |_| true)
    }

    /// Emits to every connected member but `except` (a connection id).
    pub fn emit_except<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
        except: u64,
    ) -> usize {
        self.emit_where(topic, payload, |c| c.id() != except)
    }

    fn emit_where<T: Serialize + DeserializeOwned>(
        &self,
        topic: &Topic<T>,
        payload: &T,
        keep: impl Fn(&Connection) -> bool,
    ) -> usize {
        self.connections()
            .iter()
            .filter(|c| keep(c) && c.state().is_connected())
            .filter(|c| c.emit(topic, payload).is_ok())
            .count()
    }
}
