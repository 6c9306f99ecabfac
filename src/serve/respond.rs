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
            HeaderValue::from_static(rendered.format.content_type()),
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
