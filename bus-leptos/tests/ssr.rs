//! Under SSR (any build that is not wasm32) the hooks compile, connect to
//! nothing and say so, and leave the state the client starts in.
#![cfg(not(target_arch = "wasm32"))]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bus_leptos::{use_iframe_bus, use_opener_bus, use_parent_bus, use_popup_bus, use_topic};
use bus_web::{CallError, CloseReason, ConnectError, Method, Options, State, Stats, Topic};
use leptos::html::Iframe;
use leptos::prelude::*;

const ADD: Method<(u32, u32), u32> = Method::new("test.add");
const PAID: Topic<String> = Topic::new("test.paid");

/// The hooks' futures finish without waiting when there is no connection.
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future waited, with no connection to wait for"),
    }
}

fn options() -> Options {
    Options::new(bus_web::allowlist!["https://pay.example"])
}

fn no_connection(result: Result<impl std::fmt::Debug, CallError>) {
    match result {
        Err(CallError::Closed(CloseReason::Local(why))) => {
            assert!(why.contains("no connection"), "{why}")
        }
        other => panic!("expected a 'no connection' error, got {other:?}"),
    }
}

#[test]
fn the_hooks_do_nothing_on_the_server_and_say_so() {
    let owner = Owner::new();
    owner.with(|| {
        let frame = NodeRef::<Iframe>::new();
        let buses = [
            use_iframe_bus(frame, options()),
            use_parent_bus(options()),
            use_opener_bus(options()),
        ];
        let popup = use_popup_bus(options());
        for bus in buses.into_iter().chain([popup.bus()]) {
            bus.serve(ADD, |(a, b)| async move { Ok(a + b) });
            let paid = use_topic(bus, PAID);
            assert_eq!(bus.state.get_untracked(), State::Idle);
            assert_eq!(bus.stats.get_untracked(), Stats::default());
            assert!(bus.rejections.get_untracked().is_empty());
            assert_eq!(paid.get_untracked(), None);
            no_connection(now(bus.call(&ADD, &(2, 3))));
            no_connection(bus.emit(&PAID, &"x".to_owned()));
            bus.close();
            bus.refresh_stats();
            assert_eq!(bus.state.get_untracked(), State::Idle);
        }
        assert_eq!(
            popup.open("https://pay.example/", "popup"),
            Err(ConnectError::NoWindow)
        );
    });
    owner.cleanup();
}
