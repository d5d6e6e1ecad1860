//! A twiggy-style size profile of a wasm module: every function body and
//! data segment by its own bytes, named from the module's name section.

use std::collections::HashMap;

use wasmparser::{Name, Parser, Payload};

/// One item of a module and the bytes it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub bytes: u64,
}

/// The module's items, largest first.
pub fn items(wasm: &[u8]) -> Result<Vec<Item>, String> {
    let mut imported_functions = 0u32;
    let mut bodies = Vec::new();
    let mut data = Vec::new();
    let mut names = HashMap::new();
    let mut custom = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("not a wasm module: {e}"))? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    if matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                        imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.range().len() as u64),
            Payload::DataSection(segments) => {
                for segment in segments {
                    let segment = segment.map_err(|e| e.to_string())?;
                    data.push(segment.data.len() as u64);
                }
            }
            Payload::CustomSection(section) => {
                if let wasmparser::KnownCustom::Name(reader) = section.as_known() {
                    for name in reader {
                        if let Ok(Name::Function(map)) = name {
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name.to_owned());
                            }
                        }
                    }
                } else {
                    custom.push(Item {
                        name: format!("custom section {:?}", section.name()),
                        bytes: section.data().len() as u64,
                    });
                }
            }
            _ => {}
        }
    }
    let mut items: Vec<Item> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let index = imported_functions + i as u32;
            let name = names
                .remove(&index)
                .map(|n| without_hash(&n).to_owned())
                .unwrap_or_else(|| format!("function[{index}]"));
            Item { name, bytes }
        })
        .collect();
    items.extend(data.into_iter().enumerate().map(|(i, bytes)| Item {
        name: format!("data[{i}]"),
        bytes,
    }));
    items.extend(custom);
    items.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok(items)
}

/// `a::b::h0123456789abcdef` without its `::h…` symbol hash.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// What the size report measures.
#[derive(Debug)]
pub struct Sizes {
    /// Gzipped bytes (wasm + JS glue) of each build, after wasm-opt.
    pub gz: std::collections::BTreeMap<String, u64>,
    /// The bus probe's largest items, before wasm-opt strips the names.
    pub breakdown: Vec<Item>,
}

/// Builds the size probes (opt-level z, LTO, wasm-bindgen, wasm-opt) and
/// the demo apps exactly as `cargo xtask demo` serves them, and measures them.
pub fn build_and_measure(out: &std::path::Path) -> Result<Sizes, String> {
    println!("\n==> build the size probes (opt-level z, LTO)");
    let mut gz = std::collections::BTreeMap::new();
    let mut breakdown = Vec::new();
    // The last probes are the bus probe with bus-web's `buffers` feature (and
    // a `Buffer` method served): what zero-copy buffers cost on top; and with
    // `websocket` (and the method served to a server as well): what
    // `connect_websocket` costs on top.
    for (name, bin, features) in [
        ("size-baseline", "size-baseline", &[][..]),
        ("size-bus", "size-bus", &[][..]),
        ("size-bus-buffers", "size-bus", &["buffers"][..]),
        ("size-bus-websocket", "size-bus", &["websocket"][..]),
    ] {
        let glue = out.join("size").join(name);
        // Optimised below, after the breakdown reads the unoptimised wasm.
        bus_harness::WasmApp::new("bench-app")
            .bin(bin)
            .features(features)
            .profile("wasm-size")
            .out_name(name)
            .out_dir(&glue)
            .build()
            .map_err(|e| e.to_string())?;
        let wasm = glue.join(format!("{name}_bg.wasm"));
        if name.starts_with("size-bus") {
            let bytes =
                std::fs::read(&wasm).map_err(|e| format!("read {}: {e}", wasm.display()))?;
            if name == "size-bus" {
                breakdown = items(&bytes)?;
            }
            // Kept with its names, for `twiggy paths`, `twiggy diff` (what a
            // feature adds) and the like.
            let named = glue.join(format!("{name}_bg.names.wasm"));
            std::fs::write(&named, &bytes)
                .map_err(|e| format!("write {}: {e}", named.display()))?;
        }
        bus_harness::wasm::optimize(&glue, name).map_err(|e| e.to_string())?;
        let n = crate::bench::gz_len(&[wasm, glue.join(format!("{name}.js"))])?;
        gz.insert(name.to_owned(), n);
    }
    let demo = e2e::bundle::build_demo(true, false).map_err(|e| e.to_string())?;
    for app in e2e::bundle::APPS {
        let dir = demo.join(app);
        let n = crate::bench::gz_len(&[dir.join("app_bg.wasm"), dir.join("app.js")])?;
        gz.insert(app.to_owned(), n);
    }
    Ok(Sizes { gz, breakdown })
}

/// `cargo xtask size`: the size report alone, printed.
pub fn size(_args: &[String]) -> Result<(), String> {
    crate::ensure_toolchain()?;
    let out = bus_harness::target_dir()
        .map_err(|e| e.to_string())?
        .join("bench");
    let sizes = build_and_measure(&out)?;
    for (name, bytes) in &sizes.gz {
        println!("{name:>16}: {bytes:>8} B gzipped");
    }
    let added = sizes.gz.get("size-bus").copied().unwrap_or(0) as i64
        - sizes.gz.get("size-baseline").copied().unwrap_or(0) as i64;
    println!("the bus adds {added} B gzipped\n\nlargest items of the bus probe (before wasm-opt):");
    for item in sizes.breakdown.iter().take(40) {
        println!("{:>8}  {}", item.bytes, item.name);
    }
    let all = out.join("size").join("size-bus-items.txt");
    let text: String = sizes
        .breakdown
        .iter()
        .map(|i| format!("{}\t{}\n", i.bytes, i.name))
        .collect();
    std::fs::write(&all, text).map_err(|e| format!("write {}: {e}", all.display()))?;
    println!("(every item: {})", all.display());
    Ok(())
}
