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

use url::{Host, Url};

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
        write!(f, "allowlist entry {:?} refused: ", self.entry)?;
        match &self.problem {
            Problem::Empty => f.write_str("it is empty; write an origin such as https://app.example.com"),
            Problem::Whitespace => f.write_str("it contains whitespace or a control character; remove it"),
            Problem::OpaqueNotAPattern => f.write_str(
                "\"null\" is not a pattern; call Allowlist::allow_opaque_origins() if you really accept sandboxed or data: frames",
            ),
            Problem::NotAUrl(why) => write!(f, "it is not an origin ({why}); write scheme://host[:port]"),
            Problem::Scheme(s) => write!(f, "scheme {s:?} is not supported; only http and https origins can be allowed"),
            Problem::Userinfo => f.write_str("it carries user:password@; an origin has none"),
            Problem::Path => f.write_str("it carries a path; an origin is scheme://host[:port] only"),
            Problem::Query => f.write_str("it carries a ?query; an origin is scheme://host[:port] only"),
            Problem::Fragment => f.write_str("it carries a #fragment; an origin is scheme://host[:port] only"),
            Problem::PercentEncoded => f.write_str("it is percent-encoded; write the host as is (IDN hosts are fine)"),
            Problem::RegexLike => f.write_str("it looks like a regular expression; patterns are origins with an optional leading *. label"),
            Problem::MisplacedWildcard => f.write_str("* may only stand as the whole leftmost label, as in https://*.example.com"),
            Problem::WildcardOverPublicSuffix(s) => write!(
                f,
                "{s:?} is a public suffix, so the wildcard would allow sites of unrelated owners; name your own domain, as in https://*.yours.{s}"
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
/// Build it with [`Allowlist::new`]; check a `MessageEvent.origin` with
/// [`Allowlist::allows`].
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
        let mut entries = Vec::new();
        for pattern in patterns {
            let entry = parse_entry(pattern.as_ref())?;
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        Ok(Allowlist {
            entries,
            opaque: false,
        })
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
        if self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Exact(x) if x == origin))
        {
            return true;
        }
        let has_wildcards = self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Wildcard { .. }));
        has_wildcards && self.allows_by_wildcard(origin)
    }

    fn allows_by_wildcard(&self, origin: &str) -> bool {
        // Only a string that is exactly a canonical serialized origin may match.
        let Some((scheme, host, port)) = parse_serialized_origin(origin) else {
            return false;
        };
        self.entries.iter().any(|e| match e {
            Entry::Wildcard {
                scheme: s,
                dot_suffix,
                port: p,
            } => {
                *s == scheme
                    && *p == port
                    && host.len() > dot_suffix.len()
                    && host.ends_with(dot_suffix.as_str())
                    && !host[..host.len() - dot_suffix.len()]
                        .split('.')
                        .any(str::is_empty)
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

/// Canonicalises one origin the way an allowlist entry is: lower-case host,
/// punycode, default port dropped. Handy to turn an iframe's URL into the
/// origin to post to.
///
/// ```
/// let origin = bus_core::origin::canonical_origin("HTTPS://Bücher.example:443/shop?x=1")?;
/// assert_eq!(origin, "https://xn--bcher-kva.example");
/// # Ok::<(), bus_core::OriginError>(())
/// ```
pub fn canonical_origin(url: &str) -> Result<String, OriginError> {
    let parsed =
        Url::parse(url).map_err(|e| OriginError::new(url, Problem::NotAUrl(e.to_string())))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(OriginError::new(url, Problem::Scheme(other.to_owned()))),
    }
    if parsed.host().is_none() {
        return Err(OriginError::new(url, Problem::NoHost));
    }
    Ok(parsed.origin().ascii_serialization())
}

const REGEX_CHARS: &[char] = &['^', '$', '(', ')', '|', '\\', '+', '{', '}', '<', '>'];

fn parse_entry(raw: &str) -> Result<Entry, OriginError> {
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
    let Some((scheme, rest)) = raw.split_once("://") else {
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
    let url = Url::parse(&format!("{scheme}://{rest}"))
        .map_err(|e| err(Problem::NotAUrl(e.to_string())))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(Problem::Userinfo));
    }
    if url.query().is_some() {
        return Err(err(Problem::Query));
    }
    if url.fragment().is_some() {
        return Err(err(Problem::Fragment));
    }
    // `Url` normalises "" to "/": a lone trailing slash is tolerated, any other path is not.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    if url.path() != "/" || rest.len() > authority_end + 1 {
        return Err(err(Problem::Path));
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err(err(Problem::NoHost)),
    };
    if let Host::Domain(d) = &host
        && d.ends_with('.')
    {
        return Err(err(Problem::TrailingDot));
    }
    if !wildcard {
        return Ok(Entry::Exact(url.origin().ascii_serialization()));
    }
    let domain = match host {
        Host::Domain(d) => d.to_owned(),
        Host::Ipv4(_) | Host::Ipv6(_) => return Err(err(Problem::WildcardOverIp)),
    };
    if is_public_suffix(&domain) {
        return Err(err(Problem::WildcardOverPublicSuffix(domain)));
    }
    Ok(Entry::Wildcard {
        scheme,
        dot_suffix: format!(".{domain}"),
        port: url.port(),
    })
}

/// Whether a wildcard over `domain` would span unrelated owners: a known
/// public suffix, or an unknown single label (except `localhost`).
fn is_public_suffix(domain: &str) -> bool {
    if let Some(suffix) = psl::suffix(domain.as_bytes())
        && suffix.as_bytes() == domain.as_bytes()
        && suffix.is_known()
    {
        return true;
    }
    !domain.contains('.') && domain != "localhost"
}

/// Splits a canonical serialized origin into (scheme, host, port), or `None`
/// if `origin` is not byte-for-byte what a browser would serialize.
fn parse_serialized_origin(origin: &str) -> Option<(&str, &str, Option<u16>)> {
    let url = Url::parse(origin).ok()?;
    if url.origin().ascii_serialization() != origin {
        return None;
    }
    let (scheme, rest) = origin.split_once("://")?;
    let host_len = url.host_str()?.len();
    let host = rest.get(..host_len)?;
    // Hosts a browser can actually load from: DNS labels only. `*` and other
    // characters the URL parser tolerates never match a wildcard.
    let dns_chars = host.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
    });
    if !dns_chars || host.ends_with('.') || !matches!(url.host(), Some(Host::Domain(_))) {
        return None;
    }
    Some((scheme, host, url.port()))
}

#[cfg(test)]
mod tests;
