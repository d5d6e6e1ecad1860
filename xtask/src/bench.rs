//! `cargo xtask bench`: the bus against raw postMessage, a raw MessagePort,
//! Penpal 7, Comlink 4 and the TypeScript peer (bus-js) in one Chromium run, plus native criterion benches
//! and a gzip size report. Writes `target/bench/report.{json,md,svg}`.
//! Every figure is also given as a ratio to the raw MessagePort of the same run.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::browsers::{ensure_browser, ensure_playwright_driver};
use crate::{Result, cargo, ensure_toolchain, root, run};

const CONTENDERS: [&str; 11] = [
    "raw-window",
    "raw-port",
    "raw-port-bytes",
    // The floor for a bus in Rust/wasm: raw-port-bytes through wasm, called
    // from the bench's JavaScript as the bus is, and from Rust.
    "wasm-floor",
    "wasm-floor-in-rust",
    "bus",
    // The bus's small call made and awaited in Rust, as an app makes it.
    "bus-in-rust",
    "penpal",
    "comlink",
    // The TypeScript peer on both sides, and as host of the Rust widget.
    "bus-js",
    "bus-js-rust",
];
/// Rows of the size breakdown in the report.
const BREAKDOWN_ROWS: usize = 30;
const PAYLOADS: [&str; 5] = ["small", "1KiB", "64KiB", "64KiB-transfer", "1MiB"];

fn copy(from: &Path, to: &Path) -> Result {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    std::fs::copy(from, to)
        .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))?;
    Ok(())
}

pub(crate) fn gz_len(paths: &[PathBuf]) -> Result<u64> {
    let mut total = 0;
    for p in paths {
        let data = std::fs::read(p).map_err(|e| format!("read {}: {e}", p.display()))?;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&data).map_err(|e| e.to_string())?;
        total += enc.finish().map_err(|e| e.to_string())?.len() as u64;
    }
    Ok(total)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

