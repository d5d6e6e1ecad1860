//! Every format serde describes, generated into a TypeScript module that
//! bus-js's node tests run against postcard bytes written here by Rust
//! (`bus-js/test/generated/`). The test fails when the committed module or
//! vectors differ from what this code generates: `cargo xtask ts`.

use std::collections::BTreeMap;

use bus_core::{Method, Topic};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Unit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meters(f64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pair(i16, String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(f32),
    Rect(u16, u16),
    Label { text: String, bold: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Everything {
    flag: bool,
    tiny: u8,
    small: i8,
    short: u16,
    word: u32,
    negative: i32,
    long: u64,
    signed_long: i64,
    huge: u128,
    signed_huge: i128,
    ratio: f32,
    precise: f64,
    letter: char,
    name: String,
    blob: Vec<u8>,
    maybe: Option<u32>,
    nothing: Option<String>,
    list: Vec<Shape>,
    table: BTreeMap<String, i64>,
    tuple: (u8, String, bool),
    array: [u16; 3],
    unit: Unit,
    meters: Meters,
    pair: Pair,
    #[serde(rename = "kebab-case")]
    renamed: u32,
}

const EVERYTHING: Method<Everything, Everything> = Method::new("test.everything");
const SHAPES: Method<Vec<Shape>, Option<Shape>> = Method::new("test.shapes");
const PING: Method<(), ()> = Method::new("test.ping");
const TICK: Topic<(u32, Meters)> = Topic::new("test.tick");

fn everything(seed: u8) -> Everything {
    Everything {
        flag: seed.is_multiple_of(2),
        tiny: 255 - seed,
        small: -128 + seed as i8,
        short: 65_535,
        word: u32::MAX - seed as u32,
        negative: i32::MIN + seed as i32,
        long: u64::MAX - seed as u64,
        signed_long: i64::MIN + seed as i64,
        huge: u128::MAX - seed as u128,
        signed_huge: i128::MIN + seed as i128,
        ratio: 1.5,
        precise: -0.1,
        letter: 'ß',
        name: "zoë ✓".into(),
        blob: vec![0, 1, 254, 255],
        maybe: Some(300),
        nothing: None,
        list: vec![
            Shape::Dot,
            Shape::Circle(0.25),
            Shape::Rect(1, 65_535),
            Shape::Label {
                text: "hi".into(),
                bold: true,
            },
        ],
        table: BTreeMap::from([("a".into(), -1), ("b".into(), i64::MAX)]),
        tuple: (7, "seven".into(), false),
        array: [1, 300, 65_535],
        unit: Unit,
        meters: Meters(1e300),
        pair: Pair(-300, String::new()),
        renamed: 42,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn encode<T: Serialize>(value: &T) -> String {
    hex(&bus_core::codec::encode(value).unwrap())
}

#[test]
fn every_format_is_generated_with_vectors_from_rust() {
    let ts = bus_ts::Contract::new("bus-ts/tests/kitchen.rs")
        .method(&EVERYTHING)
        .method(&SHAPES)
        .method(&PING)
        .topic(&TICK)
        .code("TEAPOT", 418)
        .typescript()
        .unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../bus-js/test/generated");
    let check = |text: &str, file: &str| {
        if let Err(e) = bus_ts::check(text, format!("{dir}/{file}")) {
            panic!("{e}");
        }
    };
    check(&ts, "kitchen.ts");

    // What the node test decodes with the generated codecs and encodes back.
    let vectors = [
        ("Everything", encode(&everything(0))),
        ("Everything", encode(&everything(3))),
        ("test.shapes request", encode(&everything(1).list)),
        (
            "test.shapes response",
            encode(&Some(Shape::Label {
                text: "x".into(),
                bold: false,
            })),
        ),
        ("test.shapes response", encode(&None::<Shape>)),
        ("test.ping request", encode(&())),
        ("test.tick", encode(&(9_u32, Meters(-2.5)))),
    ];
    let mut json = String::from("[\n");
    for (i, (what, bytes)) in vectors.iter().enumerate() {
        let comma = if i + 1 < vectors.len() { "," } else { "" };
        json.push_str(&format!(
            "  {{ \"what\": \"{what}\", \"hex\": \"{bytes}\" }}{comma}\n"
        ));
    }
    json.push_str("]\n");
    check(&json, "kitchen.json");
}

#[test]
fn a_contract_naming_a_method_twice_is_an_error() {
    let e = bus_ts::Contract::new("x")
        .method(&PING)
        .method(&PING)
        .typescript()
        .unwrap_err();
    assert!(
        e.to_string().contains("\"test.ping\" is named twice"),
        "{e}"
    );
}

#[test]
fn a_stale_module_says_how_to_regenerate() {
    let dir = std::env::temp_dir().join(format!("bus-ts-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("contract.ts");
    std::fs::write(&path, "a\nb\n").unwrap();
    let e = bus_ts::compare("a\nc\n", &path).unwrap_err().to_string();
    assert!(
        e.contains("first difference at line 2") && e.contains("cargo xtask ts"),
        "{e}"
    );
    assert_eq!(bus_ts::compare("a\nb\n", &path), Ok(()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn names_the_module_uses_for_itself_or_twice_are_errors() {
    #[derive(Serialize, Deserialize)]
    struct Writer(u8);
    const WRITE: Method<Writer, ()> = Method::new("test.write");
    let e = bus_ts::Contract::new("x")
        .method(&WRITE)
        .typescript()
        .unwrap_err();
    assert!(
        e.to_string().contains("`Writer`") && e.to_string().contains("serde(rename"),
        "{e}"
    );

    let e = bus_ts::Contract::new("x")
        .method(&SHAPES)
        .code("Shape", 1)
        .typescript()
        .unwrap_err();
    assert!(e.to_string().contains("`Shape` is both"), "{e}");

    let e = bus_ts::Contract::new("x")
        .code("not-a-name", 1)
        .typescript()
        .unwrap_err();
    assert!(e.to_string().contains("not a TypeScript identifier"), "{e}");
}
