//! What `librarywire discover URL` suggests for a page that advertises no
//! feed (parse's autodiscovery, `parse::advertised_feeds`, finds those it
//! does): a guess at page-source selectors, and the config to paste. Pure,
//! like the rest of the stage.

use crate::config::{ConfigText, NewSource, PageSettings};
use scraper::{ElementRef, Html, Selector};
use std::collections::HashMap;
use std::sync::LazyLock;
use url::Url;

/// Elements that hold site chrome, not news: a repeated structure inside one
/// is a menu.
const CHROME: [&str; 5] = ["nav", "header", "footer", "aside", "form"];

/// Elements that commonly wrap one news entry.
const ENTRY_TAGS: [&str; 7] = ["article", "li", "div", "section", "tr", "dd", "p"];

/// A guess at a page source's selectors: the repeated element with links
/// that looks most like a list of news (most entries, with a date and a
/// heading weighing more), and what is inside it. None when nothing repeats.
///
/// It is a starting point for `poll-once`, not an answer: the admin checks
/// what it picks.
pub fn suggest_page(html: &str) -> Option<PageSettings> {
    static ANY: LazyLock<Selector> = LazyLock::new(|| Selector::parse("*").expect("static"));
    static LINK: LazyLock<Selector> = LazyLock::new(|| Selector::parse("a[href]").expect("static"));
    static TIME: LazyLock<Selector> = LazyLock::new(|| Selector::parse("time").expect("static"));
    static HEADING: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("h1, h2, h3, h4, h5").expect("static"));
    let document = Html::parse_document(html);

    // Score per candidate selector: entries with a link, with a date, with a heading.
    let mut scores: HashMap<String, (usize, usize, usize)> = HashMap::new();
    for element in document.select(&ANY) {
        let name = element.value().name();
        if !ENTRY_TAGS.contains(&name) || in_chrome(element) {
            continue;
        }
        if element.select(&LINK).next().is_none() {
            continue;
        }
        let has_time = element.select(&TIME).next().is_some();
        let has_heading = element.select(&HEADING).next().is_some();
        for signature in signatures(element) {
            let entry = scores.entry(signature).or_default();
            entry.0 += 1;
            entry.1 += usize::from(has_time);
            entry.2 += usize::from(has_heading);
        }
    }
    // The most entries, dated and headed ones weighing more; among equals
    // the shortest selector, which survives a site's class changes best.
    let (item, _) = scores
        .into_iter()
        .filter(|(_, (n, _, _))| *n >= 2)
        .max_by_key(|(sig, (n, dated, headed))| {
            (
                n + 4 * dated + 4 * headed,
                std::cmp::Reverse(sig.len()),
                std::cmp::Reverse(sig.clone()),
            )
        })?;
    let item_selector = Selector::parse(&item).ok()?;
    let first = document.select(&item_selector).next()?;

    let heading = first.select(&HEADING).next();
    let heading_name = heading.map(|h| h.value().name().to_owned());
    let (title, link) = match (&heading_name, heading) {
        (Some(h), Some(el)) if el.select(&LINK).next().is_some() => {
            (h.clone(), format!("{h} a@href"))
        }
        (Some(h), _) => (h.clone(), "a@href".to_owned()),
        (None, _) => ("a".to_owned(), "a@href".to_owned()),
    };
    let date = match first.select(&TIME).next() {
        Some(time) if time.attr("datetime").is_some() => "time@datetime".to_owned(),
        Some(_) => "time".to_owned(),
        None => PageSettings::default().date,
    };
    let summary = first
        .select(&Selector::parse("p").ok()?)
        .next()
        .map(|_| "p".to_owned());
    Some(PageSettings {
        item,
        title,
        link,
        date,
        summary,
        ..PageSettings::default()
    })
}

fn in_chrome(element: ElementRef<'_>) -> bool {
    std::iter::once(element)
        .chain(element.ancestors().filter_map(ElementRef::wrap))
        .any(|e| CHROME.contains(&e.value().name()))
}

/// The selectors that could name `element` as an entry: its tag alone for
/// `article` and `li` (a bare `div` matches half of any page), and its tag
/// with each one of its classes that is safe to write as it is (a class with
/// `:` or `/`, as utility CSS makes, is left out).
fn signatures(element: ElementRef<'_>) -> Vec<String> {
    let name = element.value().name();
    let mut out = Vec::new();
    if matches!(name, "article" | "li") {
        out.push(name.to_owned());
    }
    for class in element.value().classes().take(6) {
        let safe = class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !class.starts_with(|c: char| c.is_ascii_digit() || c == '-');
        if safe {
            out.push(format!("{name}.{class}"));
        }
    }
    out
}

/// A suggested page config as the TOML an admin pastes into the config,
/// with the keys it leaves out as commented-out lines.
pub fn suggestion_toml(id: &str, url: &Url, page: &PageSettings) -> String {
    let summary_hint: &[&str] = match page.summary {
        Some(_) => &[],
        None => &["summary = \"p\""],
    };
    let page_hints: Vec<&str> = summary_hint
        .iter()
        .copied()
        .chain([
            "date_format = \"%d.%m.%Y\"      # when dates are not RFC 3339",
            "follow = true                 # fetch each new item's page for its body ...",
            "content = \"article .content\"  # ... which this selector picks",
        ])
        .collect();
    ConfigText::new()
        .source(&NewSource {
            id,
            name: None,
            url: url.as_str(),
            page: Some(page),
            hints: &["timezone = \"Asia/Shanghai\"   # for dates without an offset"],
            page_hints: &page_hints,
        })
        .finish()
}

/// A source id made from a URL's host: `www.nlc.cn` gives `nlc-cn`.
pub fn id_from_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("page");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let id = id.trim_matches('-');
    if id.is_empty() {
        "page".to_owned()
    } else {
        id.chars().take(64).collect()
    }
}
