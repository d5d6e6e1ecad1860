//! The TypeScript side of this contract, `demo-ts/src/contract.ts`, is
//! generated from it (bus-ts). This test fails when a type, method or topic
//! here changed and the module was not regenerated: `cargo xtask ts`.

use demo_api::*;

#[test]
fn the_typescript_contract_is_what_the_rust_one_says() {
    let ts = bus_ts::Contract::new("demo-api")
        .method(&QUOTE)
        .method(&CONFIRM)
        .method(&ECHO_BYTES)
        .method(&HOST_INFO)
        .method(&RESIZE)
        .topic(&PAID)
        .topic(&CART_CHANGED)
        .data::<CartProblem>()
        .code("EMPTY_CART", EMPTY_CART)
        .code("CART_TOO_LARGE", CART_TOO_LARGE)
        .typescript()
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo-ts/src/contract.ts");
    if let Err(e) = bus_ts::check(&ts, path) {
        panic!("{e}");
    }
}
