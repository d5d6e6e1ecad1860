//! Whether a wildcard entry would span sites of unrelated owners.
//!
//! Natively, with the default `public-suffix` feature, the whole public
//! suffix list decides (the `psl` crate): that is where allowlists are
//! authored and linted. The browser build cannot afford the list (it was
//! about 900 KB of wasm), so there a short built-in list of the suffixes
//! people actually reach for stands in: every single label, country
//! second-level registries such as `co.uk`, and shared hosting such as
//! `github.io` or `vercel.app`. A test checks that each of them is on the
//! full list.

/// Whether a wildcard over `domain` (lower case, punycode, no trailing dot)
/// would span unrelated owners: a public suffix, or an unknown single label
/// other than `localhost`.
pub(crate) fn is_public_suffix(domain: &str) -> bool {
    if !domain.contains('.') {
        return domain != "localhost";
    }
    on_the_list(domain)
}

#[cfg(all(feature = "public-suffix", not(target_arch = "wasm32")))]
fn on_the_list(domain: &str) -> bool {
    psl::suffix(domain.as_bytes())
        .is_some_and(|s| s.as_bytes() == domain.as_bytes() && s.is_known())
}

#[cfg(not(all(feature = "public-suffix", not(target_arch = "wasm32"))))]
fn on_the_list(domain: &str) -> bool {
    on_built_in_list(domain)
}

/// The browser build's check, compiled everywhere so native tests cover it.
#[cfg_attr(
    all(feature = "public-suffix", not(target_arch = "wasm32")),
    allow(dead_code)
)]
pub(crate) fn on_built_in_list(domain: &str) -> bool {
    BUILT_IN.binary_search(&domain).is_ok()
}

/// Multi-label public suffixes refused in the browser build. Sorted.
pub(crate) const BUILT_IN: &[&str] = &[
    "ac.in",
    "ac.jp",
    "ac.uk",
    "appspot.com",
    "azurestaticapps.net",
    "azurewebsites.net",
    "bitbucket.io",
    "blogspot.com",
    "cloudfront.net",
    "co.at",
    "co.id",
    "co.il",
    "co.in",
    "co.jp",
    "co.kr",
    "co.nz",
    "co.th",
    "co.uk",
    "co.za",
    "codeberg.page",
    "com.ar",
    "com.au",
    "com.br",
    "com.cn",
    "com.co",
    "com.eg",
    "com.hk",
    "com.mx",
    "com.my",
    "com.ng",
    "com.pe",
    "com.ph",
    "com.pk",
    "com.sa",
    "com.sg",
    "com.tr",
    "com.tw",
    "com.ua",
    "com.vn",
    "edu.au",
    "firebaseapp.com",
    "fly.dev",
    "github.io",
    "gitlab.io",
    "gov.au",
    "gov.uk",
    "herokuapp.com",
    "ltd.uk",
    "me.uk",
    "ne.jp",
    "net.au",
    "net.br",
    "net.cn",
    "net.in",
    "netlify.app",
    "now.sh",
    "onrender.com",
    "or.jp",
    "or.kr",
    "org.au",
    "org.br",
    "org.cn",
    "org.in",
    "org.nz",
    "org.uk",
    "pages.dev",
    "plc.uk",
    "readthedocs.io",
    "surge.sh",
    "vercel.app",
    "web.app",
    "workers.dev",
];
