//! What the bench app's timed exports share: the small payload and method,
//! as the bench page's other contenders send it, and the clock.

use std::future::Future;

use bus_web::Method;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use web_sys::Performance;

/// The "small" payload: about 16 bytes.
#[derive(Serialize, Deserialize)]
pub(crate) struct Small {
    pub(crate) a: u32,
    pub(crate) b: u32,
    pub(crate) c: f64,
}

pub(crate) const SMALL: Method<Small, Small> = Method::new("bench.small");

/// The page's clock.
pub(crate) fn performance() -> Result<Performance, JsValue> {
    web_sys::window()
        .and_then(|w| w.performance())
        .ok_or_else(|| JsValue::from_str("no performance clock in this page"))
}

/// Runs `call` `n` times, one after the other, awaited in Rust; the mean
/// µs per call.
pub(crate) async fn mean_us<F, Fut>(n: u32, mut call: F) -> Result<f64, JsValue>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), JsValue>>,
{
    let perf = performance()?;
    let t0 = perf.now();
    for _ in 0..n {
        call().await?;
    }
    Ok((perf.now() - t0) * 1000.0 / f64::from(n))
}
