//! Origins and the allowlist.
//!
//! The allowlist decides which windows may talk to us. It is deny-by-default:
//! an empty allowlist allows nothing, and the opaque origin `"null"` is only
//! allowed through [`Allowlist::allow_opaque_origins`], never by a pattern.
//!
//! Entries are canonicalised once, when the allowlist is built. Matching then
//! compares the browser's serialized origin (`MessageEvent.origin`) against
//! those canonical entries: anything that is not exactly what a browser would
//! serialize (upper case, a path, userinfo, a trailing dot, whitespace, …)
//! never matches.
//!
//! ```
//! use bus_core::Allowlist;
//!
//! let allow = Allowlist::new(["https://shop.example.com", "https://*.cdn.example.net"])?;
//! assert!(allow.allows("https://shop.example.com"));
//! assert!(allow.allows("https://eu.static.cdn.example.net"));
//! assert!(!allow.allows("https://cdn.example.net")); // a wildcard never matches the bare domain
//! assert!(!allow.allows("https://shop.example.com.evil.test"));
//! assert!(!allow.allows("null"));
//! # Ok::<(), bus_core::OriginError>(())
//! ```

use std::fmt;

mod canonical;
mod serialized;
mod suffix;

use serialized::Host;

/// The serialization of an opaque origin (sandboxed frames, `data:` URLs).
pub const OPAQUE_ORIGIN: &str = "null";

/// Why an allowlist entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginError {
    entry: String,
    problem: Problem,
}

/// What is wrong with a refused allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The entry is empty or only whitespace.
    Empty,
    /// The entry has leading, trailing or inner whitespace or a control character.
    Whitespace,
    /// `"null"` is not a pattern; opaque origins need the explicit opt-in.
    OpaqueNotAPattern,
    /// The entry could not be parsed as a URL.
    NotAUrl(String),
    /// Only `http` and `https` origins can be allowed.
    Scheme(String),
    /// The entry carries `user:password@`.
    Userinfo,
    /// The entry carries a path (a single trailing `/` is tolerated).
    Path,
    /// The entry carries a `?query`.
    Query,
    /// The entry carries a `#fragment`.
    Fragment,
    /// The host is percent-encoded.
    PercentEncoded,
    /// The entry contains characters that look like a regular expression.
    RegexLike,
    /// `*` may only be a whole leftmost label, as in `https://*.example.com`.
    MisplacedWildcard,
    /// A wildcard over a public suffix (`*.com`, `*.co.uk`, `*.github.io`) would
    /// allow sites run by unrelated parties.
    WildcardOverPublicSuffix(String),
    /// A wildcard needs a domain name, not an IP address.
    WildcardOverIp,
    /// The host ends with a dot.
    TrailingDot,
    /// The entry has no host.
    NoHost,
}

impl OriginError {
    fn new(entry: &str, problem: Problem) -> Self {
        OriginError {
            entry: entry.to_owned(),
            problem,
        }
    }

    /// The entry as it was given.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allowlist entry \"{}\" refused: ", self.entry)?;
        match &self.problem {
            Problem::Empty => f.write_str("it is empty; write an origin such as https://app.example.com"),
            Problem::Whitespace => f.write_str("it contains whitespace or a control character; remove it"),
            Problem::OpaqueNotAPattern => f.write_str(
                "\"null\" is not a pattern; call Allowlist::allow_opaque_origins() if you really accept sandboxed or data: frames",
            ),
            Problem::NotAUrl(why) => write!(f, "it is not an origin ({why}); write scheme://host[:port]"),
            Problem::Scheme(s) => write!(f, "scheme \"{s}\" is not supported; only http and https origins can be allowed"),
            Problem::Userinfo => f.write_str("it carries user:password@; an origin has none"),
            Problem::Path => f.write_str("it carries a path; an origin is scheme://host[:port] only"),
            Problem::Query => f.write_str("it carries a ?query; an origin is scheme://host[:port] only"),
            Problem::Fragment => f.write_str("it carries a #fragment; an origin is scheme://host[:port] only"),
            Problem::PercentEncoded => f.write_str("it is percent-encoded; write the host as is (IDN hosts are fine)"),
            Problem::RegexLike => f.write_str("it looks like a regular expression; patterns are origins with an optional leading *. label"),
            Problem::MisplacedWildcard => f.write_str("* may only stand as the whole leftmost label, as in https://*.example.com"),
            Problem::WildcardOverPublicSuffix(s) => write!(
                f,
                "\"{s}\" is a public suffix, so the wildcard would allow sites of unrelated owners; name your own domain, as in https://*.yours.{s}"
            ),
            Problem::WildcardOverIp => f.write_str("a wildcard needs a domain name, not an IP address"),
            Problem::TrailingDot => f.write_str("the host ends with a dot; remove it"),
            Problem::NoHost => f.write_str("it has no host"),
        }
    }
}

