//! Short import names for a size-optimised build.
//!
//! wasm-bindgen names every JS function the wasm imports after what it binds
//! plus a 16-digit hash (`__wbg_postMessage_53810840ac0d2b79`), and writes
//! each name twice: in the wasm's import section and as a key of the glue's
//! imports object. The hashes barely compress: for a bus app's ~70 imports
//! that was 2.3 KB gzipped (of 40 KB) that does nothing at run time. [`shorten`] renames
//! the imports of the glue's own module to `a`, `b`, … `ba`, … in both files,
//! and that module to `a`.
//! The wasm's behaviour is unchanged: an import is bound by its name, and
//! both sides change together.

use std::path::Path;

use crate::Error;

/// Renames the imports that `wasm` takes from `module` (its wasm-bindgen
/// glue `glue`, unminified, names the module `./<name>_bg.js`) to short
/// names, in both files. An import whose name the glue does not hold exactly
/// once keeps its name. Returns how many were renamed; a module whose import
/// section this pass cannot read is left as it is (with a warning).
pub fn shorten(wasm: &Path, glue: &Path, module: &str) -> Result<usize, Error> {
    let bytes = std::fs::read(wasm).map_err(|e| format!("read {}: {e}", wasm.display()))?;
    let mut js =
        std::fs::read_to_string(glue).map_err(|e| format!("read {}: {e}", glue.display()))?;
    let Some((names, _)) = import_names(&bytes) else {
        eprintln!(
            "warning: {}: an import section this build cannot read; its import names stay long",
            wasm.display()
        );
        return Ok(0);
    };
    let mut renames = Vec::new();
    for (from_module, field) in &names {
        if from_module == module && occurrences(&js, field) == 1 {
            renames.push((field.clone(), short_name(renames.len())));
        }
    }
    // The module's name too, if the glue names it once (as its imports' key).
    let quoted = format!("\"{module}\"");
    let to_module = if js.matches(&quoted).count() == 1 {
        "a"
    } else {
        module
    };
    // The wasm first: the glue changes only with it.
    let Some(out) = rename(&bytes, module, to_module, &renames) else {
        return Ok(0);
    };
    if to_module != module {
        js = js.replace(&quoted, "\"a\"");
    }
    for (from, to) in &renames {
        js = replace_identifier(&js, from, to);
    }
    std::fs::write(wasm, out).map_err(|e| format!("write {}: {e}", wasm.display()))?;
    std::fs::write(glue, js).map_err(|e| format!("write {}: {e}", glue.display()))?;
    Ok(renames.len())
}

/// The `n`th short name: `a`…`z`, `A`…`Z`, then `ba`, `bb`…: never a
/// JS-sensitive key such as `__proto__`.
fn short_name(mut n: usize) -> String {
    const LETTERS: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::new();
    loop {
        out.push(LETTERS[n % 52]);
        n /= 52;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// Where `name` occurs in `js` as a whole identifier.
fn positions(js: &str, name: &str) -> Vec<usize> {
    let b = js.as_bytes();
    js.match_indices(name)
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = i.checked_sub(1).map(|j| b[j]);
            let after = b.get(i + name.len()).copied();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
        .collect()
}

fn occurrences(js: &str, name: &str) -> usize {
    positions(js, name).len()
}

fn replace_identifier(js: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(js.len());
    let mut last = 0;
    for i in positions(js, from) {
        out.push_str(&js[last..i]);
        out.push_str(to);
        last = i + from.len();
    }
    out.push_str(&js[last..]);
    out
}

/// A reader of the wasm binary format's integers and names.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let x = *self.b.get(self.at)?;
        self.at += 1;
        Some(x)
    }

    /// An unsigned LEB128 of at most 64 bits.
    fn leb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let x = self.byte()?;
            v |= u64::from(x & 0x7f) << shift;
            if x < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.leb()?).ok()
    }

    fn name(&mut self) -> Option<String> {
        let n = self.len()?;
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        String::from_utf8(s.to_vec()).ok()
    }

    /// Skips limits: a flag (bit 0: a maximum follows), then the bounds.
    fn limits(&mut self) -> Option<()> {
        let flag = self.byte()?;
        if flag > 7 {
            return None;
        }
        self.leb()?;
        if flag & 1 == 1 {
            self.leb()?;
        }
        Some(())
    }

    /// Skips an import's description (function, table, memory, global or tag).
    fn import_desc(&mut self) -> Option<()> {
        match self.byte()? {
            0x00 => self.leb().map(drop),
            0x01 => {
                // funcref or externref: what reference types allow.
                matches!(self.byte()?, 0x70 | 0x6f).then_some(())?;
                self.limits()
            }
            0x02 => self.limits(),
            0x03 => {
                // A numeric, vector or reference value type, then mutability.
                matches!(self.byte()?, 0x7b..=0x7f | 0x70 | 0x6f).then_some(())?;
                (self.byte()? <= 1).then_some(())
            }
            0x04 => {
                (self.byte()? == 0).then_some(())?;
                self.leb().map(drop)
            }
            _ => None,
        }
    }
}

fn write_leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let x = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(x);
            return;
        }
        out.push(x | 0x80);
    }
}

