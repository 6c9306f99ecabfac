//! Which character encoding a body is in, and the body decoded to UTF-8.
//!
//! encoding_rs knows the WHATWG labels (so `gb2312` is GBK and `iso-8859-1`
//! is windows-1252, as in every browser); this module only decides which
//! label to believe. In order:
//!
//! 1. the source's `encoding` override, which wins over everything;
//! 2. a byte order mark (UTF-8, UTF-16LE, UTF-16BE), or UTF-16 without one
//!    recognised by how `<` is spelled (XML 1.0, appendix F);
//! 3. the `charset` parameter of the HTTP `Content-Type`;
//! 4. the `encoding` of the XML declaration;
//! 5. UTF-8, or windows-1252 when the bytes are plainly not UTF-8.
//!
//! Steps 3 and 4 are declarations, and declarations are often wrong: servers
//! add a default `charset`, and CMSes copy a declaration from a template while
//! writing UTF-8. A declaration the bytes plainly contradict is passed over
//! (see [`Utf8Evidence`]); the override and a byte order mark never are.
//!
//! JSON Feed is UTF-8 by its spec, so a JSON body only honours the override
//! and a byte order mark.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};
use std::borrow::Cow;

/// A body decoded to UTF-8, and how its encoding was chosen.
#[derive(Debug)]
pub(super) struct Decoded<'a> {
    /// The text, with any byte order mark removed and any XML declaration
    /// saying `UTF-8`. Borrowed from the body when it already was UTF-8.
    pub text: Cow<'a, str>,
    /// The encoding the body was read in.
    pub encoding: &'static Encoding,
    /// Where that choice came from.
    pub source: EncodingSource,
}

/// Decodes an HTML page for the page stage (`crate::page`), in the same
/// order and with the same checks as a feed, with the page's own
/// `<meta charset>` (which the caller finds) where a feed's XML declaration
/// stands. Returns the text and the encoding it was read in.
pub(crate) fn decode_html_page<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    encoding_override: Option<&'static Encoding>,
    meta_charset: Option<&'static Encoding>,
) -> (Cow<'a, str>, &'static Encoding) {
    // A page whose markup was readable as ASCII to find its <meta> is not
    // UTF-16, whatever it says; HTML reads such a claim as UTF-8.
    let meta_charset = meta_charset.map(|e| {
        if e == UTF_16LE || e == UTF_16BE {
            UTF_8
        } else {
            e
        }
    });
    let declared = meta_charset.map(|e| (e, EncodingSource::HtmlMeta));
    let (encoding, skip, _) = choose(body, content_type, encoding_override, declared);
    let (text, _had_errors) = encoding.decode_without_bom_handling(&body[skip..]);
    (text, encoding)
}

/// Where the encoding of a body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EncodingSource {
    /// The source's `encoding` setting.
    Override,
    /// A byte order mark, or the UTF-16 spelling of `<`.
    ByteOrderMark,
    /// The `charset` of the HTTP `Content-Type`.
    HttpCharset,
    /// The XML declaration's `encoding`.
    XmlDeclaration,
    /// An HTML page's `<meta charset>` (page sources only).
    HtmlMeta,
    /// Nothing was declared (or every declaration was contradicted).
    Default,
}

impl EncodingSource {
    /// Why the body was read in its encoding, for error messages.
    pub(super) fn reason(self) -> &'static str {
        match self {
            EncodingSource::Override => "as the source's `encoding` setting says",
            EncodingSource::ByteOrderMark => "as its byte order mark says",
            EncodingSource::HttpCharset => "as the HTTP charset says",
            EncodingSource::XmlDeclaration => "as its XML declaration says",
            EncodingSource::HtmlMeta => "as its <meta charset> says",
            EncodingSource::Default => "since it is not UTF-8 and names no encoding its bytes fit",
        }
    }
}