impl std::error::Error for OriginError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A canonical serialized origin, compared byte for byte.
    Exact(String),
    /// `scheme://*.suffix[:port]`: any depth of subdomain of `suffix`, never `suffix` itself.
    Wildcard {
        scheme: String,
        /// With its leading dot, lower case, punycode.
        dot_suffix: String,
        port: Option<u16>,
    },
}

/// The set of origins allowed to talk to us. Deny by default.
///
/// Build it with [`Allowlist::new`] (in the browser, `bus_web::allowlist` or
/// the compile-time checked `bus_web::allowlist!`); check a
/// `MessageEvent.origin` with [`Allowlist::allows`].
///
/// # Which checks run where
/// | check | native (default `public-suffix` feature) | browser build |
/// |---|---|---|
/// | syntax: scheme, path, query, userinfo, `*` placement, regex-like | yes | yes |
/// | entry canonicalised (case, IDN, default port) | `url` crate | `bus_web::allowlist`: the browser's `URL`; `Allowlist::new`: ASCII hosts only |
/// | wildcard over a public suffix refused | the whole public suffix list | single labels and a built-in list of common suffixes (`*.co.uk`, `*.github.io`, `*.vercel.app`, …) |
/// | origin matched | exact bytes, or the serialized-origin parser; natively also a `url` round trip | exact bytes, or the serialized-origin parser |
///
/// To get the full public-suffix check on an allowlist the browser build
/// reads at run time, call [`lint`] on it in a native test, or write it as a
/// literal with `bus_web::allowlist!`, which checks it when it compiles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowlist {
    entries: Vec<Entry>,
    opaque: bool,
}

