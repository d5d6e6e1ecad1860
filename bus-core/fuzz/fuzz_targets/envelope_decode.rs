//! `Envelope::decode` on arbitrary bytes: must never panic, and whatever
//! decodes must re-encode to a frame that decodes to the same value.
#![no_main]

use bus_core::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Envelope::decode(data) {
        let again = e.encode().expect("a decoded envelope re-encodes");
        assert_eq!(Envelope::decode(&again).expect("re-encoded frame decodes"), e);
    }
});
