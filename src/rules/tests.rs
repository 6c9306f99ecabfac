//! The rules, one behaviour per test, on items built here and rules read
//! from TOML as an admin writes them.

use super::*;
use crate::config::Settings;
use chrono::TimeZone;
use std::collections::BTreeMap;
use std::io::Write;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

fn item(title: &str) -> Item {
    let mut item = Item {
        id: ItemId::derive("news", title),
        source: crate::item::SourceRef {
            id: "news".into(),
            name: "News".into(),
            url: "https://news.example.org/feed.xml".into(),
        },
        guid: title.into(),
        url: Some(format!(
            "https://news.example.org/{}",
            title.to_lowercase().replace(' ', "-")
        )),
        title: title.into(),
        summary: format!("About {title}."),
        content_html: Some(format!("<p>The <b>whole</b> story of {title}.</p>")),
        authors: vec!["Ada Reader".into()],
        categories: vec!["Events".into(), "Europe".into()],
        language: Some("en".into()),
        published: now() - chrono::Duration::days(3),
        updated: None,
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    };
    item.content_hash = item.compute_content_hash();
    item
}

/// The settings of `toml` (a config with one source `news`, its rules and
/// `[[rules]]` given in the text), loaded as the daemon loads them.
fn load(toml: &str) -> Result<Settings, String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(toml.as_bytes()).unwrap();
    Settings::load_with_env(file.path(), Some(BTreeMap::new())).map_err(|e| e.to_string())
}

const SOURCE: &str = "[[sources]]\nid = \"news\"\nurl = \"https://news.example.org/feed.xml\"\n";

/// The rules of source `news`, from `global` (`[[rules]]` entries) and
/// `own` (`[[sources.rules]]` entries).
fn rules(global: &str, own: &str) -> Rules {
    let settings = load(&format!("{global}\n{SOURCE}{own}")).unwrap();
    Rules::of(&settings, &settings.sources[0])
}

fn fate(rules: &Rules, mut item: Item) -> Fate {
    rules.judge(&mut item, now()).fate
}

#[test]
fn no_rules_touch_nothing() {
    let rules = rules("", "");
    let mut items = vec![item("One"), item("Two")];
    let before = items.clone();
    assert!(rules.apply(&mut items, now()).is_empty());
    assert_eq!(items, before);
}

#[test]
fn each_condition_matches_its_own_field() {
    let cases = [
        (
            "title = \"(?i)^vacancy\"",
            "Vacancy: cataloguer",
            "Reading room opens",
        ),
        ("summary = \"About Vacancy\"", "Vacancy", "Opening"),
        // The content's text, not its markup: `<b>whole</b>` reads "whole".
        (
            "content = \"The whole story of Vacancy\"",
            "Vacancy",
            "Opening",
        ),
        ("link = \"/vacancy$\"", "Vacancy", "Vacancy now"),
    ];
    for (condition, dropped, stays) in cases {
        let rules = rules(
            "",
            &format!("[[sources.rules]]\naction = \"drop\"\n{condition}\n"),
        );
        assert_eq!(
            fate(&rules, item(dropped)),
            Fate::DroppedBy("sources[0].rules[0]".into()),
            "{condition}"
        );
        assert_eq!(fate(&rules, item(stays)), Fate::Passed, "{condition}");
    }
}

#[test]
fn category_and_author_match_any_of_the_items() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"drop\"\ncategory = \"^Europe$\"\n\
         [[sources.rules]]\naction = \"drop\"\nauthor = \"^Grace\"\n",
    );
    // The second of two categories matches.
    assert_eq!(
        fate(&rules, item("A")),
        Fate::DroppedBy("sources[0].rules[0]".into())
    );
    let mut other = item("B");
    other.categories = vec!["Asia".into()];
    assert_eq!(fate(&rules, other.clone()), Fate::Passed);
    other.authors = vec!["Ada Reader".into(), "Grace Hopper".into()];
    assert_eq!(
        fate(&rules, other.clone()),
        Fate::DroppedBy("sources[0].rules[1]".into())
    );
    // No categories at all: a category condition cannot hold.
    other.categories.clear();
    other.authors.clear();
    assert_eq!(fate(&rules, other), Fate::Passed);
}

