//! Keeping XML declarations where feed-rs can take them without a panic.
//!
//! feed-rs hands the encoding of every XML declaration it meets to quick-xml
//! (`DecodingReader::set_encoding`), and quick-xml 0.42 panics when that
//! changes the encoding after it has decoded the first
//! [`QUICK_XML_PREFIX_LEN`] bytes. Found by fuzzing: a declaration that does
//! not end within those bytes (padded, or with many pseudo-attributes), and a
//! second declaration further on (two documents pasted into one body), both
//! brought a parse down.

use std::borrow::Cow;

/// How many bytes quick-xml 0.42 reads before it settles the encoding
/// (`PREFIX_CAP` in its `encoding.rs`). A declaration must end within them
/// for its encoding to be taken.
const QUICK_XML_PREFIX_LEN: usize = 64;

/// `body` with every XML declaration that quick-xml could not honour made a
/// plain processing instruction (`<?xml` becomes `<?XML`, which feed-rs
/// ignores), or `body` itself when there is none.
///
/// The declaration that opens the body and ends within the first
/// [`QUICK_XML_PREFIX_LEN`] bytes is kept: it is the one that names the
/// encoding. Any other is not well-formed XML to begin with.
///
/// Every `<?xml` counts, even one that looks quoted in a comment, a CDATA
/// section or an attribute: in a broken body, quick-xml may well read it as
/// markup (an unbalanced quote in a tag runs on past a `<!--`, as the fuzzer
/// showed), and guessing its tokenizer here would only move the panic. In
/// HTML content a `<?xml …?>` is a bogus comment that is never shown, so the
/// rename changes nothing a reader sees.
pub(super) fn tame(body: &[u8]) -> Cow<'_, [u8]> {
    let mut tamed: Option<Vec<u8>> = None;
    // memmem: one fast pass over a large feed that has no second declaration.
    for start in memchr::memmem::find_iter(body, b"<?xml") {
        let rest = &body[start..];
        if is_declaration(rest) && !(start == 0 && ends_within_prefix(rest)) {
            let bytes = tamed.get_or_insert_with(|| body.to_vec());
            bytes[start + 2..start + 5].copy_from_slice(b"XML");
        }
    }
    tamed.map_or(Cow::Borrowed(body), Cow::Owned)
}

/// True when `rest` starts with what quick-xml reads as an XML declaration:
/// `<?xml` then white space or the end of the instruction.
fn is_declaration(rest: &[u8]) -> bool {
    rest.starts_with(b"<?xml")
        && rest
            .get(5)
            .is_none_or(|&b| b.is_ascii_whitespace() || b == b'?')
}

/// True when the declaration at the start of `rest` closes within the bytes
/// quick-xml reads before settling the encoding.
fn ends_within_prefix(rest: &[u8]) -> bool {
    let head = &rest[..rest.len().min(QUICK_XML_PREFIX_LEN)];
    super::prolog::find(head, b"?>").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tamed(body: &str) -> String {
        String::from_utf8(tame(body.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn a_short_leading_declaration_is_kept_and_nothing_is_copied() {
        let body = br#"<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"/>"#;
        assert!(matches!(tame(body), Cow::Borrowed(_)));
    }

    #[test]
    fn a_leading_declaration_too_long_for_quick_xml_is_made_an_instruction() {
        let body =
            r#"<?xml version="1.0"           encoding="ISO-8859-1" standalone="yes"?><rss/>"#;
        assert_eq!(
            tamed(body),
            r#"<?XML version="1.0"           encoding="ISO-8859-1" standalone="yes"?><rss/>"#
        );
    }

    #[test]
    fn every_later_declaration_is_made_an_instruction_even_one_that_looks_quoted() {
        let body = concat!(
            r#"<?xml version="1.0"?><rss><!-- <?xml version="1.0"?> -->"#,
            r#"<link href="a?>x<!-- <?xml version='1.0' encoding='UTF-16'?>"/>"#,
            r#"<?xml version="1.0" encoding="ISO-8859-1"?><?xml?><?xml-stylesheet href="a"?></rss>"#,
        );
        assert_eq!(
            tamed(body),
            concat!(
                r#"<?xml version="1.0"?><rss><!-- <?XML version="1.0"?> -->"#,
                r#"<link href="a?>x<!-- <?XML version='1.0' encoding='UTF-16'?>"/>"#,
                r#"<?XML version="1.0" encoding="ISO-8859-1"?><?XML?><?xml-stylesheet href="a"?></rss>"#,
            )
        );
    }

    #[test]
    fn a_declaration_cut_short_is_renamed_and_other_bodies_are_left_alone() {
        for body in ["", "<", "<?xm", "<?xmlns?>", "{\"items\": []}"] {
            assert_eq!(tamed(body), body);
        }
        assert_eq!(tamed("<?xml"), "<?XML");
        assert_eq!(tamed("<a><?xml"), "<a><?XML");
    }
}
