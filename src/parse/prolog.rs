//! The prolog: what comes before a document's root element, and the root's
//! start tag, read byte-wise; and the renaming of older spellings of the
//! formats (RSS versions, legacy namespaces) into what feed-rs reads.

use std::ops::Range;

/// What comes before the first element of an XML or HTML document, read
/// byte-wise from the decoded text: markup is ASCII.
pub(super) struct Prolog {
    /// The prolog has `<!DOCTYPE html…>`.
    pub(super) html_doctype: bool,
    /// Where the first start tag is, `<` to just after `>` (or to the end of a
    /// body that never closes it). None when the body starts with anything
    /// else, such as JSON or text.
    root: Option<Range<usize>>,
}

impl Prolog {
    /// Reads past processing instructions, comments and the doctype to the
    /// first start tag.
    pub(super) fn read(body: &[u8]) -> Prolog {
        let mut at = 0;
        let mut html_doctype = false;
        loop {
            let rest = body[at..].trim_ascii_start();
            at = body.len() - rest.len();
            let skip = if rest.starts_with(b"<?") {
                end_of(rest, b"?>")
            } else if rest.starts_with(b"<!--") {
                end_of(rest, b"-->")
            } else if rest.starts_with(b"<!") {
                html_doctype |= is_html_doctype(rest);
                // A doctype may carry an internal subset in brackets, which
                // can hold `>` of its own.
                let close = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                if rest[..close].contains(&b'[') {
                    end_of(rest, b"]>")
                } else {
                    (close + 1).min(rest.len())
                }
            } else if rest.starts_with(b"<") {
                let len = end_of(rest, b">");
                return Prolog {
                    html_doctype,
                    root: Some(at..at + len),
                };
            } else {
                return Prolog {
                    html_doctype,
                    root: None,
                };
            };
            at += skip;
        }
    }

    /// The root element's start tag, cut short for quoting in a message.
    pub(super) fn root_tag<'b>(&self, body: &'b [u8]) -> Option<&'b [u8]> {
        let root = self.root.clone()?;
        let end = root.end.min(root.start + MAX_TAG_SHOWN);
        Some(&body[root.start..end])
    }

    /// The root element's name, as written (with any prefix).
    pub(super) fn root_name<'b>(&self, body: &'b [u8]) -> Option<&'b [u8]> {
        let root = self.root.clone()?;
        let tag = &body[root.start + 1..root.end];
        let len = tag
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
            .unwrap_or(tag.len());
        Some(&tag[..len])
    }

    /// `body` with its root tag rewritten into what feed-rs reads, or None
    /// when it already is. This only renames; it adds no content.
    ///
    /// - feed-rs only takes `<rss>` with version 0.91, 0.92 or 2.0. Feeds in
    ///   the wild also say 0.93, 0.94 or 2.00, or leave the version out; they
    ///   are RSS 2.0 in all but name, so they are read as that.
    /// - feed-rs matches elements by namespace, and skips every element of a
    ///   namespace it does not know: a feed in one of [`LEGACY_NAMESPACES`]
    ///   would parse, but with no entries.
    pub(super) fn modernized(&self, body: &[u8]) -> Option<Vec<u8>> {
        let root = self.root.clone()?;
        let tag = &body[root.clone()];
        let mut new_tag = tag.to_vec();
        for (old, new) in LEGACY_NAMESPACES {
            new_tag = replace_namespace(&new_tag, old.as_bytes(), new.as_bytes());
        }
        if self.root_name(body)? == b"rss" {
            match attribute_value(&new_tag, b"version") {
                Some(value) if SUPPORTED_RSS_VERSIONS.contains(&&new_tag[value.clone()]) => {}
                Some(value) => {
                    new_tag.splice(value, b"2.0".iter().copied());
                }
                None => {
                    let after_name = b"<rss".len();
                    new_tag.splice(after_name..after_name, b" version=\"2.0\"".iter().copied());
                }
            }
        }
        if new_tag == tag {
            return None;
        }
        let mut modernized = Vec::with_capacity(body.len() + new_tag.len());
        modernized.extend_from_slice(&body[..root.start]);
        modernized.extend_from_slice(&new_tag);
        modernized.extend_from_slice(&body[root.end..]);
        Some(modernized)
    }
}

/// The `<rss version>`s feed-rs reads.
const SUPPORTED_RSS_VERSIONS: [&[u8]; 3] = [b"0.91", b"0.92", b"2.0"];

/// Namespaces of older spellings of the formats, with the namespace feed-rs
/// knows them by.
const LEGACY_NAMESPACES: [(&str, &str); 4] = [
    // RSS 0.90, the RDF format RSS 1.0 grew from.
    (
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://purl.org/rss/1.0/",
    ),
    (
        "http://channel.netscape.com/rdf/simple/0.9/",
        "http://purl.org/rss/1.0/",
    ),
    // RSS 2.0 in the namespace UserLand once proposed for it.
    (
        "http://backend.userland.com/rss2",
        "http://purl.org/rss/1.0/",
    ),
    // Atom 0.3. Its entries are read as Atom 1.0 entries; its dates
    // (`issued`, `modified`) have other names and are not read.
    ("http://purl.org/atom/ns#", "http://www.w3.org/2005/Atom"),
];

/// `tag` with every quoted attribute value `old` made `new`.
fn replace_namespace(tag: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len());
    let mut rest = tag;
    while let Some(at) = find(rest, old) {
        let quoted = at > 0
            && matches!(rest[at - 1], b'"' | b'\'')
            && rest.get(at + old.len()) == Some(&rest[at - 1]);
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(if quoted { new } else { old });
        rest = &rest[at + old.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Where the value of attribute `name` sits inside start tag `tag` (quotes
/// excluded).
pub(super) fn attribute_value(tag: &[u8], name: &[u8]) -> Option<Range<usize>> {
    let mut from = 0;
    while let Some(found) = find(&tag[from..], name) {
        let start = from + found;
        from = start + name.len();
        if !tag[..start].last().is_some_and(u8::is_ascii_whitespace) {
            continue;
        }
        let rest = tag[from..].trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let quote = *rest.first()?;
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value_len = tag[value_start..].iter().position(|&b| b == quote)?;
        return Some(value_start..value_start + value_len);
    }
    None
}

/// The longest start tag an error message quotes.
const MAX_TAG_SHOWN: usize = 160;

/// Where `needle` first occurs in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// How many bytes of `haystack` run up to and including the first `marker`:
/// all of them when there is none.
pub(super) fn end_of(haystack: &[u8], marker: &[u8]) -> usize {
    find(haystack, marker).map_or(haystack.len(), |i| i + marker.len())
}

/// `<!DOCTYPE html` followed by white space or `>`, in any case.
fn is_html_doctype(decl: &[u8]) -> bool {
    let Some(rest) = decl.get(2..) else {
        return false;
    };
    let Some(rest) = rest
        .get(..7)
        .filter(|kw| kw.eq_ignore_ascii_case(b"doctype"))
        .map(|_| rest[7..].trim_ascii_start())
    else {
        return false;
    };
    rest.get(..4)
        .is_some_and(|name| name.eq_ignore_ascii_case(b"html"))
        && rest
            .get(4)
            .is_none_or(|&b| b.is_ascii_whitespace() || b == b'>')
}
