//! Two engines wired back to back in memory, with a manual clock.
//!
//! Use it to unit-test your own services without a browser: register
//! handlers on [`MemoryPair::host_router`] / [`MemoryPair::guest_router`],
//! [`connect`](MemoryPair::connect), then [`call`](MemoryPair::call). Time
//! moves only when you [`advance`](MemoryPair::advance) it.
//!
//! It behaves like the browser binding where it matters: a window frame
//! reaches the other side only if its targetOrigin is that side's origin (or
//! `"*"`), and arrives labelled with the sender's origin and
//! [`SourceId::PEER`]; a port frame arrives only once the receiver adopted
//! the port (as the engine said, [`Received::adopt_port`]) and until its
//! session ends.
//!
//! ```
//! use std::time::Duration;
//! use bus_core::{CallError, MemoryPair, Method, Side};
//!
//! const SLOW: Method<(), ()> = Method::new("slow");
//! let mut pair = MemoryPair::new();
//! pair.set_auto_serve(Side::Guest, false); // the guest never answers
//! pair.connect();
//! let call = pair.host.call_method(pair.now(), &SLOW, &(), Some(Duration::from_secs(2)))?;
//! pair.advance(Duration::from_secs(3));
//! assert_eq!(pair.reply(Side::Host, call), Some(Err(CallError::Timeout(Duration::from_secs(2)))));
//! # Ok::<(), CallError>(())
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::attach::{Attachment, decode_parts};

/// An encoded payload and its attachments.
type Parts = (Vec<u8>, Vec<Attachment>);
use crate::engine::{
    CallId, Channel, Config, ConfigError, Delivery, Engine, Received, Role, Route, SourceId, State,
    Transmit, WithAttachments,
};
use crate::entropy::SystemEntropy;
use crate::error::CallError;
use crate::origin::Allowlist;
use crate::typed::{Method, Router};

/// One end of a [`MemoryPair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The host engine.
    Host,
    /// The guest engine.
    Guest,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Host => Side::Guest,
            Side::Guest => Side::Host,
        }
    }
}

/// Two engines connected in memory. See the [module docs](self).
#[derive(Debug)]
pub struct MemoryPair {
    /// The host engine.
    pub host: Engine,
    /// The guest engine.
    pub guest: Engine,
    /// Serves the guest's calls to the host.
    pub host_router: Router,
    /// Serves the host's calls to the guest.
    pub guest_router: Router,
    host_origin: String,
    guest_origin: String,
    now: Duration,
    auto_serve: PerSide<bool>,
    link_up: bool,
    /// Whether each side holds its end of the private port.
    ports: PerSide<bool>,
    logs: PerSide<Vec<Delivery>>,
    wire: Vec<(Side, Transmit)>,
}

impl Default for MemoryPair {
    fn default() -> Self {
        MemoryPair::new()
    }
}

impl MemoryPair {
    /// The host's origin in [`MemoryPair::new`].
    pub const HOST_ORIGIN: &'static str = "https://host.example";
    /// The guest's origin in [`MemoryPair::new`].
    pub const GUEST_ORIGIN: &'static str = "https://guest.example";

    /// A pair with default settings, each side allowing only the other.
    pub fn new() -> MemoryPair {
        let (host, guest) = MemoryPair::default_configs();
        match MemoryPair::with_configs(host, guest) {
            Ok(pair) => pair,
            // The default configs are valid by construction.
            Err(e) => unreachable!("default MemoryPair config rejected: {e}"),
        }
    }

    /// Default host and guest configs, to adjust before
    /// [`MemoryPair::with_configs`].
    pub fn default_configs() -> (Config, Config) {
        let allow = |o: &str| Allowlist::new([o]).unwrap_or_default();
        (
            Config::new(Role::Host, allow(Self::GUEST_ORIGIN)).with_peer_origin(Self::GUEST_ORIGIN),
            Config::new(Role::Guest, allow(Self::HOST_ORIGIN)),
        )
    }

