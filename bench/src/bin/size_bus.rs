//! Size probe: the same minimal app, plus the bus: connect to the parent and
//! serve one method (and, with the `buffers` feature, one taking a `Buffer`;
//! with `websocket`, serve it to the page's server at `/bus` as well).

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
const ECHO: bus_web::Method<String, String> = bus_web::Method::new("echo");

/// Connects to the parent at `allow` and serves `echo`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub fn echo(allow: String) -> Result<(), JsValue> {
    let allowlist = bus_web::allowlist([allow]).map_err(|e| JsValue::from_str(&e.to_string()))?;
    #[cfg(feature = "websocket")]
    let server_allowlist = allowlist.clone();
    let conn = bus_web::connect_parent(bus_web::Options::new(allowlist))
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    conn.serve(ECHO, |s: String| async move { Ok(s) });
    #[cfg(feature = "buffers")]
    {
        const FILE: bus_web::Method<bus_web::Buffer, bus_web::Buffer> =
            bus_web::Method::new("file");
        conn.serve(FILE, |b: bus_web::Buffer| async move { Ok(b) });
    }
    #[cfg(feature = "websocket")]
    {
        let server = bus_web::connect_websocket("/bus", bus_web::Options::new(server_allowlist))
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        server.serve(ECHO, |s: String| async move { Ok(s) });
        std::mem::forget(server);
    }
    std::mem::forget(conn);
    Ok(())
}

fn main() {}
