//! Repairs to XML that feed-rs would reject or misread, made only where what
//! the publisher meant is plain.
//!
//! - A `&` that starts no reference (`AT&T`, `?a=1&b=2`) becomes `&amp;`.
//!   quick-xml rejects the whole document over one of these.
//! - An HTML entity (`&nbsp;`, `&eacute;`, `&hellip;`) becomes a numeric
//!   reference. XML knows only its five; feed-rs keeps any other entity as
//!   literal text, so a plain-text title would read "Caf&eacute;".
//! - A character reference XML forbids (`&#0;`, `&#1;`, `&#xD800;`) is
//!   dropped: quick-xml rejects some and passes others into the text. One
//!   in the C1 range (`&#150;`) is read as windows-1252, as HTML does: it is
//!   what the publisher's Windows editor meant (`&#150;` is an en dash).
//! - Characters XML 1.0 forbids (C0 controls other than tab, line feed and
//!   carriage return; U+FFFE, U+FFFF) are dropped.
//!
//! Comments, processing instructions, the doctype and CDATA sections are
//! copied as they are: a `&` means nothing inside them, and what a CDATA
//! section holds is the publisher's literal text. Entities the doctype
//! declares are never expanded here (nor by feed-rs): a "billion laughs"
//! document keeps its `&lol9;` as written, and an external entity is never
//! read.

use markup5ever::data::NAMED_ENTITIES;
use std::borrow::Cow;
use std::fmt::Write as _;

/// `xml` repaired; borrowed unchanged when there was nothing to repair, which
/// is the case for every well-formed feed.
pub(crate) fn repair(xml: &str) -> Cow<'_, str> {
    let mut repair = Repair {
        src: xml,
        out: String::new(),
        copied: 0,
    };
    let bytes = xml.as_bytes();
    let has_controls = has_forbidden_controls(bytes);
    let mut at = 0;
    while let Some(found) = next_to_look_at(bytes, at, has_controls) {
        at = match bytes[found] {
            b'<' => found + markup_len(&bytes[found..]),
            b'&' => repair.reference(found),
            b'\t' | b'\n' | b'\r' => found + 1,
            0..=0x1F => repair.replace(found, 1, ""),
            // U+FFFE and U+FFFF, in UTF-8.
            0xEF if matches!(bytes.get(found + 1..found + 3), Some([0xBF, 0xBE | 0xBF])) => {
                repair.replace(found, 3, "")
            }
            _ => found + 1,
        };
    }
    repair.finish()
}

/// Where, from `from` on, the next byte that may need repair or starts
/// markup to skip is: `<`, `&`, 0xEF (which starts U+FFFE and U+FFFF) and,
/// when the text has any, forbidden control characters.
///
/// Every feed goes through here, so the common case (no control characters)
/// jumps between those three bytes with memchr instead of looking at every
/// byte.
fn next_to_look_at(bytes: &[u8], from: usize, has_controls: bool) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let offset = if has_controls {
        rest.iter()
            .position(|&b| matches!(b, b'<' | b'&' | 0xEF) || is_forbidden_control(b))
    } else {
        memchr::memchr3(b'<', b'&', 0xEF, rest)
    }?;
    Some(from + offset)
}

/// True when `bytes` has a control character XML forbids. A pass without an
/// early exit inside each chunk, which the compiler vectorizes.
fn has_forbidden_controls(bytes: &[u8]) -> bool {
    bytes.chunks(256).any(|chunk| {
        chunk
            .iter()
            .fold(false, |seen, &b| seen | is_forbidden_control(b))
    })
}

/// A C0 control character other than tab, line feed and carriage return.
fn is_forbidden_control(b: u8) -> bool {
    (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')
}

/// The repaired text, built only once something changes.
struct Repair<'a> {
    src: &'a str,
    /// Everything repaired so far, up to `copied` in `src`.
    out: String,
    /// How much of `src` `out` stands for.
    copied: usize,
}

impl<'a> Repair<'a> {
    /// Replaces `len` bytes at `at` with `with`; returns where to go on.
    fn replace(&mut self, at: usize, len: usize, with: &str) -> usize {
        if self.out.is_empty() {
            self.out.reserve(self.src.len() + 64);
        }
        self.out.push_str(&self.src[self.copied..at]);
        self.out.push_str(with);
        self.copied = at + len;
        at + len
    }

