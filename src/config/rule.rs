//! The rules' syntax: `[[rules]]` (for every source, applied first) and a
//! source's `[[sources.rules]]`, each a `drop`, `keep` or `rewrite` rule with
//! conditions. Their regular expressions are compiled here, when the config
//! is read, so `check-config` names a bad one by its key and the items of a
//! poll are matched against expressions compiled once per load. What the
//! rules do to items is `crate::rules`'.

use serde::Deserialize;
use std::time::Duration;

/// One rule of `[[rules]]` or `[[sources.rules]]`.
///
/// A rule applies to an item when every condition it gives matches (a rule
/// with none applies to every item, which only a `rewrite` may be).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// `drop`, `keep` or `rewrite`. Required.
    pub action: RuleAction,
    /// Matches the item's plain-text title. Default: no condition.
    #[serde(default)]
    pub title: Option<Pattern>,
    /// Matches the item's plain-text summary. Default: no condition.
    #[serde(default)]
    pub summary: Option<Pattern>,
    /// Matches the plain text of the item's sanitized content, as its feed
    /// or list gave it. Default: no condition.
    #[serde(default)]
    pub content: Option<Pattern>,
    /// Matches when any of the item's categories matches. Default: no condition.
    #[serde(default)]
    pub category: Option<Pattern>,
    /// Matches when any of the item's authors matches. Default: no condition.
    #[serde(default)]
    pub author: Option<Pattern>,
    /// Matches the item's canonical link. Default: no condition.
    #[serde(default)]
    pub link: Option<Pattern>,
    /// Matches an item published longer ago than this, before the poll's
    /// time. Default: no condition.
    #[serde(default, with = "humantime_serde")]
    pub older_than: Option<Duration>,
    /// For `rewrite`: the field rewritten, `title` or `summary`. Required there.
    #[serde(default)]
    pub field: Option<RuleField>,
    /// For `rewrite`: what is replaced, every match of it. Required there.
    #[serde(default)]
    pub pattern: Option<Pattern>,
    /// For `rewrite`: the replacement, in the `regex` crate's syntax (`$1`,
    /// `${name}`, `$$` for a dollar). Required there; `""` removes the match.
    #[serde(default)]
    pub replace: Option<String>,
}

/// What a rule does to the items it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum RuleAction {
    /// The item is not stored, published or served.
    Drop,
    /// Once a source has a keep rule, only the items a keep rule applies to stay.
    Keep,
    /// `field`'s text has `pattern` replaced with `replace`.
    Rewrite,
}

impl RuleAction {
    /// The action as the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            RuleAction::Drop => "drop",
            RuleAction::Keep => "keep",
            RuleAction::Rewrite => "rewrite",
        }
    }
}

/// The field a `rewrite` rule rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum RuleField {
    /// The plain-text title.
    Title,
    /// The plain-text summary.
    Summary,
}

// Read from strings by hand: the config crate words an unknown enum variant
// as "enum RuleAction does not have variant constructor …", which names a
// Rust type and no choice.
impl TryFrom<String> for RuleAction {
    type Error = String;
    fn try_from(name: String) -> Result<RuleAction, String> {
        match name.as_str() {
            "drop" => Ok(RuleAction::Drop),
            "keep" => Ok(RuleAction::Keep),
            "rewrite" => Ok(RuleAction::Rewrite),
            _ => Err(format!(
                "`{name}` is not an action: use \"drop\", \"keep\" or \"rewrite\""
            )),
        }
    }
}

impl TryFrom<String> for RuleField {
    type Error = String;
    fn try_from(name: String) -> Result<RuleField, String> {
        match name.as_str() {
            "title" => Ok(RuleField::Title),
            "summary" => Ok(RuleField::Summary),
            _ => Err(format!(
                "`{name}` is not a field a rewrite rule can rewrite: use \"title\" or \"summary\""
            )),
        }
    }
}

