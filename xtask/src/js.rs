//! The TypeScript peer, `bus-js/`: its pinned tools (`npm ci`: TypeScript
//! and esbuild from its lockfile), the type check and build (`npm run
//! build`: declarations and the minified ESM bundle), and its node unit
//! tests against the golden vectors and the shared origin table.

use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{Result, Totals, root, run};

/// What `bus-js` must weigh at most, minified and gzipped (issue: ≤ 5 KB).
pub(crate) const BUDGET_GZ_BYTES: u64 = 5 * 1024;

pub(crate) fn dir() -> PathBuf {
    root().join("bus-js")
}

/// `npm ci` in bus-js: TypeScript and esbuild as its lockfile pins them.
pub(crate) fn install() -> Result {
    let mut ci = bus_harness::npm::ci_command().map_err(|e| e.to_string())?;
    ci.current_dir(dir());
    run("npm ci (bus-js: TypeScript, esbuild)", ci)
}

/// Type-checks and builds `bus-js/dist/index.js`; returns its gzipped size.
pub(crate) fn build() -> Result<u64> {
    let mut build = Command::new("npm");
    build.current_dir(dir()).args(["run", "build", "--silent"]);
    run("bus-js: tsc, esbuild", build)?;
    crate::bench::gz_len(&[dir().join("dist/index.js")])
}

/// Installs, builds and runs the node tests; their counts join the totals.
pub(crate) fn test() -> Result<Totals> {
    install()?;
    let gz = build()?;
    let verdict = if gz <= BUDGET_GZ_BYTES {
        "within"
    } else {
        "OVER"
    };
    println!("bus-js: {gz} B minified and gzipped ({verdict} the {BUDGET_GZ_BYTES} B budget)");

    let step = "bus-js: node tests (golden vectors, origin table, connection)";
    println!("\n==> {step}");
    let start = Instant::now();
    let mut child = Command::new("npm")
        .current_dir(dir())
        .args(["test", "--silent"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{step}: could not start npm: {e}"))?;
    let mut totals = Totals::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(io::Result::ok) {
            println!("{line}");
            // node's test runner ends with TAP comments: `# pass 55`, `# fail 0`.
            let count = |prefix: &str| {
                line.strip_prefix(prefix)
                    .and_then(|n| n.trim().parse::<u64>().ok())
            };
            if let Some(n) = count("# pass ") {
                totals.passed += n;
            }
            if let Some(n) = count("# fail ") {
                totals.failed += n;
            }
            if let Some(name) = line.strip_prefix("not ok ") {
                totals.failures.push(name.to_owned());
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{step}: {e}"))?;
    println!("<== {step}: {:.1}s", start.elapsed().as_secs_f64());
    if !status.success() || totals.failed > 0 {
        return Err(format!(
            "{step} failed ({status}): {}",
            totals.failures.join("; ")
        ));
    }
    if totals.passed == 0 {
        return Err(format!("{step}: no test ran"));
    }
    Ok(totals)
}