#[test]
fn older_than_counts_from_the_polls_now() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"drop\"\nolder_than = \"30days\"\n",
    );
    let mut old = item("Old");
    old.published = now() - chrono::Duration::days(31);
    let mut recent = item("Recent");
    recent.published = now() - chrono::Duration::days(29);
    assert!(rules.judge(&mut old.clone(), now()).fate.drops());
    assert_eq!(rules.judge(&mut recent.clone(), now()).fate, Fate::Passed);
    // The same item, judged at another `now`, is judged by that one.
    let later = now() + chrono::Duration::days(2);
    assert!(rules.judge(&mut recent, later).fate.drops());
    let earlier = now() - chrono::Duration::days(2);
    assert_eq!(rules.judge(&mut old, earlier).fate, Fate::Passed);
}

#[test]
fn every_condition_given_must_match() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"drop\"\ntitle = \"Closed\"\ncategory = \"^Events$\"\n",
    );
    assert!(fate(&rules, item("Closed for the holiday")).drops());
    let mut elsewhere = item("Closed for the holiday");
    elsewhere.categories = vec!["Notices".into()];
    assert_eq!(fate(&rules, elsewhere), Fate::Passed, "one of two matches");
    assert_eq!(fate(&rules, item("Open all week")), Fate::Passed);
}

#[test]
fn with_a_keep_rule_only_what_a_keep_rule_applies_to_stays() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"keep\"\ncategory = \"^Asia$\"\n\
         [[sources.rules]]\naction = \"keep\"\ntitle = \"IFLA\"\n",
    );
    assert_eq!(fate(&rules, item("Local news")), Fate::NotKept);
    assert_eq!(
        fate(&rules, item("IFLA congress")),
        Fate::KeptBy("sources[0].rules[1]".into())
    );
    let mut asian = item("IFLA in Asia");
    asian.categories = vec!["Asia".into()];
    assert_eq!(
        fate(&rules, asian),
        Fate::KeptBy("sources[0].rules[0]".into()),
        "the first keep rule that applies is named"
    );
}

#[test]
fn a_drop_wins_over_a_keep_wherever_it_stands() {
    for own in [
        "[[sources.rules]]\naction = \"keep\"\ntitle = \"IFLA\"\n[[sources.rules]]\naction = \"drop\"\ntitle = \"(?i)vacancy\"\n",
        "[[sources.rules]]\naction = \"drop\"\ntitle = \"(?i)vacancy\"\n[[sources.rules]]\naction = \"keep\"\ntitle = \"IFLA\"\n",
    ] {
        let rules = rules("", own);
        assert!(fate(&rules, item("IFLA vacancy")).drops(), "{own}");
        assert!(matches!(
            fate(&rules, item("IFLA congress")),
            Fate::KeptBy(_)
        ));
    }
}

#[test]
fn every_sources_rules_come_first_and_are_named_by_their_own_place() {
    let global = "[[rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = '^\\[News\\]\\s*'\nreplace = \"\"\n";
    // The source's rule sees the title the global rule left.
    let own = "[[sources.rules]]\naction = \"drop\"\ntitle = \"^Vacancy\"\n";
    let rules = rules(global, own);
    let mut tagged = item("[News] Vacancy: cataloguer");
    let verdict = rules.judge(&mut tagged, now());
    assert_eq!(verdict.fate, Fate::DroppedBy("sources[0].rules[0]".into()));
    assert_eq!(
        verdict.rewrites,
        [Rewrite {
            by: "rules[0]".into(),
            field: RuleField::Title
        }]
    );
    assert_eq!(
        verdict.to_string(),
        "title rewritten by rules[0], dropped by sources[0].rules[0]"
    );
    // A source later in the config is named by its index.
    let settings = load(&format!(
        "{global}\n[[sources]]\nid = \"first\"\nurl = \"https://a.example.org/\"\n{SOURCE}{own}"
    ))
    .unwrap();
    let rules = Rules::of(&settings, &settings.sources[1]);
    let verdict = rules.judge(&mut item("[News] Vacancy"), now());
    assert_eq!(verdict.fate, Fate::DroppedBy("sources[1].rules[0]".into()));
    // The first source has only the global rule.
    let first = Rules::of(&settings, &settings.sources[0]);
    assert_eq!(
        first.judge(&mut item("[News] Vacancy"), now()).fate,
        Fate::Passed
    );
}

