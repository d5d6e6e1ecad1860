//! Serves N origins on loopback ports with axum, each from a directory or a
//! router, with its own response headers. What an origin serves may depend
//! on the others' origins (a widget's `frame-ancestors` names its host), so
//! every port is bound first and each router is built after, from the
//! [`Names`] of all of them.
//!
//! Sites: `127.0.0.1` and `localhost` are different *sites*, so a page on
//! one embedding the other gets a real cross-origin, out-of-process iframe.
//! By default the first origin is on `127.0.0.1`, the second on `localhost`,
//! and any further ones on `127.0.0.1` (another port: another origin, same
//! site as the first).
//!
//! ```no_run
//! use bus_harness::{Origins, Serve};
//! # async fn run() -> Result<(), bus_harness::Error> {
//! let served = Origins::new()
//!     .add("host", Serve::dir("target/harness/host").header("content-security-policy", "frame-ancestors 'self'"))
//!     .add("widget", Serve::dir("target/harness/widget")
//!         .header_with("content-security-policy", |o| format!("frame-ancestors {}", &o["host"])))
//!     .serve()
//!     .await?;
//! println!("{}", served.url("host", "/"));
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::ops::Index;
use std::path::PathBuf;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Html;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::Error;

/// Which loopback host name an origin uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// `http://127.0.0.1:<port>`
    Loopback,
    /// `http://localhost:<port>`: another site than `127.0.0.1`.
    Localhost,
}

/// Every origin by name, once all are bound: `names["widget"]` is
/// `"http://localhost:41234"`.
#[derive(Debug, Clone, Default)]
pub struct Names(Vec<(String, String)>);

impl Names {
    /// The origin named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.as_str())
    }
}

impl Index<&str> for Names {
    type Output = str;
    /// Panics, naming the origins there are, when `name` is not one.
    fn index(&self, name: &str) -> &str {
        match self.get(name) {
            Some(o) => o,
            None => panic!(
                "no origin named {name:?}; there are: {:?}",
                self.0.iter().map(|(n, _)| n).collect::<Vec<_>>()
            ),
        }
    }
}

type MakeRouter = Box<dyn FnOnce(&Names) -> Router + Send>;
type MakeValue = Box<dyn FnOnce(&Names) -> String + Send>;

/// What one origin serves.
pub struct Serve {
    make: MakeRouter,
    pages: Vec<(String, MakeValue)>,
    headers: Vec<(&'static str, MakeValue)>,
    site: Option<Site>,
    port: u16,
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field(
                "pages",
                &self.pages.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field(
                "headers",
                &self.headers.iter().map(|(h, _)| h).collect::<Vec<_>>(),
            )
            .field("site", &self.site)
            .field("port", &self.port)
            .finish()
    }
}

impl Serve {
    /// The files under `dir` (`.wasm` as `application/wasm`).
    pub fn dir(dir: impl Into<PathBuf>) -> Serve {
        let dir = dir.into();
        Serve::router_with(move |_| Router::new().fallback_service(ServeDir::new(dir)))
    }

    /// An axum router.
    pub fn router(router: Router) -> Serve {
        Serve::router_with(move |_| router)
    }

    /// A router built once every origin is known.
    pub fn router_with(make: impl FnOnce(&Names) -> Router + Send + 'static) -> Serve {
        Serve {
            make: Box::new(make),
            pages: Vec::new(),
            headers: Vec::new(),
            site: None,
            port: 0,
        }
    }

    /// Serves the HTML `page(names)` at `path` (for example `"/"`), before
    /// anything else the origin serves there.
    pub fn html(
        mut self,
        path: &str,
        page: impl FnOnce(&Names) -> String + Send + 'static,
    ) -> Serve {
        self.pages.push((path.to_owned(), Box::new(page)));
        self
    }

    /// Serves at `/` the [`wasm_page`] of the glue `<module>.js` (build it
    /// into this origin's directory with [`crate::WasmApp`]), telling the
    /// app every origin of the test: one `<meta name="origin-<name>"
    /// content="<origin>">` per origin, so it can build its allowlist and
    /// URLs from them (`origin-host`, `origin-widget`, …).
    pub fn page(self, module: &str) -> Serve {
        let module = module.to_owned();
        self.html("/", move |o| {
            let names: Vec<(String, &str)> =
                o.0.iter()
                    .map(|(n, origin)| (format!("origin-{n}"), origin.as_str()))
                    .collect();
            let metas: Vec<(&str, &str)> = names.iter().map(|(n, o)| (n.as_str(), *o)).collect();
            wasm_page(&module, &module, &metas)
        })
    }

    /// Adds a response header (lower-case name) to everything it serves.
    pub fn header(self, name: &'static str, value: impl Into<String>) -> Serve {
        let value = value.into();
        self.header_with(name, move |_| value)
    }

