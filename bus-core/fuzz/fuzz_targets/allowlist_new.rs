//! `Allowlist::new` on arbitrary entries, then `allows` on arbitrary origins:
//! must never panic, and nothing with `*`, whitespace or a path may match.
#![no_main]

use bus_core::Allowlist;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let origin = parts.next().unwrap_or_default();
    if let Ok(allow) = Allowlist::new(parts) {
        if allow.allows(origin) && origin != "null" {
            assert!(!origin.contains('*') && !origin.contains(char::is_whitespace));
            assert_eq!(origin.matches('/').count(), 2, "{origin:?}");
        }
    }
});