    /// A pair from explicit configs; the host lives at
    /// [`MemoryPair::HOST_ORIGIN`], the guest at [`MemoryPair::GUEST_ORIGIN`].
    pub fn with_configs(host: Config, guest: Config) -> Result<MemoryPair, ConfigError> {
        Ok(MemoryPair {
            host: Engine::new(host, SystemEntropy)?,
            guest: Engine::new(guest, SystemEntropy)?,
            host_router: Router::new(),
            guest_router: Router::new(),
            host_origin: Self::HOST_ORIGIN.to_owned(),
            guest_origin: Self::GUEST_ORIGIN.to_owned(),
            now: Duration::ZERO,
            auto_serve: PerSide {
                host: true,
                guest: true,
            },
            link_up: true,
            ports: PerSide::default(),
            logs: PerSide::default(),
            wire: Vec::new(),
        })
    }

    /// The pair's clock.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The engine of `side`.
    pub fn engine(&mut self, side: Side) -> &mut Engine {
        match side {
            Side::Host => &mut self.host,
            Side::Guest => &mut self.guest,
        }
    }

    /// The origin of `side`.
    pub fn origin(&self, side: Side) -> &str {
        match side {
            Side::Host => &self.host_origin,
            Side::Guest => &self.guest_origin,
        }
    }

    /// Whether `side` answers requests with its router (default) or leaves
    /// them in its log as [`Delivery::Request`].
    pub fn set_auto_serve(&mut self, side: Side, on: bool) {
        *self.auto_serve.get_mut(side) = on;
    }

    /// Cuts (false) or restores (true) the link: while cut, frames are lost,
    /// as with a hung peer.
    pub fn set_link_up(&mut self, up: bool) {
        self.link_up = up;
    }

    /// Starts both engines and runs the handshake to completion.
    pub fn connect(&mut self) {
        let now = self.now;
        self.guest.connect(now);
        self.host.connect(now);
        self.pump();
    }