impl Allowlist {
    /// Parses and canonicalises every entry, refusing the first bad one with
    /// an error that says why.
    ///
    /// An entry is an exact origin (`https://app.example.com`,
    /// `http://localhost:8081`, `http://[::1]:8080`) or a leftmost wildcard
    /// (`https://*.example.com`) that matches any depth of subdomain but never
    /// the bare domain, with scheme and port compared exactly.
    ///
    /// Natively the `url` crate canonicalises entries. In the browser build
    /// this takes ASCII hosts only: prefer `bus_web::allowlist`, which hands
    /// entries to the browser's own URL parser.
    ///
    /// ```
    /// use bus_core::Allowlist;
    /// let err = Allowlist::new(["https://*.co.uk"]).unwrap_err();
    /// assert!(err.to_string().contains("public suffix"));
    /// ```
    pub fn new<I>(patterns: I) -> Result<Allowlist, OriginError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Allowlist::with_canonicalizer(patterns, canonical::default)
    }

    /// Like [`Allowlist::new`], with `origin_of` as the URL parser: it gets
    /// `scheme://host[:port]` and returns that URL's origin as a browser
    /// serializes it, or why it is not a URL. `bus_web::allowlist` passes
    /// the browser's `URL` here.
    ///
    /// ```
    /// use bus_core::Allowlist;
    /// // A parser that knows one host, for the example.
    /// let allow = Allowlist::with_canonicalizer(["https://SHOP.example:443"], |url| {
    ///     assert_eq!(url, "https://SHOP.example:443");
    ///     Ok("https://shop.example".to_owned())
    /// })?;
    /// assert!(allow.allows("https://shop.example"));
    /// # Ok::<(), bus_core::OriginError>(())
    /// ```
    pub fn with_canonicalizer<I, F>(patterns: I, origin_of: F) -> Result<Allowlist, OriginError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        F: Fn(&str) -> Result<String, String>,
    {
        let mut entries = Vec::new();
        for pattern in patterns {
            let entry = parse_entry(pattern.as_ref(), &origin_of)?;
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        Ok(Allowlist {
            entries,
            opaque: false,
        })
    }

    /// Builds an allowlist from entries that `bus_web::allowlist!` checked
    /// and canonicalised when it compiled. Not for hand use: an entry that
    /// does not parse leaves the allowlist empty, which allows nothing.
    #[doc(hidden)]
    pub fn __from_checked(patterns: &[&str]) -> Allowlist {
        Allowlist::with_canonicalizer(patterns, canonical::ascii).unwrap_or_default()
    }

    /// Also allows the opaque origin `"null"` (sandboxed iframes without
    /// `allow-same-origin`, `data:` URLs).
    ///
    /// Any opaque document, whoever made it, serializes as `"null"`, so this
    /// makes the origin check meaningless for such peers: only the source
    /// window and the session still protect you, and messages to them must be
    /// posted with targetOrigin `"*"`. Use it only for frames you create
    /// yourself.
    pub fn allow_opaque_origins(mut self) -> Allowlist {
        self.opaque = true;
        self
    }

    /// Whether opaque origins were explicitly allowed.
    pub fn allows_opaque_origins(&self) -> bool {
        self.opaque
    }

    /// Whether `origin`, as a browser serializes it in `MessageEvent.origin`,
    /// is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        if origin == OPAQUE_ORIGIN {
            return self.opaque;
        }
        let mut wildcards = false;
        for entry in &self.entries {
            match entry {
                Entry::Exact(exact) if exact == origin => return true,
                Entry::Exact(_) => {}
                Entry::Wildcard { .. } => wildcards = true,
            }
        }
        wildcards && self.allows_by_wildcard(origin)
    }

    fn allows_by_wildcard(&self, origin: &str) -> bool {
        // Only a string that is exactly a canonical serialized origin may match.
        let Some(parsed) = serialized::parse(origin) else {
            return false;
        };
        let Host::Domain(host) = parsed.host else {
            return false;
        };
        #[cfg(all(feature = "public-suffix", not(target_arch = "wasm32")))]
        if canonical::with_url_crate(origin).as_deref() != Ok(origin) {
            // Natively the url crate also vets xn-- labels; in the browser the
            // origin comes from the browser's own serializer.
            return false;
        }
        self.entries.iter().any(|e| match e {
            Entry::Wildcard {
                scheme,
                dot_suffix,
                port,
            } => {
                scheme == parsed.scheme
                    && *port == parsed.port
                    && host.len() > dot_suffix.len()
                    && host.ends_with(dot_suffix.as_str())
            }
            Entry::Exact(_) => false,
        })
    }

    /// The exact origins of the allowlist, in order: the concrete
    /// targetOrigins a window may post its first message to. Wildcards have
    /// none.
    pub fn exact_origins(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Exact(o) => Some(o.as_str()),
            Entry::Wildcard { .. } => None,
        })
    }

    /// True when nothing at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && !self.opaque
    }
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.entries {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            match e {
                Entry::Exact(o) => f.write_str(o)?,
                Entry::Wildcard {
                    scheme,
                    dot_suffix,
                    port,
                } => {
                    write!(f, "{scheme}://*{dot_suffix}")?;
                    if let Some(p) = port {
                        write!(f, ":{p}")?;
                    }
                }
            }
        }
        if self.opaque {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(OPAQUE_ORIGIN)?;
        }
        Ok(())
    }
}

/// Checks allowlist entries with every check there is, including the whole
/// public suffix list: call it in a native test on the allowlist your
/// browser build reads at run time (from a config file, a `<meta>` tag…),
/// since the browser build only knows the most common public suffixes.
///
/// ```
/// assert!(bus_core::origin::lint(["https://*.shop.example", "https://pay.example"]).is_ok());
/// // Not on the browser build's short list, but a public suffix all the same:
/// assert!(bus_core::origin::lint(["https://*.s3.amazonaws.com"]).is_err());
/// ```
#[cfg(all(feature = "public-suffix", not(target_arch = "wasm32")))]
pub fn lint<I>(patterns: I) -> Result<(), OriginError>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    Allowlist::new(patterns).map(drop)
}