#[test]
fn a_rewrite_uses_captures_and_the_rules_after_it_see_the_new_text() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = '^(\\w+) (\\w+):'\nreplace = \"$2 ${1}:\"\n\
         [[sources.rules]]\naction = \"keep\"\ntitle = \"^release Press:\"\n",
    );
    let mut release = item("Press release: new hours");
    let verdict = rules.judge(&mut release, now());
    assert_eq!(release.title, "release Press: new hours");
    assert_eq!(verdict.fate, Fate::KeptBy("sources[0].rules[1]".into()));
    // Its hash follows the new title, and is what the same input always gives.
    assert_eq!(release.content_hash, release.compute_content_hash());
    let mut again = item("Press release: new hours");
    rules.judge(&mut again, now());
    assert_eq!(again, release, "a rewrite is deterministic");
}

#[test]
fn a_rewrite_replaces_every_match_and_shapes_the_field_as_normalize_does() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"rewrite\"\nfield = \"summary\"\npattern = \"(?i)\\\\bpress release\\\\b\"\nreplace = \"  \"\n\
         [[sources.rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = \".*\"\nreplace = \"\"\n",
    );
    let mut it = item("Untold");
    it.summary = "Press release: our press release of today".into();
    let verdict = rules.judge(&mut it, now());
    assert_eq!(
        it.summary, ": our of today",
        "every match, white space collapsed"
    );
    // A title rewritten to nothing falls back as an untitled item's does.
    assert_eq!(it.title, ": our of today");
    assert_eq!(verdict.rewrites.len(), 2);
    assert_eq!(verdict.fate, Fate::Passed);
    assert!(verdict.touched());
}

#[test]
fn a_rewrite_that_changes_nothing_is_not_reported() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = '^\\[News\\]\\s*'\nreplace = \"\"\n",
    );
    let mut items = vec![item("Plain title"), item("[News] Tagged")];
    let ruled = rules.apply(&mut items, now());
    assert_eq!(ruled.len(), 1);
    assert_eq!(
        ruled[0].title, "[News] Tagged",
        "the title before the rules"
    );
    assert_eq!(
        ruled[0].verdict.to_string(),
        "title rewritten by sources[0].rules[0]"
    );
    assert_eq!(items[1].title, "Tagged");
}

#[test]
fn a_rewrite_applies_only_where_its_conditions_hold() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"rewrite\"\ncategory = \"^Notices$\"\nfield = \"title\"\npattern = \"^\"\nreplace = \"Notice: \"\n",
    );
    let mut event = item("Lecture");
    assert!(!rules.judge(&mut event, now()).touched());
    let mut notice = item("Closed");
    notice.categories = vec!["Notices".into()];
    rules.judge(&mut notice, now());
    assert_eq!(notice.title, "Notice: Closed");
}

