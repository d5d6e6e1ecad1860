//! Scale-out on NATS: the hubs of several server processes share their
//! broadcasts through NATS subjects, so a client on one process receives
//! what a client on another broadcast (and the sender still never gets its
//! own message back).
//!
//! # Subjects
//!
//! A broadcast on topic `cart.changed` is published on the subject
//! `<prefix>.cart.changed` (the prefix is `wbus` unless you choose one; use
//! one per application sharing a NATS server), with the payload as the bus
//! encoded it, and a `Wbus-From` header naming the publishing process. Each
//! process subscribes to `<prefix>.>`, drops what it published itself (its
//! own clients already had it, less the sender), and hands the rest to its
//! hub, which emits it to every local client. Topic names are NATS subject
//! tokens: letters, digits, `-` and `_`, separated by dots; a broadcast on
//! another name stays in its process and is counted
//! ([`NatsBroker::stats`]).
//!
//! # When the broker restarts
//!
//! NATS core delivers at most once. While the connection to the broker is
//! down, the client reconnects on its own and subscribes again; broadcasts
//! published meanwhile wait in a bounded queue (then in the NATS client's
//! buffer) and are dropped and counted once it is full, so memory stays
//! bounded. Broadcasts other processes published while this one was cut off
//! are not replayed. Local clients keep receiving local broadcasts
//! throughout.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::HeaderMap;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::hub::{Broker, Hub};

/// Broadcasts waiting to be handed to the NATS client.
const QUEUE: usize = 1024;
const FROM: &str = "Wbus-From";
/// How long `connect` waits for the server to confirm its subscription.
const CONFIRM_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Counters of a [`NatsBroker`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsStats {
    /// Broadcasts published to NATS.
    pub published: u64,
    /// Broadcasts received from other processes and handed to the hub.
    pub received: u64,
    /// Broadcasts dropped because the queue to the broker was full.
    pub dropped: u64,
    /// Broadcasts on a topic that is not a NATS subject, kept local.
    pub not_a_subject: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    not_a_subject: AtomicU64,
}

/// Why the broker could not start.
#[derive(Debug)]
pub struct NatsError(String);

impl fmt::Display for NatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NatsError {}

/// A [`Broker`] on NATS (see the [module docs](self)).
pub struct NatsBroker {
    prefix: String,
    queue: mpsc::Sender<(String, Vec<u8>)>,
    counters: Arc<Counters>,
}

impl fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("prefix", &self.prefix)
            .field("stats", &self.stats())
            .finish()
    }
}

impl NatsBroker {
    /// Connects to the NATS server at `url` (`nats://127.0.0.1:4222`),
    /// subscribes to `<prefix>.>` and makes `hub` share its broadcasts
    /// through it. It returns once the server has confirmed the
    /// subscription, so broadcasts other processes publish from then on
    /// arrive; it fails when the server cannot be reached (after that, a
    /// lost connection is redialled on its own). Call inside a tokio
    /// runtime.
    pub async fn connect(url: &str, prefix: &str, hub: &Hub) -> Result<Arc<NatsBroker>, NatsError> {
        if !is_subject(prefix) {
            return Err(NatsError(format!(
                "{prefix:?} is not a NATS subject prefix: use letters, digits, - and _, separated by dots"
            )));
        }
        let client = async_nats::connect(url)
            .await
            .map_err(|e| NatsError(format!("cannot reach NATS at {url}: {e}")))?;
        let mut subscription = client
            .subscribe(format!("{prefix}.>"))
            .await
            .map_err(|e| NatsError(format!("cannot subscribe to {prefix}.> on {url}: {e}")))?;
        subscribed(&client, url).await?;
        let me = process_id();
        let counters = Arc::new(Counters::default());
        let (queue, mut to_publish) = mpsc::channel::<(String, Vec<u8>)>(QUEUE);

        let publisher = client.clone();
        let id = me.clone();
        let published = Arc::clone(&counters);
        tokio::spawn(async move {
            while let Some((subject, payload)) = to_publish.recv().await {
                let mut headers = HeaderMap::new();
                headers.insert(FROM, id.as_str());
                if publisher
                    .publish_with_headers(subject, headers, payload.into())
                    .await
                    .is_ok()
                {
                    published.published.fetch_add(1, Ordering::Relaxed);
                } else {
                    published.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        });

        let local = hub.clone();
        let skip = format!("{prefix}.");
        let received = Arc::clone(&counters);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let ours = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(FROM))
                    .is_some_and(|v| v.as_str() == me);
                let Some(topic) = message.subject.as_str().strip_prefix(&skip) else {
                    continue;
                };
                if !ours {
                    received.received.fetch_add(1, Ordering::Relaxed);
                    local.deliver_remote(topic, &message.payload);
                }
            }
        });

        let broker = Arc::new(NatsBroker {
            prefix: prefix.to_owned(),
            queue,
            counters,
        });
        hub.set_broker(broker.clone());
        Ok(broker)
    }

    /// Counters.
    pub fn stats(&self) -> NatsStats {
        let c = &self.counters;
        NatsStats {
            published: c.published.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            not_a_subject: c.not_a_subject.load(Ordering::Relaxed),
        }
    }
}

impl Broker for NatsBroker {
    fn publish(&self, topic: &str, payload: &[u8]) {
        if !is_subject(topic) {
            self.counters.not_a_subject.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let subject = format!("{}.{topic}", self.prefix);
        if self.queue.try_send((subject, payload.to_vec())).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Returns once the server has registered the subscriptions made so far,
/// so that a broadcast another process publishes after `connect` returns
/// reaches this one. `subscribe` only queues the request: a message on a
/// fresh inbox, subscribed and published after it on the same connection,
/// comes back only after the server has handled everything before it.
async fn subscribed(client: &async_nats::Client, url: &str) -> Result<(), NatsError> {
    let failed = |e: &dyn fmt::Display| {
        NatsError(format!(
            "NATS at {url} did not confirm the subscription: {e}"
        ))
    };
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| failed(&e))?;
    client
        .publish(inbox, Default::default())
        .await
        .map_err(|e| failed(&e))?;
    match tokio::time::timeout(CONFIRM_WITHIN, probe.next()).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(failed(&"the connection closed")),
        Err(_) => return Err(failed(&format_args!("no answer within {CONFIRM_WITHIN:?}"))),
    }
    let _ = probe.unsubscribe().await;
    Ok(())
}

/// Dot-separated tokens of letters, digits, `-` and `_`.
fn is_subject(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Names this process on the broker: random, so two processes never match.
fn process_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Without entropy, the time and the pid still tell processes apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{}-{nanos}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::is_subject;

    #[test]
    fn topics_map_to_subjects_only_when_they_are_tokens() {
        assert!(is_subject("cart.changed"));
        assert!(is_subject("wbus"));
        assert!(is_subject("a-b_c.d1"));
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "ä"] {
            assert!(!is_subject(bad), "{bad:?}");
        }
    }
}
