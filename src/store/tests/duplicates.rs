//! Cross-source duplicates, on each backend: judged in the item's write,
//! carried by its message, read by the feeds, `/items/<id>` and `/status`.

use super::*;
use crate::dedup::DedupRule;

on_each_backend! {
    a_new_item_with_another_sources_link_is_its_duplicate_and_says_so,
    the_same_title_and_text_match_within_the_window_only,
    an_edit_that_makes_it_differ_ends_the_link,
    a_source_out_of_dedup_takes_no_part,
}

fn rss() -> SourceRef {
    source_at("blog-rss", "https://blog.example/feed/")
}

fn atom() -> SourceRef {
    source_at("blog-atom", "https://blog.example/atom.xml")
}

fn planet() -> SourceRef {
    source_at("planet", "https://planet.example/rss")
}

/// An item of `source` keyed `key` at `url`, with a real-sized text.
fn story(source: &SourceRef, key: &str, url: &str, title: &str, text: &str, day: i64) -> Item {
    let mut it = item(source, key, title, at(day, 0));
    it.url = Some(url.into());
    it.summary = text.chars().take(200).collect();
    it.content_html = Some(format!("<p>{text}</p>"));
    it.content_hash = it.compute_content_hash();
    it
}

const WLIC: &str = "IFLA announces the 2024 World Library and Information Congress in \
    Dublin, Ireland, with a call for papers on libraries, sustainability and the \
    information society; submissions close at the end of March, and the programme \
    committee will answer every proposal by the middle of May.";

const BUDGET: &str = "The city council cut the budget of its school libraries again this \
    year; three branches will close in the autumn and the mobile library will visit \
    the outlying villages only once a month from September on.";

async fn poll(store: &Store, source: &SourceRef, items: Vec<Item>, day: i64, rule: DedupRule) {
    let mut record = poll_of(source, items, at(day, 3600), Retention::default());
    record.dedup = rule;
    store.record_poll(record).await.unwrap();
}

async fn new_messages(store: &Store) -> Vec<serde_json::Value> {
    all_pending(store).await.iter().map(body_json).collect()
}