/// Decodes `body` to UTF-8: see the module documentation for the order.
pub(super) fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    encoding_override: Option<&'static Encoding>,
) -> Decoded<'a> {
    let declared = xml_declared_encoding(body).map(|e| (e, EncodingSource::XmlDeclaration));
    let (encoding, skip, source) = choose(body, content_type, encoding_override, declared);
    // Malformed sequences become U+FFFD, as in a browser: one bad byte should
    // cost one character, not the feed.
    let (text, _had_errors) = encoding.decode_without_bom_handling(&body[skip..]);
    Decoded {
        text: declare_utf8(text),
        encoding,
        source,
    }
}

/// The encoding to read `body` in, how many leading bytes (a byte order mark)
/// to skip, and why.
///
/// `in_document` is what the body declares about itself: a feed's XML
/// declaration, or an HTML page's `<meta charset>`.
fn choose(
    body: &[u8],
    content_type: Option<&str>,
    encoding_override: Option<&'static Encoding>,
    in_document: Option<(&'static Encoding, EncodingSource)>,
) -> (&'static Encoding, usize, EncodingSource) {
    let bom = Encoding::for_bom(body);
    let bom_len = bom.map_or(0, |(_, len)| len);
    if let Some(encoding) = encoding_override {
        // A byte order mark is never content, whatever the admin says the
        // rest is in.
        return (encoding, bom_len, EncodingSource::Override);
    }
    if let Some((encoding, len)) = bom {
        return (encoding, len, EncodingSource::ByteOrderMark);
    }
    if let Some(encoding) = utf16_without_bom(body) {
        return (encoding, 0, EncodingSource::ByteOrderMark);
    }

    // Counting UTF-8 sequences is a pass over the whole body: only done when
    // a choice depends on it.
    let mut cached = None;
    let mut evidence = || *cached.get_or_insert_with(|| Utf8Evidence::of(body));
    if !is_json(body) {
        let declared = [
            http_charset(content_type).map(|e| (e, EncodingSource::HttpCharset)),
            in_document,
        ];
        for (encoding, source) in declared.into_iter().flatten() {
            if !contradicts(encoding, &mut evidence) {
                return (encoding, 0, source);
            }
        }
    }
    // Bytes that are not UTF-8 and say nothing about themselves are most
    // likely windows-1252: it is what Windows editors and older CMSes wrote,
    // WHATWG makes it the default for undeclared legacy content, and its
    // single bytes always decode, so the items survive even when it is a guess.
    let encoding = if evidence().is_utf8() {
        UTF_8
    } else {
        WINDOWS_1252
    };
    (encoding, 0, EncodingSource::Default)
}

/// True when the bytes plainly say `declared` is wrong.
fn contradicts(declared: &'static Encoding, evidence: &mut impl FnMut() -> Utf8Evidence) -> bool {
    if declared == UTF_8 {
        return !evidence().is_utf8();
    }
    if declared == UTF_16LE || declared == UTF_16BE {
        // UTF-16 without a byte order mark was caught by its spelling of `<`;
        // a declaration we could read byte by byte is not in UTF-16 (WHATWG
        // treats `<meta charset=utf-16>` the same way).
        return true;
    }
    // Text in a legacy encoding that happens to form valid multi-byte UTF-8
    // sequences is vanishingly rare beyond a word or two, while UTF-8 under a
    // copied `ISO-8859-1` declaration or a server's default charset is common.
    declared.is_ascii_compatible() && evidence().has_multibyte_utf8()
}

/// How the bytes of a body read as UTF-8.
#[derive(Debug, Clone, Copy)]
struct Utf8Evidence {
    /// Valid multi-byte sequences.
    multibyte: usize,
    /// Bytes or truncated sequences that are not UTF-8.
    invalid: usize,
}

impl Utf8Evidence {
    fn of(body: &[u8]) -> Utf8Evidence {
        let mut evidence = Utf8Evidence {
            multibyte: 0,
            invalid: 0,
        };
        let mut rest = body;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    evidence.multibyte += count_multibyte(valid.as_bytes());
                    return evidence;
                }
                Err(e) => {
                    let valid_len = e.valid_up_to();
                    evidence.multibyte += count_multibyte(&rest[..valid_len]);
                    evidence.invalid += 1;
                    let bad_len = e.error_len().unwrap_or(rest.len() - valid_len);
                    rest = &rest[valid_len + bad_len..];
                }
            }
        }
    }

    /// UTF-8, perhaps with a few damaged sequences (a CMS that cut a
    /// character in half): more valid multi-byte sequences than broken ones.
    /// One broken byte in a UTF-8 feed should cost one character, while
    /// windows-1252 or GBK text breaks UTF-8 at nearly every non-ASCII byte.
    fn is_utf8(self) -> bool {
        self.invalid == 0 || self.multibyte > self.invalid
    }

    /// UTF-8 with at least one character beyond ASCII.
    fn has_multibyte_utf8(self) -> bool {
        self.multibyte > 0 && self.is_utf8()
    }
}

