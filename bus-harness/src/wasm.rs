//! Builds wasm apps for the browser: `cargo build --target
//! wasm32-unknown-unknown`, then the JS glue with the wasm-bindgen library
//! this crate pins (`wasm-bindgen-cli-support =0.2.130`; your app must use
//! `wasm-bindgen =0.2.130` too, or the glue generator refuses the module),
//! then, if asked, binaryen's wasm-opt `-Oz` and esbuild's minifier on the
//! glue. No trunk, no CLI, no download.
//!
//! ```no_run
//! # fn main() -> Result<(), bus_harness::Error> {
//! // target/harness/my-widget/my-widget.js and my-widget_bg.wasm
//! let dir = bus_harness::WasmApp::new("my-widget").features(["test-hooks"]).build()?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::target::{cargo, target_dir};

/// A wasm app to build: a package (and optionally one of its binaries) of
/// the workspace being tested.
#[derive(Debug, Clone)]
pub struct WasmApp {
    package: String,
    bin: Option<String>,
    features: Vec<String>,
    profile: String,
    optimize: bool,
    out_name: String,
    out_dir: Option<PathBuf>,
}

impl WasmApp {
    /// The package `package`, built with the dev profile; its glue is named
    /// after it.
    pub fn new(package: &str) -> WasmApp {
        WasmApp {
            package: package.to_owned(),
            bin: None,
            features: Vec::new(),
            profile: "dev".to_owned(),
            optimize: false,
            out_name: package.to_owned(),
            out_dir: None,
        }
    }

    /// Builds this binary of the package (`--bin`).
    pub fn bin(mut self, bin: &str) -> WasmApp {
        self.bin = Some(bin.to_owned());
        self
    }

    /// Turns on these features of the package.
    pub fn features<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, features: I) -> WasmApp {
        self.features
            .extend(features.into_iter().map(|f| f.as_ref().to_owned()));
        self
    }

    /// Builds with this cargo profile (`"dev"`, `"release"` or your own).
    pub fn profile(mut self, profile: &str) -> WasmApp {
        self.profile = profile.to_owned();
        self
    }

    /// Optimises the result for size ([`optimize`]: wasm-opt `-Oz` and a
    /// minified glue).
    pub fn optimize(mut self, yes: bool) -> WasmApp {
        self.optimize = yes;
        self
    }

    /// Names the glue `<name>.js` and `<name>_bg.wasm`.
    pub fn out_name(mut self, name: &str) -> WasmApp {
        self.out_name = name.to_owned();
        self
    }

    /// Writes the glue here instead of `target/harness/<package>/`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> WasmApp {
        self.out_dir = Some(dir.into());
        self
    }

    /// Builds, generates the glue and returns the directory holding it.
    /// Processes that build at the same time take turns.
    pub fn build(&self) -> Result<PathBuf, Error> {
        let _turn = crate::lock::exclusive("wasm-build")?;
        let mut cmd = cargo();
        cmd.args(["build", "--target", "wasm32-unknown-unknown", "-p"])
            .arg(&self.package)
            .args(["--profile", &self.profile]);
        if let Some(bin) = &self.bin {
            cmd.args(["--bin", bin]);
        }
        if !self.features.is_empty() {
            cmd.args(["--features", &self.features.join(",")]);
        }
        let status = cmd
            .status()
            .map_err(|e| format!("could not run cargo to build {}: {e}", self.package))?;
        if !status.success() {
            return Err(format!(
                "building {} for wasm32 failed ({status}); is the target installed? \
                 `rustup target add wasm32-unknown-unknown`",
                self.package
            )
            .into());
        }
        let target = target_dir()?;
        let profile_dir = match self.profile.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        };
        let artifact = self
            .bin
            .as_deref()
            .unwrap_or(&self.package)
            .replace('-', "_");
        let dir = target.join("wasm32-unknown-unknown").join(profile_dir);
        // Cargo names a binary's wasm after the binary, dashes kept.
        let wasm = [self.bin.as_deref().unwrap_or(&self.package), &artifact]
            .iter()
            .map(|n| dir.join(format!("{n}.wasm")))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "{} built, but no {}.wasm is in {}: is it a binary (src/main.rs) crate?",
                    self.package,
                    self.package,
                    dir.display()
                )
            })?;
        let out = self
            .out_dir
            .clone()
            .unwrap_or_else(|| target.join("harness").join(&self.package));
        bindgen(&wasm, &out, &self.out_name)?;
        if self.optimize {
            optimize(&out, &self.out_name)?;
        }
        Ok(out)
    }
}

/// Generates the ES-module JS glue for `input` into `out` as `<name>.js` and
/// `<name>_bg.wasm`.
pub fn bindgen(input: &Path, out: &Path, name: &str) -> Result<(), Error> {
    std::fs::create_dir_all(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(input)
        .web(true)?
        // Lets `init()` find <name>_bg.wasm next to the JS without arguments.
        .omit_default_module_path(false)
        .out_name(name)
        .generate(out)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", input.display()))?;
    Ok(())
}

/// Optimises the glue `<dir>/<name>.js` and `<dir>/<name>_bg.wasm` for
/// size, in place: [`wasm_opt`], short import names in both
/// ([`crate::imports::shorten`]), and [`minify_js`]. What
/// `WasmApp::optimize` does, and how a size-optimised build should be served.
pub fn optimize(dir: &Path, name: &str) -> Result<(), Error> {
    let (wasm, js) = (
        dir.join(format!("{name}_bg.wasm")),
        dir.join(format!("{name}.js")),
    );
    wasm_opt(&wasm)?;
    crate::imports::shorten(&wasm, &js, &format!("./{name}_bg.js"))?;
    minify_js(&js)
}

/// Minifies an ES module in place with esbuild (npm `esbuild` 0.28.2, see
/// [`crate::npm`]); its imports and exports keep their names.
pub fn minify_js(js: &Path) -> Result<(), Error> {
    let esbuild = crate::npm::esbuild()?;
    let tmp = js.with_extension("min.js");
    let status = Command::new(&esbuild)
        .arg(js)
        .args(["--minify", "--format=esm", "--log-level=warning"])
        .arg(format!("--outfile={}", tmp.display()))
        .status()
        .map_err(|e| format!("could not run {}: {e}", esbuild.display()))?;
    if !status.success() {
        return Err(format!("esbuild failed on {} ({status})", js.display()).into());
    }
    std::fs::rename(&tmp, js)
        .map_err(|e| format!("move {} to {}: {e}", tmp.display(), js.display()))?;
    Ok(())
}

/// Optimises `wasm` for size in place with wasm-opt `-Oz` (to a fixed
/// point), dropping the name, producers and target-features sections.
pub fn wasm_opt(wasm: &Path) -> Result<(), Error> {
    let script = crate::npm::wasm_opt_script()?;
    let status = Command::new("node")
        .arg(&script)
        .arg(wasm)
        .args(["-o"])
        .arg(wasm)
        .args([
            "-Oz",
            "--converge",
            "--strip-debug",
            "--strip-producers",
            "--strip-target-features",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-reference-types",
            "--enable-sign-ext",
            "--enable-mutable-globals",
        ])
        .status()
        .map_err(|e| format!("could not run node for wasm-opt: {e}; install Node.js"))?;
    if !status.success() {
        return Err(format!("wasm-opt failed on {} ({status})", wasm.display()).into());
    }
    Ok(())
}
