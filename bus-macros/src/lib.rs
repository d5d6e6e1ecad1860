//! `allowlist!`: an allowlist written as literals, checked when it compiles.
//!
//! Use it through bus-web: `bus_web::allowlist!["https://shop.example"]`.
//! Each entry goes through every native check, the whole public suffix list
//! included, on the build machine; a bad entry is a compile error that says
//! what is wrong. The app receives the canonical entries, so none of the
//! checking code ships in the wasm.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// An allowlist of literal entries, checked at compile time with the whole
/// public suffix list. Documented and re-exported as `bus_web::allowlist!`.
#[proc_macro]
pub fn allowlist(input: TokenStream) -> TokenStream {
    match canonical_entries(input) {
        Ok(entries) => expansion(&entries),
        Err((message, span)) => compile_error(&message, span),
    }
}

/// The canonical form of each literal entry, or the first error and where.
fn canonical_entries(input: TokenStream) -> Result<Vec<String>, (String, Span)> {
    let mut entries = Vec::new();
    let mut expect_entry = true;
    for token in input {
        match (&token, expect_entry) {
            (TokenTree::Literal(lit), true) => {
                let text = string_literal(lit).ok_or_else(|| {
                    (
                        "allowlist! takes string literals without escapes, as in \"https://shop.example\""
                            .to_owned(),
                        lit.span(),
                    )
                })?;
                entries.push(canonicalise(&text).map_err(|e| (e, lit.span()))?);
                expect_entry = false;
            }
            (TokenTree::Punct(p), false) if p.as_char() == ',' => expect_entry = true,
            (TokenTree::Group(g), true) if g.delimiter() == Delimiter::None => {
                // A literal passed through a macro_rules! variable.
                let inner = canonical_entries(g.stream())?;
                entries.extend(inner);
                expect_entry = false;
            }
            _ => {
                return Err((
                    "allowlist! takes origins as string literals separated by commas".to_owned(),
                    token.span(),
                ));
            }
        }
    }
    Ok(entries)
}

/// One entry in canonical form, after every native check.
fn canonicalise(entry: &str) -> Result<String, String> {
    bus_core::Allowlist::new([entry])
        .map(|allow| allow.to_string())
        .map_err(|e| e.to_string())
}

/// The text of a plain `"…"` or raw `r"…"` string literal without escapes.
fn string_literal(lit: &Literal) -> Option<String> {
    let source = lit.to_string();
    let body = source
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| source.strip_prefix("r\"").and_then(|s| s.strip_suffix('"')))?;
    (!body.contains('\\')).then(|| body.to_owned())
}

/// `::bus_web::Allowlist::__from_checked(&["…", …])`
fn expansion(entries: &[String]) -> TokenStream {
    let mut list = TokenStream::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            list.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
        }
        list.extend([TokenTree::Literal(Literal::string(entry))]);
    }
    let mut out = path(&["bus_web", "Allowlist", "__from_checked"]);
    let mut arg = TokenStream::new();
    arg.extend([
        TokenTree::Punct(Punct::new('&', Spacing::Alone)),
        TokenTree::Group(Group::new(Delimiter::Bracket, list)),
    ]);
    out.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, arg))]);
    out
}

/// `::a::b::c`
fn path(segments: &[&str]) -> TokenStream {
    let mut out = TokenStream::new();
    for segment in segments {
        out.extend([
            TokenTree::Punct(Punct::new(':', Spacing::Joint)),
            TokenTree::Punct(Punct::new(':', Spacing::Alone)),
            TokenTree::Ident(Ident::new(segment, Span::call_site())),
        ]);
    }
    out
}

/// `compile_error!("…")` at `span`.
fn compile_error(message: &str, span: Span) -> TokenStream {
    let mut text = Literal::string(message);
    text.set_span(span);
    let mut args = Group::new(Delimiter::Parenthesis, TokenTree::Literal(text).into());
    args.set_span(span);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(args),
    ]
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::canonicalise;

    #[test]
    fn entries_come_out_canonical() {
        assert_eq!(
            canonicalise("HTTPS://Bücher.example:443/").unwrap(),
            "https://xn--bcher-kva.example"
        );
        assert_eq!(
            canonicalise("https://*.Cdn.example:8443").unwrap(),
            "https://*.cdn.example:8443"
        );
        // What comes out goes back in unchanged: the app's ASCII parser agrees.
        let allow = bus_core::Allowlist::__from_checked(&[
            "https://xn--bcher-kva.example",
            "https://*.cdn.example:8443",
        ]);
        assert!(allow.allows("https://xn--bcher-kva.example"));
        assert!(allow.allows("https://a.cdn.example:8443"));
    }

    #[test]
    fn the_whole_public_suffix_list_is_checked() {
        let e = canonicalise("https://*.s3.amazonaws.com").unwrap_err();
        assert!(e.contains("public suffix"), "{e}");
        let e = canonicalise("https://shop.example/path").unwrap_err();
        assert!(e.contains("scheme://host[:port]"), "{e}");
    }
}