/// Canonicalises one origin the way an allowlist entry is: lower-case host,
/// punycode, default port dropped. Handy to turn an iframe's URL into the
/// origin to post to. (In the browser, `new URL(u).origin` does the same.)
///
/// ```
/// let origin = bus_core::origin::canonical_origin("HTTPS://Bücher.example:443/shop?x=1")?;
/// assert_eq!(origin, "https://xn--bcher-kva.example");
/// # Ok::<(), bus_core::OriginError>(())
/// ```
#[cfg(all(feature = "public-suffix", not(target_arch = "wasm32")))]
pub fn canonical_origin(url: &str) -> Result<String, OriginError> {
    canonical_origin_with(url, canonical::with_url_crate)
}

/// Like [`canonical_origin`], with `origin_of` as the URL parser: it gets
/// `url` and returns its origin as a browser serializes it, or why it is not
/// a URL. Only `http` and `https` origins are accepted.
pub fn canonical_origin_with(
    url: &str,
    origin_of: impl Fn(&str) -> Result<String, String>,
) -> Result<String, OriginError> {
    let origin = origin_of(url).map_err(|why| OriginError::new(url, Problem::NotAUrl(why)))?;
    if origin.starts_with("https://") || origin.starts_with("http://") {
        return Ok(origin);
    }
    let scheme = url.split_once(':').map_or(url, |(s, _)| s);
    Err(OriginError::new(
        url,
        Problem::Scheme(scheme.to_ascii_lowercase()),
    ))
}

const REGEX_CHARS: &[char] = &['^', '$', '(', ')', '|', '\\', '+', '{', '}', '<', '>'];

fn parse_entry(
    raw: &str,
    origin_of: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Entry, OriginError> {
    let err = |p| OriginError::new(raw, p);
    if raw.trim().is_empty() {
        return Err(err(Problem::Empty));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(Problem::Whitespace));
    }
    if raw.eq_ignore_ascii_case(OPAQUE_ORIGIN) {
        return Err(err(Problem::OpaqueNotAPattern));
    }
    let Some((scheme, rest)) = serialized::split_scheme(raw) else {
        return Err(err(Problem::NotAUrl("no scheme://".into())));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(err(Problem::Scheme(scheme)));
    }
    if raw.contains(REGEX_CHARS) {
        return Err(err(Problem::RegexLike));
    }
    if raw.contains('%') {
        return Err(err(Problem::PercentEncoded));
    }
    if rest.contains('@') {
        return Err(err(Problem::Userinfo));
    }
    let (wildcard, rest) = match rest.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.contains('*') {
        return Err(err(Problem::MisplacedWildcard));
    }
    // Whatever follows the authority: a query or fragment first, then a path
    // (a lone trailing `/` is tolerated).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = (
        rest.get(..authority_end).unwrap_or(rest),
        rest.get(authority_end..).unwrap_or_default(),
    );
    match tail.find(['?', '#']).and_then(|i| tail.get(i..i + 1)) {
        Some("?") => return Err(err(Problem::Query)),
        Some(_) => return Err(err(Problem::Fragment)),
        None if tail.len() > 1 => return Err(err(Problem::Path)),
        None => {}
    }
    let origin =
        origin_of(&format!("{scheme}://{authority}")).map_err(|why| err(Problem::NotAUrl(why)))?;
    let host = serialized::split_scheme(&origin)
        .and_then(|(_, authority)| serialized::split_host_port(authority))
        .map_or("", |(host, _)| host);
    if host.ends_with('.') {
        return Err(err(Problem::TrailingDot));
    }
    if !wildcard {
        return Ok(Entry::Exact(origin));
    }
    let Some(parsed) = serialized::parse(&origin) else {
        return Err(err(Problem::NotAUrl(format!(
            "{origin} is not a domain a wildcard can stand over"
        ))));
    };
    let domain = match parsed.host {
        Host::Domain(d) => d,
        Host::Ipv4(_) | Host::Ipv6(_) => return Err(err(Problem::WildcardOverIp)),
    };
    if suffix::is_public_suffix(domain) {
        return Err(err(Problem::WildcardOverPublicSuffix(domain.to_owned())));
    }
    Ok(Entry::Wildcard {
        scheme,
        dot_suffix: format!(".{domain}"),
        port: parsed.port,
    })
}

// The tests hold every parser to the url crate and psl.
#[cfg(all(test, feature = "public-suffix"))]
mod tests;