#[test]
fn apply_keeps_the_order_and_reports_the_dropped() {
    let rules = rules(
        "",
        "[[sources.rules]]\naction = \"drop\"\ntitle = \"^Job\"\n",
    );
    let mut items = vec![item("One"), item("Job ad"), item("Two"), item("Job offer")];
    let ruled = rules.apply(&mut items, now());
    let titles: Vec<_> = items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["One", "Two"]);
    let dropped: Vec<_> = ruled.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(dropped, ["Job ad", "Job offer"]);
    assert!(
        ruled
            .iter()
            .all(|r| r.verdict.to_string() == "dropped by sources[0].rules[0]")
    );
    assert_eq!(
        Verdict {
            fate: Fate::NotKept,
            rewrites: Vec::new()
        }
        .to_string(),
        "dropped: no keep rule applies"
    );
}

/// The error loading a config whose source `news` has the rules `own` gives.
fn refused(global: &str, own: &str) -> String {
    load(&format!("{global}\n{SOURCE}{own}")).expect_err("the config is refused")
}

#[test]
fn a_bad_expression_is_named_by_its_place_with_the_reason_once() {
    let err = refused(
        "",
        "[[sources.rules]]\naction = \"drop\"\ntitle = \"x\"\n\
         [[sources.rules]]\naction = \"drop\"\ntitle = \"(?i)^vacancy(\"\n",
    );
    assert!(err.contains("key `sources[0].rules[1].title`"), "{err}");
    assert!(
        err.contains(
            "`(?i)^vacancy(` is not a regular expression: unclosed group, at character 13"
        ),
        "{err}"
    );
    assert_eq!(err.matches("unclosed group").count(), 1, "{err}");
    assert_eq!(err.matches("rules[1]").count(), 1, "the key once: {err}");
    assert!(!err.contains('\n'), "one line: {err}");
    let err = refused(
        "[[rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = '\\p{Klingon}'\nreplace = \"\"\n",
        "",
    );
    assert!(err.contains("key `rules[0].pattern`"), "{err}");
    assert!(
        err.contains("Unicode property not found, at character 1"),
        "{err}"
    );
    for field in ["summary", "content", "category", "author", "link"] {
        let err = refused(
            "",
            &format!("[[sources.rules]]\naction = \"drop\"\n{field} = \"a{{2\"\n"),
        );
        assert!(
            err.contains(&format!("key `sources[0].rules[0].{field}`")),
            "{err}"
        );
    }
}

#[test]
fn a_rule_missing_what_its_action_needs_is_refused_clearly() {
    let cases = [
        (
            "action = \"drop\"\n",
            "sources[0].rules[0]`",
            "needs at least one condition",
        ),
        (
            "action = \"keep\"\n",
            "sources[0].rules[0]`",
            "would do nothing",
        ),
        (
            "action = \"rewrite\"\npattern = \"x\"\nreplace = \"\"\n",
            "sources[0].rules[0].field`",
            "needs `field`",
        ),
        (
            "action = \"rewrite\"\nfield = \"title\"\nreplace = \"\"\n",
            "sources[0].rules[0].pattern`",
            "needs `pattern`",
        ),
        (
            "action = \"rewrite\"\nfield = \"title\"\npattern = \"x\"\n",
            "sources[0].rules[0].replace`",
            "needs `replace`",
        ),
        (
            "action = \"drop\"\ntitle = \"x\"\npattern = \"y\"\n",
            "sources[0].rules[0].pattern`",
            "only a rewrite rule takes `pattern`",
        ),
        (
            "action = \"drop\"\nolder_than = \"0s\"\n",
            "sources[0].rules[0].older_than`",
            "longer than zero",
        ),
        (
            "action = \"drop\"\nolder_than = \"soon\"\n",
            "sources[0].rules[0].older_than`",
            "soon",
        ),
        (
            "action = \"delete\"\ntitle = \"x\"\n",
            "sources[0].rules[0].action`",
            "`delete` is not an action: use \"drop\", \"keep\" or \"rewrite\"",
        ),
        (
            "action = \"rewrite\"\nfield = \"content\"\npattern = \"x\"\nreplace = \"\"\n",
            "sources[0].rules[0].field`",
            "`content` is not a field a rewrite rule can rewrite: use \"title\" or \"summary\"",
        ),
        (
            "action = \"drop\"\ntitel = \"x\"\n",
            "sources[0].rules[0].titel`",
            "unknown field `titel`",
        ),
        (
            "title = \"x\"\n",
            "sources[0].rules[0]`",
            "missing field `action`",
        ),
    ];
    for (rule, key, reason) in cases {
        let err = refused("", &format!("[[sources.rules]]\n{rule}"));
        assert!(err.contains(&format!("key `{key}")), "{rule}: {err}");
        assert!(err.contains(reason), "{rule}: {err}");
        assert!(!err.contains("for key"), "the key is named once: {err}");
    }
    let err = refused("[[rules]]\naction = \"keep\"\n", "");
    assert!(err.contains("key `rules[0]`"), "{err}");
}