/// The lead bytes of multi-byte sequences in valid UTF-8.
fn count_multibyte(valid: &[u8]) -> usize {
    valid.iter().filter(|&&b| b >= 0xC0).count()
}

/// UTF-16 without a byte order mark, told by the first character being `<`
/// (XML 1.0, appendix F).
fn utf16_without_bom(body: &[u8]) -> Option<&'static Encoding> {
    match body {
        [b'<', 0, _, 0, ..] => Some(UTF_16LE),
        [0, b'<', 0, _, ..] => Some(UTF_16BE),
        _ => None,
    }
}

/// True when the first thing in the body is `{`: a JSON document.
fn is_json(body: &[u8]) -> bool {
    body.trim_ascii_start().first() == Some(&b'{')
}

/// The encoding the `charset` parameter of a `Content-Type` names, if it
/// names one encoding_rs knows.
fn http_charset(content_type: Option<&str>) -> Option<&'static Encoding> {
    content_type?
        .split(';')
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .and_then(|(_, value)| {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            // Not `for_label`: labels such as `iso-2022-kr` map to the
            // "replacement" encoding, which turns the whole body into one
            // U+FFFD. An unusable declaration is better ignored.
            Encoding::for_label_no_replacement(value.as_bytes())
        })
}

/// The XML declaration at the start of `text` (`<?xml` to `?>`), if any.
/// Leading white space is allowed, as many feeds have it.
fn xml_declaration(text: &[u8]) -> Option<std::ops::Range<usize>> {
    let rest = text.trim_ascii_start();
    let start = text.len() - rest.len();
    let is_decl =
        rest.len() > 5 && rest[..5].eq_ignore_ascii_case(b"<?xml") && rest[5].is_ascii_whitespace();
    if !is_decl {
        return None;
    }
    // A declaration is short; do not scan a large body for a missing `?>`.
    let head = &rest[..rest.len().min(MAX_DECLARATION_LEN)];
    let len = super::prolog::find(head, b"?>")? + 2;
    Some(start..start + len)
}

/// The longest XML declaration looked at.
const MAX_DECLARATION_LEN: usize = 512;

/// The encoding the XML declaration names, if it names one encoding_rs knows.
fn xml_declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    let decl = &body[xml_declaration(body)?];
    let value = super::prolog::attribute_value(decl, b"encoding")?;
    Encoding::for_label_no_replacement(&decl[value])
}

