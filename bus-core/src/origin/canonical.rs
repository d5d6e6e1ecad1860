//! Turning `scheme://authority` into the origin a browser would serialize.
//!
//! An allowlist entry is canonicalised once, when the allowlist is built, by
//! one of three parsers:
//! - natively, with the default `public-suffix` feature: the `url` crate
//!   (WHATWG URL, IDNA to punycode);
//! - in the browser, through `bus_web::allowlist`: the browser's own `URL`,
//!   the parser that also produces `MessageEvent.origin`;
//! - otherwise [`ascii`]: a small parser for ASCII hosts.

use super::serialized::{default_port, split_host_port, split_scheme, write_ipv6};

/// The origin of `url` (`scheme://authority`) with the build's default
/// parser: the `url` crate natively, [`ascii`] in the browser build.
pub(crate) fn default(url: &str) -> Result<String, String> {
    #[cfg(all(feature = "public-suffix", not(target_arch = "wasm32")))]
    {
        with_url_crate(url)
    }
    #[cfg(not(all(feature = "public-suffix", not(target_arch = "wasm32"))))]
    {
        ascii(url)
    }
}

/// The origin of `url` by the `url` crate.
#[cfg(all(feature = "public-suffix", not(target_arch = "wasm32")))]
pub(crate) fn with_url_crate(url: &str) -> Result<String, String> {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| e.to_string())
}

/// The origin of `url`, an http(s) `scheme://authority` with an ASCII host:
/// the host lower-cased, an IPv6 address compressed, the default port
/// dropped. Anything it cannot canonicalise the way a browser would is
/// refused with what to write instead.
pub(crate) fn ascii(url: &str) -> Result<String, String> {
    let (scheme, authority) = split_scheme(url).ok_or("no scheme://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("only http and https origins can be allowed".into());
    }
    if !authority.is_ascii() {
        return Err(
            "the host is not ASCII; write it in punycode (xn--…), or in the \
                    browser build the allowlist with bus_web::allowlist, which uses \
                    the browser's URL parser"
                .into(),
        );
    }
    let (host, port) = split_host_port(authority).ok_or("unclosed [ in an IPv6 host")?;
    let mut out = String::with_capacity(url.len());
    out.push_str(&scheme);
    out.push_str("://");
    push_host(&mut out, &host.to_ascii_lowercase())?;
    if let Some(digits) = port.strip_prefix(':')
        && !digits.is_empty()
    {
        let port = parse_port(digits)?;
        if port != default_port(&scheme) {
            out.push(':');
            push_decimal(&mut out, port.into());
        }
    } else if !port.is_empty() && port != ":" {
        return Err("unexpected characters after the host".into());
    }
    Ok(out)
}

fn push_host(out: &mut String, host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[') {
        let addr: core::net::Ipv6Addr = inner
            .strip_suffix(']')
            .and_then(|a| a.parse().ok())
            .ok_or("invalid IPv6 address")?;
        out.push('[');
        out.push_str(&write_ipv6(&addr.segments()));
        out.push(']');
        return Ok(());
    }
    if host.is_empty() {
        return Err("empty host".into());
    }
    let last = host
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or(host);
    if super::serialized::is_number(last) {
        let addr: core::net::Ipv4Addr = host
            .parse()
            .map_err(|_| "write an IPv4 address as four decimal numbers, as in 192.0.2.1")?;
        for (i, octet) in addr.octets().into_iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            push_decimal(out, octet.into());
        }
        return Ok(());
    }
    let dns = host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if !dns {
        return Err("the host has characters no DNS name has".into());
    }
    out.push_str(host);
    Ok(())
}

fn parse_port(digits: &str) -> Result<u16, String> {
    let mut value: u32 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return Err("the port is not a number".into());
        }
        value = value.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    u16::try_from(value).map_err(|_| "the port is over 65535".into())
}

fn push_decimal(out: &mut String, mut value: u32) {
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        if let Some(d) = digits.get_mut(n) {
            *d = b'0' + (value % 10) as u8;
        }
        n += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for d in digits.iter().take(n).rev() {
        out.push(char::from(*d));
    }
}