#[test]
fn good_rules_load_with_their_expressions_compiled() {
    let settings = load(&format!(
        "[[rules]]\naction = \"drop\"\ntitle = \"(?i)^vacancy\"\nolder_than = \"2h\"\n\n{SOURCE}\
         [[sources.rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = '^\\[News\\]\\s*'\nreplace = \"\"\n"
    ))
    .unwrap();
    let global = &settings.rules[0];
    assert_eq!(global.action, RuleAction::Drop);
    assert!(
        global
            .title
            .as_ref()
            .unwrap()
            .regex()
            .is_match("VACANCY: x")
    );
    assert_eq!(
        global.older_than,
        Some(std::time::Duration::from_secs(7200))
    );
    let own = &settings.sources[0].rules[0];
    assert_eq!(own.field, Some(RuleField::Title));
    assert_eq!(own.pattern.as_ref().unwrap().as_str(), "^\\[News\\]\\s*");
}

#[test]
fn the_readme_example_loads_and_does_what_it_says() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("### Rules").nth(1).expect("a Rules section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example");
    let settings = load(example).unwrap();
    let rules = Rules::of(&settings, &settings.sources[0]);
    let mut congress = item("[News] IFLA Congress opens");
    congress.categories = vec!["Congress".into()];
    let verdict = rules.judge(&mut congress, now());
    assert_eq!(congress.title, "IFLA Congress opens");
    assert_eq!(verdict.fate, Fate::KeptBy("sources[0].rules[2]".into()));
    let mut vacancy = item("[News] Vacancy: cataloguer");
    vacancy.categories = vec!["Congress".into()];
    assert_eq!(
        rules.judge(&mut vacancy, now()).fate,
        Fate::DroppedBy("sources[0].rules[0]".into())
    );
    let mut closed = item("Library closed");
    closed.categories = vec!["Notices".into()];
    assert_eq!(
        rules.judge(&mut closed, now()).fate,
        Fate::DroppedBy("sources[0].rules[1]".into())
    );
    let mut report = item("Annual report");
    report.categories = vec!["Reports".into()];
    assert_eq!(fate(&rules, report), Fate::NotKept);
}

#[test]
fn the_shipped_rule_examples_are_valid_once_uncommented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut uncommented = String::new();
    let mut in_rule = false;
    for line in text.lines() {
        let code = line.strip_prefix("# ");
        in_rule = match code {
            Some("[[rules]]" | "[[sources.rules]]") => true,
            Some(code) => in_rule && code.split_once(" = ").is_some(),
            None => false,
        };
        uncommented.push_str(if in_rule { code.unwrap_or(line) } else { line });
        uncommented.push('\n');
    }
    let settings = load(&uncommented).unwrap();
    assert_eq!(settings.rules.len(), 1);
    let ifla = settings.source("ifla-news").unwrap();
    assert_eq!(ifla.rules.len(), 1);
    let rules = Rules::of(&settings, ifla);
    let mut tagged = item("[Press release] New president");
    rules.judge(&mut tagged, now());
    assert_eq!(tagged.title, "New president");
    assert!(fate(&rules, item("Vacancy: Head of Policy")).drops());
}
