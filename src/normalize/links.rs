//! The item's link: which of an entry's links is its page, made absolute and
//! canonical.

use feed_rs::model::Link;
use url::Url;

/// Query parameters that only track the click, never select the page. Any
/// parameter starting `utm_` is dropped too.
const TRACKING_PARAMS: [&str; 12] = [
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi",
    "mkt_tok", "igshid", "ref_src",
];

/// True for a link to the entry's own page, as opposed to its feed (`self`),
/// its comments, its edit endpoint or a media file.
///
/// RSS `<comments>` links come with no `rel` but a target, and JSON Feed
/// attachments with no `rel` but a media type; neither is the page.
pub(super) fn is_page_link(link: &Link) -> bool {
    let rel_is_page = link
        .rel
        .as_deref()
        .map(str::trim)
        .is_none_or(|rel| rel.is_empty() || rel.eq_ignore_ascii_case("alternate"));
    let type_is_page = link.media_type.as_deref().map(str::trim).is_none_or(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        essence.is_empty()
            || essence.eq_ignore_ascii_case("text/html")
            || essence.eq_ignore_ascii_case("application/xhtml+xml")
    });
    rel_is_page && type_is_page && link.target.is_none()
}

/// The guid as a link, when it is an absolute http(s) URL (RSS's
/// `isPermaLink`, which feed-rs does not keep).
pub(super) fn guid_as_link(guid: &str) -> Option<Url> {
    let url = Url::parse(guid.trim()).ok()?;
    canonical(url)
}

/// `href` resolved against `base`, if it is an http(s) URL, with tracking
/// parameters removed.
pub(crate) fn canonical_url(href: &str, base: &Url) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    canonical(base.join(href).ok()?)
}

/// `url` if it is http(s) with a host, without tracking parameters.
fn canonical(mut url: Url) -> Option<Url> {
    // Anything else (javascript:, data:, mailto:, file:, tag:) is not a page a
    // subscriber can open, and some of it is dangerous to offer as one.
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    strip_tracking_params(&mut url);
    Some(url)
}

/// Removes tracking parameters from `url`'s query, keeping the others in
/// their order and exactly as written, and drops a query left empty.
fn strip_tracking_params(url: &mut Url) {
    let Some(query) = url.query() else {
        return;
    };
    if query.is_empty() {
        url.set_query(None);
        return;
    }
    if !query.split('&').any(is_tracking_pair) {
        return;
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_tracking_pair(pair))
        .collect();
    let kept = kept.join("&");
    url.set_query(if kept.is_empty() { None } else { Some(&kept) });
}

/// True when the `name=value` pair's name is a tracking parameter.
fn is_tracking_pair(pair: &str) -> bool {
    // Decode the name as a form would (`%5F` is `_`), so an encoded name
    // cannot slip past.
    let Some((name, _)) = url::form_urlencoded::parse(pair.as_bytes()).next() else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_") || TRACKING_PARAMS.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example.org/feed/").unwrap()
    }

    fn canonical_str(href: &str) -> Option<String> {
        canonical_url(href, &base()).map(String::from)
    }

    #[test]
    fn tracking_parameters_are_removed_and_the_rest_kept_in_order() {
        assert_eq!(
            canonical_str(
                "https://ex.org/a?id=7&utm_source=rss&utm_Medium=feed&x=%20y+z&fbclid=abc&gclid=1&b=2#top"
            )
            .as_deref(),
            Some("https://ex.org/a?id=7&x=%20y+z&b=2#top")
        );
    }

    #[test]
    fn a_query_of_only_tracking_parameters_is_dropped_with_its_question_mark() {
        for href in [
            "https://ex.org/a?utm_source=rss&utm_campaign=x",
            "https://ex.org/a?mc_cid=1&mc_eid=2&_hsenc=3&_hsmi=4&mkt_tok=5",
            "https://ex.org/a?igshid=1&ref_src=twsrc&dclid=1&msclkid=1&yclid=1",
            "https://ex.org/a?",
            "https://ex.org/a?utm%5Fsource=rss",
        ] {
            assert_eq!(
                canonical_str(href).as_deref(),
                Some("https://ex.org/a"),
                "{href}"
            );
        }
    }

    #[test]
    fn a_url_without_tracking_parameters_is_left_as_written() {
        assert_eq!(
            canonical_str("https://ex.org/a?b=1&&c=%7E").as_deref(),
            Some("https://ex.org/a?b=1&&c=%7E")
        );
    }

    #[test]
    fn relative_links_resolve_and_only_http_links_are_kept() {
        assert_eq!(
            canonical_str("../2024/ifla.html").as_deref(),
            Some("https://news.example.org/2024/ifla.html")
        );
        assert_eq!(
            canonical_str("  //cdn.example.org/x  ").as_deref(),
            Some("https://cdn.example.org/x")
        );
        for href in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "mailto:a@b.org",
            "tag:example.org,2024:1",
            "file:///etc/passwd",
            "",
            "   ",
        ] {
            assert_eq!(canonical_str(href), None, "{href}");
        }
    }
}
