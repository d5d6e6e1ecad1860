//! Without the `sockets` feature (the browser build unless bus-web's
//! `websocket` feature is on), `Link::Socket` is refused when the engine is
//! made, with an error that says which feature to turn on.
#![cfg(not(feature = "sockets"))]

use bus_core::{Engine, Link, MemoryPair, SystemEntropy};

#[test]
fn a_socket_config_is_refused_and_says_which_feature_to_turn_on() {
    for side in 0..2 {
        let (host, guest) = MemoryPair::default_configs();
        let mut config = if side == 0 { host } else { guest };
        config.link = Link::Socket;
        let err = Engine::new(config, SystemEntropy).unwrap_err();
        assert!(err.to_string().contains("`sockets` feature"), "{err}");
    }
}
