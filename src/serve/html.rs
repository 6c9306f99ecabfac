//! The HTML pages: the news (`/`), a source's page (`/sources/{id}`) and
//! the admin's status page (`/status.html`), rendered on the server with
//! askama templates (`templates/`), with one small stylesheet
//! (`/style.css`) and no script.
//!
//! Each page is built in two steps: a view of plain strings and numbers
//! (the `*View` structs: dates in the reader's words, links checked), then
//! its template, which escapes every value. Item HTML is never shown: only
//! an item's title and its plain-text summary, as text. A link from remote
//! content is only ever an `http` or `https` URL; anything else is shown
//! as text.
//!
//! The news and source pages come from the same reads as the feeds
//! (`Store::feed` with the same [`ItemFilter`]), one more item than the
//! page shows to know whether there is an older page, and go through the
//! same render cache (`cache.rs`).

use super::cache::Rendered;
use super::render::FeedFormat;
use super::request::FeedRequest;
use crate::config::ServerSettings;
use crate::item::Item;
use crate::status::{SourceReport, SourceState, StatusReport};
use crate::store::{Cursor, DayCount, FeedItems, HourOutcomes};
use askama::Template;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use std::collections::BTreeSet;
use std::time::SystemTime;

/// The stylesheet, served at `/style.css`.
pub const STYLE: &str = include_str!("../../templates/style.css");

/// The `Content-Type` of the pages.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// A configured source, as the pages link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLink {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
}