async fn a_new_item_with_another_sources_link_is_its_duplicate_and_says_so(t: TestStore) {
    let store = &*t;
    let rule = DedupRule::judging();
    let first = story(
        &rss(),
        "a",
        "https://blog.example/2024/wlic/",
        "WLIC 2024",
        WLIC,
        1,
    );
    poll(store, &rss(), vec![first.clone()], 1, rule).await;
    // The same post through the Atom feed: http, www., no slash, utm_.
    let copy = story(
        &atom(),
        "tag:blog.example,2024:a",
        "http://www.blog.example/2024/wlic?utm_source=atom",
        "WLIC 2024",
        WLIC,
        1,
    );
    poll(store, &atom(), vec![copy.clone()], 2, rule).await;

    let messages = new_messages(store).await;
    assert_eq!(messages.len(), 2, "a duplicate is still published");
    assert_eq!(messages[0]["data"]["duplicate_of"], serde_json::Value::Null);
    assert_eq!(
        messages[0]["data"]["duplicate_reason"],
        serde_json::Value::Null
    );
    assert_eq!(messages[1]["data"]["id"], copy.id.as_str());
    assert_eq!(messages[1]["data"]["duplicate_of"], first.id.as_str());
    assert_eq!(messages[1]["data"]["duplicate_reason"], "same link");

    // The merged feed shows the story once, naming the other source.
    let merged = store.feed(&ItemFilter::default(), 10).await.unwrap();
    assert_eq!(merged.items.len(), 1);
    assert_eq!(merged.items[0].id, first.id);
    let also = &merged.also_in[&first.id];
    assert_eq!(also.len(), 1);
    assert_eq!(also[0].id, copy.id);
    assert_eq!(also[0].source.id, "blog-atom");
    // Every item with ?duplicates=all; each source's own feed shows its own.
    let all = ItemFilter {
        all_duplicates: true,
        ..ItemFilter::default()
    };
    assert_eq!(store.feed(&all, 10).await.unwrap().items.len(), 2);
    let own = ItemFilter {
        sources: vec!["blog-atom".into()],
        ..ItemFilter::default()
    };
    let own = store.feed(&own, 10).await.unwrap();
    assert_eq!(own.items.len(), 1);
    assert_eq!(own.items[0].id, copy.id);
    let both = ItemFilter {
        sources: vec!["blog-atom".into(), "blog-rss".into()],
        ..ItemFilter::default()
    };
    assert_eq!(store.feed(&both, 10).await.unwrap().items.len(), 1);
    // A filtered feed of every source leaves the duplicate out too.
    let words = ItemFilter {
        words: vec!["wlic".into()],
        ..ItemFilter::default()
    };
    assert_eq!(store.feed(&words, 10).await.unwrap().items.len(), 1);

    // Both directions, for /items/<id>.
    let of_copy = store.duplication(copy.id.as_str()).await.unwrap();
    let verdict = of_copy.duplicate_of.unwrap();
    assert_eq!(verdict.of, first.id);
    assert_eq!(verdict.of_source, "blog-rss");
    assert_eq!(verdict.reason, "same link");
    let of_first = store.duplication(first.id.as_str()).await.unwrap();
    assert_eq!(of_first.duplicate_of, None);
    assert_eq!(of_first.duplicates.len(), 1);
    assert_eq!(of_first.duplicates[0].id, copy.id);
    assert_eq!(
        store.duplication("0000").await.unwrap(),
        Duplication::default()
    );
    assert_eq!(
        store.duplicate_counts().await.unwrap(),
        [DuplicateCount {
            source_id: "blog-atom".into(),
            of_source: "blog-rss".into(),
            count: 1,
        }]
    );

    // A third carrier points at the first item; the first's own source
    // listing the link again under another key is never its own duplicate.
    let third = story(
        &planet(),
        "p",
        "https://blog.example/2024/wlic",
        "x",
        "y",
        1,
    );
    let again = story(&rss(), "a2", "https://blog.example/2024/wlic", "z", "w", 1);
    poll(store, &planet(), vec![third.clone()], 3, rule).await;
    poll(store, &rss(), vec![again.clone()], 3, rule).await;
    let messages = new_messages(store).await;
    assert_eq!(messages[2]["data"]["duplicate_of"], first.id.as_str());
    assert_eq!(messages[3]["data"]["duplicate_of"], serde_json::Value::Null);
    // Restarted, the store judges and publishes nothing again.
    let t = t.reopen().await;
    poll(&t, &atom(), vec![copy.clone()], 4, DedupRule::judging()).await;
    assert_eq!(new_messages(&t).await.len(), 4);
    assert_eq!(
        t.duplication(copy.id.as_str()).await.unwrap().duplicate_of,
        Some(verdict)
    );
}

