//! One contract, two compilers: generates from a Rust contract crate the
//! TypeScript module that lets a TypeScript page (on `bus-js`, npm `wbus`)
//! call and serve the same methods and topics with the same types.
//!
//! The module holds, for every payload type the contract names:
//! - its TypeScript type (`interface Cart { lines: CartLine[]; currency: string }`);
//! - its postcard codec (`Cart.encode(cart)`, `Cart.decode(bytes)`), byte for
//!   byte what the Rust side writes and reads;
//! - the interfaces `Methods` and `Topics`, keyed by wire name, and the class
//!   `Api` whose `call`, `handle`, `emit` and `on` accept only those names and
//!   their types, so a typo or a wrong payload fails `tsc` as it fails `rustc`.
//!
//! The types are read from serde (with `serde-reflection`), not from the
//! source, so what is generated is what serde encodes. Commit the module and
//! check it in a test, so CI fails when a Rust type changes and the
//! TypeScript is not regenerated:
//!
//! ```
//! use bus_core::{Method, Topic};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Cart { lines: Vec<String>, currency: String }
//! const QUOTE: Method<Cart, u64> = Method::new("checkout.quote");
//! const PAID: Topic<u64> = Topic::new("checkout.paid");
//!
//! let ts = bus_ts::Contract::new("shop-api")
//!     .method(&QUOTE)
//!     .topic(&PAID)
//!     .code("EMPTY_CART", 400)
//!     .typescript()
//!     .unwrap();
//! assert!(ts.contains("export interface Cart {"));
//! assert!(ts.contains(r#""checkout.quote": [Cart, bigint];"#));
//! // In a test: bus_ts::check(&ts, "ts/contract.ts").unwrap();
//! ```

mod emit;

use std::fmt;
use std::path::Path;

use bus_core::{Method, Topic};
use serde::de::DeserializeOwned;
use serde_reflection::{Format, Registry, Samples, Tracer, TracerConfig};