fn write_name(out: &mut Vec<u8>, s: &str) {
    write_leb(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Where the import section's payload lies: `(section start, payload start, end)`.
fn import_section(b: &[u8]) -> Option<Option<(usize, usize, usize)>> {
    if b.get(..8)? != b"\0asm\x01\0\0\0" {
        return None;
    }
    let mut r = Reader { b, at: 8 };
    while r.at < b.len() {
        let start = r.at;
        let id = r.byte()?;
        let size = r.len()?;
        let payload = r.at;
        let end = payload.checked_add(size).filter(|&e| e <= b.len())?;
        if id == 2 {
            return Some(Some((start, payload, end)));
        }
        r.at = end;
    }
    Some(None)
}

/// Every import's `(module, field)`, in order, and each one's description's
/// byte range; `None` if the module is not one this pass can read.
type Imports = (Vec<(String, String)>, Vec<(usize, usize)>);

fn import_names(b: &[u8]) -> Option<Imports> {
    let Some((_, payload, end)) = import_section(b)? else {
        return Some((Vec::new(), Vec::new()));
    };
    let mut r = Reader {
        b: &b[..end],
        at: payload,
    };
    let count = r.len()?;
    let (mut names, mut descs) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let module = r.name()?;
        let field = r.name()?;
        let from = r.at;
        r.import_desc()?;
        names.push((module, field));
        descs.push((from, r.at));
    }
    (r.at == end).then_some((names, descs))
}

/// The module with `module`'s imports renamed as `renames` (field, new name)
/// says, and taken from `to_module` instead.
fn rename(
    b: &[u8],
    module: &str,
    to_module: &str,
    renames: &[(String, String)],
) -> Option<Vec<u8>> {
    let Some((start, _, end)) = import_section(b)? else {
        return Some(b.to_vec());
    };
    let (names, descs) = import_names(b)?;
    let mut payload = Vec::new();
    write_leb(&mut payload, names.len() as u64);
    for ((m, field), (from, to)) in names.iter().zip(descs) {
        let new = renames
            .iter()
            .find(|(f, _)| m == module && f == field)
            .map_or(field.as_str(), |(_, n)| n.as_str());
        write_name(&mut payload, if m == module { to_module } else { m });
        write_name(&mut payload, new);
        payload.extend_from_slice(&b[from..to]);
    }
    let mut out = b[..start].to_vec();
    out.push(2);
    write_leb(&mut out, payload.len() as u64);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&b[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module importing a function, a table, a memory and a global from
    /// `m`, a function from `other`, with a custom section after.
    fn module() -> Vec<u8> {
        let mut imports = Vec::new();
        write_leb(&mut imports, 5);
        for (m, f, desc) in [
            ("m", "__wbg_call_0123456789abcdef", &[0x00, 0x00][..]),
            (
                "m",
                "__wbindgen_init_externref_table",
                &[0x01, 0x6f, 0x01, 0x02, 0x80, 0x01],
            ),
            ("m", "memory_import", &[0x02, 0x00, 0x11]),
            ("m", "__wbg_global_fedcba9876543210", &[0x03, 0x7f, 0x01]),
            ("other", "__wbg_call_0123456789abcdef", &[0x00, 0x00]),
        ] {
            write_name(&mut imports, m);
            write_name(&mut imports, f);
            imports.extend_from_slice(desc);
        }
        let mut b = b"\0asm\x01\0\0\0".to_vec();
        // A type section: one `() -> ()`.
        b.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
        b.push(2);
        write_leb(&mut b, imports.len() as u64);
        b.extend_from_slice(&imports);
        b.extend_from_slice(&[0x00, 0x03, 0x01, b'x', 0x2a]);
        b
    }

    #[test]
    fn short_names_are_distinct_and_plain() {
        let names: Vec<String> = (0..3000).map(short_name).collect();
        assert_eq!(&names[..3], ["a", "b", "c"]);
        assert_eq!(names[52], "ba");
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|c| c.is_ascii_alphabetic()))
        );
    }

    #[test]
    fn the_glue_s_module_is_renamed_in_both_files_and_the_rest_is_kept() {
        let dir = std::env::temp_dir().join(format!("bus-harness-imports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (wasm, glue) = (dir.join("x_bg.wasm"), dir.join("x.js"));
        std::fs::write(&wasm, module()).unwrap();
        // `memory_import` appears twice: it keeps its name.
        let js = "const i = { __wbg_call_0123456789abcdef: f, __wbindgen_init_externref_table: g, \
                  memory_import: h, __wbg_global_fedcba9876543210: 1 }; memory_import();\n\
                  x.__wbg_call_0123456789abcdefX; return { \"m\": i };";
        std::fs::write(&glue, js).unwrap();
        assert_eq!(shorten(&wasm, &glue, "m").unwrap(), 3);
        let (names, _) = import_names(&std::fs::read(&wasm).unwrap()).unwrap();
        let fields: Vec<(&str, &str)> = names
            .iter()
            .map(|(m, f)| (m.as_str(), f.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("a", "a"),
                ("a", "b"),
                ("a", "memory_import"),
                ("a", "c"),
                ("other", "__wbg_call_0123456789abcdef"),
            ]
        );
        let out = std::fs::read(&wasm).unwrap();
        // The sections around it are untouched.
        assert_eq!(&out[..14], &module()[..14]);
        assert_eq!(&out[out.len() - 5..], &[0x00, 0x03, 0x01, b'x', 0x2a]);
        assert_eq!(
            std::fs::read_to_string(&glue).unwrap(),
            "const i = { a: f, b: g, memory_import: h, c: 1 }; memory_import();\n\
             x.__wbg_call_0123456789abcdefX; return { \"a\": i };"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_it_cannot_read_is_an_error_and_left_alone() {
        let mut b = module();
        // The global's description, made an import kind that does not exist.
        let at = b.windows(3).position(|w| w == [0x03, 0x7f, 0x01]).unwrap();
        let mut bad = b.clone();
        bad[at] = 0x09;
        assert!(import_names(&bad).is_none());
        b[0] = b'x';
        assert!(import_names(&b).is_none());
        assert!(import_names(b"\0asm\x01\0\0\0").is_some_and(|(n, _)| n.is_empty()));
    }
}