    /// Moves the clock, runs due timers on both sides, then pumps.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        // Step through every timer on the way, as a real event loop would.
        loop {
            let next = [self.host.poll_timeout(), self.guest.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= target)
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            let now = self.now;
            self.host.handle_timeout(now);
            self.guest.handle_timeout(now);
            self.pump();
        }
        self.now = target;
        self.host.handle_timeout(target);
        self.guest.handle_timeout(target);
        self.pump();
    }

    /// Moves frames between the engines until both are quiet, serving
    /// requests with the routers and logging every other delivery.
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for side in [Side::Host, Side::Guest] {
                moved |= self.drain_deliveries(side);
                while let Some(t) = self.engine(side).poll_transmit() {
                    moved = true;
                    self.wire.push((side, t.clone()));
                    self.deliver_transmit(side, &t);
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Hands `bytes` to `side` as if they arrived on `channel`, then pumps.
    /// For tests that play a third party. A port the engine adopts this way
    /// becomes `side`'s port ([`MemoryPair::has_port`]).
    pub fn inject(&mut self, side: Side, channel: Channel<'_>, bytes: &[u8]) {
        let now = self.now;
        let received: Received = self.engine(side).handle_frame(now, channel, bytes);
        if received.adopt_port {
            *self.ports.get_mut(side) = true;
        }
        self.pump();
    }

    /// Whether `side` holds its end of the private port.
    pub fn has_port(&self, side: Side) -> bool {
        *self.ports.get(side)
    }

    /// Every frame sent so far, with its sender, in order.
    pub fn wire(&self) -> &[(Side, Transmit)] {
        &self.wire
    }

    /// Takes the deliveries `side` logged (everything its router did not consume).
    pub fn take_deliveries(&mut self, side: Side) -> Vec<Delivery> {
        std::mem::take(self.logs.get_mut(side))
    }

    /// The deliveries `side` logged, without taking them.
    pub fn deliveries(&self, side: Side) -> &[Delivery] {
        self.logs.get(side)
    }

    /// Takes the reply to `call` from `side`'s log, if it arrived.
    pub fn reply(&mut self, side: Side, call: CallId) -> Option<Result<Vec<u8>, CallError>> {
        self.reply_parts(side, call)
            .map(|result| result.map(|(bytes, _)| bytes))
    }

    /// [`MemoryPair::reply`] with the reply's attachments.
    pub fn reply_parts(&mut self, side: Side, call: CallId) -> Option<Result<Parts, CallError>> {
        let log = self.logs.get_mut(side);
        let at = log
            .iter()
            .position(|d| matches!(d, Delivery::Reply { call: c, .. } if *c == call))?;
        match log.remove(at) {
            Delivery::Reply {
                result,
                attachments,
                ..
            } => Some(result.map(|bytes| (bytes, attachments))),
            _ => None,
        }
    }

    /// `from` calls `method` on the other side, pumps, and returns the
    /// decoded response. If no reply arrives while pumping (the other side
    /// does not auto-serve, or its handler never answers), the call is
    /// cancelled and [`CallError::Cancelled`] returned; drive slow handlers
    /// with [`Engine::call_method`] and [`MemoryPair::advance`] instead.
    pub fn call<Req, Resp>(
        &mut self,
        from: Side,
        method: &Method<Req, Resp>,
        request: &Req,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
    {
        let now = self.now;
        let call = self.engine(from).call_method(now, method, request, None)?;
        self.pump();
        match self.reply_parts(from, call) {
            Some(Ok((bytes, attachments))) => Ok(decode_parts(&bytes, attachments)?),
            Some(Err(e)) => Err(e),
            None => {
                self.engine(from).cancel(call);
                self.pump();
                Err(CallError::Cancelled)
            }
        }
    }

    fn deliver_transmit(&mut self, from: Side, t: &Transmit) {
        if !self.link_up {
            return;
        }
        let to = from.other();
        let now = self.now;
        let sender_origin = self.origin(from).to_owned();
        if t.attach_port {
            *self.ports.get_mut(from) = true;
        }
        let received = match &t.route {
            Route::Window { target_origin } => {
                // The browser drops a message whose targetOrigin is not the receiver's origin.
                if target_origin != "*" && target_origin != self.origin(to) {
                    return;
                }
                let channel = Channel::Window {
                    origin: &sender_origin,
                    source: SourceId::PEER,
                    with_port: t.attach_port,
                };
                let frame = WithAttachments {
                    frame: t.bytes.as_slice(),
                    attachments: &t.attachments,
                };
                self.engine(to).handle_frame(now, channel, &frame)
            }
            #[cfg(feature = "sockets")]
            Route::Socket => {
                let channel = Channel::Socket {
                    origin: &sender_origin,
                };
                self.engine(to)
                    .handle_frame(now, channel, t.bytes.as_slice())
            }
            // Nothing arrives on a port the receiver does not hold.
            Route::Port if !*self.ports.get(to) => return,
            Route::Port => {
                let frame = WithAttachments {
                    frame: t.bytes.as_slice(),
                    attachments: &t.attachments,
                };
                self.engine(to).handle_frame(now, Channel::Port, &frame)
            }
        };
        if received.adopt_port {
            *self.ports.get_mut(to) = true;
        }
    }

    fn drain_deliveries(&mut self, side: Side) -> bool {
        let mut any = false;
        while let Some(d) = self.engine(side).poll_delivery() {
            any = true;
            // A session's port is closed when the session ends.
            if let Delivery::State(State::Reconnecting(_) | State::Closed(_)) = &d {
                *self.ports.get_mut(side) = false;
            }
            match d {
                Delivery::Request {
                    id,
                    method,
                    payload,
                    attachments,
                } if *self.auto_serve.get(side) => {
                    let router = match side {
                        Side::Host => &mut self.host_router,
                        Side::Guest => &mut self.guest_router,
                    };
                    let result = router.dispatch_parts(&method, &payload, attachments);
                    self.engine(side).reply_with(id, result);
                }
                other => self.logs.get_mut(side).push(other),
            }
        }
        any
    }
}

#[derive(Debug, Default)]
struct PerSide<T> {
    host: T,
    guest: T,
}

impl<T> PerSide<T> {
    fn get(&self, side: Side) -> &T {
        match side {
            Side::Host => &self.host,
            Side::Guest => &self.guest,
        }
    }

    fn get_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Host => &mut self.host,
            Side::Guest => &mut self.guest,
        }
    }
}
