//! `SourceUrl`: a source's configured URL, whose user and password (in the
//! URL, or from the environment variable `password_env` names) are for the
//! request alone. Everything that shows a URL (feeds, `/opml`, `/status`,
//! logs, errors, `check-config`, events) shows it without them: its
//! `Display`, `Debug` and `Serialize` all leave them out, and only
//! [`SourceUrl::credentials`] hands them out, to the fetcher.

use serde::{Deserialize, Serialize};
use url::Url;

/// A configured source URL. Deserialized from the config's string.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SourceUrl(String);

/// The user and password a source's requests send (HTTP basic auth).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, percent-decoded.
    pub user: String,
    /// The password, percent-decoded; `None` for a URL with a user only.
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &"<hidden>")
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Credentials {
    /// The user and password in `url`, percent-decoded; `None` when it has neither.
    pub fn from_url(url: &Url) -> Option<Credentials> {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = decode(url.username());
        let password = url.password().map(decode);
        if user.is_empty() && password.is_none() {
            return None;
        }
        Some(Credentials { user, password })
    }
}

impl SourceUrl {
    /// The URL as configured, credentials and all: for validation only.
    pub(crate) fn configured(&self) -> &str {
        &self.0
    }

    /// The URL without user and password, parsed. Fails as the configured
    /// text does (validation has checked it).
    pub fn parsed(&self) -> Result<Url, url::ParseError> {
        Url::parse(&self.0).map(|url| without_credentials(&url))
    }

    /// The URL without user and password, as text: what every output shows.
    pub fn public(&self) -> String {
        match Url::parse(&self.0) {
            Ok(url) => without_credentials(&url).to_string(),
            // Not a URL (validation refuses it): show nothing that could be
            // a password.
            Err(_) => "<not a URL>".to_owned(),
        }
    }

    /// Whether the configured URL has a user or password in it.
    pub fn has_credentials(&self) -> bool {
        Url::parse(&self.0).is_ok_and(|url| !url.username().is_empty() || url.password().is_some())
    }

    /// The user and password in the URL, percent-decoded; `password`, when
    /// given (from `password_env`), wins over the URL's own.
    pub fn credentials(&self, password: Option<String>) -> Option<Credentials> {
        let url = Url::parse(&self.0).ok()?;
        let mut credentials = Credentials::from_url(&url)?;
        if password.is_some() {
            credentials.password = password;
        }
        Some(credentials)
    }
}

impl From<&str> for SourceUrl {
    fn from(url: &str) -> SourceUrl {
        SourceUrl(url.to_owned())
    }
}

impl From<String> for SourceUrl {
    fn from(url: String) -> SourceUrl {
        SourceUrl(url)
    }
}

/// Compares the URL as configured, credentials and all.
impl PartialEq<&str> for SourceUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.public())
    }
}

impl std::fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceUrl({:?})", self.public())
    }
}

impl Serialize for SourceUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.public())
    }
}

/// `url` with its user and password removed: the one way a URL is
/// stripped of credentials, for a source's URL and (through
/// [`redact_url`]) the store's.
pub fn without_credentials(url: &Url) -> Url {
    let mut url = url.clone();
    // Only fails for URLs that cannot have them (`file:`, `mailto:`): they have none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// A URL given as text (`store.url`), as logs, `/status` and errors show
/// it: [`without_credentials`], and without a `password` query parameter
/// (PostgreSQL takes one there too). A URL that does not parse is shown as
/// its scheme alone.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => {
            let mut parsed = without_credentials(&parsed);
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("password"))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                parsed.set_query(None);
            } else {
                parsed.query_pairs_mut().clear().extend_pairs(kept);
            }
            parsed.to_string()
        }
        Err(_) => match url.split_once(':') {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "…".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_leaves_the_credentials_out() {
        let url = SourceUrl::from("https://lib%40rary:p%3Ass+w@news.example.org:8443/feed?x=1");
        let shown = "https://news.example.org:8443/feed?x=1";
        assert_eq!(url.public(), shown);
        assert_eq!(url.to_string(), shown);
        assert_eq!(format!("{url:?}"), format!("SourceUrl({shown:?})"));
        assert_eq!(serde_json::to_string(&url).unwrap(), format!("{shown:?}"));
        assert_eq!(url.parsed().unwrap().as_str(), shown);
        assert!(url.has_credentials());
        let credentials = url.credentials(None).unwrap();
        assert_eq!(credentials.user, "lib@rary");
        assert_eq!(credentials.password.as_deref(), Some("p:ss+w"));
        assert!(!format!("{credentials:?}").contains("rary"));
        let from_env = url.credentials(Some("other".into())).unwrap();
        assert_eq!(from_env.password.as_deref(), Some("other"));
    }

    #[test]
    fn a_url_without_credentials_has_none() {
        let url = SourceUrl::from("https://news.example.org/feed");
        assert!(!url.has_credentials());
        assert_eq!(url.credentials(None), None);
        assert_eq!(url.public(), "https://news.example.org/feed");
        let file = SourceUrl::from("file:///srv/feed.xml");
        assert_eq!(file.public(), "file:///srv/feed.xml");
        assert_eq!(SourceUrl::from("not a url").public(), "<not a URL>");
    }
}
