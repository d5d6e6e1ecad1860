//! A minimal host page: it embeds the widget in an iframe, allows only the
//! widget's origin, and exports `add(a, b)`, which calls the widget. The
//! server writes the origins into the page (`<meta name="origin-widget">`,
//! `bus_harness::Serve::page`); a real host would hard-code them.
//! When the frame navigates to another origin (the test sends it to
//! `origin-impostor`), the bus refuses what comes from there.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("quickstart-host is a WebAssembly app: see examples/harness-quickstart.");
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(target_arch = "wasm32")]
#[path = "../../contract.rs"]
mod contract;

#[cfg(target_arch = "wasm32")]
mod app {
    use std::cell::RefCell;

    use bus_web::{Connection, Options};
    use wasm_bindgen::prelude::*;
    use web_sys::{Document, HtmlIFrameElement};

    thread_local! {
        static CONN: RefCell<Option<Connection>> = const { RefCell::new(None) };
    }

    fn meta(document: &Document, name: &str) -> Option<String> {
        document
            .query_selector(&format!("meta[name={name}]"))
            .ok()
            .flatten()?
            .get_attribute("content")
    }

    fn err(e: impl std::fmt::Display) -> JsValue {
        JsValue::from_str(&e.to_string())
    }

    #[wasm_bindgen(start)]
    pub fn start() -> Result<(), JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let widget =
            meta(&document, "origin-widget").ok_or_else(|| err("no <meta name=origin-widget>"))?;
        let frame: HtmlIFrameElement = document.create_element("iframe")?.dyn_into()?;
        frame.set_id("widget");
        frame.set_src(&format!("{widget}/"));
        document.body().ok_or("no body")?.append_child(&frame)?;
        let options = Options::new(bus_web::allowlist([widget.as_str()]).map_err(err)?);
        let conn = bus_web::connect_iframe(&frame, options).map_err(err)?;
        CONN.with(|c| *c.borrow_mut() = Some(conn));
        Ok(())
    }

    /// Asks the widget for `a + b`, once connected.
    #[wasm_bindgen]
    pub async fn add(a: i32, b: i32) -> Result<i32, JsValue> {
        let conn = CONN.with(|c| c.borrow().clone()).ok_or("not started")?;
        conn.connected().await.map_err(err)?;
        conn.call(&crate::contract::ADD, &(a, b)).await.map_err(err)
    }
}
