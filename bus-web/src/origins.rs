//! Origins by the browser's own URL parser.
//!
//! In the browser, allowlist entries and iframe URLs are canonicalised by
//! `URL`, the same parser that produces `MessageEvent.origin`, so an entry
//! and the origin it should match agree by construction, and no URL parser
//! or Unicode tables are compiled into the app.

use bus_core::{Allowlist, OriginError};

/// Builds an [`Allowlist`], canonicalising each entry with the browser's own
/// URL parser (lower case, punycode for international names, default port
/// dropped), with every check of [`Allowlist::new`].
///
/// In the browser, wildcards over single labels and over the common
/// shared-hosting and registry suffixes (`*.co.uk`, `*.github.io`,
/// `*.vercel.app`, …) are refused; the whole public suffix list is checked
/// natively. To check a list the app reads at run time against the whole
/// list, call `bus_core::origin::lint` on it in a native test; a literal list
/// is checked when it compiles by [`allowlist!`](crate::allowlist!).
///
/// ```no_run
/// let allow = bus_web::allowlist(["https://Bücher.example", "https://*.shop.example"])?;
/// assert!(allow.allows("https://xn--bcher-kva.example"));
/// # Ok::<(), bus_web::OriginError>(())
/// ```
pub fn allowlist<I>(patterns: I) -> Result<Allowlist, OriginError>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    #[cfg(target_arch = "wasm32")]
    {
        Allowlist::with_canonicalizer(patterns, browser_origin)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Allowlist::new(patterns)
    }
}

/// The origin of an absolute `url`, as the browser serializes it.
#[cfg(target_arch = "wasm32")]
pub(crate) fn browser_origin(url: &str) -> Result<String, String> {
    web_sys::Url::new(url)
        .map(|u| u.origin())
        .map_err(|e| crate::diagnostics::js_error_message(&e))
}

/// The origin of `url` resolved against `base`, as the browser serializes it.
#[cfg(target_arch = "wasm32")]
pub(crate) fn origin_of(url: &str, base: &str) -> Result<String, OriginError> {
    bus_core::origin::canonical_origin_with(url, |url| {
        web_sys::Url::new_with_base(url, base)
            .map(|u| u.origin())
            .map_err(|e| crate::diagnostics::js_error_message(&e))
    })
}