/// The methods' (request, response) and the topics' formats, by wire name.
type Traced = (
    Vec<(&'static str, Format, Format)>,
    Vec<(&'static str, Format)>,
);

/// Traces one type into a tracer, giving its format.
type Trace = Box<dyn Fn(&mut Tracer) -> serde_reflection::Result<Format>>;

/// A contract being described: its methods, topics, extra types (such as an
/// error's data) and error codes, in the order given.
pub struct Contract {
    name: String,
    methods: Vec<(&'static str, Trace, Trace)>,
    topics: Vec<(&'static str, Trace)>,
    types: Vec<Trace>,
    codes: Vec<(String, i32)>,
    error: Option<Error>,
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A type serde cannot describe (one that deserializes only from
/// self-describing formats, such as `serde_json::Value`), or a contract that
/// names one wire name twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn trace<T: DeserializeOwned + 'static>() -> Trace {
    Box::new(|tracer| {
        tracer
            .trace_type::<T>(&Samples::new())
            .map(|(format, _)| format)
    })
}

impl Contract {
    /// A contract; `name` (the Rust crate's, say) heads the generated module.
    pub fn new(name: &str) -> Self {
        Contract {
            name: name.to_owned(),
            methods: Vec::new(),
            topics: Vec::new(),
            types: Vec::new(),
            codes: Vec::new(),
            error: None,
        }
    }

    /// Adds a method, with its request and response types.
    pub fn method<Req: DeserializeOwned + 'static, Resp: DeserializeOwned + 'static>(
        mut self,
        m: &Method<Req, Resp>,
    ) -> Self {
        let name = m.name();
        if self.methods.iter().any(|(n, ..)| *n == name) {
            self.fail(format!("the method \"{name}\" is named twice"));
        }
        self.methods.push((name, trace::<Req>(), trace::<Resp>()));
        self
    }

    /// Adds a topic, with its event type.
    pub fn topic<T: DeserializeOwned + 'static>(mut self, t: &Topic<T>) -> Self {
        let name = t.name();
        if self.topics.iter().any(|(n, _)| *n == name) {
            self.fail(format!("the topic \"{name}\" is named twice"));
        }
        self.topics.push((name, trace::<T>()));
        self
    }

    /// Adds a type no method or topic carries, such as the typed data of a
    /// remote error, so that TypeScript can decode it too.
    pub fn data<T: DeserializeOwned + 'static>(mut self) -> Self {
        self.types.push(trace::<T>());
        self
    }

    /// Adds an application error code, as a TypeScript constant.
    pub fn code(mut self, name: &str, value: i32) -> Self {
        if !emit::is_ident(name) {
            self.fail(format!(
                "the error code name {name:?} is not a TypeScript identifier; use one like EMPTY_CART"
            ));
        }
        self.codes.push((name.to_owned(), value));
        self
    }

    /// The TypeScript module.
    pub fn typescript(self) -> Result<String, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let fail = |e: serde_reflection::Error| {
            Error(format!("a type of the contract cannot be described: {e}"))
        };
        // serde-reflection explores one variant of an enum per pass; the
        // types are traced again while an enum it has met has variants left.
        let mut enums: Vec<String> = Vec::new();
        for _ in 0..64 {
            let mut tracer = Tracer::new(TracerConfig::default());
            let mut formats = self.trace_all(&mut tracer).map_err(fail)?;
            for _ in 0..1024 {
                let incomplete = enums
                    .iter()
                    .filter(|e| tracer.check_incomplete_enum(e).is_some())
                    .count();
                if incomplete == 0 {
                    break;
                }
                formats = self.trace_all(&mut tracer).map_err(fail)?;
            }
            let registry = match tracer.registry() {
                Err(serde_reflection::Error::MissingVariants(names)) => {
                    enums.extend(names);
                    continue;
                }
                other => other.map_err(fail)?,
            };
            check_names(&registry, &self.codes)?;
            let (methods, topics) = formats;
            return Ok(emit::module(&emit::Input {
                name: &self.name,
                registry: &registry,
                methods: &methods,
                topics: &topics,
                codes: &self.codes,
            }));
        }
        Err(Error(format!(
            "the enums {enums:?} still have variants left after 64 passes"
        )))
    }

    /// Traces every type once: the methods' (request, response) and the
    /// topics' formats by wire name; the extra types only join the registry.
    fn trace_all(&self, tracer: &mut Tracer) -> serde_reflection::Result<Traced> {
        let mut methods = Vec::new();
        for (name, req, resp) in &self.methods {
            methods.push((*name, req(tracer)?, resp(tracer)?));
        }
        let mut topics = Vec::new();
        for (name, t) in &self.topics {
            topics.push((*name, t(tracer)?));
        }
        for t in &self.types {
            t(tracer)?;
        }
        Ok((methods, topics))
    }

    fn fail(&mut self, message: String) {
        self.error.get_or_insert(Error(message));
    }
}

/// Refuses names the generated module declares for itself, and one name for
/// a type and an error code.
fn check_names(registry: &Registry, codes: &[(String, i32)]) -> Result<(), Error> {
    let names = registry.keys().chain(codes.iter().map(|(n, _)| n));
    if let Some(taken) = names.clone().find(|n| emit::RESERVED.contains(&n.as_str())) {
        return Err(Error(format!(
            "the contract names `{taken}`, which the generated module uses for itself; \
             rename it for serde (#[serde(rename = \"...\")]) or pick another code name"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    match names.clone().find(|n| !seen.insert(*n)) {
        Some(twice) => Err(Error(format!("`{twice}` is both a type and an error code"))),
        None => Ok(()),
    }
}

/// Checks that the committed module at `path` is `generated`; with the
/// environment variable `BUS_TS_WRITE=1` it writes it instead. The error
/// says how to regenerate.
pub fn check(generated: &str, path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    if std::env::var_os("BUS_TS_WRITE").is_some_and(|v| v == "1") {
        return std::fs::write(path, generated)
            .map_err(|e| Error(format!("cannot write {}: {e}", path.display())));
    }
    compare(generated, path)
}

/// Checks that the committed module at `path` is `generated`, whatever the
/// environment says; the error says how to regenerate.
pub fn compare(generated: &str, path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed == generated {
        return Ok(());
    }
    let line = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()))
        + 1;
    Err(Error(format!(
        "{} is stale: the Rust contract changed (first difference at line {line}); regenerate it with `cargo xtask ts` and commit it",
        path.display()
    )))
}
