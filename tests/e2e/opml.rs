//! OPML: `/opml` exports the sources, `librarywire import-opml` turns an OPML
//! file back into `[[sources]]` that a config accepts.

use crate::cli::{accepted_config, librarywire};
use crate::helpers::{FeedServer, TestApp, TestConfig, small_rss};
use librarywire::config::{Settings, SourceKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn opml_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/opml")
        .join(name)
}

/// Runs `import-opml` on `file` (no config anywhere) and returns its stdout.
fn import(file: &Path) -> String {
    let out = librarywire()
        .arg("import-opml")
        .arg(file)
        .env("LIBRARYWIRE_CONFIG", "/nonexistent/librarywire.toml")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import-opml {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The imported TOML as the admin would paste it, under a store path, in a
/// file of its own; the config must load, and check-config accept it.
fn paste(dir: &Path, imported: &str) -> Settings {
    let path = dir.join(format!("pasted-{}.toml", crate::helpers::rand_suffix()));
    std::fs::write(
        &path,
        format!(
            "[store]\npath = \"{}\"\n\n{imported}",
            dir.join("pasted.db").display()
        ),
    )
    .unwrap();
    accepted_config(&path);
    Settings::load_with_env(&path, Some(BTreeMap::new())).unwrap()
}

#[tokio::test]
async fn the_opml_export_round_trips_through_import_opml() {
    let server = FeedServer::start().await;
    server.set(
        "/ifla.xml",
        small_rss(&[("i1", "IFLA")]),
        "application/rss+xml",
    );
    let sources = format!(
        r#"
[[sources]]
id = "ifla-news"
name = "IFLA News"
url = "{ifla}"
interval = "1h"

[[sources]]
id = "bibliotheque"
name = "Bibliothèque"
url = "{bnf}"

[[sources]]
id = "loc"
url = "{loc}"

[[sources]]
id = "nlc-news"
name = "NLC News"
url = "{nlc}"
kind = "page"

[sources.page]
item = "li"
"#,
        ifla = server.url("/ifla.xml"),
        bnf = server.url("/bnf.xml?lang=fr&format=rss"),
        loc = server.url("/loc.xml"),
        nlc = server.url("/nlc/news/"),
    );
    let config = TestConfig::new(&[], "1h", &sources);
    let settings = config.settings();
    let app = TestApp::spawn(settings.clone()).await;

    let reply = app.client().get(app.url("/opml")).send().await.unwrap();
    assert!(reply.status().is_success());
    let content_type = reply.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/x-opml"), "{content_type}");
    let body = reply.text().await.unwrap();
    let document = roxmltree::Document::parse(&body).expect("/opml is XML");
    assert_eq!(document.root_element().attribute("version"), Some("2.0"));
    let file = config.dir.path().join("exported.opml");
    std::fs::write(&file, &body).unwrap();
    app.stop().await;

    let imported = import(&file);
    assert!(imported.contains(&file.display().to_string()), "{imported}");
    let pasted = paste(config.dir.path(), &imported);
    let got: Vec<_> = pasted
        .sources
        .iter()
        .map(|s| (s.id.clone(), s.display_name().to_owned(), s.url.public()))
        .collect();
    let want: Vec<_> = settings
        .sources
        .iter()
        .map(|s| {
            let url = match s.kind {
                SourceKind::Feed => s.url.public(),
                // A page has no feed of its own: the export points at the
                // feed this server makes of it.
                SourceKind::Page => format!("http://news.example.org/sources/{}/feed.xml", s.id),
            };
            (s.id.clone(), s.display_name().to_owned(), url)
        })
        .collect();
    assert_eq!(got, want, "{imported}");
    assert!(
        imported.contains(&format!("# Site: {}", server.url("/nlc/news/"))),
        "the page's own URL is kept for the admin: {imported}"
    );
}

#[test]
fn a_real_subscription_list_imports_to_a_loadable_config() {
    let dir = tempfile::tempdir().unwrap();
    let imported = import(&opml_file("subscriptions.opml"));
    let pasted = paste(dir.path(), &imported);
    assert_eq!(pasted.sources.len(), 13, "{imported}");
    let nyt = pasted
        .source("nyt-business")
        .expect("`NYT > Business` slugged");
    assert_eq!(nyt.display_name(), "NYT > Business");
    assert_eq!(
        nyt.url,
        "http://www.nytimes.com/services/xml/rss/nyt/Business.xml"
    );
    assert!(
        imported
            .contains("# Site: http://www.nytimes.com/pages/business/index.html?partner=rssnyt"),
        "{imported}"
    );

    // RSSOwl's nested folders, feeds named by `title` only.
    let imported = import(&opml_file("rssowl-nested.opml"));
    let pasted = paste(dir.path(), &imported);
    let ids: Vec<_> = pasted.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["feed-1", "feed-2", "feed-3"]);
    assert!(
        imported.contains("# Folder: My Feeds / Some Category")
            && imported.contains("# Folder: My Feeds / Another Category"),
        "{imported}"
    );

    // A bare `&` in the URLs, as exporters write them: repaired, kept.
    let imported = import(&opml_file("raw-ampersand.opml"));
    let pasted = paste(dir.path(), &imported);
    assert_eq!(pasted.sources.len(), 1, "{imported}");
    assert_eq!(pasted.sources[0].url, "http://example.org/feed1/a&b");
    assert_eq!(pasted.sources[0].display_name(), "Feed 1");
}

#[test]
fn duplicates_and_unusable_outlines_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.opml");
    std::fs::write(
        &file,
        r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>Mixed</title></head><body>
  <outline text="News"><outline text="News" xmlUrl="https://a.example.org/feed"/></outline>
  <outline text="News" xmlUrl="https://b.example.org/feed"/>
  <outline text="Same again" xmlUrl="https://a.example.org/feed"/>
  <outline text="Mail" xmlUrl="mailto:news@example.org"/>
  <outline text="Just a site" htmlUrl="https://c.example.org/"/>
</body></opml>"#,
    )
    .unwrap();
    let imported = import(&file);
    let pasted = paste(dir.path(), &imported);
    let ids: Vec<_> = pasted.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["news", "news-2"], "{imported}");
    assert!(imported.contains("# Skipped \"Same again\""), "{imported}");
    assert!(imported.contains("# Skipped \"Mail\""), "{imported}");
    assert!(imported.contains("# Skipped \"Just a site\""), "{imported}");
}

#[test]
fn a_broken_opml_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.opml");
    std::fs::write(
        &truncated,
        "<?xml version=\"1.0\"?><opml version=\"2.0\"><body><outline text=\"a\"",
    )
    .unwrap();
    let rdf = dir.path().join("foaf.xml");
    std::fs::write(
        &rdf,
        "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" />\n",
    )
    .unwrap();
    let unknown_version = dir.path().join("tng.opml");
    std::fs::write(
        &unknown_version,
        "<opml version=\"OPML:TNG\"><body><outline text=\"a\" xmlUrl=\"https://a.org/\"/></body></opml>",
    )
    .unwrap();
    for (file, reason) in [
        (truncated, "unexpected end of file"),
        (rdf, "root element is <rdf:RDF>"),
        (unknown_version, "OPML:TNG"),
        (dir.path().join("missing.opml"), "cannot read"),
    ] {
        let out = librarywire()
            .arg("import-opml")
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", file.display());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing half-printed");
    }
}
