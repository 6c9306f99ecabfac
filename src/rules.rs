//! Rules: the admin's `drop`, `keep` and `rewrite` rules, applied to a
//! poll's normalized items before the store, so a dropped item is never
//! stored, published or served. Pure: no I/O, and no clock (`older_than`
//! is measured from the poll's `now`, as normalize's dates are).
//!
//! The rules of a source are `[[rules]]` (every source's) then its own
//! `[[sources.rules]]`, in order; each sees the item as the rules before it
//! left it. As in Miniflux (block rules, then keep rules):
//! - a `drop` rule that applies drops the item there, whatever keep rules say;
//! - once the source has a `keep` rule, an item that no keep rule applies to
//!   is dropped after the last rule;
//! - a `rewrite` rule that applies replaces every match of its `pattern` in
//!   its `field`, and the rules after it see the new text.
//!
//! A rewrite is a function of the item alone, so the same feed gives the same
//! rewritten item on every poll: its content hash does not move, and no
//! `item.updated` follows.
//!
//! The expressions were compiled when the config was read
//! ([`crate::config::Pattern`]); [`Rules::of`] only gathers them for one source.

use crate::config::{RuleAction, RuleField, RuleSettings, Settings, SourceSettings};
use crate::item::{Item, ItemId};
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;

/// The rules of one source, in the order they apply: `[[rules]]`, then its
/// own. Cheap to clone; the default has none.
#[derive(Debug, Clone, Default)]
pub struct Rules(Arc<[Rule]>);

/// One rule, with its place in the config.
#[derive(Debug)]
struct Rule {
    /// Where the config has it: `rules[0]`, `sources[3].rules[1]`.
    place: String,
    settings: RuleSettings,
}

impl Rules {
    /// The rules of `source` under `settings`: `settings.rules`, then the
    /// source's own, named by their place in the config. A source that
    /// `settings` does not list is named by its id.
    pub fn of(settings: &Settings, source: &SourceSettings) -> Rules {
        let index = settings.sources.iter().position(|s| s.id == source.id);
        let global = settings.rules.iter().enumerate().map(|(i, rule)| Rule {
            place: format!("rules[{i}]"),
            settings: rule.clone(),
        });
        let own = source.rules.iter().enumerate().map(|(i, rule)| Rule {
            place: match index {
                Some(n) => format!("sources[{n}].rules[{i}]"),
                None => format!("sources.{}.rules[{i}]", source.id),
            },
            settings: rule.clone(),
        });
        Rules(global.chain(own).collect())
    }

    /// Whether there are none: every item passes as it is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies the rules to every item, keeping those that stay in order,
    /// and says what they did to each item they touched (dropped ones too),
    /// in the items' order. `now` is the poll's time.
    pub fn apply(&self, items: &mut Vec<Item>, now: DateTime<Utc>) -> Vec<Ruled> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut ruled = Vec::new();
        items.retain_mut(|item| {
            let title = item.title.clone();
            let verdict = self.judge(item, now);
            let stays = !verdict.fate.drops();
            if verdict.touched() {
                ruled.push(Ruled {
                    id: item.id.clone(),
                    title,
                    url: item.url.clone(),
                    verdict,
                });
            }
            stays
        });
        ruled
    }

    /// Runs the rules over one item, rewriting it in place, and says what
    /// became of it.
    pub fn judge(&self, item: &mut Item, now: DateTime<Utc>) -> Verdict {
        // Rewrites touch only the title and summary, so the content's text
        // is the same for every rule; it is made once, and only if asked.
        let mut content = None;
        let mut verdict = Verdict::default();
        let mut kept_by = None;
        let mut has_keep = false;
        for rule in self.0.iter() {
            let settings = &rule.settings;
            has_keep |= settings.action == RuleAction::Keep;
            if !applies(settings, item, &mut content, now) {
                continue;
            }
            match settings.action {
                RuleAction::Drop => {
                    verdict.fate = Fate::DroppedBy(rule.place.clone());
                    return verdict;
                }
                RuleAction::Keep => {
                    kept_by.get_or_insert_with(|| rule.place.clone());
                }
                RuleAction::Rewrite => {
                    if rewrite(settings, item) {
                        verdict.rewrites.push(Rewrite {
                            by: rule.place.clone(),
                            field: settings.field.unwrap_or(RuleField::Title),
                        });
                    }
                }
            }
        }
        verdict.fate = match kept_by {
            Some(by) => Fate::KeptBy(by),
            None if has_keep => Fate::NotKept,
            None => Fate::Passed,
        };
        verdict
    }
}

