//! The differential test: every feed of the shared corpus through Python's
//! feedparser and through librarywire's parse and normalize, compared.
//!
//! feedparser is the reference here because nobody on this project wrote it
//! and it has read real feeds for two decades. For each file it reads,
//! the two must agree on the number of entries, and entry by entry on the
//! title, the link and the date. Every disagreement is printed; the test
//! fails when librarywire refuses a feed feedparser gets entries from, and
//! when the share of agreeing checks falls below [`AGREEMENT_FLOOR`].
//! The README's "Parsing" section says where librarywire differs on purpose.
//!
//! `tests/feedparser/dump.py` runs feedparser (`scripts/test` installs it
//! with pip when it is missing). Without Python or feedparser the test is
//! skipped, unless `CI` is set.

use super::corpus_tests::{Outcome, corpus_files, corpus_root, run_one};
use super::text::{collapse_whitespace, html_to_text};
use crate::item::Item;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use url::Url;

/// The least share of checks (entry counts, titles, links, dates) on which
/// librarywire and feedparser agree, in tenths of a percent. Measured on the
/// corpus: 99.6 % (8,710 of 8,741, with 10 feeds refused) before recovery
/// and the extra fields, 99.9 % (8,804 of 8,808, none refused) after.
const AGREEMENT_FLOOR: u32 = 999;

/// What feedparser read from one file.
#[derive(Debug, Deserialize)]
struct Reference {
    entries: Vec<ReferenceEntry>,
    /// feedparser's `bozo_exception`, when the file was not well-formed.
    error: String,
}

#[derive(Debug, Deserialize)]
struct ReferenceEntry {
    title: String,
    link: String,
    /// Unix seconds, UTC.
    published: Option<i64>,
    updated: Option<i64>,
}

/// The tally of one comparison.
#[derive(Default)]
struct Tally {
    checks: u32,
    agreed: u32,
    disagreements: Vec<String>,
}

impl Tally {
    fn check(&mut self, agrees: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if agrees {
            self.agreed += 1;
        } else {
            self.disagreements.push(what());
        }
    }
}

#[test]
fn librarywire_reads_what_feedparser_reads() {
    let Some(root) = corpus_root() else {
        return;
    };
    let Some(references) = feedparser_read(&root) else {
        return;
    };
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a valid date");

    let mut tally = Tally::default();
    let mut refused = Vec::new();
    let mut compared = 0;
    for (relative, reference) in &references {
        if reference.entries.is_empty() {
            continue;
        }
        compared += 1;
        let outcome = run_one(&root.join(relative), relative, now);
        let (items, entries) = match outcome {
            Outcome::Items(items, entries) => (items, entries),
            Outcome::Error(err) => {
                refused.push(format!(
                    "{}: feedparser reads {} entries{}, librarywire refuses it: {err}",
                    relative.display(),
                    reference.entries.len(),
                    if reference.error.is_empty() {
                        String::new()
                    } else {
                        format!(" (feedparser: {})", reference.error)
                    }
                ));
                continue;
            }
            Outcome::Panic(msg) => {
                refused.push(format!("{}: PANIC: {msg}", relative.display()));
                continue;
            }
        };
        compare(relative, reference, &items, entries, now, &mut tally);
    }

    for line in &tally.disagreements {
        println!("  differs  {line}");
    }
    for line in &refused {
        println!("  REFUSED  {line}");
    }
    let permille = if tally.checks == 0 {
        0
    } else {
        u32::try_from(u64::from(tally.agreed) * 1000 / u64::from(tally.checks))
            .expect("at most 1000")
    };
    println!(
        "feedparser: {compared} feeds with entries; {} refused by librarywire; \
         {} of {} checks agree ({}.{} %)",
        refused.len(),
        tally.agreed,
        tally.checks,
        permille / 10,
        permille % 10
    );
    assert!(
        refused.is_empty(),
        "librarywire refuses {} feeds that feedparser reads:\n{}",
        refused.len(),
        refused.join("\n")
    );
    assert!(
        permille >= AGREEMENT_FLOOR,
        "agreement with feedparser fell to {}.{} %, below the floor of {}.{} %",
        permille / 10,
        permille % 10,
        AGREEMENT_FLOOR / 10,
        AGREEMENT_FLOOR % 10
    );
}

