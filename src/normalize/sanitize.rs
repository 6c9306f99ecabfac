//! Sanitizing the HTML a feed carries, with ammonia.

use ammonia::{Builder, UrlRelative};
use std::cell::RefCell;
use std::collections::HashSet;
use url::Url;

thread_local! {
    /// One ammonia builder per thread, built once.
    ///
    /// Not a shared `LazyLock<Builder>`: relative URLs must be rewritten
    /// against each item's own base, and ammonia takes that base as a builder
    /// setting (`UrlRelative::RewriteWithBase`), not as an argument to
    /// `clean`. A per-thread builder can take a new base for every call
    /// without a lock, and building one costs a few hash sets, once per
    /// thread.
    static SANITIZER: RefCell<Builder<'static>> = RefCell::new(sanitizer());
}

/// The settings. ammonia's defaults already allow no `script`, `style`,
/// `iframe`, `object`, `embed` or `form`, and no `on*` or `style`
/// attributes; these are the ones that differ.
fn sanitizer() -> Builder<'static> {
    let mut builder = Builder::default();
    builder
        // Not ammonia's long default list (ftp, tel, magnet, …): a news item
        // links to pages and to people.
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true);
    builder
}

/// `html` made safe to show, with relative URLs made absolute against `base`.
/// None when nothing is left but white space.
pub(crate) fn sanitize_html(html: &str, base: &Url) -> Option<String> {
    let cleaned = SANITIZER.with_borrow_mut(|builder| {
        builder.url_relative(UrlRelative::RewriteWithBase(base.clone()));
        builder.clean(html).to_string()
    });
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == cleaned.len() {
        Some(cleaned)
    } else {
        Some(trimmed.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> Option<String> {
        sanitize_html(
            html,
            &Url::parse("https://lib.example.org/news/2024/post.html").unwrap(),
        )
    }

    #[test]
    fn scripts_frames_forms_and_handlers_are_removed() {
        let html = r#"<p onclick="steal()">Hello <b onmouseover="x()">world</b></p>
            <script>alert('x')</script><style>body{display:none}</style>
            <iframe src="https://evil.example/"></iframe>
            <object data="x.swf"></object><embed src="y.swf">
            <form action="https://evil.example/"><input name="q"></form>
            <a href="javascript:alert(1)">js</a><img src="data:image/png;base64,AAAA">"#;
        let cleaned = clean(html).unwrap();
        for gone in [
            "onclick",
            "onmouseover",
            "<script",
            "alert",
            "<style",
            "display:none",
            "<iframe",
            "<object",
            "<embed",
            "<form",
            "<input",
            "javascript:",
            "data:",
        ] {
            assert!(!cleaned.contains(gone), "{gone} survived in {cleaned}");
        }
        assert!(cleaned.contains("<p>Hello <b>world</b></p>"), "{cleaned}");
    }

    #[test]
    fn links_get_noopener_and_relative_urls_become_absolute() {
        let cleaned =
            clean(r#"<a href="../photos/">photos</a> <img src="/img/a.png" alt="a"> <a href="mailto:x@y.org">mail</a>"#)
                .unwrap();
        assert!(
            cleaned.contains(
                r#"<a href="https://lib.example.org/news/photos/" rel="noopener noreferrer">photos</a>"#
            ),
            "{cleaned}"
        );
        assert!(
            cleaned.contains(r#"src="https://lib.example.org/img/a.png""#),
            "{cleaned}"
        );
        assert!(cleaned.contains(r#"href="mailto:x@y.org""#), "{cleaned}");
    }

    #[test]
    fn other_url_schemes_are_dropped() {
        let cleaned =
            clean(r#"<a href="ftp://files.example/x">f</a><a href="tel:+1">t</a>"#).unwrap();
        assert!(!cleaned.contains("ftp:"), "{cleaned}");
        assert!(!cleaned.contains("tel:"), "{cleaned}");
    }

    #[test]
    fn nothing_left_is_none() {
        assert_eq!(clean("<script>x()</script>  <!-- c -->\n"), None);
        assert_eq!(clean(""), None);
    }
}
