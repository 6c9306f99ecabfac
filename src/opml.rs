//! OPML 2.0: the sources exported as a subscription list (`/opml`), and an
//! OPML file's feeds turned into `[[sources]]` TOML (`import-opml`).

use crate::config::Settings;

/// The configured sources as an OPML 2.0 document.
pub fn render(settings: &Settings) -> String {
    let _ = settings;
    todo!("opml render")
}