    fn finish(mut self) -> Cow<'a, str> {
        if self.copied == 0 {
            return Cow::Borrowed(self.src);
        }
        self.out.push_str(&self.src[self.copied..]);
        Cow::Owned(self.out)
    }

    /// Handles the `&` at `at`; returns where to go on.
    fn reference(&mut self, at: usize) -> usize {
        let rest = &self.src.as_bytes()[at + 1..];
        let (len, verdict) = match rest.first() {
            Some(b'#') => char_reference(&rest[1..]),
            _ => entity_reference(rest),
        };
        match verdict {
            Verdict::Keep => at + 1 + len,
            Verdict::Stray => self.replace(at, 1, "&amp;"),
            Verdict::Drop => self.replace(at, 1 + len, ""),
            Verdict::Chars(chars) => {
                let mut numeric = String::with_capacity(16);
                for c in chars {
                    // Writing to a String cannot fail.
                    let _ = write!(numeric, "&#x{:X};", u32::from(c));
                }
                self.replace(at, 1 + len, &numeric)
            }
        }
    }
}

/// What to do with a reference.
enum Verdict {
    /// It is fine as written.
    Keep,
    /// The `&` starts no reference: escape it.
    Stray,
    /// It refers to a character XML forbids: drop it.
    Drop,
    /// Write it as numeric references to these characters.
    Chars(Vec<char>),
}

/// After `&#`: the length of the reference after the `&` (when it is one)
/// and what to do with it.
fn char_reference(rest: &[u8]) -> (usize, Verdict) {
    let (digits, radix, prefix) = match rest.first() {
        Some(b'x' | b'X') => (&rest[1..], 16, 2),
        _ => (rest, 10, 1),
    };
    let len = digits
        .iter()
        .take_while(|b| b.is_ascii_digit() || (radix == 16 && b.is_ascii_hexdigit()))
        .count();
    if len == 0 || digits.get(len) != Some(&b';') {
        return (0, Verdict::Stray);
    }
    let reference_len = prefix + len + 1;
    let value = std::str::from_utf8(&digits[..len])
        .ok()
        .and_then(|d| u32::from_str_radix(d, radix).ok());
    let Some(c) = value.and_then(char::from_u32) else {
        // Beyond Unicode, or a surrogate.
        return (reference_len, Verdict::Drop);
    };
    if !is_xml_char(c) {
        return (reference_len, Verdict::Drop);
    }
    if ('\u{80}'..='\u{9F}').contains(&c) {
        // The byte windows-1252 gives a meaning to, as HTML reads it. The
        // few it leaves unassigned stay what they were.
        let byte = [c as u8];
        let (meant, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
        if let Some(meant) = meant.chars().next().filter(|&m| m != c) {
            return (reference_len, Verdict::Chars(vec![meant]));
        }
    }
    if rest.first() == Some(&b'X') {
        // XML spells the hexadecimal form with a small x only.
        return (reference_len, Verdict::Chars(vec![c]));
    }
    (reference_len, Verdict::Keep)
}

/// After `&` (not `&#`): the length of the reference after the `&` (when it
/// is one) and what to do with it.
fn entity_reference(rest: &[u8]) -> (usize, Verdict) {
    let Some(&first) = rest.first() else {
        return (0, Verdict::Stray);
    };
    if !is_name_start(first) {
        return (0, Verdict::Stray);
    }
    let len = rest.iter().take_while(|&&b| is_name_byte(b)).count();
    if rest.get(len) != Some(&b';') {
        return (0, Verdict::Stray);
    }
    let reference_len = len + 1;
    // The name is ASCII or whole UTF-8 characters: it ends at an ASCII byte.
    let Ok(reference) = std::str::from_utf8(&rest[..reference_len]) else {
        return (0, Verdict::Stray);
    };
    let name = &reference[..len];
    if matches!(name, "lt" | "gt" | "amp" | "quot" | "apos") {
        return (reference_len, Verdict::Keep);
    }
    match NAMED_ENTITIES.get(reference).copied() {
        // The table also holds every prefix of a name, mapped to nothing.
        Some((first, second)) if first != 0 => {
            let chars = [first, second]
                .into_iter()
                .filter(|&cp| cp != 0)
                .filter_map(char::from_u32)
                .collect();
            (reference_len, Verdict::Chars(chars))
        }
        // An entity the doctype may declare. It is not expanded, and feed-rs
        // keeps it as written.
        _ => (reference_len, Verdict::Keep),
    }
}

/// The first byte of an XML name: a letter, `_`, `:` or any non-ASCII
/// character (a byte of one, here).
fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80
}

/// A byte of an XML name.
fn is_name_byte(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit() || b == b'-' || b == b'.'
}