/// `text` with its XML declaration, if any, saying `UTF-8`.
///
/// feed-rs decodes in the encoding the declaration names: the text is UTF-8
/// now, and a `GBK` left in the declaration would have it decoded twice.
fn declare_utf8(text: Cow<'_, str>) -> Cow<'_, str> {
    let Some(decl) = xml_declaration(text.as_bytes()) else {
        return text;
    };
    let Some(value) = super::prolog::attribute_value(&text.as_bytes()[decl.clone()], b"encoding")
    else {
        return text;
    };
    let value = decl.start + value.start..decl.start + value.end;
    if text[value.clone()].eq_ignore_ascii_case("utf-8") {
        return text;
    }
    let mut owned = text.into_owned();
    owned.replace_range(value, "UTF-8");
    Cow::Owned(owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, GBK, KOI8_R, WINDOWS_1251};

    fn encode(text: &str, encoding: &'static Encoding) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(!unmappable, "{text:?} is not all in {}", encoding.name());
        bytes.into_owned()
    }

    #[test]
    fn the_override_wins_over_a_bom_the_charset_and_the_declaration() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(encode(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>国家图书馆</t>",
            GBK,
        ));
        let decoded = decode(&body, Some("text/xml; charset=big5"), Some(GBK));
        assert_eq!(decoded.source, EncodingSource::Override);
        assert_eq!(
            decoded.text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>国家图书馆</t>"
        );
    }

    #[test]
    fn a_bom_wins_over_the_charset_and_the_declaration() {
        for (bom, encoding) in [
            (&b"\xEF\xBB\xBF"[..], UTF_8),
            (b"\xFF\xFE", UTF_16LE),
            (b"\xFE\xFF", UTF_16BE),
        ] {
            let text = "<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>Café</t>";
            let mut body = bom.to_vec();
            body.extend(encode_utf16_or(text, encoding));
            let decoded = decode(&body, Some("text/xml;charset=koi8-r"), None);
            assert_eq!(decoded.encoding, encoding);
            assert_eq!(decoded.source, EncodingSource::ByteOrderMark);
            assert_eq!(
                decoded.text,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>Café</t>"
            );
        }
    }

    /// encoding_rs encodes only to encodings a form may use; UTF-16 is
    /// spelled out here.
    fn encode_utf16_or(text: &str, encoding: &'static Encoding) -> Vec<u8> {
        let units = text.encode_utf16();
        if encoding == UTF_16LE {
            units.flat_map(u16::to_le_bytes).collect()
        } else if encoding == UTF_16BE {
            units.flat_map(u16::to_be_bytes).collect()
        } else {
            encode(text, encoding)
        }
    }

    #[test]
    fn utf16_without_a_bom_is_recognised_by_its_first_character() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><t>Ёлка</t>";
        for encoding in [UTF_16LE, UTF_16BE] {
            let body = encode_utf16_or(text, encoding);
            let decoded = decode(&body, None, None);
            assert_eq!(decoded.encoding, encoding);
            assert_eq!(
                decoded.text,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>Ёлка</t>"
            );
        }
    }

    #[test]
    fn the_http_charset_wins_over_the_declaration() {
        let body = encode(
            "<?xml version=\"1.0\" encoding=\"windows-1252\"?><t>國家圖書館</t>",
            BIG5,
        );
        let decoded = decode(&body, Some("application/rss+xml; charset=\"Big5\""), None);
        assert_eq!(decoded.encoding, BIG5);
        assert_eq!(decoded.source, EncodingSource::HttpCharset);
        assert!(
            decoded.text.ends_with("<t>國家圖書館</t>"),
            "{}",
            decoded.text
        );
    }

    #[test]
    fn the_declaration_is_read_when_http_says_nothing() {
        let body = encode(
            "<?xml version='1.0' encoding='KOI8-R'?><t>Привет</t>",
            KOI8_R,
        );
        for content_type in [None, Some("text/xml"), Some("text/xml; charset=klingon")] {
            let decoded = decode(&body, content_type, None);
            assert_eq!(decoded.encoding, KOI8_R, "{content_type:?}");
            assert_eq!(decoded.source, EncodingSource::XmlDeclaration);
            assert_eq!(
                decoded.text,
                "<?xml version='1.0' encoding='UTF-8'?><t>Привет</t>"
            );
        }
    }

    #[test]
    fn undeclared_bytes_are_utf8_or_else_windows_1252() {
        let decoded = decode("<t>Café</t>".as_bytes(), None, None);
        assert_eq!(decoded.encoding, UTF_8);
        assert_eq!(decoded.source, EncodingSource::Default);
        assert!(matches!(decoded.text, Cow::Borrowed(_)));

        let decoded = decode(b"<t>Caf\xE9 \x80</t>", None, None);
        assert_eq!(decoded.encoding, WINDOWS_1252);
        assert_eq!(decoded.text, "<t>Café €</t>");
    }

    #[test]
    fn a_legacy_declaration_on_utf8_bytes_is_passed_over() {
        // What miniflux's `utf8-incorrect-prolog.xml` and
        // `windows-1252-incorrect-prolog.xml` hold.
        let body = "<?xml version=\"1.0\" encoding=\"windows-1252\"?><t>Euro €</t>";
        let decoded = decode(body.as_bytes(), Some("text/xml; charset=ISO-8859-1"), None);
        assert_eq!(decoded.encoding, UTF_8);
        assert_eq!(decoded.source, EncodingSource::Default);
        assert!(decoded.text.ends_with("<t>Euro €</t>"));
        assert!(decoded.text.contains("encoding=\"UTF-8\""));

        // Pure ASCII reads the same either way: the declaration stands.
        let decoded = decode(
            b"<?xml version=\"1.0\" encoding=\"GBK\"?><t>x</t>",
            None,
            None,
        );
        assert_eq!(decoded.encoding, GBK);
    }

    #[test]
    fn a_utf8_declaration_on_legacy_bytes_is_passed_over() {
        let body = encode(
            "<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>Цитата</t>",
            WINDOWS_1251,
        );
        let decoded = decode(&body, Some("text/xml; charset=utf-8"), None);
        assert_eq!(decoded.encoding, WINDOWS_1251);
        assert_eq!(decoded.source, EncodingSource::XmlDeclaration);
        assert!(decoded.text.ends_with("<t>Цитата</t>"));
    }

    #[test]
    fn utf8_with_one_damaged_character_stays_utf8() {
        let mut body = "<t>Bibliothèque nationale de France — Gallica é"
            .as_bytes()
            .to_vec();
        body.extend(b"\xC3</t>");
        let decoded = decode(&body, None, None);
        assert_eq!(decoded.encoding, UTF_8);
        assert_eq!(
            decoded.text,
            "<t>Bibliothèque nationale de France — Gallica é\u{FFFD}</t>"
        );
    }

    #[test]
    fn a_utf16_declaration_on_single_byte_text_is_passed_over() {
        let decoded = decode(
            b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><t>x</t>",
            None,
            None,
        );
        assert_eq!(decoded.encoding, UTF_8);
        assert_eq!(
            decoded.text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>x</t>"
        );
    }

    #[test]
    fn json_ignores_declared_charsets_but_not_a_bom() {
        let json = "{\"title\":\"Café\"}";
        let decoded = decode(
            json.as_bytes(),
            Some("application/json; charset=iso-8859-1"),
            None,
        );
        assert_eq!(decoded.encoding, UTF_8);
        assert_eq!(decoded.text, json);

        let mut body = b"\xFF\xFE".to_vec();
        body.extend(encode_utf16_or(json, UTF_16LE));
        assert_eq!(decode(&body, None, None).text, json);
    }

    #[test]
    fn an_unusable_label_is_ignored() {
        // `iso-2022-kr` is a WHATWG label for the "replacement" encoding.
        let body = "<?xml version=\"1.0\" encoding=\"iso-2022-kr\"?><t>é</t>";
        let decoded = decode(body.as_bytes(), Some("text/xml; charset=x-unknown"), None);
        assert_eq!(decoded.encoding, UTF_8);
        assert!(decoded.text.ends_with("<t>é</t>"));
    }

    #[test]
    fn a_declaration_without_an_encoding_is_left_alone() {
        let body = "<?xml version=\"1.0\" standalone=\"yes\"?><t>é</t>";
        let decoded = decode(body.as_bytes(), None, None);
        assert!(matches!(decoded.text, Cow::Borrowed(_)));
    }
}
