//! The shared adversarial origin table, `docs/protocol/origins.json`: the
//! allowlist canonicalises, refuses and matches as the table says. The
//! TypeScript peer's tests read the same file, so both implementations are
//! held to one table.

#![cfg(feature = "public-suffix")]

use bus_core::Allowlist;
use bus_core::origin::Problem;
use serde_json::Value;

const TABLE: &str = include_str!("../../docs/protocol/origins.json");

fn table() -> Value {
    serde_json::from_str(TABLE).expect("docs/protocol/origins.json is JSON")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .collect()
}

/// The table's name for a problem.
fn kind(p: &Problem) -> &'static str {
    match p {
        Problem::Empty => "empty",
        Problem::Whitespace => "whitespace",
        Problem::OpaqueNotAPattern => "opaque-not-a-pattern",
        Problem::NotAUrl(_) => "not-a-url",
        Problem::Scheme(_) => "scheme",
        Problem::Userinfo => "userinfo",
        Problem::Path => "path",
        Problem::Query => "query",
        Problem::Fragment => "fragment",
        Problem::PercentEncoded => "percent-encoded",
        Problem::RegexLike => "regex-like",
        Problem::MisplacedWildcard => "misplaced-wildcard",
        Problem::WildcardOverPublicSuffix(_) => "wildcard-over-public-suffix",
        Problem::WildcardOverIp => "wildcard-over-ip",
        Problem::TrailingDot => "trailing-dot",
        Problem::NoHost => "no-host",
        _ => "unknown",
    }
}

#[test]
fn entries_canonicalise_as_the_table_says() {
    let t = table();
    let cases = t["canonical"].as_array().expect("canonical");
    assert!(!cases.is_empty());
    for case in cases {
        let entries = strings(&case["entries"]);
        let list = Allowlist::new(&entries).unwrap_or_else(|e| panic!("{entries:?}: {e}"));
        assert_eq!(
            list.to_string(),
            case["display"].as_str().unwrap(),
            "{entries:?}"
        );
    }
}

#[test]
fn entries_are_refused_as_the_table_says() {
    let t = table();
    let cases = t["refused"].as_array().expect("refused");
    assert!(cases.len() > 20);
    for case in cases {
        let entry = case["entry"].as_str().unwrap();
        let allowed = strings(&case["problem"]);
        match Allowlist::new([entry]) {
            Ok(list) => panic!("{entry:?} was accepted as {list}"),
            Err(e) => assert!(
                allowed.contains(&kind(e.problem())),
                "{entry:?}: refused as {} ({e}), the table says {allowed:?}",
                kind(e.problem())
            ),
        }
    }
}

#[test]
fn origins_match_as_the_table_says() {
    let t = table();
    let groups = t["matching"].as_array().expect("matching");
    let mut checked = 0;
    for group in groups {
        let entries = strings(&group["allowlist"]);
        let mut list = Allowlist::new(&entries).unwrap_or_else(|e| panic!("{entries:?}: {e}"));
        if group["opaque"].as_bool().unwrap() {
            list = list.allow_opaque_origins();
        }
        for origin in strings(&group["allow"]) {
            assert!(list.allows(origin), "{entries:?} must allow {origin:?}");
            checked += 1;
        }
        for origin in strings(&group["deny"]) {
            assert!(!list.allows(origin), "{entries:?} must deny {origin:?}");
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked}");
}
