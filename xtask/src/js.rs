//! The TypeScript peer, `bus-js/`: built as the demo and the e2e suite build
//! it ([`e2e::bundle::build_bus_js`]: TypeScript and esbuild from its
//! lockfile, the type check, declarations and the minified ESM bundle), its
//! size against the budget, and its node unit tests against the golden
//! vectors and the shared origin table.

use std::process::Command;

use crate::{Result, Totals, root, run_tests};

/// What `bus-js` must weigh at most, minified and gzipped (issue: ≤ 5 KB).
pub(crate) const BUDGET_GZ_BYTES: u64 = 5 * 1024;

/// Builds `bus-js/dist/index.js`; returns its gzipped size.
pub(crate) fn build() -> Result<u64> {
    println!("\n==> bus-js: npm ci when needed, tsc, esbuild");
    let dist = e2e::bundle::build_bus_js().map_err(|e| e.to_string())?;
    crate::bench::gz_len(&[dist.join("index.js")])
}

/// Builds, reports the size, and runs the node tests; their counts join the totals.
pub(crate) fn test() -> Result<Totals> {
    let gz = build()?;
    let verdict = if gz <= BUDGET_GZ_BYTES {
        "within"
    } else {
        "OVER"
    };
    println!("bus-js: {gz} B minified and gzipped ({verdict} the {BUDGET_GZ_BYTES} B budget)");
    let mut npm = Command::new("npm");
    npm.current_dir(root().join("bus-js"))
        .args(["test", "--silent"]);
    run_tests(
        "bus-js: node tests (golden vectors, origin table, connection)",
        npm,
    )
}

/// The tests that check each generated TypeScript module against its Rust
/// contract, as (package, test target).
const GENERATED: [(&str, &str); 2] = [("demo-api", "typescript"), ("bus-ts", "kitchen")];

/// Regenerates every TypeScript module bus-ts derives from a Rust contract:
/// their checking tests, run with `BUS_TS_WRITE=1`, write instead of compare.
pub(crate) fn regenerate() -> Result {
    for (package, test) in GENERATED {
        println!("\n==> regenerating the TypeScript of {package} (tests/{test}.rs)");
        let status = Command::new(env!("CARGO"))
            .args(["test", "-q", "-p", package, "--test", test])
            .env("BUS_TS_WRITE", "1")
            .status()
            .map_err(|e| format!("cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "regenerating {package}'s TypeScript failed ({status})"
            ));
        }
    }
    println!("regenerated; review and commit the changes (git status)");
    Ok(())
}
