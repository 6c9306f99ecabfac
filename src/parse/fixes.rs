//! The second try: known shapes that make feed-rs refuse a whole feed,
//! fixed in the text before it reads it again. Each fix is one rewrite of
//! markup whose intent is plain; none adds content.
//!
//! - Atom 0.3 text constructs typed with a MIME type (`type="text/plain"`,
//!   `text/html`, `application/xhtml+xml`) or with `type=""`: Atom 1.0's
//!   `text`, `html`, `xhtml`, or no type.
//! - Media RSS `<media:title>` and `<media:description>` with a `type`
//!   attribute, and empty ones (`<![CDATA[]]>` or nothing): feed-rs fails on
//!   both, and librarywire reads neither.
//! - JSON Feed: a `"version"` written short (`"1.1"`) and a missing
//!   `"title"`.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// `text` with every known shape fixed, or None when it has none.
pub(super) fn apply(text: &str) -> Option<String> {
    if text.starts_with('{') {
        return json(text);
    }
    let mut fixed = Cow::Borrowed(text);
    for fix in [atom_types, media_text] {
        if let Cow::Owned(s) = fix(&fixed) {
            fixed = Cow::Owned(s);
        }
    }
    match fixed {
        Cow::Owned(s) if s != text => Some(s),
        _ => None,
    }
}

/// Atom 0.3's MIME types on text constructs, as Atom 1.0 spells them.
fn atom_types(text: &str) -> Cow<'_, str> {
    static TYPED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(<(?:[A-Za-z0-9_]+:)?(?:title|subtitle|tagline|summary|content|rights|copyright|info)\b[^>]*?)\s+type\s*=\s*(?:"([^"]*)"|'([^']*)')"#,
        )
        .expect("a valid pattern")
    });
    TYPED.replace_all(text, |c: &Captures<'_>| {
        let ty = c.get(2).or(c.get(3)).map_or("", |m| m.as_str());
        let new = match ty.trim().to_ascii_lowercase().as_str() {
            "text/plain" => Some("text"),
            "text/html" => Some("html"),
            "application/xhtml+xml" => Some("xhtml"),
            "" => None,
            // Atom 1.0's own, and real media types of <content>: kept.
            _ => return c[0].to_owned(),
        };
        match new {
            Some(new) => format!("{} type=\"{new}\"", &c[1]),
            None => c[1].to_owned(),
        }
    })
}

/// Media RSS titles and descriptions: typed ones lose the type, empty ones
/// go.
fn media_text(text: &str) -> Cow<'_, str> {
    static EMPTY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"<media:(title|description|keywords|credit|copyright|text)\b[^>]*?(?:/>|>\s*(?:<!\[CDATA\[\s*\]\]>)?\s*</media:(?:title|description|keywords|credit|copyright|text)\s*>)",
        )
        .expect("a valid pattern")
    });
    static TYPED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(<media:(?:title|description)\b[^>]*?)\s+type\s*=\s*(?:"[^"]*"|'[^']*')"#)
            .expect("a valid pattern")
    });
    if !text.contains("<media:") {
        return Cow::Borrowed(text);
    }
    let without_empty = EMPTY.replace_all(text, "");
    match TYPED.replace_all(&without_empty, "$1") {
        Cow::Owned(s) => Cow::Owned(s),
        Cow::Borrowed(_) => without_empty,
    }
}

/// A JSON Feed with a short version or without a title, completed.
fn json(text: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = value.as_object_mut()?;
    let mut changed = false;
    let version = object.get("version").and_then(|v| v.as_str()).unwrap_or("");
    if !version.starts_with("https://jsonfeed.org/version/1") {
        let number = version
            .trim()
            .trim_start_matches("http://jsonfeed.org/version/")
            .trim_start_matches("https://jsonfeed.org/version/");
        if object.contains_key("items") && (number.is_empty() || number.starts_with('1')) {
            let number = if number.is_empty() { "1" } else { number };
            object.insert(
                "version".into(),
                format!("https://jsonfeed.org/version/{number}").into(),
            );
            changed = true;
        }
    }
    if !object.get("title").is_some_and(|t| t.is_string()) {
        object.insert("title".into(), "".into());
        changed = true;
    }
    changed.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_mime_types_become_atom_1_types() {
        let fixed = apply(
            r#"<feed><title type="text/plain">A</title><summary type='text/html'>B</summary><content type="">C</content><content type="image/png">D</content></feed>"#,
        )
        .unwrap();
        assert_eq!(
            fixed,
            r#"<feed><title type="text">A</title><summary type="html">B</summary><content>C</content><content type="image/png">D</content></feed>"#
        );
    }

    #[test]
    fn empty_and_typed_media_titles() {
        let fixed = apply(
            r#"<item><media:title><![CDATA[]]></media:title><media:title type="plain">T</media:title><media:description/></item>"#,
        )
        .unwrap();
        assert_eq!(fixed, r#"<item><media:title>T</media:title></item>"#);
    }

    #[test]
    fn nothing_to_fix_is_none() {
        assert!(
            apply(r#"<rss version="2.0"><channel><title type="text">x</title></channel></rss>"#)
                .is_none()
        );
    }

    #[test]
    fn json_feed_short_version_and_no_title() {
        let fixed = apply(r#"{"version": "1.1", "items": []}"#).unwrap();
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(v["title"], "");
    }
}