    /// A response header whose value depends on the origins.
    pub fn header_with(
        mut self,
        name: &'static str,
        value: impl FnOnce(&Names) -> String + Send + 'static,
    ) -> Serve {
        self.headers.push((name, Box::new(value)));
        self
    }

    /// Picks the host name (see [`Site`]).
    pub fn site(mut self, site: Site) -> Serve {
        self.site = Some(site);
        self
    }

    /// Binds this port instead of a free one.
    pub fn port(mut self, port: u16) -> Serve {
        self.port = port;
        self
    }

    fn into_router(self, names: &Names) -> Result<Router, Error> {
        let mut router = Router::new();
        for (path, page) in self.pages {
            let html = page(names);
            router = router.route(&path, get(move || async move { Html(html) }));
        }
        let mut router = router.merge((self.make)(names));
        for (name, value) in self.headers {
            router = router.layer(SetResponseHeaderLayer::overriding(
                HeaderName::from_static(name),
                HeaderValue::from_str(&value(names))?,
            ));
        }
        Ok(router)
    }
}

/// Origins to serve, by name, in order.
#[derive(Debug, Default)]
pub struct Origins {
    list: Vec<(String, Serve)>,
}

impl Origins {
    /// No origins yet.
    pub fn new() -> Origins {
        Origins::default()
    }

    /// Adds the origin `name`.
    pub fn add(mut self, name: &str, serve: Serve) -> Origins {
        self.list.push((name.to_owned(), serve));
        self
    }

    /// Binds every port, then serves each origin until the [`Served`] is
    /// stopped or dropped. Call it inside a tokio runtime.
    pub async fn serve(self) -> Result<Served, Error> {
        let mut bound = Vec::new();
        let mut names = Names::default();
        for (i, (name, serve)) in self.list.into_iter().enumerate() {
            let site = serve.site.unwrap_or(if i == 1 {
                Site::Localhost
            } else {
                Site::Loopback
            });
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], serve.port)))
                .await
                .map_err(|e| {
                    format!(
                        "cannot listen on 127.0.0.1:{} for {name}: {e}; is something else using it?",
                        serve.port
                    )
                })?;
            let port = listener.local_addr()?.port();
            let host = match site {
                Site::Loopback => "127.0.0.1",
                Site::Localhost => "localhost",
            };
            names.0.push((name, format!("http://{host}:{port}")));
            bound.push((listener, serve));
        }
        let mut stop = Vec::new();
        let mut tasks = Vec::new();
        for (listener, serve) in bound {
            let router = serve.into_router(&names)?;
            let (tx, rx) = oneshot::channel::<()>();
            stop.push(tx);
            tasks.push(tokio::spawn(async move {
                let shutdown = async {
                    let _ = rx.await;
                };
                // Small frames both ways (the bus's sockets): no Nagle.
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    eprintln!("bus-harness: a server stopped: {e}");
                }
            }));
        }
        Ok(Served { names, stop, tasks })
    }
}

/// The running servers. Dropping them stops them.
#[derive(Debug)]
pub struct Served {
    names: Names,
    stop: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Served {
    /// Every origin by name.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The origin named `name` (panics, naming the ones there are, if none).
    pub fn origin(&self, name: &str) -> &str {
        &self.names[name]
    }

    /// `origin(name)` followed by `path` (which starts with `/`).
    pub fn url(&self, name: &str, path: &str) -> String {
        format!("{}{path}", self.origin(name))
    }

    /// Stops every server and waits for them to finish.
    pub async fn stop(mut self) {
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
    }
}

/// A page that loads the wasm-bindgen glue `/<module>.js` (and its
/// `_bg.wasm`); `window.app` is a promise of its exports once initialised,
/// so a test can call `window.app.then((app) => app.add(2, 3))`. `metas`
/// become `<meta name=… content=…>` tags the app can read (for example its
/// allowlist, written by the server rather than compiled in).
pub fn wasm_page(title: &str, module: &str, metas: &[(&str, &str)]) -> String {
    let metas = meta_tags(metas);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
{metas}</head>
<body>
<script type="module">
import init, * as app from "/{module}.js";
window.app = init({{ module_or_path: "/{module}_bg.wasm" }}).then(() => app);
</script>
</body>
</html>
"#,
        title = escape(title),
    )
}

/// `<meta name=… content=…>` lines, one per pair, escaped for HTML.
pub fn meta_tags(metas: &[(&str, &str)]) -> String {
    metas
        .iter()
        .map(|(name, content)| {
            format!(
                "<meta name=\"{}\" content=\"{}\">\n",
                escape(name),
                escape(content)
            )
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