/// `cargo xtask bench [--quick] [--no-native] [--only PAYLOAD,...] [--runs N] [--build-only]`
/// `cargo xtask bench --profile [--only PAYLOAD,...] [--contenders NAME,...]`
pub fn bench(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    let native = !args.iter().any(|a| a == "--no-native");
    ensure_toolchain()?;
    ensure_browser()?;
    ensure_playwright_driver()?;
    let web = root().join("bench").join("web");
    let mut ci = Command::new("npm");
    ci.current_dir(&web)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    run("npm ci (penpal, comlink)", ci)?;

    let target = bus_harness::target_dir().map_err(|e| e.to_string())?;
    let out = target.join("bench");
    let www = out.join("www");
    let _ = std::fs::remove_dir_all(&www);

    // The bench app, optimised for speed.
    println!("\n==> build the bench app (wasm-speed)");
    bus_harness::WasmApp::new("bench-app")
        .bin("bench-app")
        .features(["buffers", "websocket"])
        .profile("wasm-speed")
        .out_dir(www.join("wasm"))
        .build()
        .map_err(|e| e.to_string())?;
    for f in [
        "bench.html",
        "bench.js",
        "child.html",
        "child.js",
        "probe.js",
    ] {
        copy(&web.join(f), &www.join(f))?;
    }
    let bus_js_gz = crate::js::build()?;
    copy(
        &root().join("bus-js/dist/index.js"),
        &www.join("npm/wbus.mjs"),
    )?;
    let penpal = web.join("node_modules/penpal/dist");
    let comlink = web.join("node_modules/comlink/dist/esm");
    copy(&penpal.join("penpal.mjs"), &www.join("npm/penpal.mjs"))?;
    copy(&comlink.join("comlink.mjs"), &www.join("npm/comlink.mjs"))?;

    // `--build-only`: the pages and the bench app, to serve and time by hand.
    if args.iter().any(|a| a == "--build-only") {
        println!(
            "built {}\n\
             to time by hand: serve it on two origins (the page's and its frames'), start \
             its WebSocket server with\n  cargo run --release -p bus-server --example bench_echo \
             -- --port 8099 --allow <the page's origin>\n\
             and open bench.html?child=<the frames' origin>&ws=ws://127.0.0.1:8099",
            www.display()
        );
        return Ok(());
    }

    // `--profile`: one run under the CPU profiler instead of the report.
    if args.iter().any(|a| a == "--profile") {
        let ws_server = build_ws_server(&target)?;
        return crate::profile::profile(&out, &www, &ws_server, args);
    }

    let crate::size::Sizes {
        gz: mut sizes,
        breakdown,
    } = crate::size::build_and_measure(&out)?;
    sizes.insert("penpal".into(), gz_len(&[penpal.join("penpal.min.js")])?);
    sizes.insert("bus-js".into(), bus_js_gz);
    sizes.insert(
        "comlink".into(),
        gz_len(&[comlink.join("comlink.min.mjs")])?,
    );

    // Native criterion benches.
    let mut native_ns = BTreeMap::new();
    if native {
        let mut cb = cargo();
        cb.args(["bench", "-p", "bus-core", "--bench", "core"]);
        if quick {
            cb.args(["--", "--quick"]);
        }
        run("criterion benches (bus-core)", cb)?;
        collect_criterion(&target.join("criterion"), &mut native_ns);
    }
    // bus-server under load: 1,000 native clients on one hub (release).
    let mut ws_load = Value::Null;
    if native {
        let mut load = cargo();
        load.args([
            "test",
            "--release",
            "-p",
            "bus-server",
            "--test",
            "load",
            "--",
            "--nocapture",
        ]);
        run(
            "bus-server load: 1,000 WebSocket clients on one hub (release)",
            load,
        )?;
        let file = target.join("tmp").join("bus-server-load.json");
        ws_load = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| format!("the load test wrote no {}", file.display()))?;
    }

    let ws_server = build_ws_server(&target)?;

    println!("\n==> browser benchmark (headless Chromium, --site-per-process)");
    // `--only small,1MiB`: just those payloads, for quick comparisons while
    // working on one path.
    let only = flag_value(args, "--only")
        .map(|o| format!("&only={o}"))
        .unwrap_or_default();
    let query = format!("{}{only}", if quick { "&batches=5&batch=20" } else { "" });
    let query = query.as_str();
    // `--runs N`: N full browser runs (3 by default, 1 with --quick), each in
    // a fresh browser; the report shows every run's targets.
    let runs: usize = flag_value(args, "--runs")
        .map(|n| {
            n.parse()
                .map_err(|_| format!("--runs takes a number, not {n:?}"))
        })
        .transpose()?
        .unwrap_or(if quick { 1 } else { 3 })
        .max(1);
    let mut benches = Vec::new();
    for i in 1..=runs {
        println!("run {i} of {runs}");
        benches.push(
            e2e::bench::run_browser_bench(&www, query, &ws_server).map_err(|e| e.to_string())?,
        );
    }
    let report = write_reports(&out, &benches, &sizes, &breakdown, &native_ns, &ws_load)?;
    println!("{report}");
    println!("\nreports: {}", out.join("report.{json,md,svg}").display());
    Ok(())
}

/// The argument after `flag` (`--only small` → `small`), if given.
pub(crate) fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The WebSocket round trip's server, optimised like a deployed one.
fn build_ws_server(target: &Path) -> Result<PathBuf> {
    let mut echo = cargo();
    echo.args([
        "build",
        "--release",
        "-p",
        "bus-server",
        "--example",
        "bench_echo",
    ]);
    run("the bench's WebSocket server (release)", echo)?;
    Ok(target.join("release").join("examples").join("bench_echo"))
}

fn collect_criterion(dir: &Path, into: &mut BTreeMap<String, f64>) {
    // Criterion stores "encode/small" as target/criterion/encode_small/.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((group, case)) = name.split_once('_') else {
            continue;
        };
        if !["encode", "decode", "allowlist"].contains(&group) {
            continue;
        }
        let est = e.path().join("new").join("estimates.json");
        let Ok(text) = std::fs::read_to_string(&est) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(ns) = v.pointer("/mean/point_estimate").and_then(Value::as_f64) {
            into.insert(format!("{group}/{case}"), ns);
        }
    }
}

