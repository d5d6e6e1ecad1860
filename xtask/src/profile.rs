//! `cargo xtask bench --profile`: one run of the bench page under Chrome's
//! CPU profiler, to see where a contender's time goes: on the page's main
//! thread, where every contender's host side runs, and on the main thread
//! of the process that runs the child frames (every contender's other
//! side). Writes `target/bench/profile/{host,child}.cpuprofile` (load them
//! in Chrome DevTools' Performance panel) and prints the functions with the
//! most self time on each.
//!
//! By default the small payload, with the bus and the raw port echoing bytes
//! (`raw-port-bytes`, the floor for a protocol framed as bytes), one batch
//! after the other as in the full run, and no WebSocket or cost sections.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::Result;
use crate::bench::flag_value;

/// Rows of self time printed.
const TOP: usize = 30;

pub(crate) fn profile(out: &Path, www: &Path, ws_server: &Path, args: &[String]) -> Result {
    let only = flag_value(args, "--only").unwrap_or("small");
    let contenders = flag_value(args, "--contenders").unwrap_or("bus,raw-port-bytes");
    let query = format!("&only={only}&contenders={contenders}&websocket=0&costs=0&probe=0");
    println!("\n==> browser benchmark under the CPU profiler ({query})");
    let profiled =
        e2e::profile::profile_browser_bench(www, &query, ws_server).map_err(|e| e.to_string())?;
    let dir = out.join("profile");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;

    println!("{}", profiled.run.browser);
    for r in profiled.run.report["results"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "{} {}: p50 {:.0} µs, {:.0} calls/s one at a time, {:.0} with 100 in flight",
            r["contender"].as_str().unwrap_or("?"),
            r["payload"].as_str().unwrap_or("?"),
            r["rtt_p50_us"].as_f64().unwrap_or(0.0),
            r["calls_per_sec"].as_f64().unwrap_or(0.0),
            r["calls_per_sec_100_in_flight"].as_f64().unwrap_or(0.0),
        );
    }
    for (side, what, profile) in [
        ("host", "the bench page's main thread", &profiled.host),
        ("child", "the child frames' main thread", &profiled.child),
    ] {
        let file = dir.join(format!("{side}.cpuprofile"));
        std::fs::write(&file, profile.to_string())
            .map_err(|e| format!("write {}: {e}", file.display()))?;
        let times = self_times(profile)?;
        let total: f64 = times.iter().map(|(_, us)| us).sum();
        println!("\nself time on {what}, {:.0} ms in all:", total / 1000.0);
        for (name, us) in times.iter().take(TOP) {
            println!(
                "{:>9.1} ms {:>5.1}%  {name}",
                us / 1000.0,
                100.0 * us / total.max(1.0)
            );
        }
        println!(
            "profile: {} (Chrome DevTools, Performance panel)",
            file.display()
        );
    }
    println!(
        "\n(idle): waiting for a message or a timer; (program): the browser's own native work"
    );
    Ok(())
}

/// Self time per function, most first: each sample's interval goes to the
/// function on top of the stack, named `name (file)`.
fn self_times(profile: &Value) -> Result<Vec<(String, f64)>> {
    let bad = || "the CPU profile is not in DevTools' format".to_owned();
    let mut names = HashMap::new();
    for node in profile["nodes"].as_array().ok_or_else(bad)? {
        let frame = &node["callFrame"];
        let function = match frame["functionName"].as_str() {
            Some("") | None => "(anonymous)",
            Some(f) => f,
        };
        let file = frame["url"].as_str().unwrap_or("").rsplit('/').next();
        let name = match file {
            Some(f) if !f.is_empty() => format!("{function} ({f})"),
            _ => function.to_owned(),
        };
        names.insert(node["id"].as_u64().ok_or_else(bad)?, name);
    }
    let samples = profile["samples"].as_array().ok_or_else(bad)?;
    let deltas = profile["timeDeltas"].as_array().ok_or_else(bad)?;
    let mut by_name: HashMap<&str, f64> = HashMap::new();
    for (sample, delta) in samples.iter().zip(deltas) {
        let name = sample
            .as_u64()
            .and_then(|id| names.get(&id))
            .ok_or_else(bad)?;
        *by_name.entry(name).or_default() += delta.as_f64().unwrap_or(0.0).max(0.0);
    }
    let mut times: Vec<(String, f64)> = by_name
        .into_iter()
        .map(|(n, us)| (n.to_owned(), us))
        .collect();
    times.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::self_times;

    #[test]
    fn self_time_goes_to_the_sampled_function() {
        let profile = serde_json::json!({
            "nodes": [
                { "id": 1, "callFrame": { "functionName": "(root)", "url": "" } },
                { "id": 2, "callFrame": { "functionName": "", "url": "http://a/x/bench.js" } },
                { "id": 3, "callFrame": { "functionName": "drive", "url": "http://a/wasm/app_bg.wasm" } },
            ],
            "samples": [2, 3, 3, 1],
            "timeDeltas": [10, 50, 40, 5],
        });
        let times = self_times(&profile).unwrap();
        assert_eq!(
            times,
            vec![
                ("drive (app_bg.wasm)".to_owned(), 90.0),
                ("(anonymous) (bench.js)".to_owned(), 10.0),
                ("(root)".to_owned(), 5.0),
            ]
        );
        assert!(self_times(&serde_json::json!({ "nodes": 1 })).is_err());
    }
}
