//! Native costs of the hot paths: `cargo bench -p bus-core --bench core`
//! (`cargo xtask bench` runs it and reports the means).

use std::hint::black_box;

use bus_core::envelope::{Envelope, Message, SessionId};
use bus_core::{Allowlist, Method};
use criterion::{Criterion, criterion_group, criterion_main};

const ECHO: Method<Vec<u8>, Vec<u8>> = Method::new("bench.bytes");

fn call_frame(payload: usize) -> Envelope {
    Envelope::session(
        1,
        SessionId::from_bytes([7; 16]),
        vec![Message::Call {
            id: 42,
            method: ECHO.name().into(),
            payload: vec![9; payload],
            timeout_ms: Some(30_000),
        }],
    )
}

fn envelope(c: &mut Criterion) {
    for (name, size) in [("small", 16), ("64KiB", 64 * 1024)] {
        let frame = call_frame(size);
        let bytes = frame.encode().unwrap_or_default();
        c.bench_function(&format!("encode/{name}"), |b| {
            b.iter(|| black_box(&frame).encode())
        });
        c.bench_function(&format!("decode/{name}"), |b| {
            b.iter(|| Envelope::decode(black_box(&bytes)))
        });
    }
}

fn allowlist(c: &mut Criterion) {
    let allow = match Allowlist::new([
        "https://shop.example.com",
        "https://*.cdn.example.net",
        "http://localhost:8081",
    ]) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    c.bench_function("allowlist/exact", |b| {
        b.iter(|| allow.allows(black_box("http://localhost:8081")))
    });
    c.bench_function("allowlist/wildcard", |b| {
        b.iter(|| allow.allows(black_box("https://eu.static.cdn.example.net")))
    });
    c.bench_function("allowlist/denied", |b| {
        b.iter(|| allow.allows(black_box("https://evil.example.org")))
    });
}

criterion_group!(benches, envelope, allowlist);
criterion_main!(benches);