fn find<'a>(results: &'a [Value], contender: &str, payload: &str) -> Option<&'a Value> {
    results
        .iter()
        .find(|r| r["contender"] == contender && r["payload"] == payload)
}

/// A JSON number with `decimals` places, or "–" where there is none.
fn fixed(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or("–".to_owned(), |v| format!("{v:.decimals$}"))
}

fn num(v: Option<&Value>, key: &str) -> f64 {
    v.and_then(|r| r[key].as_f64()).unwrap_or(f64::NAN)
}

/// Writes report.json, report.md and report.svg; returns the markdown.
/// One target: what it is, how a run measures it, the goal, and whether the
/// goal is a ceiling (else a floor).
struct Target {
    name: &'static str,
    measure: fn(&[Value], f64) -> f64,
    goal: f64,
    at_most: bool,
}

fn results_of(run: &e2e::bench::BenchRun) -> Vec<Value> {
    run.report["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn ratio(results: &[Value], payload: &str, key: &str) -> f64 {
    num(find(results, "bus", payload), key) / num(find(results, "raw-port", payload), key)
}

/// The issue's targets. `added_kb` is the size the bus adds (the same in
/// every run: it is measured once).
const TARGETS: [Target; 7] = [
    Target {
        name: "bus adds ≤ 40 KB gzipped (stretch ≤ 15 KB)",
        measure: |_, added_kb| added_kb,
        goal: 40.0,
        at_most: true,
    },
    Target {
        name: "small-call p50 ≤ 1.15× raw port",
        measure: |r, _| ratio(r, "small", "rtt_p50_us"),
        goal: 1.15,
        at_most: true,
    },
    Target {
        name: "small-call p50 ≤ 1.0× Penpal",
        measure: |r, _| small(r, "bus", "penpal", "rtt_p50_us"),
        goal: 1.0,
        at_most: true,
    },
    Target {
        name: "unbatched throughput ≥ 1.0× Penpal",
        measure: |r, _| small(r, "bus", "penpal", "calls_per_sec"),
        goal: 1.0,
        at_most: false,
    },
    Target {
        name: "100 in flight ≥ 20× raw unbatched",
        measure: |r, _| {
            num(find(r, "bus", "small"), "calls_per_sec_100_in_flight")
                / num(find(r, "raw-port", "small"), "calls_per_sec")
        },
        goal: 20.0,
        at_most: false,
    },
    Target {
        name: "64 KiB transferred ≤ 1.3× raw port",
        measure: |r, _| ratio(r, "64KiB-transfer", "rtt_p50_us"),
        goal: 1.3,
        at_most: true,
    },
    Target {
        name: "1 MiB ≤ 1.2× raw port",
        measure: |r, _| ratio(r, "1MiB", "rtt_p50_us"),
        goal: 1.2,
        at_most: true,
    },
];

fn write_reports(
    out: &Path,
    runs: &[e2e::bench::BenchRun],
    sizes: &BTreeMap<String, u64>,
    breakdown: &[crate::size::Item],
    native_ns: &BTreeMap<String, f64>,
    ws_load: &Value,
) -> Result<String> {
    // The tables show the median run by small-call p50 against the port;
    // the targets show every run.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (
            ratio(&results_of(&runs[a]), "small", "rtt_p50_us"),
            ratio(&results_of(&runs[b]), "small", "rtt_p50_us"),
        );
        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
    });
    let shown = order.get(order.len() / 2).copied().unwrap_or(0);
    let Some(run) = runs.get(shown) else {
        return Err("no benchmark run".into());
    };
    let results = results_of(run);
    let date = run.report["date"].as_str().unwrap_or("").to_owned();
    let machine = machine();
    let bus_minimal = sizes.get("size-bus").copied().unwrap_or(0);
    let baseline = sizes.get("size-baseline").copied().unwrap_or(0);
    let added_kb = (bus_minimal as f64 - baseline as f64) / 1000.0;
    let json_report = json!({
        "date": date,
        "browser": run.browser,
        "machine": machine,
        "results": results,
        "sizes_gz_bytes": {
            "bus-minimal": bus_minimal,
            "bus-minimal-buffers": sizes.get("size-bus-buffers"),
            "bus-minimal-websocket": sizes.get("size-bus-websocket"),
            "wasm-bindgen-baseline": baseline,
            "demo-parent": sizes.get("demo-parent"),
            "demo-child": sizes.get("demo-child"),
            "penpal": sizes.get("penpal"),
            "comlink": sizes.get("comlink"),
            "bus-js": sizes.get("bus-js"),
        },
        "bus_added_gz_bytes": bus_minimal.saturating_sub(baseline),
        "latency_breakdown_us": run.report["latency_breakdown"],
        "costs_us": run.report["costs"],
        "websocket": run.report["websocket"],
        "websocket_load": ws_load,
        "size_breakdown": breakdown
            .iter()
            .take(BREAKDOWN_ROWS)
            .map(|i| json!({ "item": i.name, "bytes": i.bytes }))
            .collect::<Vec<_>>(),
        "native_mean_ns": native_ns,
        "shown_run": shown + 1,
        "runs": runs.iter().map(|r| json!({
            "date": r.report["date"],
            "results": r.report["results"],
            "websocket": r.report["websocket"],
            "latency_breakdown_us": r.report["latency_breakdown"],
            "costs_us": r.report["costs"],
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&json_report).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    let mut md = String::new();
    md += &format!(
        "Measured {date} in {} on {machine}: run {} of {}, the median by small-call p50 against the port (every run's targets are below). Ratios are to the raw MessagePort in the same run (lower is better for latency, higher for throughput).\n\n",
        run.browser,
        shown + 1,
        runs.len(),
    );
    md += "| payload | contender | p50 µs | × port | p90 µs | × port | calls/s | × port | calls/s, 100 in flight | × port |\n";
    md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for payload in PAYLOADS {
        let port = find(&results, "raw-port", payload);
        for c in CONTENDERS {
            let Some(r) = find(&results, c, payload) else {
                continue;
            };
            let (p50, p90) = (num(Some(r), "rtt_p50_us"), num(Some(r), "rtt_p90_us"));
            let (cps, cps100) = (
                num(Some(r), "calls_per_sec"),
                num(Some(r), "calls_per_sec_100_in_flight"),
            );
            // Contenders timed in Rust have no 100-in-flight figure.
            let in_flight = if cps100.is_finite() {
                format!("{cps100:.0} | {:.2}", cps100 / num(port, "calls_per_sec"))
            } else {
                "– | –".to_owned()
            };
            md += &format!(
                "| {payload} | {c} | {p50:.1} | {:.2} | {p90:.1} | {:.2} | {cps:.0} | {:.2} | {in_flight} |\n",
                p50 / num(port, "rtt_p50_us"),
                p90 / num(port, "rtt_p90_us"),
                cps / num(port, "calls_per_sec"),
            );
        }
    }
    md += "\n(The last ratio compares 100-in-flight throughput with the raw port's unbatched rate, as the target does; the 100-in-flight rate is the median of three trials.)\n";
    let b = &run.report["latency_breakdown"];
    let f = |key: &str| fixed(&b[key], 1);
    md += &format!(
        "\nWhere a small bus call spends its time, mean over {} calls made one at a time in a pass of \
         their own after the timed batches, so that the probe's timestamps slow no timed call (µs): \
         host from the call to its frame leaving {}; frame out to reply in (wire, both browsers' \
         message delivery and the widget) {}, of which the widget, from the frame's arrival to \
         the reply leaving, {} (its whole `onmessage`, posting the reply included, takes {}); host from the reply's \
         arrival to the awaiting code resuming {}. The raw port's whole round trip is in the table above.\n",
        b["calls"].as_u64().unwrap_or(0),
        f("parent_send_us"),
        f("wire_and_child_us"),
        f("child_frame_to_reply_us"),
        f("child_in_onmessage_us"),
        f("parent_receive_us"),
    );
    let c = &run.report["costs"];
    let cost = |key: &str| fixed(&c[key], 2);
    md += &format!(
        "\nWhat the parts cost, timed in the bench page over 20,000 runs each (µs): the \
         protocol's own work for a small round trip, both sides (two engines wired in memory in \
         wasm, no browser between them: encoding, decoding, session checks, call tracking, the \
         payload's serde; bench-app's `engine_cost.rs`) {}; the promise \
         bridge (awaiting an async wasm export that is ready at once, less awaiting a resolved JS \
         promise) {}; one more microtask inside it (a call waits one for the coalescing flush) {}; \
         copying a 40-byte frame out of wasm into a `Uint8Array` {}; reading one into wasm \
         (its length, then all of it in one copy, as bus-web reads a frame of up to 1 KiB) {}. `raw-port-bytes` is the floor for a protocol framed as bytes: the \
         raw port echoing a 40-byte `Uint8Array`, as the bus posts a small call.\n",
        cost("engine_round_trip_us"),
        cost("promise_bridge_us"),
        cost("microtask_us"),
        cost("frame_out_us"),
        cost("frame_in_us"),
    );

    let ws = &run.report["websocket"];
    if ws.is_object() {
        let raw = &ws["raw-ws"];
        md += "\nOver WebSocket, to one server process on loopback (bus-server's `bench_echo` example, a release build): the bus (`connect_websocket` to its `/bus`, the same small call) against a raw WebSocket echoing a 40-byte binary message at its `/echo`.\n\n| WebSocket round trip | p50 µs | × raw | p90 µs | × raw | calls/s | × raw |\n|---|---:|---:|---:|---:|---:|---:|\n";
        for name in ["raw-ws", "bus-ws"] {
            let r = &ws[name];
            let v = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            let x = |k: &str| v(k) / raw[k].as_f64().unwrap_or(f64::NAN);
            md += &format!(
                "| {name} | {:.1} | {:.2} | {:.1} | {:.2} | {:.0} | {:.2} |\n",
                v("rtt_p50_us"),
                x("rtt_p50_us"),
                v("rtt_p90_us"),
                x("rtt_p90_us"),
                v("calls_per_sec"),
                x("calls_per_sec"),
            );
        }
    }
    if ws_load.is_object() {
        md += &format!(
            "\nbus-server under load (its `load` test, release build, loopback, clients and server in one process on this machine): {} native clients on one hub, {} events from one of them relayed to the {} others ({} deliveries); delivery latency p50 {} µs, p99 {} µs; the clients connected in {} s.\n",
            ws_load["clients"],
            ws_load["events"],
            ws_load["clients"].as_u64().unwrap_or(1).saturating_sub(1),
            ws_load["deliveries"],
            ws_load["p50_us"],
            ws_load["p99_us"],
            ws_load["connect_s"],
        );
    }

    // Targets: reported, not asserted. Met means met in every run.
    let per_run: Vec<Vec<Value>> = runs.iter().map(results_of).collect();
    md += "\n| target |";
    for i in 1..=runs.len() {
        md += &format!(" run {i} |");
    }
    md += " goal | |\n|---|";
    md += &"---:|".repeat(runs.len() + 1);
    md += "---|\n";
    for t in &TARGETS {
        let got: Vec<f64> = per_run.iter().map(|r| (t.measure)(r, added_kb)).collect();
        let met = |v: f64| if t.at_most { v <= t.goal } else { v >= t.goal };
        let n_met = got.iter().filter(|&&v| met(v)).count();
        let worst =
            got.iter()
                .copied()
                .fold(if t.at_most { f64::MIN } else { f64::MAX }, |w, v| {
                    if t.at_most { w.max(v) } else { w.min(v) }
                });
        let verdict = if n_met == got.len() {
            "met".to_owned()
        } else {
            let by = if t.at_most {
                (worst / t.goal - 1.0) * 100.0
            } else {
                (1.0 - worst / t.goal) * 100.0
            };
            // A near miss keeps a decimal, so it never reads "by 0%".
            let by = if by < 1.0 {
                format!("{by:.2}")
            } else {
                format!("{by:.0}")
            };
            format!("met in {n_met} of {}; missed by up to {by}%", got.len())
        };
        md += &format!("| {} |", t.name);
        for v in &got {
            md += &format!(" {v:.2} |");
        }
        md += &format!(" {} | {verdict} |\n", t.goal);
    }
    md += &floor_table(&per_run);
    md += "\n| gzip size | bytes |\n|---|---:|\n";
    md += &format!(
        "| bus-minimal (wasm + JS; opt-level z, LTO, wasm-opt -Oz, short import names, minified glue) | {bus_minimal} |\n| same app without the bus (wasm-bindgen baseline) | {baseline} |\n| what the bus adds | {} |\n",
        bus_minimal.saturating_sub(baseline)
    );
    // The bus probe with one of bus-web's features: what the feature adds.
    for (feature, what) in [
        ("buffers", "and a `Buffer` method served"),
        ("websocket", "the method served to its server too"),
    ] {
        let with = sizes
            .get(&format!("size-bus-{feature}"))
            .copied()
            .unwrap_or(0);
        md += &format!(
            "| bus-minimal with bus-web's `{feature}` feature ({what}) | {with} |\n| what `{feature}` adds | {} |\n",
            with.saturating_sub(bus_minimal)
        );
    }
    for name in ["demo-parent", "demo-child"] {
        md += &format!(
            "| {name}, as `cargo xtask demo` serves it | {} |\n",
            sizes.get(name).copied().unwrap_or(0)
        );
    }
    md += &format!(
        "| bus-js, the TypeScript peer (minified ESM bundle) | {} |\n",
        sizes.get("bus-js").copied().unwrap_or(0)
    );
    for name in ["penpal", "comlink"] {
        md += &format!(
            "| {name} (minified) | {} |\n",
            sizes.get(name).copied().unwrap_or(0)
        );
    }
    md += "\nLargest items of the bus probe (its wasm before wasm-opt, by own bytes, twiggy-style):\n\n| item | bytes |\n|---|---:|\n";
    for item in breakdown.iter().take(BREAKDOWN_ROWS) {
        md += &format!("| `{}` | {} |\n", item.name.replace('|', "\\|"), item.bytes);
    }
    if !native_ns.is_empty() {
        md += "\n| native (criterion mean) | ns |\n|---|---:|\n";
        for (k, v) in native_ns {
            md += &format!("| {k} | {v:.1} |\n");
        }
    }
    std::fs::write(out.join("report.md"), &md).map_err(|e| e.to_string())?;
    std::fs::write(out.join("report.svg"), svg(&results)).map_err(|e| e.to_string())?;
    Ok(md)
}

/// `a`'s small-call figure over `b`'s.
fn small(results: &[Value], a: &str, b: &str, key: &str) -> f64 {
    num(find(results, a, "small"), key) / num(find(results, b, "small"), key)
}

/// What the small-call targets leave a bus written in Rust once it is in
/// wasm, run by run: the floor (`wasm-floor`, no protocol) against the port
/// and Penpal, and the bus against the floor; called from the bench's
/// JavaScript as the targets' `bus` is, and made and awaited in Rust.
fn floor_table(per_run: &[Vec<Value>]) -> String {
    // (contender, against, measure): small-call p50 unless said.
    let rows = [
        ("wasm-floor", "raw-port", "p50"),
        ("wasm-floor", "penpal", "p50"),
        ("wasm-floor", "penpal", "unbatched throughput"),
        ("bus", "wasm-floor", "p50"),
        ("wasm-floor-in-rust", "raw-port", "p50"),
        ("wasm-floor-in-rust", "penpal", "p50"),
        ("bus-in-rust", "raw-port", "p50"),
        ("bus-in-rust", "penpal", "p50"),
        ("bus-in-rust", "wasm-floor-in-rust", "p50"),
    ];
    let mut md = "\nThe floor for any bus written in Rust, in the same runs: `wasm-floor` is the raw port's 40-byte echo (`raw-port-bytes`) through wasm on both sides, a wasm-bindgen closure as `onmessage`, the frame copied in and out, the call awaited as a Rust future, and no protocol at all (bench-app's `floor.rs`). `-in-rust` contenders make and await each batch's calls in Rust, as a Rust app does, so they pay no promise bridge per call.\n\n| small call |".to_owned();
    for i in 1..=per_run.len() {
        md += &format!(" run {i} |");
    }
    md += "\n|---|";
    md += &"---:|".repeat(per_run.len());
    md += "\n";
    for (a, b, what) in rows {
        let key = if what == "p50" {
            "rtt_p50_us"
        } else {
            "calls_per_sec"
        };
        md += &format!("| {a} {what} × {b} |");
        for r in per_run {
            md += &format!(" {:.2} |", small(r, a, b, key));
        }
        md += "\n";
    }
    md
}

/// A grouped bar chart of p50 latency relative to the raw port.
fn svg(results: &[Value]) -> String {
    // One per contender: the compiler holds the two lists to the same length.
    let colors: [&str; CONTENDERS.len()] = [
        "#8a94a6", "#2f6fed", "#8fb0f5", "#c2c8d2", "#dde1e8", "#14804a", "#6fbf94", "#b27700",
        "#8a4fd8", "#0f8a8a", "#5fb3b3",
    ];
    let (w, row, left) = (760.0, 18.0, 150.0);
    // Some contenders run one payload only: a row for each result shown.
    let shown = PAYLOADS
        .iter()
        .flat_map(|p| CONTENDERS.iter().filter(|c| find(results, c, p).is_some()))
        .count();
    let h = 40.0 + shown as f64 * row + PAYLOADS.len() as f64 * 34.0 + 10.0;
    let max = results
        .iter()
        .filter_map(|r| {
            let port = find(results, "raw-port", r["payload"].as_str()?)?;
            Some(num(Some(r), "rtt_p50_us") / num(Some(port), "rtt_p50_us"))
        })
        .filter(|x| x.is_finite())
        .fold(1.0f64, f64::max);
    let scale = (w - left - 80.0) / max;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="system-ui, sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15" font-weight="600">Round-trip p50, relative to a raw MessagePort (1.0 = raw port; lower is better)</text>"#
    );
    let mut y = 44.0;
    for payload in PAYLOADS {
        s += &format!(
            r#"<text x="10" y="{:.0}" font-weight="600">{payload}</text>"#,
            y + 12.0
        );
        y += 18.0;
        let port = find(results, "raw-port", payload);
        for (i, c) in CONTENDERS.iter().enumerate() {
            let ratio = num(find(results, c, payload), "rtt_p50_us") / num(port, "rtt_p50_us");
            if ratio.is_finite() {
                s += &format!(
                    r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{c}</text><rect x="{left}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{}"/><text x="{:.1}" y="{:.0}">{ratio:.2}×</text>"#,
                    left - 8.0,
                    y + 13.0,
                    y + 2.0,
                    ratio * scale,
                    row - 4.0,
                    colors[i],
                    left + ratio * scale + 6.0,
                    y + 13.0,
                );
                y += row;
            }
        }
        y += 16.0;
    }
    s += &format!(
        r##"<line x1="{left}" y1="36" x2="{left}" y2="{:.0}" stroke="#333"/><line x1="{:.1}" y1="36" x2="{:.1}" y2="{:.0}" stroke="#2f6fed" stroke-dasharray="3 3"/></svg>"##,
        y,
        left + scale,
        left + scale,
        y
    );
    s
}
