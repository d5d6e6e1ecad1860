//! The bus contender of `cargo xtask bench`: the bench pages call these
//! exports from JavaScript, so every contender is timed by the same harness.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("bench-app is a WebAssembly module: run `cargo xtask bench`.");
    std::process::exit(2);
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(target_arch = "wasm32")]
mod engine_cost;
#[cfg(target_arch = "wasm32")]
mod floor;
#[cfg(target_arch = "wasm32")]
mod timing;

#[cfg(target_arch = "wasm32")]
mod exports {
    use std::cell::RefCell;
    use std::time::Duration;

    use bus_web::{Bytes, Connection, Method, Options};
    use wasm_bindgen::prelude::*;
    use web_sys::HtmlIFrameElement;

    use crate::timing::{SMALL, Small};
    const TEXT: Method<String, String> = Method::new("bench.text");
    /// Bytes travel as [`Bytes`]: one block, not a sequence of `u8`s.
    const BYTES: Method<Bytes, Bytes> = Method::new("bench.bytes");
    /// Bytes that stay out of wasm and ride the transfer list both ways.
    #[cfg(feature = "buffers")]
    const BUFFER: Method<bus_web::Buffer, bus_web::Buffer> = Method::new("bench.buffer");

    thread_local! {
        static CONN: RefCell<Option<Connection>> = const { RefCell::new(None) };
    }

    fn err(e: impl std::fmt::Display) -> JsValue {
        JsValue::from_str(&e.to_string())
    }

    fn conn() -> Result<Connection, JsValue> {
        CONN.with(|c| c.borrow().clone())
            .ok_or_else(|| err("not connected"))
    }

    fn options(allow: &str) -> Result<Options, JsValue> {
        let options = Options::new(bus_web::allowlist([allow]).map_err(err)?);
        Ok(options.call_timeout(Duration::from_secs(120)))
    }

    /// In the bench child: serve the echo methods to the parent at `allow`.
    #[wasm_bindgen]
    pub fn bus_child(allow: String) -> Result<(), JsValue> {
        let c = bus_web::connect_parent(options(&allow)?).map_err(err)?;
        c.serve(SMALL, |s: Small| async move { Ok(s) });
        c.serve(TEXT, |s: String| async move { Ok(s) });
        c.serve(BYTES, |b: Bytes| async move { Ok(b) });
        #[cfg(feature = "buffers")]
        c.serve(BUFFER, |b: bus_web::Buffer| async move { Ok(b) });
        CONN.with(|slot| *slot.borrow_mut() = Some(c));
        Ok(())
    }

    /// In the bench parent: connect to the child in `frame`.
    #[wasm_bindgen]
    pub async fn bus_parent(frame: HtmlIFrameElement, allow: String) -> Result<(), JsValue> {
        let c = bus_web::connect_iframe(&frame, options(&allow)?).map_err(err)?;
        CONN.with(|slot| *slot.borrow_mut() = Some(c.clone()));
        c.connected().await.map_err(err)
    }

    /// One small round trip; returns `c` as it came back.
    #[wasm_bindgen]
    pub async fn bus_small(a: u32, b: u32, c: f64) -> Result<f64, JsValue> {
        let back = conn()?
            .call(&SMALL, &Small { a, b, c })
            .await
            .map_err(err)?;
        Ok(back.c)
    }

    /// `n` small round trips one at a time, awaited in Rust as an app
    /// awaits them; returns the mean µs per call.
    #[wasm_bindgen]
    pub async fn bus_small_batch(n: u32) -> Result<f64, JsValue> {
        let conn = conn()?;
        crate::timing::mean_us(n, || async {
            conn.call(&SMALL, &Small { a: 1, b: 2, c: 3.5 })
                .await
                .map(drop)
                .map_err(err)
        })
        .await
    }

    /// One string round trip.
    #[wasm_bindgen]
    pub async fn bus_text(s: String) -> Result<String, JsValue> {
        conn()?.call(&TEXT, &s).await.map_err(err)
    }

    /// One bytes round trip (the bytes cross into wasm and back).
    #[wasm_bindgen]
    pub async fn bus_bytes(data: Vec<u8>) -> Result<Vec<u8>, JsValue> {
        let back = conn()?.call(&BYTES, &Bytes(data)).await.map_err(err)?;
        Ok(back.into_vec())
    }

    /// One transferred round trip: the buffer is moved to the child and
    /// back, never copied into wasm (the caller's view is detached).
    #[cfg(feature = "buffers")]
    #[wasm_bindgen]
    pub async fn bus_buffer(data: js_sys::Uint8Array) -> Result<js_sys::Uint8Array, JsValue> {
        let back = conn()?
            .call(&BUFFER, &bus_web::Buffer::new(data))
            .await
            .map_err(err)?;
        Ok(back.into_uint8_array())
    }

    #[cfg(feature = "websocket")]
    thread_local! {
        static SOCKET: RefCell<Option<Connection>> = const { RefCell::new(None) };
    }

    /// In the bench page: connect to the bench server's bus at `url`
    /// (`ws://…/bus`), which serves the same `bench.small` echo.
    #[cfg(feature = "websocket")]
    #[wasm_bindgen]
    pub async fn bus_ws_connect(url: String, allow: String) -> Result<(), JsValue> {
        let c = bus_web::connect_websocket(&url, options(&allow)?).map_err(err)?;
        SOCKET.with(|slot| *slot.borrow_mut() = Some(c.clone()));
        c.connected().await.map_err(err)
    }

    /// One small round trip to the bench server over WebSocket.
    #[cfg(feature = "websocket")]
    #[wasm_bindgen]
    pub async fn bus_ws_small(a: u32, b: u32, c: f64) -> Result<f64, JsValue> {
        let conn = SOCKET
            .with(|s| s.borrow().clone())
            .ok_or_else(|| err("not connected to the server"))?;
        let back = conn.call(&SMALL, &Small { a, b, c }).await.map_err(err)?;
        Ok(back.c)
    }

    // What a round trip's parts cost in this page, for the report's cost
    // breakdown. The loops return a sum only so that they are not optimised
    // away.

    /// An async export that is ready at once: awaiting it from JavaScript is
    /// the promise bridge (`future_to_promise` and back) alone.
    #[wasm_bindgen]
    pub async fn cost_ready() -> Result<(), JsValue> {
        Ok(())
    }

    /// An async export that awaits one microtask first, as a call waits for
    /// the coalescing flush.
    #[wasm_bindgen]
    pub async fn cost_one_microtask() -> Result<(), JsValue> {
        let tick = js_sys::Promise::resolve(&JsValue::NULL);
        wasm_bindgen_futures::JsFuture::from(tick).await.map(drop)
    }

    /// Copies a 40-byte frame out of wasm into a `Uint8Array`, `n` times, as
    /// bus-web's transport does for each frame it posts.
    #[wasm_bindgen]
    pub fn cost_frame_out(n: u32) -> u32 {
        let frame = [7u8; 40];
        (0..n)
            .map(|_| js_sys::Uint8Array::from(&frame[..]).length())
            .sum()
    }

    /// Reads a received frame into wasm, `n` times, as bus-web does with a
    /// frame of up to 1 KiB: its length, then all of it in one copy.
    #[wasm_bindgen]
    pub fn cost_frame_in(frame: js_sys::Uint8Array, n: u32) -> u32 {
        (0..n)
            .map(|_| frame.byte_length() + frame.to_vec().len() as u32)
            .sum()
    }
}
