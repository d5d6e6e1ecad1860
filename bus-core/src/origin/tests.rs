use super::*;

fn list(p: &[&str]) -> Allowlist {
    Allowlist::new(p.iter().copied()).unwrap()
}

fn refused(p: &str) -> Problem {
    Allowlist::new([p]).unwrap_err().problem().clone()
}

#[test]
fn empty_allowlist_allows_nothing() {
    let a = Allowlist::new(Vec::<String>::new()).unwrap();
    assert!(a.is_empty());
    for o in ["https://a.com", "null", "", "*"] {
        assert!(!a.allows(o), "{o}");
    }
}

#[test]
fn exact_entries_match_only_themselves() {
    let a = list(&[
        "https://app.example.com",
        "http://localhost:8081",
        "http://[::1]:8080",
    ]);
    assert!(a.allows("https://app.example.com"));
    assert!(a.allows("http://localhost:8081"));
    assert!(a.allows("http://[::1]:8080"));
    for o in [
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://example.com",
        "https://x.app.example.com",
        "http://localhost:8082",
        "http://localhost",
        "http://[::1]:8081",
    ] {
        assert!(!a.allows(o), "{o}");
    }
}

#[test]
fn entries_are_canonicalised_at_load() {
    let a = list(&["HTTPS://App.Example.COM:443/", "http://Bücher.example:80"]);
    assert!(a.allows("https://app.example.com"));
    assert!(a.allows("http://xn--bcher-kva.example"));
    assert_eq!(
        a.exact_origins().collect::<Vec<_>>(),
        ["https://app.example.com", "http://xn--bcher-kva.example"]
    );
}

#[test]
fn non_serialized_inputs_never_match() {
    let a = list(&["https://app.example.com", "https://*.example.org"]);
    for o in [
        "https://app.example.com/",
        "https://APP.example.com",
        "HTTPS://app.example.com",
        "https://app.example.com:443",
        "https://app.example.com.",
        " https://app.example.com",
        "https://app.example.com ",
        "https://app.example.com\0",
        "https://user@app.example.com",
        "https://app%2eexample.com",
        "https://*.example.org",
        "https://a.example.org/",
        "https://a.example.org.",
        "https://A.example.org",
        "https://a..example.org",
        "https://a.example.org:443",
        "https://a.example.org\t",
        "https://user:pw@a.example.org",
        "https://a%2eexample.org",
        "https://xn--bcher-kva.example.org/x",
    ] {
        assert!(!a.allows(o), "{o:?}");
    }
}

#[test]
fn lookalike_origins_are_refused() {
    let a = list(&["https://app.example.com", "https://*.example.org"]);
    for o in [
        "https://app.example.com.evil.com",
        "https://evilapp.example.com",
        "https://app-example.com",
        "https://app.example.co",
        "https://app.example.comm",
        "https://appexample.com",
        "https://example.org.evil.com",
        "https://evilexample.org",
        "https://a.example.org.evil.net",
        "https://xn--pp-wla.example.com", // app with a Cyrillic-looking letter, punycode
        "http://a.example.org",
    ] {
        assert!(!a.allows(o), "{o}");
    }
}

#[test]
fn wildcard_matches_any_depth_but_not_bare_domain() {
    let a = list(&["https://*.example.com"]);
    assert!(a.allows("https://a.example.com"));
    assert!(a.allows("https://a.b.c.example.com"));
    assert!(a.allows("https://xn--bcher-kva.example.com"));
    assert!(!a.allows("https://example.com"));
    assert!(!a.allows("https://.example.com"));
    assert!(!a.allows("http://a.example.com"));
    assert!(!a.allows("https://a.example.com:8443"));
}

#[test]
fn wildcard_port_is_exact() {
    let a = list(&["http://*.localhost:8081"]);
    assert!(a.allows("http://a.localhost:8081"));
    assert!(!a.allows("http://a.localhost"));
    assert!(!a.allows("http://a.localhost:8082"));
    assert!(!a.allows("http://localhost:8081"));
}

#[test]
fn wildcard_over_public_suffix_is_refused() {
    for p in [
        "https://*.com",
        "https://*.co.uk",
        "https://*.github.io",
        "https://*.blogspot.com",
        "https://*.internal",
    ] {
        assert!(
            matches!(refused(p), Problem::WildcardOverPublicSuffix(_)),
            "{p}"
        );
    }
    assert!(
        Allowlist::new([
            "https://*.example.co.uk",
            "https://*.me.github.io",
            "http://*.localhost"
        ])
        .is_ok()
    );
}

#[test]
fn malformed_entries_are_refused_with_reason() {
    let cases: &[(&str, Problem)] = &[
        ("", Problem::Empty),
        ("   ", Problem::Empty),
        (" https://a.com", Problem::Whitespace),
        ("https://a.com\0", Problem::Whitespace),
        ("null", Problem::OpaqueNotAPattern),
        ("NULL", Problem::OpaqueNotAPattern),
        ("ftp://a.com", Problem::Scheme("ftp".into())),
        ("javascript://a.com", Problem::Scheme("javascript".into())),
        ("https://u:p@a.com", Problem::Userinfo),
        ("https://a.com/path", Problem::Path),
        ("https://a.com//", Problem::Path),
        ("https://a.com?x", Problem::Query),
        ("https://a.com/#f", Problem::Fragment),
        ("https://a%2ecom", Problem::PercentEncoded),
        ("https://a.com.", Problem::TrailingDot),
        ("^https://a\\.com$", Problem::Scheme("^https".into())),
        ("https://(a|b).com", Problem::RegexLike),
        ("https://.*.com", Problem::MisplacedWildcard),
        ("https://a.*.com", Problem::MisplacedWildcard),
        ("https://*a.com", Problem::MisplacedWildcard),
        ("https://*", Problem::MisplacedWildcard),
        ("*", Problem::NotAUrl("no scheme://".into())),
        ("https://*.1.2.3.4", Problem::WildcardOverIp),
        ("a.com", Problem::NotAUrl("no scheme://".into())),
    ];
    for (p, want) in cases {
        assert_eq!(&refused(p), want, "{p:?}");
    }
    assert!(matches!(
        refused("https://*.[::1]"),
        Problem::NotAUrl(_) | Problem::WildcardOverIp
    ));
}

#[test]
fn error_message_says_what_to_do() {
    let e = Allowlist::new(["null"]).unwrap_err();
    assert!(e.to_string().contains("allow_opaque_origins"), "{e}");
    let e = Allowlist::new(["https://a.com/app"]).unwrap_err();
    assert!(e.to_string().contains("scheme://host[:port]"), "{e}");
}

#[test]
fn opaque_origin_needs_explicit_opt_in() {
    let a = list(&["https://a.com"]);
    assert!(!a.allows("null"));
    let a = a.allow_opaque_origins();
    assert!(a.allows("null"));
    assert!(a.allows_opaque_origins());
    assert!(!a.allows("Null"));
    assert!(!a.allows("null "));
}

#[test]
fn display_lists_canonical_entries() {
    let a = list(&["https://A.com", "https://*.b.org:444"]).allow_opaque_origins();
    assert_eq!(a.to_string(), "https://a.com https://*.b.org:444 null");
}
