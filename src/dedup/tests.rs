use super::*;
use chrono::{TimeZone, Utc};

fn item(source: &str, url: &str, title: &str, text: &str) -> Item {
    Item {
        id: ItemId::derive(source, url),
        source: SourceRef {
            id: source.into(),
            name: source.into(),
            url: format!("https://{source}.example/feed"),
        },
        guid: String::new(),
        url: Some(url.into()),
        title: title.into(),
        summary: text.into(),
        content_html: None,
        authors: vec![],
        categories: vec![],
        language: None,
        published: Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap(),
        updated: None,
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    }
}

fn stored(it: &Item) -> Candidate {
    Candidate {
        id: it.id.clone(),
        source_id: it.source.id.clone(),
        original: None,
        signature: Fingerprint::of(it).signature,
    }
}

const TEXT: &str = "IFLA announces the 2024 World Library and Information Congress in \
    Dublin, Ireland, with a call for papers on libraries, sustainability and the \
    information society; submissions close at the end of March.";

#[test]
fn links_compare_without_scheme_www_slash_fragment_and_tracking() {
    let key = link_key("https://www.ifla.org/news/wlic-2024/").unwrap();
    for same in [
        "http://ifla.org/news/wlic-2024",
        "https://WWW.IFLA.org/news/wlic-2024/#comments",
        "https://www.ifla.org/news/wlic-2024/?utm_source=rss&utm_medium=feed",
        "https://ifla.org/news/wlic-2024?fbclid=x",
    ] {
        assert_eq!(link_key(same).as_deref(), Some(key.as_str()), "{same}");
    }
    for other in [
        "https://ifla.org/news/wlic-2025",
        "https://ifla.org/news/wlic-2024?p=2",
        "https://ifla.org:8443/news/wlic-2024",
    ] {
        assert_ne!(link_key(other).as_deref(), Some(key.as_str()), "{other}");
    }
    assert_eq!(link_key("tag:ifla.org,2024:1"), None);
    assert_eq!(link_key("not a url"), None);
}

#[test]
fn generic_and_short_titles_have_no_title_key() {
    for generic in [
        "News",
        "Newsletter",
        "Weekly update",
        "Weekly Newsletter #42",
        "News update, 3 May 2024",
        "The monthly digest: issue 7",
        "Untitled",
        "Reopening",
        "2024",
    ] {
        assert_eq!(title_key(generic), None, "{generic}");
    }
    assert_eq!(title_key("Typst Musings").as_deref(), Some("typst musings"));
    assert_eq!(
        title_key("IFLA WLIC 2024: Call for Papers!").as_deref(),
        Some("ifla wlic 2024 call for papers")
    );
}

#[test]
fn the_same_text_is_near_one_and_other_text_near_zero() {
    let a = Signature::of(TEXT).unwrap();
    assert_eq!(a.similarity(&a), 1.0);
    let reworded = TEXT.replace("the end of March", "the end of April");
    let b = Signature::of(&reworded).unwrap();
    assert!(a.similarity(&b) > 0.7, "{}", a.similarity(&b));
    let other = Signature::of(
        "The national library reopens its reading rooms after renovation, with longer \
         opening hours and a new children's corner on the ground floor.",
    )
    .unwrap();
    assert!(a.similarity(&other) < 0.2, "{}", a.similarity(&other));
    assert_eq!(Signature::of(" ,. "), None);
    // Stored and read back as it was; another version matches nothing.
    let bytes = a.to_bytes();
    assert_eq!(Signature::from_bytes(&bytes), Some(a));
    let mut other_version = bytes.clone();
    other_version[0] = 2;
    assert_eq!(Signature::from_bytes(&other_version), None);
}

#[test]
fn the_signature_reads_words_not_case_or_punctuation() {
    let bytes = Signature::of("one two three four").unwrap().to_bytes();
    assert_eq!(bytes.len(), 1 + 64 * 4);
    assert_eq!(
        bytes,
        Signature::of("One, two; three four.").unwrap().to_bytes()
    );
}

