//! A connected engine fed arbitrary frames from the peer window, another
//! window and the port: must never panic.
#![no_main]

use bus_core::{Channel, MemoryPair, Side, SourceId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut pair = MemoryPair::new();
    pair.connect();
    for (i, chunk) in data.split(|b| *b == 0xFF).enumerate() {
        let mut frame = bus_core::envelope::NAMESPACE.to_vec();
        frame.extend_from_slice(chunk);
        let channel = match i % 3 {
            0 => Channel::Port,
            1 => Channel::Window { origin: MemoryPair::GUEST_ORIGIN, source: SourceId::PEER, with_port: i % 2 == 0 },
            _ => Channel::Window { origin: MemoryPair::HOST_ORIGIN, source: SourceId(5), with_port: false },
        };
        pair.inject(Side::Host, channel, &frame);
    }
});