/// Whether every condition `rule` gives holds for `item`. `content` holds
/// the content's text once made.
fn applies(
    rule: &RuleSettings,
    item: &Item,
    content: &mut Option<String>,
    now: DateTime<Utc>,
) -> bool {
    let text = |pattern: &Option<crate::config::Pattern>, text: &str| {
        pattern.as_ref().is_none_or(|p| p.regex().is_match(text))
    };
    let any = |pattern: &Option<crate::config::Pattern>, values: &[String]| {
        pattern
            .as_ref()
            .is_none_or(|p| values.iter().any(|v| p.regex().is_match(v)))
    };
    text(&rule.title, &item.title)
        && text(&rule.summary, &item.summary)
        && text(&rule.link, item.url.as_deref().unwrap_or(""))
        && any(&rule.category, &item.categories)
        && any(&rule.author, &item.authors)
        && rule.older_than.is_none_or(|age| older_than(item, age, now))
        && (rule.content.is_none()
            || text(
                &rule.content,
                content.get_or_insert_with(|| crate::normalize::content_text(item)),
            ))
}

/// Whether `item` was published longer than `age` before `now`.
fn older_than(item: &Item, age: std::time::Duration, now: DateTime<Utc>) -> bool {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .is_some_and(|cutoff| item.published < cutoff)
}

/// Applies a rewrite rule to `item`; whether its text changed.
fn rewrite(rule: &RuleSettings, item: &mut Item) -> bool {
    let (Some(field), Some(pattern)) = (rule.field, &rule.pattern) else {
        return false;
    };
    let replace = rule.replace.as_deref().unwrap_or("");
    match field {
        RuleField::Title => {
            let new = pattern
                .regex()
                .replace_all(&item.title, replace)
                .into_owned();
            crate::normalize::retitle(item, &new)
        }
        RuleField::Summary => {
            let new = pattern
                .regex()
                .replace_all(&item.summary, replace)
                .into_owned();
            crate::normalize::resummarize(item, &new)
        }
    }
}

/// What the rules did to one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Whether it stays, and which rule said so.
    pub fate: Fate,
    /// The rewrites that changed it, in order.
    pub rewrites: Vec<Rewrite>,
}

impl Verdict {
    /// Whether any rule kept, dropped or rewrote the item.
    pub fn touched(&self) -> bool {
        self.fate != Fate::Passed || !self.rewrites.is_empty()
    }
}

/// Whether an item stays, and which rule decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Fate {
    /// No drop or keep rule concerns it: it stays.
    #[default]
    Passed,
    /// This keep rule applies to it (the first that does): it stays.
    KeptBy(String),
    /// This drop rule applies to it: it is dropped.
    DroppedBy(String),
    /// Its source has keep rules and none applies to it: it is dropped.
    NotKept,
}

impl Fate {
    /// Whether the item is dropped.
    pub fn drops(&self) -> bool {
        matches!(self, Fate::DroppedBy(_) | Fate::NotKept)
    }
}

/// One rewrite that changed an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The rule's place in the config.
    pub by: String,
    /// The field it rewrote.
    pub field: RuleField,
}

impl fmt::Display for Verdict {
    /// `title rewritten by sources[0].rules[2], kept by rules[0]`, or
    /// `dropped by sources[0].rules[1]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .rewrites
            .iter()
            .map(|r| format!("{} rewritten by {}", r.field.name(), r.by))
            .collect();
        match &self.fate {
            Fate::Passed => {}
            Fate::KeptBy(by) => parts.push(format!("kept by {by}")),
            Fate::DroppedBy(by) => parts.push(format!("dropped by {by}")),
            Fate::NotKept => parts.push("dropped: no keep rule applies".to_owned()),
        }
        f.write_str(&parts.join(", "))
    }
}

/// An item the rules touched, and what they did.
#[derive(Debug, Clone, PartialEq)]
pub struct Ruled {
    /// The item's id.
    pub id: ItemId,
    /// Its title before the rules.
    pub title: String,
    /// Its link.
    pub url: Option<String>,
    /// What the rules did.
    pub verdict: Verdict,
}

#[cfg(test)]
mod tests;
