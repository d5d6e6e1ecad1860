//! A minimal widget: it lets the page that embeds it call `quickstart.add`,
//! if that page's origin is the host's, which the server writes into
//! `<meta name="origin-host">` (`bus_harness::Serve::page`); a real widget
//! would hard-code it.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("quickstart-widget is a WebAssembly app: see examples/harness-quickstart.");
}

#[cfg(target_arch = "wasm32")]
#[path = "../../contract.rs"]
mod contract;

#[cfg(target_arch = "wasm32")]
fn main() {
    use bus_web::Options;

    let document = web_sys::window().and_then(|w| w.document());
    let allow = document
        .and_then(|d| d.query_selector("meta[name=origin-host]").ok().flatten())
        .and_then(|m| m.get_attribute("content"))
        .unwrap_or_default();
    let connect = bus_web::allowlist([allow.as_str()])
        .map_err(|e| e.to_string())
        .and_then(|allow| bus_web::connect_parent(Options::new(allow)).map_err(|e| e.to_string()));
    match connect {
        Ok(conn) => {
            conn.serve(contract::ADD, |(a, b): (i32, i32)| async move {
                Ok(a.saturating_add(b))
            });
            // The connection lives as long as the page.
            std::mem::forget(conn);
        }
        Err(e) => web_sys::console::error_1(&format!("quickstart widget: {e}").into()),
    }
}
