//! The engine on one ordered stream (`Link::Socket`, a WebSocket): the same
//! handshake and session on the socket, no port, a dropped socket ending
//! the session, and a new socket starting the next one. Without the
//! `sockets` feature (the browser build) none of this exists: the socket
//! variants and their branches are compiled out.
#![cfg(feature = "sockets")]

use std::time::Duration;

use bus_core::envelope::{Body, Envelope};
use bus_core::{
    CallError, Channel, Config, Delivery, Link, MemoryPair, Method, RejectReason, Route,
    SessionEnd, Side, SourceId, State, Versions,
};

const ECHO: Method<u64, u64> = Method::new("echo");

fn socket_configs() -> (Config, Config) {
    let (mut host, mut guest) = MemoryPair::default_configs();
    host.link = Link::Socket;
    host.wait_for_knock = true;
    guest.link = Link::Socket;
    (host, guest)
}

fn socket_pair() -> MemoryPair {
    let (host, guest) = socket_configs();
    let mut pair = MemoryPair::with_configs(host, guest).expect("valid socket configs");
    pair.guest_router.route(ECHO, Ok);
    pair.host_router.route(ECHO, |n: u64| Ok(n + 1));
    pair
}

fn rejections(pair: &mut MemoryPair, side: Side) -> Vec<RejectReason> {
    pair.take_deliveries(side)
        .into_iter()
        .filter_map(|d| match d {
            Delivery::Rejected(r) => Some(r.reason),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_and_session_travel_on_the_socket_without_a_port() {
    let mut pair = socket_pair();
    pair.connect();
    assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    assert!(
        pair.guest.state().is_connected(),
        "{:?}",
        pair.guest.state()
    );
    assert_eq!(pair.call(Side::Host, &ECHO, &41).unwrap(), 41);
    assert_eq!(pair.call(Side::Guest, &ECHO, &41).unwrap(), 42);
    assert!(!pair.wire().is_empty());
    for (side, t) in pair.wire() {
        assert_eq!(t.route, Route::Socket, "{side:?} sent {t:?}");
        assert!(!t.attach_port, "{side:?} asked for a port on a socket");
    }
    assert!(!pair.has_port(Side::Host) && !pair.has_port(Side::Guest));
}

#[test]
fn a_guest_knocks_as_soon_as_its_socket_opens() {
    let mut pair = socket_pair();
    pair.set_link_up(false);
    pair.connect();
    pair.advance(Duration::from_millis(200));
    pair.set_link_up(true);
    let now = pair.now();
    pair.guest.channel_opened(now);
    pair.pump();
    assert!(pair.host.state().is_connected(), "{:?}", pair.host.state());
    assert!(pair.guest.state().is_connected());
}

#[test]
fn a_dropped_socket_fails_pending_calls_and_the_next_socket_serves_again() {
    let mut pair = socket_pair();
    pair.connect();
    pair.set_auto_serve(Side::Host, false);
    let now = pair.now();
    let call = pair.guest.call_method(now, &ECHO, &1, None).unwrap();
    pair.pump();
    pair.set_link_up(false);
    pair.guest.channel_lost(now);
    pair.pump();
    assert_eq!(
        pair.reply(Side::Guest, call),
        Some(Err(CallError::Disconnected))
    );
    assert_eq!(
        pair.guest.state(),
        State::Reconnecting(SessionEnd::ChannelLost)
    );
    // The server drops the engine of a closed socket; a new socket meets a new one.
    let (host, _) = socket_configs();
    pair.host = bus_core::Engine::new(host, bus_core::SystemEntropy).unwrap();
    pair.set_auto_serve(Side::Host, true);
    pair.set_link_up(true);
    let now = pair.now();
    pair.host.connect(now);
    pair.guest.channel_opened(now);
    pair.pump();
    assert!(
        pair.guest.state().is_connected(),
        "{:?}",
        pair.guest.state()
    );
    assert_eq!(pair.call(Side::Guest, &ECHO, &7).unwrap(), 8);
}

#[test]
fn a_socket_engine_refuses_window_and_port_frames() {
    let mut pair = socket_pair();
    pair.connect();
    pair.take_deliveries(Side::Host);
    let knock = Envelope::handshake(
        1,
        Body::Knock {
            versions: Versions::CURRENT,
        },
    )
    .encode()
    .unwrap();
    let window = Channel::Window {
        origin: MemoryPair::GUEST_ORIGIN,
        source: SourceId::PEER,
        with_port: false,
    };
    pair.inject(Side::Host, window, &knock);
    pair.inject(Side::Host, Channel::Port, &knock);
    assert_eq!(
        rejections(&mut pair, Side::Host),
        [
            RejectReason::Unexpected("window frame at a socket connection"),
            RejectReason::Unexpected("window frame at a socket connection"),
        ]
    );
    assert!(pair.host.state().is_connected());
}

#[test]
fn a_socket_from_another_origin_is_refused_before_it_is_read() {
    let (host, _) = socket_configs();
    let mut host = bus_core::Engine::new(host, bus_core::SystemEntropy).unwrap();
    host.connect(Duration::ZERO);
    let knock = Envelope::handshake(
        1,
        Body::Knock {
            versions: Versions::CURRENT,
        },
    )
    .encode()
    .unwrap();
    let evil = Channel::Socket {
        origin: "https://evil.example",
    };
    let _ = host.handle_frame(Duration::ZERO, evil, knock.as_slice());
    // Garbage after a good header is not even decoded.
    let mut garbage = knock[..22].to_vec();
    garbage.extend([0xff; 40]);
    let _ = host.handle_frame(Duration::ZERO, evil, garbage.as_slice());
    assert_eq!(host.stats().rejected_by.get(&"disallowed-origin"), Some(&2));
    assert!(
        host.poll_transmit().is_none(),
        "the host answered an origin it does not talk to"
    );
}

#[test]
fn session_traffic_before_the_handshake_is_refused_on_a_socket() {
    let (host, _) = socket_configs();
    let mut host = bus_core::Engine::new(host, bus_core::SystemEntropy).unwrap();
    host.connect(Duration::ZERO);
    let frame = Envelope {
        version: 1,
        session: bus_core::envelope::SessionId::from_bytes([9; 16]),
        body: Body::Messages(vec![bus_core::envelope::Message::Ping]),
    }
    .encode()
    .unwrap();
    let socket = Channel::Socket {
        origin: MemoryPair::GUEST_ORIGIN,
    };
    let _ = host.handle_frame(Duration::ZERO, socket, frame.as_slice());
    assert_eq!(host.stats().rejected_by.get(&"unexpected"), Some(&1));
}

#[test]
fn a_window_engine_refuses_socket_frames() {
    let mut pair = MemoryPair::new();
    pair.connect();
    pair.take_deliveries(Side::Host);
    let knock = Envelope::handshake(
        1,
        Body::Knock {
            versions: Versions::CURRENT,
        },
    )
    .encode()
    .unwrap();
    let socket = Channel::Socket {
        origin: MemoryPair::GUEST_ORIGIN,
    };
    pair.inject(Side::Host, socket, &knock);
    assert_eq!(
        rejections(&mut pair, Side::Host),
        [RejectReason::Unexpected(
            "socket frame at a window connection"
        )]
    );
    assert!(pair.host.state().is_connected());
}

#[test]
fn a_socket_guest_dials_until_closed_and_gives_each_socket_the_handshake_timeout() {
    let mut pair = socket_pair();
    let timeout = pair.guest.config().handshake_timeout;
    pair.set_link_up(false);
    pair.connect();
    // Far longer than the handshake timeout with no socket: still dialling,
    // where a window guest would have given up.
    pair.advance(timeout * 6);
    assert_eq!(pair.guest.state(), State::Connecting);
    // A socket opens, but nothing answers on it: that socket is dropped.
    let now = pair.now();
    pair.guest.channel_opened(now);
    pair.advance(timeout + Duration::from_millis(1));
    assert_eq!(
        pair.guest.state(),
        State::Reconnecting(SessionEnd::SocketStalled(timeout))
    );
    assert!(pair.take_deliveries(Side::Guest).iter().any(|d| matches!(
        d,
        Delivery::State(State::Reconnecting(SessionEnd::SocketStalled(_)))
    )));
    // No socket again: no deadline again.
    let now = pair.now();
    pair.guest.channel_lost(now);
    pair.advance(timeout * 3);
    assert!(matches!(pair.guest.state(), State::Reconnecting(_)));
    // The next socket reaches a server that answers (each socket meets a
    // fresh server-side engine).
    let (host, _) = socket_configs();
    pair.host = bus_core::Engine::new(host, bus_core::SystemEntropy).unwrap();
    pair.set_link_up(true);
    let now = pair.now();
    pair.host.connect(now);
    pair.guest.channel_opened(now);
    pair.pump();
    assert!(
        pair.guest.state().is_connected(),
        "{:?}",
        pair.guest.state()
    );
    assert_eq!(pair.call(Side::Guest, &ECHO, &1).unwrap(), 2);
}
