//! Bytes of an HTML page to text.
//!
//! The choice of encoding is the parse stage's (`crate::parse::encoding`):
//! the same order, and the same distrust of declarations the bytes
//! contradict. What is the page's own is finding its `<meta charset>`, which
//! stands where a feed's XML declaration stands.

use encoding_rs::Encoding;

/// How far into the page a `<meta charset>` is looked for. The HTML spec's
/// prescan reads 1024 bytes; real pages put long `<script>`s and comments
/// first, so a little more is read.
const META_PRESCAN_BYTES: usize = 4096;

/// Decodes `body` and says which encoding it used.
///
/// In order: the source's `encoding` override (it exists for sites that
/// declare the wrong one), a byte order mark, the HTTP `Content-Type`
/// charset, a `<meta charset>` or `<meta http-equiv>` in the page's head,
/// else UTF-8 when the bytes are valid UTF-8 and windows-1252 when not (what
/// browsers fall back to for Western pages). A declaration the bytes plainly
/// contradict is passed over. Malformed sequences become U+FFFD rather than
/// failing the poll.
pub fn decode_html(
    body: &[u8],
    content_type: Option<&str>,
    override_encoding: Option<&'static Encoding>,
) -> (String, &'static Encoding) {
    let meta = meta_charset(&body[..body.len().min(META_PRESCAN_BYTES)]);
    let (text, used) =
        crate::parse::encoding::decode_html_page(body, content_type, override_encoding, meta);
    (text.into_owned(), used)
}

/// The charset a `<meta>` tag in `head` declares: `<meta charset="gbk">` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=gbk">`.
/// Markup is ASCII in every encoding a page can declare itself in, so the
/// bytes are read as ASCII.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = find(&lower[at..], b"<meta") {
        let start = at + found;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |p| start + p);
        let tag = &lower[start..end];
        if let Some(pos) = find(tag, b"charset") {
            let rest = &tag[pos + b"charset".len()..];
            let rest = rest.trim_ascii_start();
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = rest.trim_ascii_start();
                let rest = rest
                    .strip_prefix(b"\"")
                    .or_else(|| rest.strip_prefix(b"'"))
                    .unwrap_or(rest);
                let len = rest
                    .iter()
                    .position(|&b| {
                        matches!(b, b'"' | b'\'' | b';' | b' ' | b'/' | b'\t' | b'\n' | b'\r')
                    })
                    .unwrap_or(rest.len());
                if let Some(encoding) = Encoding::for_label(&rest[..len]) {
                    return Some(encoding);
                }
            }
        }
        at = end.max(start + 1);
        if at >= lower.len() {
            break;
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_is_read_from_meta_http_charset_or_the_override() {
        let (bytes, _, _) = encoding_rs::GBK.encode("国家图书馆新闻");
        let page = [
            b"<html><head><meta charset=\"gbk\"></head><body>".as_slice(),
            &bytes,
            b"</body></html>",
        ]
        .concat();
        let (text, used) = decode_html(&page, None, None);
        assert_eq!(used, encoding_rs::GBK);
        assert!(text.contains("国家图书馆新闻"), "{text}");

        let bare = [b"<p>".as_slice(), &bytes, b"</p>"].concat();
        let (text, _) = decode_html(&bare, Some("text/html; charset=\"GB2312\""), None);
        assert!(text.contains("国家图书馆新闻"), "{text}");
        let (text, _) = decode_html(&bare, None, Some(encoding_rs::GBK));
        assert!(text.contains("国家图书馆新闻"), "{text}");
        let (guessed, used) = decode_html(&bare, None, None);
        // Nothing declared and not UTF-8: windows-1252, as a browser does.
        assert_eq!(used, encoding_rs::WINDOWS_1252, "no declaration, not UTF-8");
        assert!(!guessed.contains("国家"));
    }

    #[test]
    fn http_equiv_meta_and_bom_are_read_and_the_override_wins() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Новости библиотеки");
        let page = [
            b"<head><META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=windows-1251'>"
                .as_slice(),
            &bytes,
        ]
        .concat();
        let (text, _) = decode_html(&page, None, None);
        assert!(text.contains("Новости библиотеки"), "{text}");

        let bom = [b"\xEF\xBB\xBF".as_slice(), "café".as_bytes()].concat();
        let (text, used) = decode_html(&bom, Some("text/html; charset=iso-8859-1"), None);
        assert_eq!((text.as_str(), used), ("café", encoding_rs::UTF_8));

        // A site that says UTF-8 but sends GBK: the admin's override wins.
        let (gbk, _, _) = encoding_rs::GBK.encode("图书馆");
        let (text, _) = decode_html(
            &gbk,
            Some("text/html; charset=utf-8"),
            Some(encoding_rs::GBK),
        );
        assert_eq!(text, "图书馆");
    }
}