/// True for the characters XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// How many bytes of markup start at `text` (which starts with `<`) to copy
/// untouched: a comment, CDATA section, processing instruction or doctype
/// whole (to the end of the text if it is never closed); one byte for
/// anything else, since tags and text are repaired like the rest.
fn markup_len(text: &[u8]) -> usize {
    let to = |marker: &[u8]| super::prolog::end_of(text, marker);
    if text.starts_with(b"<![CDATA[") {
        to(b"]]>")
    } else if text.starts_with(b"<!--") {
        to(b"-->")
    } else if text.starts_with(b"<?") {
        to(b"?>")
    } else if text.starts_with(b"<!") {
        doctype_len(text)
    } else {
        1
    }
}

/// The length of a `<!DOCTYPE …>`, internal subset included. The subset may
/// hold `>` in its declarations; it ends at `]`, then white space, then `>`.
fn doctype_len(text: &[u8]) -> usize {
    let close = text.iter().position(|&b| b == b'>').unwrap_or(text.len());
    let Some(open) = text[..close].iter().position(|&b| b == b'[') else {
        return (close + 1).min(text.len());
    };
    let mut at = open;
    while let Some(bracket) = text[at + 1..].iter().position(|&b| b == b']') {
        at += 1 + bracket;
        let after = text[at + 1..].trim_ascii_start();
        if after.first() == Some(&b'>') {
            return text.len() - after.len() + 1;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(xml: &str) -> String {
        repair(xml).into_owned()
    }

    #[test]
    fn well_formed_xml_is_borrowed_unchanged() {
        let xml = "<?xml version=\"1.0\"?><rss><t a=\"x&amp;y\">AT&amp;T &lt;b&gt; &#233; &#xE9; \
                   &quot;&apos; &custom; \t\r\n</t><![CDATA[a & b \u{1}]]><!-- & --></rss>";
        assert!(matches!(repair(xml), Cow::Borrowed(_)));
    }

    #[test]
    fn a_stray_ampersand_is_escaped() {
        assert_eq!(
            repaired("<t>AT&T & co; ?a=1&b=2 &#; &#x; &# 1; &</t><l href=\"?a&b\"/>"),
            "<t>AT&amp;T &amp; co; ?a=1&amp;b=2 &amp;#; &amp;#x; &amp;# 1; &amp;</t><l href=\"?a&amp;b\"/>"
        );
    }

    #[test]
    fn html_entities_become_numeric_references() {
        assert_eq!(
            repaired("<t>Caf&eacute;&nbsp;&hellip; &LT; &NotEqualTilde;</t>"),
            "<t>Caf&#xE9;&#xA0;&#x2026; &#x3C; &#x2242;&#x338;</t>"
        );
    }

    #[test]
    fn forbidden_characters_and_references_to_them_are_dropped() {
        assert_eq!(
            repaired(
                "<t>a\u{0}b\u{1}c\u{8}d\u{1B}e\u{FFFE}f\u{FFFF}g&#0;&#1;&#x1f;&#xD800;&#1114112;&#99999999999;h</t>"
            ),
            "<t>abcdefgh</t>"
        );
        // Without control characters the scan jumps between `<`, `&` and
        // 0xEF; the noncharacters are still found, and their neighbours in
        // 0xEF's range (fullwidth punctuation) kept.
        assert_eq!(
            repaired("<t>a\u{FFFE}b\u{FFFF}c\u{FF0C}\u{FFFD}</t>"),
            "<t>abc\u{FF0C}\u{FFFD}</t>"
        );
        // Allowed neighbours stay.
        let xml = "<t>\t\n\r\u{FFFD}\u{10000}&#9;&#xA;&#13;&#xFFFD;</t>";
        assert_eq!(repaired(xml), xml);
    }

    #[test]
    fn c1_references_are_read_as_windows_1252() {
        assert_eq!(
            repaired("<t>&#150; &#x93;quoted&#x94; &#128; &#129;</t>"),
            "<t>&#x2013; &#x201C;quoted&#x201D; &#x20AC; &#129;</t>"
        );
    }

    #[test]
    fn cdata_comments_processing_instructions_and_the_doctype_are_untouched() {
        let xml = "<?xml-stylesheet href=\"a?b&c\"?><!DOCTYPE rss [ <!ENTITY a \"&b c>\"> ]\n>\
                   <!-- AT&T --><t><![CDATA[AT&T &nbsp; \u{1}]]>&nbsp;</t><![CDATA[ unclosed & ";
        assert_eq!(repaired(xml), xml.replacen("]]>&nbsp;", "]]>&#xA0;", 1));
    }

    #[test]
    fn declared_entities_are_left_unexpanded() {
        let xml =
            "<!DOCTYPE r [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;\">]><r>&lol1; &xxe;</r>";
        assert!(matches!(repair(xml), Cow::Borrowed(_)));
    }

    #[test]
    fn uppercase_hex_references_are_spelled_the_xml_way() {
        assert_eq!(repaired("<t>&#X41;</t>"), "<t>&#x41;</t>");
    }
}
