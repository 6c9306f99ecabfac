//! Config text for an admin to review and paste: the one writer of TOML,
//! behind `import-opml` and `discover`. Values and keys are written by the
//! `toml` crate, so every name, URL and selector comes out as TOML that
//! reads back to the same string; comments are made one line each.

use super::PageSettings;
use serde::Serialize;

/// One `[[sources]]` entry as a tool suggests it.
#[derive(Debug, Clone, Copy)]
pub struct NewSource<'a> {
    /// The source id.
    pub id: &'a str,
    /// The display name, when there is one.
    pub name: Option<&'a str>,
    /// The feed's or page's URL.
    pub url: &'a str,
    /// The selectors of a page source (it is then written `kind = "page"`);
    /// None for a feed.
    pub page: Option<&'a PageSettings>,
    /// Keys left out, written as commented-out lines after the source's
    /// keys (`timezone = "Asia/Shanghai"   # for dates without an offset`).
    pub hints: &'a [&'a str],
    /// The same for the `[sources.page]` table.
    pub page_hints: &'a [&'a str],
}

/// The keys of a `[[sources]]` table, as the `toml` crate writes them.
#[derive(Serialize)]
struct SourceKeys<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
}

/// TOML text being written: comments, blank lines and sources, in order.
#[derive(Debug, Default)]
pub struct ConfigText {
    out: String,
}

impl ConfigText {
    /// An empty text.
    pub fn new() -> ConfigText {
        ConfigText::default()
    }

    /// A `# ` comment line: `text` on one line, without control characters,
    /// so that nothing in it can end the comment and become TOML.
    pub fn comment(&mut self, text: &str) -> &mut ConfigText {
        self.out.push_str("# ");
        self.out.push_str(&one_line(text));
        self.out.push('\n');
        self
    }

    /// An empty line.
    pub fn blank_line(&mut self) -> &mut ConfigText {
        self.out.push('\n');
        self
    }

    /// A `[[sources]]` entry, with its `[sources.page]` table for a page.
    pub fn source(&mut self, source: &NewSource<'_>) -> &mut ConfigText {
        let keys = SourceKeys {
            id: source.id,
            name: source.name,
            url: source.url,
            kind: source.page.map(|_| "page"),
        };
        self.out.push_str("[[sources]]\n");
        self.out.push_str(&table_body(&keys));
        self.hints(source.hints);
        if let Some(page) = source.page {
            self.out.push_str("\n[sources.page]\n");
            self.out.push_str(&table_body(page));
            self.hints(source.page_hints);
        }
        self
    }

    /// The text written.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// Commented-out keys, each on its own line, their alignment kept.
    fn hints(&mut self, hints: &[&str]) {
        for hint in hints {
            self.out.push_str("# ");
            self.out
                .push_str(&hint.replace(|c: char| c.is_control(), " "));
            self.out.push('\n');
        }
    }
}

/// `keys` as the `key = value` lines of a table. A flat struct of strings,
/// booleans and options always serializes, so a failure is a bug here.
fn table_body(keys: &impl Serialize) -> String {
    toml::to_string(keys).expect("a flat table of strings and booleans serializes as TOML")
}

/// `text` on one line: control characters and runs of white space (newlines
/// included) made one space, trimmed.
fn one_line(text: &str) -> String {
    text.replace(|c: char| c.is_control(), " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written_and_comments_stay_comments() {
        let name = "Say \"hi\" \\ there\u{1}\nand 'more'";
        let text = ConfigText::new()
            .comment("Folder: a\nb\r\u{7}c")
            .source(&NewSource {
                id: "x",
                name: Some(name),
                url: "https://lib.example.org/a?b=1&c=\"2\"",
                page: None,
                hints: &[],
                page_hints: &[],
            })
            .finish();
        assert!(text.starts_with("# Folder: a b c\n[[sources]]\n"), "{text}");
        let value: toml::Table = text.parse().unwrap();
        let source = &value["sources"].as_array().unwrap()[0];
        assert_eq!(source["name"].as_str(), Some(name));
        assert_eq!(
            source["url"].as_str(),
            Some("https://lib.example.org/a?b=1&c=\"2\"")
        );
        assert!(source.get("kind").is_none(), "a feed says no kind");
    }

    #[test]
    fn a_page_source_has_its_table_and_its_hints_where_they_apply() {
        let page = PageSettings {
            item: "div.news-item".into(),
            summary: Some("p".into()),
            ..PageSettings::default()
        };
        let text = ConfigText::new()
            .source(&NewSource {
                id: "news",
                name: None,
                url: "https://news.example.org/",
                page: Some(&page),
                hints: &["timezone = \"Asia/Shanghai\""],
                page_hints: &["follow = true"],
            })
            .finish();
        assert_eq!(
            text,
            "[[sources]]\nid = \"news\"\nurl = \"https://news.example.org/\"\nkind = \"page\"\n\
             # timezone = \"Asia/Shanghai\"\n\n[sources.page]\nitem = \"div.news-item\"\n\
             title = \"h1, h2, h3, h4, a\"\nlink = \"a@href\"\ndate = \"time@datetime\"\n\
             summary = \"p\"\n# follow = true\n"
        );
    }
}
