//! Counting `window.open` calls in a real browser page, for tests that show
//! a popup is refused before any window opens. Shared by bus-web's and
//! bus-leptos's browser tests (`#[path]`).

use wasm_bindgen::JsValue;

/// Replaces `window.open` with a counter that opens nothing (as a blocked
/// popup), runs `f`, puts `window.open` back and says how often it was called.
pub fn count_window_opens(f: impl FnOnce()) -> u32 {
    let w: JsValue = web_sys::window().expect("a browser window").into();
    let original = js_sys::Reflect::get(&w, &"open".into()).unwrap();
    let counter = js_sys::Function::new_no_args(
        "globalThis.__busTestOpens = (globalThis.__busTestOpens || 0) + 1; return null;",
    );
    js_sys::Reflect::set(&w, &"__busTestOpens".into(), &0.into()).unwrap();
    js_sys::Reflect::set(&w, &"open".into(), &counter).unwrap();
    f();
    js_sys::Reflect::set(&w, &"open".into(), &original).unwrap();
    let opens = js_sys::Reflect::get(&w, &"__busTestOpens".into()).unwrap();
    opens.as_f64().unwrap_or(-1.0) as u32
}