/// A date in the reader's words: "19 August 2021".
pub fn day_words(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// A time in the reader's words: "19 August 2021, 08:00 UTC".
pub fn time_words(time: DateTime<Utc>) -> String {
    time.format("%-d %B %Y, %H:%M UTC").to_string()
}

/// `url` when it may be a link: `http` or `https` only, so a
/// `javascript:` or `data:` URL from a feed is never an `href`.
fn safe_link(url: Option<&str>) -> Option<String> {
    let parsed = url::Url::parse(url?).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

/// A `<link rel="alternate">` of a page.
struct Alternate {
    href: String,
    kind: &'static str,
    title: String,
}

/// What every page's head and navigation need.
struct Frame {
    /// The page title.
    title: String,
    /// The server's title (`server.title`).
    site: String,
    /// The path back to the server's root from this page ("" or "../"),
    /// so that links work under any `server.public_url` path.
    root: &'static str,
    alternates: Vec<Alternate>,
    hub: Option<String>,
}

struct ItemView {
    title: String,
    link: Option<String>,
    source_id: String,
    source_name: String,
    date: String,
    datetime: String,
    summary: String,
    categories: Vec<String>,
    also_in: Vec<SourceLink>,
}

struct DayView {
    heading: String,
    datetime: String,
    items: Vec<ItemView>,
}

/// Links that filter the page, with the one in force marked.
struct FilterLink {
    label: String,
    href: String,
    current: bool,
}

/// The items of a page, by day, and the way to older ones.
struct Listing {
    days: Vec<DayView>,
    /// The link to the next older page, when there is one.
    older: Option<String>,
    /// The link back to the newest, on an older page.
    newest: Option<String>,
    shown: usize,
}

#[derive(Template)]
#[template(path = "news.html")]
struct NewsPage {
    frame: Frame,
    about: Option<String>,
    listing: Listing,
    sources: Vec<FilterLink>,
    categories: Vec<FilterLink>,
    source_options: Vec<(String, String, bool)>,
    q: String,
    category: String,
    filtered: bool,
    feed_links: Vec<(String, &'static str)>,
}

struct HealthView {
    state: &'static str,
    state_class: &'static str,
    last_success: String,
    failures: u32,
    next_poll: String,
    last_error: Option<String>,
    warning: Option<String>,
    items: u64,
    lease: Option<String>,
}

#[derive(Template)]
#[template(path = "source.html")]
struct SourcePage {
    frame: Frame,
    name: String,
    id: String,
    url: Option<String>,
    url_text: String,
    health: Option<HealthView>,
    listing: Listing,
    feed_links: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    heading: String,
    message: String,
}

struct StatusRow {
    id: String,
    name: String,
    health: HealthView,
}

struct Bar {
    x: u32,
    y: u32,
    height: u32,
    label: String,
}

struct Cell {
    x: u32,
    class: &'static str,
    label: String,
}

struct OutcomeRow {
    id: String,
    y: u32,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    frame: Frame,
    replica: String,
    rows: Vec<StatusRow>,
    attention: usize,
    connected: bool,
    outbox_depth: u64,
    oldest_pending: String,
    node: String,
    paused: bool,
    confirmed: u64,
    store_ok: bool,
    problems: Vec<String>,
    day_bars: Vec<Bar>,
    day_max: u64,
    day_total: u64,
    first_day: String,
    last_day: String,
    outcome_rows: Vec<OutcomeRow>,
    outcome_height: u32,
    outcome_ok: u64,
    outcome_failed: u64,
}

/// The words and style class of a state.
fn state_words(state: SourceState) -> (&'static str, &'static str) {
    match state {
        SourceState::Pending => ("pending", "pending"),
        SourceState::Ok => ("ok", "ok"),
        SourceState::Failing => ("failing", "bad"),
        SourceState::Flagged => ("flagged", "bad"),
        SourceState::Stale => ("stale", "warn"),
        SourceState::Gone => ("gone", "warn"),
    }
}

/// How urgently a state needs an admin: lower first.
fn attention(state: SourceState) -> u8 {
    match state {
        SourceState::Flagged => 0,
        SourceState::Failing => 1,
        SourceState::Stale => 2,
        SourceState::Gone => 3,
        SourceState::Pending => 4,
        SourceState::Ok => 5,
    }
}

fn health_of(report: &SourceReport) -> HealthView {
    let (state, state_class) = state_words(report.state);
    HealthView {
        state,
        state_class,
        last_success: report
            .last_success
            .map_or_else(|| "never".to_owned(), time_words),
        failures: report.consecutive_failures,
        next_poll: report
            .next_poll
            .map_or_else(|| "not scheduled".to_owned(), time_words),
        last_error: report.last_error.clone(),
        warning: report.warning.clone(),
        items: report.item_count,
        lease: report
            .lease
            .as_ref()
            .map(|l| format!("{} until {}", l.holder, time_words(l.until))),
    }
}

/// The text a source's health adds to its page's cache key: the page is
/// rendered again when any of it changes, as well as on a store change.
pub fn health_key(report: Option<&SourceReport>) -> String {
    match report {
        None => String::new(),
        Some(r) => format!(
            "{:?}|{:?}|{}|{:?}|{:?}|{:?}|{}|{:?}",
            r.state,
            r.last_success,
            r.consecutive_failures,
            r.next_poll,
            r.last_error,
            r.warning,
            r.item_count,
            r.lease.as_ref().map(|l| (&l.holder, l.until)),
        ),
    }
}

/// The feeds of exactly what `request` shows, in every format: the links
/// of its head and its "subscribe" list. Paging is left out: a feed is
/// always the newest.
fn feeds_of(settings: &ServerSettings, request: &FeedRequest) -> Vec<(String, &'static str)> {
    FeedFormat::ALL
        .into_iter()
        .map(|format| {
            let mut feed = request.clone();
            feed.format = format;
            feed.filter.before = None;
            (settings.url(&feed.canonical()), format.name())
        })
        .collect()
}

fn alternates(feeds: &[(String, &'static str)], title: &str) -> Vec<Alternate> {
    feeds
        .iter()
        .zip(FeedFormat::ALL)
        .map(|((href, name), format)| Alternate {
            href: href.clone(),
            kind: format.media_type(),
            title: format!("{title} ({name})"),
        })
        .collect()
}

/// The query string (with its `?`, or empty) of `request` as a page,
/// `before` included.
fn page_query(request: &FeedRequest) -> String {
    request
        .canonical()
        .split_once('?')
        .map_or_else(String::new, |(_, q)| format!("?{q}"))
}

/// The items of `feed` (up to `request.limit`, with one more telling that
/// an older page exists) grouped by day.
fn listing(request: &FeedRequest, feed: &FeedItems, page: &str) -> Listing {
    let shown = &feed.items[..feed.items.len().min(request.limit)];
    let mut days: Vec<DayView> = Vec::new();
    for item in shown {
        let day = item.published.date_naive();
        let view = item_view(item, feed);
        match days.last_mut() {
            Some(last) if last.datetime == day.to_string() => last.items.push(view),
            _ => days.push(DayView {
                heading: day_words(day),
                datetime: day.to_string(),
                items: vec![view],
            }),
        }
    }
    let older = (feed.items.len() > request.limit)
        .then(|| shown.last())
        .flatten()
        .map(|last| {
            let mut next = request.clone();
            next.filter.before = Some(Cursor {
                published: last.published,
                id: last.id.as_str().to_owned(),
            });
            format!("{page}{}", page_query(&next))
        });
    let newest = request.filter.before.as_ref().map(|_| {
        let mut first = request.clone();
        first.filter.before = None;
        format!("{page}{}", page_query(&first))
    });
    Listing {
        days,
        older,
        newest,
        shown: shown.len(),
    }
}

fn item_view(item: &Item, feed: &FeedItems) -> ItemView {
    let mut also_in: Vec<SourceLink> = Vec::new();
    for other in feed.also_in.get(&item.id).into_iter().flatten() {
        if other.source.id != item.source.id && !also_in.iter().any(|s| s.id == other.source.id) {
            also_in.push(SourceLink {
                id: other.source.id.clone(),
                name: other.source.name.clone(),
            });
        }
    }
    ItemView {
        title: if item.title.trim().is_empty() {
            "(untitled)".to_owned()
        } else {
            item.title.clone()
        },
        link: safe_link(item.url.as_deref()),
        source_id: item.source.id.clone(),
        source_name: item.source.name.clone(),
        date: day_words(item.published.date_naive()),
        datetime: item
            .published
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        summary: item.summary.clone(),
        categories: item.categories.clone(),
        also_in,
    }
}

/// When the newest version of a page's items was stored: its
/// `Last-Modified`, from the data (the moment of rendering for no items).
fn last_modified(feed: &FeedItems) -> SystemTime {
    feed.stored_at.unwrap_or_else(Utc::now).into()
}

fn rendered(template: &impl Template, last_modified: SystemTime) -> Rendered {
    let body = template
        .render()
        .expect("rendering a page into a string cannot fail");
    Rendered::of_body(HTML_CONTENT_TYPE, body.into_bytes(), last_modified)
}

/// The news page, `/`, for `request` (the merged news, filtered as a feed
/// is, from `before` on), from `feed`: up to `request.limit + 1` items.
pub fn news(
    settings: &ServerSettings,
    sources: &[SourceLink],
    request: &FeedRequest,
    feed: &FeedItems,
) -> Rendered {
    let filter = &request.filter;
    let feed_links = feeds_of(settings, request);
    let filtered =
        filter.category.is_some() || !filter.words.is_empty() || !filter.sources.is_empty();
    let title = if filtered {
        format!("{}: filtered news", settings.title)
    } else {
        settings.title.clone()
    };
    // The links that set a filter keep the others, and start again at the
    // newest.
    let with = |change: &dyn Fn(&mut FeedRequest)| {
        let mut next = request.clone();
        next.filter.before = None;
        change(&mut next);
        let query = page_query(&next);
        if query.is_empty() {
            "./".to_owned()
        } else {
            query
        }
    };
    let mut source_links = vec![FilterLink {
        label: "All sources".to_owned(),
        href: with(&|r| r.filter.sources.clear()),
        current: filter.sources.is_empty(),
    }];
    for source in sources {
        source_links.push(FilterLink {
            label: source.name.clone(),
            href: with(&|r| r.filter.sources = vec![source.id.clone()]),
            current: filter.sources == [source.id.clone()],
        });
    }
    let mut shown_categories: BTreeSet<String> = feed
        .items
        .iter()
        .take(request.limit)
        .flat_map(|item| item.categories.iter().map(|c| c.trim().to_owned()))
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(category) = &filter.category {
        shown_categories.insert(category.clone());
    }
    let mut categories = Vec::new();
    if filter.category.is_some() {
        categories.push(FilterLink {
            label: "Any category".to_owned(),
            href: with(&|r| r.filter.category = None),
            current: false,
        });
    }
    let folded: BTreeSet<String> = shown_categories
        .iter()
        .map(|c| crate::store::ItemFilter::fold(c))
        .collect();
    for category in folded.into_iter().take(40) {
        categories.push(FilterLink {
            label: category.clone(),
            href: with(&|r| r.filter.category = Some(category.clone())),
            current: filter.category.as_deref() == Some(category.as_str()),
        });
    }
    let page = NewsPage {
        frame: Frame {
            alternates: alternates(&feed_links, &title),
            title,
            site: settings.title.clone(),
            root: "",
            hub: (!filtered && request.filter.before.is_none() && !filter.all_duplicates)
                .then(|| settings.websub_hub.as_ref().map(|h| h.to_string()))
                .flatten(),
        },
        about: settings.about.clone().filter(|a| !a.trim().is_empty()),
        listing: listing(request, feed, "./"),
        source_options: sources
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.name.clone(),
                    filter.sources == [s.id.clone()],
                )
            })
            .collect(),
        sources: source_links,
        categories,
        q: filter.words.join(" "),
        category: filter.category.clone().unwrap_or_default(),
        filtered,
        feed_links,
    };
    rendered(&page, last_modified(feed)).counting(page.listing.shown)
}

/// A source's page, `/sources/{id}`: its health (`report`, `None` for a
/// source only the store knows), its feeds and its items from `feed`.
pub fn source(
    settings: &ServerSettings,
    name: &str,
    report: Option<&SourceReport>,
    request: &FeedRequest,
    feed: &FeedItems,
) -> Rendered {
    let id = request.path_source.clone().unwrap_or_default();
    let feed_links = feeds_of(settings, request);
    let title = format!("{name}: {}", settings.title);
    let page = SourcePage {
        frame: Frame {
            alternates: alternates(&feed_links, &title),
            title,
            site: settings.title.clone(),
            root: "../",
            hub: None,
        },
        name: name.to_owned(),
        url: safe_link(report.map(|r| r.url.as_str())),
        url_text: report.map(|r| r.url.clone()).unwrap_or_default(),
        id: id.clone(),
        health: report.map(health_of),
        listing: listing(request, feed, &id),
        feed_links,
    };
    let stored: SystemTime = feed.stored_at.unwrap_or_else(Utc::now).into();
    rendered(&page, stored).counting(page.listing.shown)
}

/// A page that says what went wrong: an unknown source (404) or a
/// parameter the page cannot use (400). `root` as in [`Frame`].
pub fn error(
    settings: &ServerSettings,
    root: &'static str,
    heading: &str,
    message: &str,
) -> String {
    ErrorPage {
        frame: Frame {
            title: format!("{heading}: {}", settings.title),
            site: settings.title.clone(),
            root,
            alternates: Vec::new(),
            hub: None,
        },
        heading: heading.to_owned(),
        message: message.to_owned(),
    }
    .render()
    .expect("rendering a page into a string cannot fail")
}

/// The chart's width in SVG units, and a bar's.
const DAY_BAR: u32 = 20;
const DAY_CHART_HEIGHT: u32 = 120;
const HOUR_CELL: u32 = 20;
const OUTCOME_ROW: u32 = 22;

/// The days the items chart covers, ending today.
pub const CHART_DAYS: i64 = 30;

/// The admin's page, `/status.html`: `report` (as `/status`), the items of
/// the last [`CHART_DAYS`] days by day and the polls of the last 24 hours,
/// with `now` the time of the report.
pub fn status(
    settings: &ServerSettings,
    report: &StatusReport,
    days: &[DayCount],
    outcomes: &[HourOutcomes],
    now: DateTime<Utc>,
) -> String {
    let mut sources: Vec<&SourceReport> = report.sources.iter().collect();
    sources.sort_by_key(|s| (attention(s.state), s.id.clone()));
    let attention_count = sources
        .iter()
        .filter(|s| attention(s.state) < attention(SourceState::Pending))
        .count();
    let rows = sources
        .iter()
        .map(|s| StatusRow {
            id: s.id.clone(),
            name: s.name.clone(),
            health: health_of(s),
        })
        .collect();

    let today = now.date_naive();
    let first = today - TimeDelta::days(CHART_DAYS - 1);
    let counts: Vec<(NaiveDate, u64)> = (0..CHART_DAYS)
        .map(|i| {
            let day = first + TimeDelta::days(i);
            let n = days.iter().find(|d| d.day == day).map_or(0, |d| d.items);
            (day, n)
        })
        .collect();
    let day_max = counts.iter().map(|c| c.1).max().unwrap_or(0);
    let day_bars = counts
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let height = (n * u64::from(DAY_CHART_HEIGHT))
                .checked_div(day_max)
                .map_or(0, |h| u32::try_from(h).unwrap_or(DAY_CHART_HEIGHT));
            Bar {
                x: u32::try_from(i).unwrap_or(0) * DAY_BAR,
                y: DAY_CHART_HEIGHT - height,
                height,
                label: format!("{}: {n} items", day_words(*day)),
            }
        })
        .collect();

    let this_hour = now.timestamp().div_euclid(3600) * 3600;
    let start = this_hour - 23 * 3600;
    let outcome_rows: Vec<OutcomeRow> = sources
        .iter()
        .enumerate()
        .map(|(row, s)| OutcomeRow {
            id: s.id.clone(),
            y: u32::try_from(row).unwrap_or(0) * OUTCOME_ROW,
            cells: (0..24)
                .map(|h| {
                    let hour = start + h * 3600;
                    let found = outcomes
                        .iter()
                        .find(|o| o.source_id == s.id && o.hour.timestamp() == hour);
                    let (ok, failed) = found.map_or((0, 0), |o| (o.ok, o.failed));
                    let class = match (ok, failed) {
                        (0, 0) => "none",
                        (_, 0) => "ok",
                        (0, _) => "bad",
                        _ => "mixed",
                    };
                    let at = DateTime::from_timestamp(hour, 0).unwrap_or(now);
                    Cell {
                        x: u32::try_from(h).unwrap_or(0) * HOUR_CELL,
                        class,
                        label: format!(
                            "{} from {}: {ok} polls worked, {failed} failed",
                            s.id,
                            at.format("%H:%M UTC")
                        ),
                    }
                })
                .collect(),
        })
        .collect();
    let known: BTreeSet<&str> = sources.iter().map(|s| s.id.as_str()).collect();
    let in_chart = outcomes
        .iter()
        .filter(|o| known.contains(o.source_id.as_str()) && o.hour.timestamp() >= start);
    let (outcome_ok, outcome_failed) =
        in_chart.fold((0, 0), |(ok, failed), o| (ok + o.ok, failed + o.failed));
    let publisher = &report.publisher;
    let page = StatusPage {
        frame: Frame {
            title: format!("Status: {}", settings.title),
            site: settings.title.clone(),
            root: "",
            alternates: Vec::new(),
            hub: None,
        },
        replica: report.replica.id.clone(),
        attention: attention_count,
        connected: publisher.connected,
        outbox_depth: publisher.outbox_depth,
        oldest_pending: publisher
            .oldest_pending
            .map_or_else(|| "none".to_owned(), time_words),
        node: publisher.node.clone().unwrap_or_else(|| "none".to_owned()),
        paused: publisher.paused,
        confirmed: publisher.confirmed,
        store_ok: report.store.ok,
        problems: report
            .store
            .problems
            .iter()
            .map(|p| p.reason.clone())
            .collect(),
        day_total: counts.iter().map(|c| c.1).sum(),
        day_bars,
        day_max,
        first_day: day_words(first),
        last_day: day_words(today),
        outcome_height: u32::try_from(outcome_rows.len()).unwrap_or(0) * OUTCOME_ROW,
        outcome_rows,
        outcome_ok,
        outcome_failed,
        rows,
    };
    page.render()
        .expect("rendering a page into a string cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_links() {
        assert_eq!(
            safe_link(Some("https://example.org/a?b=1")).as_deref(),
            Some("https://example.org/a?b=1")
        );
        for hostile in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "relative/path",
        ] {
            assert_eq!(safe_link(Some(hostile)), None, "{hostile}");
        }
    }

    fn item(key: &str, title: &str, published: DateTime<Utc>) -> Item {
        let source = crate::item::SourceRef {
            id: "ifla".into(),
            name: "IFLA <News>".into(),
            url: "https://www.ifla.org/feed/".into(),
        };
        let mut item = Item {
            id: crate::item::ItemId::derive(&source.id, key),
            source,
            guid: key.into(),
            url: Some(format!("https://example.org/{key}")),
            title: title.into(),
            summary: format!("Summary <b>of</b> {key}"),
            content_html: Some("<script>alert(1)</script>".into()),
            authors: vec![],
            categories: vec!["Events".into()],
            language: None,
            published,
            updated: None,
            revision: 1,
            published_from_source: true,
            content_hash: String::new(),
        };
        item.content_hash = item.compute_content_hash();
        item
    }

    /// The news page: a heading per day, newest first, text escaped and
    /// item HTML left out, and an "Older items" link from the last item
    /// shown when the read found one more.
    #[test]
    fn the_news_is_grouped_by_day_escaped_and_paged_from_its_last_item() {
        let day = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2021, 8, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
        };
        let feed = FeedItems {
            items: vec![
                item("c", "Third <i>one</i>", day(19, 10)),
                item("b", "Second", day(19, 8)),
                item("a", "First", day(18, 8)),
                item("z", "Not shown", day(17, 8)),
            ],
            stored_at: Some(day(20, 0)),
            also_in: Default::default(),
        };
        let settings = ServerSettings {
            about: Some("Planet <b>news</b> & more".into()),
            ..ServerSettings::default()
        };
        let request = FeedRequest::home(3);
        let rendered = news(&settings, &[], &request, &feed);
        assert_eq!(rendered.item_count, 3);
        let page = String::from_utf8(rendered.body().to_vec()).unwrap();
        let headings: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("<h2 id=\"day-"))
            .collect();
        assert_eq!(headings.len(), 2, "{page}");
        assert!(headings[0].contains(">19 August 2021<"), "{}", headings[0]);
        assert!(headings[1].contains(">18 August 2021<"), "{}", headings[1]);
        // askama writes `<` as `&#60;`, `&` as `&#38;`.
        assert!(page.contains("Third &#60;i&#62;one&#60;/i&#62;"), "{page}");
        assert!(
            page.contains("Planet &#60;b&#62;news&#60;/b&#62; &#38; more"),
            "{page}"
        );
        assert!(
            page.contains("Summary &#60;b&#62;of&#60;/b&#62; c"),
            "{page}"
        );
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("Not shown"), "{page}");
        let older = format!(
            "href=\"./?before={}%2C{}\"",
            "2021-08-18T08%3A00%3A00Z",
            crate::item::ItemId::derive("ifla", "a").as_str()
        );
        assert!(page.contains(&older), "{older} in {page}");
        // The last page has no older link.
        let last = FeedItems {
            items: feed.items[..3].to_vec(),
            ..feed.clone()
        };
        let page =
            String::from_utf8(news(&settings, &[], &request, &last).body().to_vec()).unwrap();
        assert!(!page.contains("rel=\"next\""), "{page}");
    }

    #[test]
    fn dates_are_in_the_readers_words() {
        let date = NaiveDate::from_ymd_opt(2021, 8, 19).unwrap();
        assert_eq!(day_words(date), "19 August 2021");
        let time = date.and_hms_opt(8, 5, 0).unwrap().and_utc();
        assert_eq!(time_words(time), "19 August 2021, 08:05 UTC");
    }
}
