//! Size probe: a minimal wasm-bindgen app *without* the bus, the baseline
//! for "what the bus adds".

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

/// Echoes its argument, so the module has one export like the bus probe.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub fn echo(s: String) -> String {
    s
}

fn main() {}
