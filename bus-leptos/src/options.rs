//! What a hook needs besides the bus's own [`Options`].

use std::time::Duration;

use bus_web::Options;

/// How a hook connects: the bus's [`Options`] (allowlist, timeouts, limits),
/// plus what the hook keeps for the view.
///
/// Every hook takes `impl Into<UseBusOptions>`, so plain [`Options`] work:
///
/// ```
/// use std::time::Duration;
/// use bus_leptos::UseBusOptions;
/// use bus_web::Options;
///
/// let allow = bus_web::allowlist(["https://pay.example"])?;
/// let options = UseBusOptions::new(Options::new(allow).call_timeout(Duration::from_secs(5)))
///     .keep_rejections(10)
///     .stats_interval(Some(Duration::from_secs(2)));
/// # let _ = options;
/// # Ok::<(), bus_web::OriginError>(())
/// ```
#[derive(Debug, Clone)]
// Natively the hooks do nothing, so only the browser build reads it all.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct UseBusOptions {
    pub(crate) bus: Options,
    pub(crate) keep_rejections: usize,
    pub(crate) stats_interval: Option<Duration>,
}

impl UseBusOptions {
    /// The hook's defaults around `bus`: the last 20 rejections, stats
    /// refreshed every second.
    pub fn new(bus: Options) -> UseBusOptions {
        UseBusOptions {
            bus,
            keep_rejections: 20,
            stats_interval: Some(Duration::from_secs(1)),
        }
    }

    /// How many of the latest rejections [`crate::Bus::rejections`] holds.
    pub fn keep_rejections(mut self, n: usize) -> UseBusOptions {
        self.keep_rejections = n;
        self
    }

    /// How often [`crate::Bus::stats`] is refreshed besides on every state
    /// change, rejection, call made through the handle and event read by
    /// [`crate::use_topic`]. `None`: only then.
    pub fn stats_interval(mut self, every: Option<Duration>) -> UseBusOptions {
        self.stats_interval = every;
        self
    }
}

impl From<Options> for UseBusOptions {
    fn from(bus: Options) -> UseBusOptions {
        UseBusOptions::new(bus)
    }
}