async fn the_same_title_and_text_match_within_the_window_only(t: TestStore) {
    let store = &*t;
    let rule = DedupRule::judging();
    let title = "IFLA opens the call for papers for WLIC 2024";
    let first = story(&rss(), "a", "https://blog.example/a", title, WLIC, 10);
    poll(store, &rss(), vec![first.clone()], 10, rule).await;
    let copy = story(&planet(), "c", "https://planet.example/1", title, WLIC, 11);
    let other_text = story(
        &planet(),
        "d",
        "https://planet.example/2",
        title,
        BUDGET,
        11,
    );
    let late = story(&atom(), "e", "https://elsewhere.example/3", title, WLIC, 30);
    poll(
        store,
        &planet(),
        vec![copy.clone(), other_text.clone()],
        11,
        rule,
    )
    .await;
    poll(store, &atom(), vec![late.clone()], 30, rule).await;
    let verdict = |id: &ItemId| {
        let id = id.as_str().to_owned();
        async move { store.duplication(&id).await.unwrap().duplicate_of }
    };
    let found = verdict(&copy.id).await.expect("same title and text");
    assert_eq!(found.of, first.id);
    assert_eq!(found.reason, "same title, 100% same text");
    assert_eq!(verdict(&other_text.id).await, None, "other text");
    assert_eq!(
        verdict(&late.id).await,
        None,
        "19 days later: past the window"
    );

    // Generic titles over different text, by two sources: none.
    let weekly = |source: &SourceRef, n: i64, text: &str| {
        story(
            source,
            &format!("w{n}"),
            &format!("https://{}.example/weekly/{n}", source.id),
            "Weekly newsletter",
            text,
            12,
        )
    };
    poll(store, &rss(), vec![weekly(&rss(), 1, BUDGET)], 12, rule).await;
    poll(store, &atom(), vec![weekly(&atom(), 2, WLIC)], 12, rule).await;
    assert_eq!(verdict(&weekly(&atom(), 2, WLIC).id).await, None);
}

async fn an_edit_that_makes_it_differ_ends_the_link(t: TestStore) {
    let store = &*t;
    let rule = DedupRule::judging();
    let title = "IFLA opens the call for papers for WLIC 2024";
    let first = story(&rss(), "a", "https://blog.example/a", title, WLIC, 1);
    let copy = story(&planet(), "c", "https://planet.example/1", title, WLIC, 1);
    poll(store, &rss(), vec![first.clone()], 1, rule).await;
    poll(store, &planet(), vec![copy.clone()], 1, rule).await;
    // An edit that keeps the story: still its duplicate.
    let mut edited = copy.clone();
    edited.categories = vec!["Congress".into()];
    edited.summary.push_str(" (updated)");
    edited.content_hash = edited.compute_content_hash();
    poll(store, &planet(), vec![edited.clone()], 2, rule).await;
    let messages = new_messages(store).await;
    assert_eq!(messages[2]["type"], "org.librarywire.item.updated");
    assert_eq!(messages[2]["data"]["duplicate_of"], first.id.as_str());
    // An edit that makes it another story: the link ends.
    let rewritten = story(&planet(), "c", "https://planet.example/1", title, BUDGET, 1);
    poll(store, &planet(), vec![rewritten], 3, rule).await;
    let messages = new_messages(store).await;
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3]["data"]["revision"], 3);
    assert_eq!(messages[3]["data"]["duplicate_of"], serde_json::Value::Null);
    assert_eq!(
        store.duplication(copy.id.as_str()).await.unwrap(),
        Duplication::default()
    );
    assert_eq!(
        store
            .feed(&ItemFilter::default(), 10)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

async fn a_source_out_of_dedup_takes_no_part(t: TestStore) {
    let store = &*t;
    let out = DedupRule {
        judge: false,
        fingerprint: false,
        ..DedupRule::judging()
    };
    let first = story(
        &rss(),
        "a",
        "https://blog.example/a",
        "WLIC 2024 in Dublin",
        WLIC,
        1,
    );
    poll(store, &rss(), vec![first], 1, out).await;
    let copy = story(
        &atom(),
        "b",
        "https://blog.example/a",
        "WLIC 2024 in Dublin",
        WLIC,
        1,
    );
    poll(store, &atom(), vec![copy.clone()], 1, DedupRule::judging()).await;
    assert_eq!(
        store.duplication(copy.id.as_str()).await.unwrap(),
        Duplication::default()
    );
    let again = story(&planet(), "c", "https://blog.example/a", "x", "y", 1);
    poll(store, &planet(), vec![again.clone()], 1, out).await;
    assert_eq!(
        store.duplication(again.id.as_str()).await.unwrap(),
        Duplication::default()
    );
    assert_eq!(store.duplicate_counts().await.unwrap(), []);
}
