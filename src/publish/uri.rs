//! The broker's address: `amqp.url` parsed into lapin's URI, with the
//! heartbeat we want by default, and shown without its credentials. No I/O.

use lapin::uri::{AMQPScheme, AMQPUri};

/// The heartbeat asked for when the URL does not set one, in seconds. A dead
/// peer behind a silent network is noticed within about twice this.
const DEFAULT_HEARTBEAT_SECS: u16 = 30;

/// Parses the configured URL, asking for the default heartbeat when it names none.
pub(super) fn parse_uri(url: &str) -> Result<AMQPUri, String> {
    let mut uri: AMQPUri = url.parse()?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(DEFAULT_HEARTBEAT_SECS);
    }
    Ok(uri)
}

/// The broker's address for logs: scheme, host, port and vhost, never the credentials.
pub(super) fn endpoint(uri: &AMQPUri) -> String {
    let scheme = match uri.scheme {
        AMQPScheme::AMQP => "amqp",
        AMQPScheme::AMQPS => "amqps",
    };
    format!(
        "{scheme}://{}:{}/{}",
        uri.authority.host, uri.authority.port, uri.vhost
    )
}

/// Removes `url` (which may carry a password) from a URL parser's message.
pub(super) fn redact(message: &str, url: &str) -> String {
    if url.is_empty() {
        message.to_owned()
    } else {
        message.replace(url, "<amqp.url>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_defaults_to_thirty_seconds() {
        let uri = parse_uri("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(uri.query.heartbeat, Some(30));
        assert_eq!(endpoint(&uri), "amqp://127.0.0.1:5672//");
    }

    #[test]
    fn heartbeat_from_the_url_wins() {
        let uri = parse_uri("amqp://u:p@broker:5673/news?heartbeat=5").unwrap();
        assert_eq!(uri.query.heartbeat, Some(5));
        let shown = endpoint(&uri);
        assert_eq!(shown, "amqp://broker:5673/news");
        assert!(!shown.contains("u:p@"));
    }

    #[test]
    fn bad_url_is_refused() {
        assert!(parse_uri("http://127.0.0.1/").is_err());
        assert!(parse_uri("not a url").is_err());
    }
}
