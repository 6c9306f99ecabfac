//! Refresh tests: the pure parts here; polls through a real store and real
//! HTTP servers in `schedule`'s tests, `page`'s tests and the e2e tests.

use super::*;

#[tokio::test]
async fn a_panic_in_contained_work_becomes_its_message() {
    assert_eq!(contained(|| 2 + 2).await, Ok(4));
    let crashed = contained(|| -> usize { panic!("bad bytes at 42") }).await;
    assert_eq!(crashed, Err("bad bytes at 42".to_owned()));
    let formatted = contained(|| -> usize { panic!("index {} out of range", 7) }).await;
    assert_eq!(formatted, Err("index 7 out of range".to_owned()));
}

fn refreshed(not_modified: bool, new: usize, updated: usize) -> Result<Refreshed, RefreshError> {
    Ok(Refreshed {
        not_modified,
        items_seen: new + updated,
        dropped_by_rules: 0,
        applied: ApplyOutcome {
            new,
            updated,
            ..ApplyOutcome::default()
        },
        suggested_interval: None,
        state: FetchState::default(),
        final_url: url::Url::parse("https://example.org/feed.xml").unwrap(),
        recovered: false,
    })
}

#[test]
fn a_poll_has_one_outcome() {
    assert_eq!(outcome_label(&refreshed(true, 0, 0)), "not_modified");
    assert_eq!(outcome_label(&refreshed(false, 2, 1)), "new_items");
    assert_eq!(outcome_label(&refreshed(false, 0, 1)), "updated_items");
    assert_eq!(outcome_label(&refreshed(false, 0, 0)), "no_change");
    let recovered = refreshed(false, 3, 0).map(|r| Refreshed {
        recovered: true,
        ..r
    });
    assert_eq!(outcome_label(&recovered), "recovered");
    let parse = "x".parse::<url::Url>().unwrap_err();
    assert_eq!(outcome_label(&Err(RefreshError::Url(parse))), "config");
}