#[test]
fn same_link_wins_and_names_the_first_item_of_the_story() {
    let rule = DedupRule::judging();
    let first = item("rss", "https://blog.example/a", "Post A", TEXT);
    let mut second = item("atom", "http://www.blog.example/a/", "Post A", TEXT);
    second.id = ItemId::derive("atom", "a");
    let verdict = judge(
        "atom",
        &Fingerprint::of(&second),
        &[stored(&first)],
        &[],
        &rule,
    )
    .unwrap();
    assert_eq!(verdict.of, first.id);
    assert_eq!(verdict.of_source, "rss");
    assert_eq!(verdict.reason, "same link");

    // A third source's copy points at the first item, not at the duplicate.
    let duplicate = Candidate {
        original: Some((first.id.clone(), "rss".into())),
        ..stored(&second)
    };
    let third = item("planet", "https://blog.example/a", "Post A", TEXT);
    let verdict = judge(
        "planet",
        &Fingerprint::of(&third),
        std::slice::from_ref(&duplicate),
        &[],
        &rule,
    )
    .unwrap();
    assert_eq!(verdict.of, first.id);
    // A story that began in its own source is never its duplicate.
    assert_eq!(
        judge("rss", &Fingerprint::of(&first), &[duplicate], &[], &rule),
        None
    );
}

#[test]
fn a_guid_that_is_a_url_is_a_link_too() {
    let mut it = item("a", "https://feeds.example/~r/x/123", "A post", TEXT);
    it.guid = "https://blog.example/2024/05/a-post/".into();
    let fingerprint = Fingerprint::of(&it);
    assert_eq!(
        fingerprint.links().collect::<Vec<_>>(),
        ["feeds.example/~r/x/123", "blog.example/2024/05/a-post"]
    );
}

#[test]
fn same_title_and_text_match_and_say_how_much() {
    let rule = DedupRule::judging();
    let title = "IFLA opens the call for papers for WLIC 2024";
    let first = item("ifla", "https://ifla.org/a", title, TEXT);
    let copy = item("planet", "https://planet.example/ifla-a", title, TEXT);
    let verdict = judge(
        "planet",
        &Fingerprint::of(&copy),
        &[],
        &[stored(&first)],
        &rule,
    )
    .unwrap();
    assert_eq!(verdict.of, first.id);
    assert_eq!(verdict.reason, "same title, 100% same text");

    // The same title over other text is another story.
    let other = item(
        "planet",
        "https://planet.example/b",
        title,
        "A different report entirely: budgets for school libraries in the region were \
         cut again this year, and three branches will close in the autumn.",
    );
    assert_eq!(
        judge(
            "planet",
            &Fingerprint::of(&other),
            &[],
            &[stored(&first)],
            &rule
        ),
        None
    );
    // A generic title never matches by text, however alike the text.
    let generic = item(
        "planet",
        "https://planet.example/c",
        "Weekly newsletter",
        TEXT,
    );
    let stored_generic = stored(&item(
        "ifla",
        "https://ifla.org/c",
        "Weekly newsletter",
        TEXT,
    ));
    assert_eq!(
        judge(
            "planet",
            &Fingerprint::of(&generic),
            &[],
            &[stored_generic],
            &rule
        ),
        None
    );
}

#[test]
fn an_edit_that_makes_it_differ_ends_the_link() {
    let rule = DedupRule::judging();
    let title = "IFLA opens the call for papers for WLIC 2024";
    let original = Fingerprint::of(&item("ifla", "https://ifla.org/a", title, TEXT));
    let copy = item("planet", "https://planet.example/a", title, TEXT);
    assert!(still_same(&Fingerprint::of(&copy), &original, &rule));
    let retitled = item(
        "planet",
        "https://planet.example/a",
        "Our own take on WLIC",
        TEXT,
    );
    assert!(!still_same(&Fingerprint::of(&retitled), &original, &rule));
    let same_link = item("planet", "https://ifla.org/a/", "Our own take on WLIC", "x");
    assert!(still_same(&Fingerprint::of(&same_link), &original, &rule));
}

#[test]
fn a_source_out_of_dedup_is_neither_judged_nor_fingerprinted() {
    let settings = DedupSettings::default();
    let mut source: SourceSettings = toml::from_str(
        r#"
        id = "planet"
        url = "https://planet.example/feed"
        "#,
    )
    .unwrap();
    assert!(source.dedup);
    let rule = DedupRule::of(&settings, &source);
    assert!(rule.judge && rule.fingerprint);
    source.dedup = false;
    let rule = DedupRule::of(&settings, &source);
    assert!(!rule.judge && !rule.fingerprint);
    let off = DedupSettings {
        enabled: false,
        ..settings
    };
    source.dedup = true;
    let rule = DedupRule::of(&off, &source);
    assert!(!rule.judge && rule.fingerprint, "kept ready for later");
}
