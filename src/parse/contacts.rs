//! Keeping e-mail addresses where feed-rs 3.0 can split a contact without a
//! panic.
//!
//! feed-rs reads "name email" contacts (RSS `author`, `managingEditor`,
//! `webMaster`, `dc:creator`, iTunes `author`, JSON Feed author names) with
//! `parse_person_name_email`, which cuts the name one *byte* before or after
//! the address it matched. When the character there is not ASCII ("Ana
//! ›ana@lib.org", "lib@nlc.cn（国家图书馆）", a no-break space), that cut falls
//! inside a character and panics. Found by fuzzing.
//!
//! The body is text here (already decoded to UTF-8), so an address with a
//! non-ASCII neighbour can be found byte-wise, and one ASCII space put between
//! them. The name then reads the same once white space is collapsed.

use std::borrow::Cow;

/// `body` with a space between every e-mail address and a non-ASCII
/// character (written out, or as a character reference or JSON escape) that
/// touches it, or `body` itself when there is none.
pub(super) fn tame(body: &[u8]) -> Cow<'_, [u8]> {
    let mut spaces_at = Vec::new();
    for at in memchr::memchr_iter(b'@', body) {
        let local = body[..at]
            .iter()
            .rev()
            .take_while(|&&b| is_local_byte(b))
            .count();
        let domain = body[at + 1..]
            .iter()
            .take_while(|&&b| is_domain_byte(b))
            .count();
        if local == 0 || domain == 0 {
            continue;
        }
        let mut start = at - local;
        // A JSON `\u` escape reads as local-part bytes (`\u203aana@…`), but
        // feed-rs sees the character it stands for: the cut is after it.
        let escape = memchr::memmem::rfind(&body[start.saturating_sub(1)..at], b"\\u");
        if let Some(escape) = escape {
            spaces_at.push((start.saturating_sub(1) + escape + 6).min(at));
        }
        // feed-rs's match may take an optional `mailto:` and bracketing
        // around the address; the cut is beyond those.
        for prefix in [&b"mailto:"[..], b"<[(", b"&lt;[("] {
            if body[..start].ends_with(prefix) {
                start -= prefix.len();
            }
        }
        let mut end = at + 1 + domain;
        for suffix in [&b">])"[..], b"&gt;])"] {
            if body[end..].starts_with(suffix) {
                end += suffix.len();
            }
        }
        if escape.is_none() && start > 0 && ends_with_non_ascii(&body[..start]) {
            spaces_at.push(start);
        }
        if starts_with_non_ascii(&body[end..]) {
            spaces_at.push(end);
        }
    }
    if spaces_at.is_empty() {
        return Cow::Borrowed(body);
    }
    // Addresses can overlap ("a@b.c@d.e"), so the places can come unordered.
    spaces_at.sort_unstable();
    spaces_at.dedup();
    let mut out = Vec::with_capacity(body.len() + spaces_at.len());
    let mut from = 0;
    for at in spaces_at {
        out.extend_from_slice(&body[from..at]);
        out.push(b' ');
        from = at;
    }
    out.extend_from_slice(&body[from..]);
    Cow::Owned(out)
}

/// A byte of the local part as feed-rs's pattern has it.
fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

/// A byte of the domain as feed-rs's pattern has it.
fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".-".contains(&b)
}

/// True when `before` ends with a non-ASCII character or with a reference
/// (`&…;`) that may stand for one.
fn ends_with_non_ascii(before: &[u8]) -> bool {
    let Some(&last) = before.last() else {
        return false;
    };
    if !last.is_ascii() {
        return true;
    }
    if last != b';' {
        return false;
    }
    // A reference is short; `&#x10FFFF;` is the longest that matters.
    let tail = &before[before.len().saturating_sub(12)..];
    tail.iter()
        .rposition(|&b| b == b'&')
        .is_some_and(|amp| reference_may_be_non_ascii(&tail[amp..]))
}

/// True when `after` starts with a non-ASCII character, a reference that may
/// stand for one, or a JSON `\u` escape.
fn starts_with_non_ascii(after: &[u8]) -> bool {
    match after.first() {
        Some(&b) if !b.is_ascii() => true,
        Some(b'&') => {
            let head = &after[..after.len().min(12)];
            head.iter()
                .position(|&b| b == b';')
                .is_some_and(|semi| reference_may_be_non_ascii(&head[..=semi]))
        }
        // JSON: feed-rs unescapes before it splits. Any `\u` is treated as
        // non-ASCII; an extra space is harmless.
        Some(b'\\') => after.get(1) == Some(&b'u'),
        _ => false,
    }
}

/// True for a reference `&…;` other than XML's own five and ASCII character
/// references.
fn reference_may_be_non_ascii(reference: &[u8]) -> bool {
    let name = &reference[1..reference.len() - 1];
    if let Some(number) = name.strip_prefix(b"#") {
        let value = match number
            .strip_prefix(b"x")
            .or_else(|| number.strip_prefix(b"X"))
        {
            Some(hex) => std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok()),
            None => std::str::from_utf8(number)
                .ok()
                .and_then(|d| d.parse::<u32>().ok()),
        };
        return value.is_none_or(|v| v >= 0x80);
    }
    !matches!(name, b"amp" | b"lt" | b"gt" | b"quot" | b"apos")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tamed(body: &str) -> String {
        String::from_utf8(tame(body.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn a_non_ascii_neighbour_of_an_address_gets_a_space() {
        assert_eq!(tamed("Ana ›ana@lib.org"), "Ana › ana@lib.org");
        assert_eq!(
            tamed("lib@nlc.cn（国家图书馆）"),
            "lib@nlc.cn （国家图书馆）"
        );
        assert_eq!(
            tamed("Ana&#8250;mailto:ana@lib.org&raquo;"),
            "Ana&#8250; mailto:ana@lib.org &raquo;"
        );
        assert_eq!(
            tamed(r#"{"name": "ana@lib.org\u00a0Ana"}"#),
            r#"{"name": "ana@lib.org \u00a0Ana"}"#
        );
        assert_eq!(
            tamed(r#"{"name": "Ana \u203aana@lib.org"}"#),
            r#"{"name": "Ana \u203a ana@lib.org"}"#
        );
    }

    #[test]
    fn addresses_with_ascii_neighbours_are_left_alone() {
        for body in [
            "<author>ana@lib.org (Ana Silva)</author>",
            "https://lib.org/?e=ana@lib.org&amp;x=1&#38;y=2",
            "@ alone, a@ and @b",
            "图书馆 ana@lib.org 图书馆",
        ] {
            assert!(matches!(tame(body.as_bytes()), Cow::Borrowed(_)), "{body}");
        }
    }
}