impl RuleField {
    /// The field as the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            RuleField::Title => "title",
            RuleField::Summary => "summary",
        }
    }
}

/// A rule's regular expression, compiled when the config is read. Compares
/// and shows as its text.
#[derive(Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    /// Compiles `text`. The message says what is wrong and where, on one line.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        regex::Regex::new(text)
            .map(Pattern)
            .map_err(|e| pattern_error(text, &e))
    }

    /// The compiled expression.
    pub fn regex(&self) -> &regex::Regex {
        &self.0
    }

    /// The expression as the config gave it.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let text = String::deserialize(d)?;
        Pattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What is wrong with `text`, which the regex crate refused. Its own
/// message spans several lines (the expression, a caret under the spot);
/// the parser it uses says the same in parts, which fit on one line.
fn pattern_error(text: &str, error: &regex::Error) -> String {
    let (reason, position) = match regex_syntax::Parser::new().parse(text) {
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), e.span().start),
        Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), e.span().start),
        // Read well, refused later (it compiles too big): the crate's word.
        _ => return format!("`{text}` is not a usable regular expression: {error}"),
    };
    let at = if position.line > 1 {
        format!("line {}, character {}", position.line, position.column)
    } else {
        format!("character {}", position.column)
    };
    format!("`{text}` is not a regular expression: {reason}, at {at}")
}

/// Checks what serde cannot of the rules at `key` (`rules`, or
/// `sources[3].rules`): each names what its action needs and nothing else.
/// Returns the dotted key of the first bad rule or option, and why.
pub(super) fn validate_rules(key: &str, rules: &[RuleSettings]) -> Result<(), (String, String)> {
    for (i, rule) in rules.iter().enumerate() {
        let at = |field: &str| {
            if field.is_empty() {
                format!("{key}[{i}]")
            } else {
                format!("{key}[{i}].{field}")
            }
        };
        if rule.older_than.is_some_and(|d| d.is_zero()) {
            return Err((at("older_than"), "must be longer than zero".to_owned()));
        }
        let action = rule.action.name();
        match rule.action {
            RuleAction::Drop | RuleAction::Keep => {
                for (field, given) in [
                    ("field", rule.field.is_some()),
                    ("pattern", rule.pattern.is_some()),
                    ("replace", rule.replace.is_some()),
                ] {
                    if given {
                        return Err((
                            at(field),
                            format!(
                                "only a rewrite rule takes `{field}`; a {action} rule's conditions are {CONDITIONS}"
                            ),
                        ));
                    }
                }
                if !rule.has_condition() {
                    let all = if rule.action == RuleAction::Drop {
                        "drop every item"
                    } else {
                        "keep every item, so it would do nothing"
                    };
                    return Err((
                        at(""),
                        format!(
                            "a {action} rule needs at least one condition ({CONDITIONS}); without one it would {all}"
                        ),
                    ));
                }
            }
            RuleAction::Rewrite => {
                if rule.field.is_none() {
                    return Err((
                        at("field"),
                        "a rewrite rule needs `field`, \"title\" or \"summary\"".to_owned(),
                    ));
                }
                if rule.pattern.is_none() {
                    return Err((
                        at("pattern"),
                        "a rewrite rule needs `pattern`, the regular expression whose matches are replaced".to_owned(),
                    ));
                }
                if rule.replace.is_none() {
                    return Err((
                        at("replace"),
                        "a rewrite rule needs `replace`, what each match becomes (\"\" removes it)"
                            .to_owned(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The conditions a rule may give, for messages.
const CONDITIONS: &str = "title, summary, content, category, author, link, older_than";

impl RuleSettings {
    /// Whether the rule gives any condition.
    pub fn has_condition(&self) -> bool {
        self.title.is_some()
            || self.summary.is_some()
            || self.content.is_some()
            || self.category.is_some()
            || self.author.is_some()
            || self.link.is_some()
            || self.older_than.is_some()
    }
}