/// Compares one feed: its entry count, then entry by entry when both read
/// the same entries in the same order.
fn compare(
    relative: &Path,
    reference: &Reference,
    items: &[Item],
    entries: usize,
    now: DateTime<Utc>,
    tally: &mut Tally,
) {
    let name = relative.display();
    tally.check(entries == reference.entries.len(), || {
        format!(
            "{name}: {entries} entries, feedparser {}",
            reference.entries.len()
        )
    });
    // Entries repeating an earlier id are dropped, so items no longer line
    // up with feedparser's entries one to one.
    if entries != reference.entries.len() || items.len() != entries {
        return;
    }
    for (i, (item, theirs)) in items.iter().zip(&reference.entries).enumerate() {
        let their_title = collapse_whitespace(&html_to_text(&theirs.title));
        // An untitled entry gets a title made from its text; feedparser
        // leaves it empty. Nothing to compare.
        if !their_title.is_empty() {
            tally.check(item.title == their_title, || {
                format!(
                    "{name} #{i}: title {:?}, feedparser {their_title:?}",
                    item.title
                )
            });
        }
        if let Some(their_link) = comparable_link(&theirs.link) {
            let ours = item.url.as_deref().map(without_trailing_slash);
            tally.check(ours == Some(their_link.as_str()), || {
                format!("{name} #{i}: link {ours:?}, feedparser {their_link:?}")
            });
        }
        let their_date = theirs.published.or(theirs.updated);
        if let Some(date) = their_date.filter(|d| (super::EARLIEST_BELIEVABLE_DATE..).contains(d)) {
            let ours = [Some(item.published), item.updated]
                .into_iter()
                .flatten()
                .filter(|_| item.published_from_source)
                .map(|d| d.timestamp())
                .collect::<Vec<_>>();
            // A future date is clamped to the first-seen time.
            let agrees =
                ours.contains(&date) || (date > now.timestamp() && ours.contains(&now.timestamp()));
            tally.check(agrees, || {
                format!(
                    "{name} #{i}: date {}, feedparser {}",
                    if item.published_from_source {
                        item.published.to_rfc3339()
                    } else {
                        "none".into()
                    },
                    DateTime::from_timestamp(date, 0).map_or(date.to_string(), |d| d.to_rfc3339())
                )
            });
        }
    }
}

/// feedparser's link as librarywire would keep it: http(s) only, tracking
/// parameters and a trailing slash dropped. None when there is nothing to
/// compare.
fn comparable_link(link: &str) -> Option<String> {
    let base = Url::parse("https://corpus.example/").expect("a valid URL");
    let url = super::links::canonical_url(link.trim(), &base)?;
    Some(without_trailing_slash(url.as_str()).to_owned())
}

fn without_trailing_slash(url: &str) -> &str {
    url.strip_suffix('/').unwrap_or(url)
}

/// Runs `tests/feedparser/dump.py` over every corpus file. None (after
/// saying so) when Python or feedparser is missing outside CI.
fn feedparser_read(root: &Path) -> Option<BTreeMap<PathBuf, Reference>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/feedparser/dump.py");
    let has_feedparser = Command::new("python3")
        .args(["-c", "import feedparser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_feedparser {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the feedparser package is missing; scripts/test installs it"
        );
        println!("SKIPPED: python3 with feedparser is missing (pip install feedparser)");
        return None;
    }
    let files = corpus_files(root);
    let list: String = files
        .iter()
        .map(|p| {
            let relative = p.strip_prefix(root).expect("under the root");
            format!("{}\n", relative.display())
        })
        .collect();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let output = child.wait_with_output().expect("feedparser's output");
    writer
        .join()
        .expect("the writer thread")
        .expect("the file list written to feedparser");
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        output.status
    );
    let read: BTreeMap<PathBuf, Reference> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{} printed no JSON: {e}", script.display()));
    Some(read)
}
