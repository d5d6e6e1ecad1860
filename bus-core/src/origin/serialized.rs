//! A small parser for origins exactly as a browser serializes them
//! (`MessageEvent.origin`, `new URL(u).origin`): `scheme://host[:port]`.
//!
//! It accepts only the canonical form: lower-case ASCII host, no default
//! port, no leading zeros, no trailing dot. It does not canonicalise; a
//! string that is not already canonical is refused. That is all the
//! allowlist needs to compare an origin with its entries, and it keeps a URL
//! parser and its Unicode tables out of the browser build.

/// The parts of a canonical serialized `http`/`https` origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Serialized<'a> {
    /// `"http"` or `"https"`.
    pub scheme: &'a str,
    pub host: Host<'a>,
    /// `None` when the origin uses its scheme's default port.
    pub port: Option<u16>,
}

/// The host of a serialized origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host<'a> {
    /// Lower-case DNS labels (`a-z`, `0-9`, `-`, `_`), none empty.
    Domain(&'a str),
    /// Dotted decimal, as `URL` serializes an IPv4 address.
    Ipv4(&'a str),
    /// With its brackets. Not checked further: no wildcard matches an IP
    /// address, and exact entries are compared byte for byte.
    Ipv6(&'a str),
}

/// `scheme://rest` split at the first `:`, which must start `://`.
/// (A char search: a `"://"` pattern pulls the generic substring searcher
/// into the wasm.)
pub(crate) fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let colon = url.find(':')?;
    let scheme = url.get(..colon)?;
    let rest = url.get(colon + 1..)?.strip_prefix("//")?;
    Some((scheme, rest))
}

/// `host[:port]` split before the port's `:` (an IPv6 host keeps its
/// brackets); `None` for an unclosed `[`.
pub(crate) fn split_host_port(authority: &str) -> Option<(&str, &str)> {
    let end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    Some((authority.get(..end)?, authority.get(end..)?))
}

/// The default port of an `http`/`https` scheme.
pub(crate) fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// Splits `origin` into its parts, or `None` when it is not byte for byte
/// a canonical serialized `http`/`https` origin.
pub(crate) fn parse(origin: &str) -> Option<Serialized<'_>> {
    let (scheme, rest) = if let Some(rest) = origin.strip_prefix("https://") {
        ("https", rest)
    } else {
        ("http", origin.strip_prefix("http://")?)
    };
    let (host, port_text) = split_host_port(rest)?;
    let port = match port_text {
        "" => None,
        p => Some(port(p.strip_prefix(':')?, default_port(scheme))?),
    };
    Some(Serialized {
        scheme,
        host: parse_host(host)?,
        port,
    })
}

/// A canonical non-default port: decimal, no sign, no leading zero.
fn port(digits: &str, default: u16) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let mut value: u32 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    let value = u16::try_from(value).ok()?;
    (value != default).then_some(value)
}

fn parse_host(host: &str) -> Option<Host<'_>> {
    if let Some(inner) = host.strip_prefix('[') {
        let ipv6 = inner.strip_suffix(']')?;
        let plausible = !ipv6.is_empty()
            && ipv6
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b':');
        return plausible.then_some(Host::Ipv6(host));
    }
    // One pass over the labels: DNS characters, none empty, no trailing dot.
    let mut dots = 0;
    let mut start = 0;
    for (i, &b) in host.as_bytes().iter().enumerate() {
        if b == b'.' {
            if i == start {
                return None;
            }
            dots += 1;
            start = i + 1;
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return None;
        }
    }
    // A URL parser reads a host whose last label is a number as IPv4.
    let last = host.get(start..).filter(|l| !l.is_empty())?;
    if !is_number(last) {
        return Some(Host::Domain(host));
    }
    (dots == 3 && is_dotted_decimal(host)).then_some(Host::Ipv4(host))
}

/// Whether `host` (four labels) is dotted decimal as a URL serializer
/// writes it: each octet 0 to 255, no leading zero.
fn is_dotted_decimal(host: &str) -> bool {
    let (mut value, mut digits, mut leading_zero) = (0u32, 0, false);
    for &b in host.as_bytes().iter().chain(b".") {
        if b == b'.' {
            if digits == 0 || value > 255 || (leading_zero && digits > 1) {
                return false;
            }
            (value, digits, leading_zero) = (0, 0, false);
        } else if b.is_ascii_digit() && digits < 3 {
            leading_zero |= digits == 0 && b == b'0';
            value = value * 10 + u32::from(b - b'0');
            digits += 1;
        } else {
            return false;
        }
    }
    true
}

/// Whether a URL parser reads `label` as a number ("ends in a number" in
/// the URL standard): decimal digits, or `0x` and hex digits.
pub(crate) fn is_number(label: &str) -> bool {
    match label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The URL standard's IPv6 serializer.
pub(crate) fn write_ipv6(pieces: &[u16; 8]) -> String {
    // The first longest run of two or more zero pieces is compressed.
    let (mut best, mut best_len) = (usize::MAX, 1);
    let mut i = 0;
    while i < 8 {
        let start = i;
        while i < 8 && pieces.get(i) == Some(&0) {
            i += 1;
        }
        if i - start > best_len {
            (best, best_len) = (start, i - start);
        }
        i = i.max(start + 1);
    }
    let mut out = String::with_capacity(39);
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += best_len;
            continue;
        }
        push_hex(&mut out, pieces.get(i).copied().unwrap_or(0));
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out
}

fn push_hex(out: &mut String, piece: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = usize::from((piece >> shift) & 0xf);
        if nibble != 0 || started || shift == 0 {
            started = true;
            out.push(char::from(HEX.get(nibble).copied().unwrap_or(b'0')));
        }
    }
}
