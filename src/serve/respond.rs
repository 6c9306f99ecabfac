//! Answering with a [`Rendered`] feed: pick the encoding, answer 304 when
//! the client's copy is current, else send the bytes. Every header value was
//! built at render time, so a request only clones `Bytes` and header values.

use super::cache::{Rendered, Variant};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use headers::HeaderMapExt;

/// The response to a GET of `rendered` with `request` headers.
pub fn feed_response(rendered: &Rendered, request: &HeaderMap) -> Response {
    let gzip = accepts_gzip(request);
    let variant = if gzip {
        &rendered.gzip
    } else {
        &rendered.identity
    };
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(header::ETAG, variant.etag_header.clone());
    headers.insert(header::LAST_MODIFIED, rendered.last_modified_header.clone());
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let (status, body) = if is_fresh(request, variant, rendered) {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rendered.content_type),
        );
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        (StatusCode::OK, Body::from(variant.body.clone()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether the client's copy is current. `If-None-Match` wins over
/// `If-Modified-Since` when both are sent (RFC 9110, 13.2.2), and compares
/// weakly, so `W/"…"` from a cache that gunzipped the body still matches its
/// own variant.
fn is_fresh(request: &HeaderMap, variant: &Variant, rendered: &Rendered) -> bool {
    if request.contains_key(header::IF_NONE_MATCH) {
        return match request.typed_get::<headers::IfNoneMatch>() {
            Some(if_none_match) => !if_none_match.precondition_passes(&variant.etag),
            None => false,
        };
    }
    if let Some(since) = request.typed_get::<headers::IfModifiedSince>() {
        return !since.is_modified(rendered.last_modified);
    }
    false
}

/// Whether `Accept-Encoding` allows gzip: `gzip` (or `x-gzip`) with a
/// non-zero q, or else `*` with a non-zero q. No header, no gzip.
pub fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for coding in value.split(',') {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| {
                    let (key, value) = p.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| value.trim().parse::<f32>().unwrap_or(0.0))
                })
                .next_back()
                .unwrap_or(1.0);
            if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(gzip.map_or(q, |g: f32| g.max(q)));
            } else if name == "*" {
                star = Some(q);
            }
        }
    }
    gzip.or(star).is_some_and(|q| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        headers
    }

    fn rendered() -> Rendered {
        let settings = crate::config::ServerSettings::default();
        let format = super::super::FeedFormat::Rss;
        Rendered::new(
            format,
            &super::super::FeedMeta::merged(&settings, format),
            &[],
            Some(chrono::Utc::now()),
        )
    }

    /// Request headers, by name and value.
    type Headers = Vec<(header::HeaderName, String)>;

    /// The status `feed_response` answers a GET with these headers.
    fn status(rendered: &Rendered, headers: &Headers) -> StatusCode {
        let mut request = HeaderMap::new();
        for (name, value) in headers {
            request.append(name, value.parse().unwrap());
        }
        feed_response(rendered, &request).status()
    }

    /// The 304 decision, case by case: which validator is compared with
    /// which variant, and which header wins.
    #[test]
    fn not_modified_only_when_the_clients_copy_is_this_variant() {
        let r = rendered();
        let identity = r.identity.etag_header.to_str().unwrap().to_owned();
        let gzipped = r.gzip.etag_header.to_str().unwrap().to_owned();
        let modified = httpdate::fmt_http_date(r.last_modified);
        let before = httpdate::fmt_http_date(r.last_modified - std::time::Duration::from_secs(60));
        let after = httpdate::fmt_http_date(r.last_modified + std::time::Duration::from_secs(60));
        let inm = |v: &str| (header::IF_NONE_MATCH, v.to_owned());
        let ims = |v: &str| (header::IF_MODIFIED_SINCE, v.to_owned());
        let gzip = (header::ACCEPT_ENCODING, "gzip".to_owned());
        let (ok, not_modified) = (StatusCode::OK, StatusCode::NOT_MODIFIED);

        let cases: Vec<(&str, Headers, StatusCode)> = vec![
            ("no validator", vec![], ok),
            ("its own ETag", vec![inm(&identity)], not_modified),
            (
                "its ETag, weak",
                vec![inm(&format!("W/{identity}"))],
                not_modified,
            ),
            (
                "one of a list",
                vec![inm(&format!("\"x\", {identity}"))],
                not_modified,
            ),
            ("any", vec![inm("*")], not_modified),
            ("another ETag", vec![inm("\"other\"")], ok),
            ("the gzip ETag for identity", vec![inm(&gzipped)], ok),
            (
                "the gzip ETag for gzip",
                vec![gzip.clone(), inm(&gzipped)],
                not_modified,
            ),
            (
                "the identity ETag for gzip",
                vec![gzip.clone(), inm(&identity)],
                ok,
            ),
            ("not modified since", vec![ims(&modified)], not_modified),
            ("since later", vec![ims(&after)], not_modified),
            ("modified since", vec![ims(&before)], ok),
            (
                "If-None-Match wins over If-Modified-Since",
                vec![inm("\"other\""), ims(&after)],
                ok,
            ),
            (
                "a matching ETag with an old date",
                vec![inm(&identity), ims(&before)],
                not_modified,
            ),
            (
                "an unreadable If-None-Match",
                vec![inm("not a tag"), ims(&after)],
                ok,
            ),
        ];
        for (what, headers, expected) in cases {
            assert_eq!(status(&r, &headers), expected, "{what}");
        }
    }

    #[test]
    fn a_304_has_the_validators_and_no_body() {
        let r = rendered();
        let identity = r.identity.etag_header.clone();
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, identity.clone());
        let response = feed_response(&r, &request);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], identity);
        assert!(response.headers().contains_key(header::LAST_MODIFIED));
        assert!(!response.headers().contains_key(header::CONTENT_TYPE));
        let full = feed_response(&r, &HeaderMap::new());
        assert_eq!(full.headers()[header::CONTENT_TYPE], r.content_type);
    }

    #[test]
    fn gzip_is_chosen_only_when_allowed() {
        assert!(!accepts_gzip(&HeaderMap::new()));
        for yes in [
            "gzip",
            "br, gzip",
            "GZip;q=0.5",
            "*",
            "x-gzip",
            "deflate, *;q=0.1",
        ] {
            assert!(accepts_gzip(&with(yes)), "{yes}");
        }
        for no in [
            "identity",
            "br",
            "gzip;q=0",
            "gzip; q=0.0, br",
            "*;q=0",
            "gzip;q=0, *",
        ] {
            assert!(!accepts_gzip(&with(no)), "{no}");
        }
    }
}
