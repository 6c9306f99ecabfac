//! Plain text out of feed text: HTML to text, white space, bounded length.

use ego_tree::iter::Edge;
use feed_rs::model::{FeedType, Text};
use scraper::{Html, Node};

/// How a piece of feed text is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Literal text: `<` is a less-than sign.
    Plain,
    /// HTML (or XHTML) markup.
    Html,
}

/// How to read `text` from a feed of `feed_type`.
///
/// feed-rs marks text it has no type for as `text/plain`. Atom and JSON Feed
/// do say when text is plain, so there it is literal. RSS never says, and RSS
/// publishers put HTML and entities in titles and descriptions all the time,
/// so RSS text is read as HTML.
pub(super) fn markup_of(text: &Text, feed_type: &FeedType) -> Markup {
    let declared_plain =
        text.content_type.ty().as_str() == "text" && text.content_type.subty().as_str() == "plain";
    match feed_type {
        FeedType::Atom | FeedType::JSON if declared_plain => Markup::Plain,
        _ => Markup::Html,
    }
}

/// How to read a title. Like [`markup_of`], except that a JSON Feed title
/// is read as HTML, as RSS's are: JSON Feed has no type for titles, and its
/// publishers put the same markup (and worse, `<script>`) in them as RSS's
/// do, so a JSON Feed title gets the same reading as an RSS or Atom HTML one.
pub(super) fn title_markup_of(text: &Text, feed_type: &FeedType) -> Markup {
    match feed_type {
        FeedType::JSON => Markup::Html,
        _ => markup_of(text, feed_type),
    }
}

/// A title as plain text, read as HTML (RSS's reading): tags and scripts
/// dropped, entities decoded, white space collapsed. For titles outside an
/// item, such as a feed's own in `librarywire discover`.
pub fn plain_title(title: &str) -> String {
    decode_leftover_entities(html_to_text(title))
}

/// The plain text of `s` read as `markup`, white space collapsed.
pub(super) fn plain_text(s: &str, markup: Markup) -> String {
    match markup {
        Markup::Plain => collapse_whitespace(s),
        Markup::Html => html_to_text(s),
    }
}

/// `text` with the character references left in it decoded: a title
/// escaped twice (`&amp;#39;`, `GitHub&#x27;s` in CDATA) reads as the
/// publisher meant. Nothing else changes, `<` included.
pub(crate) fn decode_leftover_entities(text: String) -> String {
    static REFERENCE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
            .expect("a valid pattern")
    });
    if !text.contains('&') || !REFERENCE.is_match(&text) {
        return text;
    }
    // One reference at a time, so the text around it (a literal `<`
    // included) stays as it is; the HTML parser knows every named one.
    REFERENCE
        .replace_all(&text, |c: &regex::Captures<'_>| {
            let decoded = html_to_text(&c[0]);
            if decoded.is_empty() || decoded == c[0] {
                c[0].to_owned()
            } else {
                decoded
            }
        })
        .into_owned()
}

/// Elements whose content is not text a reader sees.
const HIDDEN_ELEMENTS: [&str; 6] = ["script", "style", "template", "noscript", "head", "title"];

/// Elements that separate words: text on either side of them must not run
/// together ("<p>one</p><p>two</p>" is "one two", not "onetwo").
const BREAKING_ELEMENTS: [&str; 30] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
];

/// The text a reader sees in an HTML fragment: tags dropped, entities decoded,
/// white space collapsed, and no script or style source.
pub(crate) fn html_to_text(html: &str) -> String {
    // Most titles carry no markup at all; html5ever is not needed for those.
    if !html.contains(['<', '&']) {
        return collapse_whitespace(html);
    }
    let fragment = Html::parse_fragment(html);
    let mut text = String::with_capacity(html.len());
    let mut hidden_depth = 0usize;
    for edge in fragment.root_element().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(t) if hidden_depth == 0 => text.push_str(t),
                Node::Element(e) => {
                    if HIDDEN_ELEMENTS.contains(&e.name()) {
                        hidden_depth += 1;
                    } else if BREAKING_ELEMENTS.contains(&e.name()) {
                        text.push(' ');
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(e) = node.value() {
                    if HIDDEN_ELEMENTS.contains(&e.name()) {
                        hidden_depth = hidden_depth.saturating_sub(1);
                    } else if BREAKING_ELEMENTS.contains(&e.name()) {
                        text.push(' ');
                    }
                }
            }
        }
    }
    collapse_whitespace(&text)
}

/// `s` with every run of white space (Unicode's, so no-break spaces too) made
/// one space, none at either end, and no character XML forbids.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        let start = out.len();
        if start > 0 {
            out.push(' ');
        }
        if word.contains(is_forbidden_in_xml) {
            out.extend(word.chars().filter(|&c| !is_forbidden_in_xml(c)));
            // A word that was only control characters leaves no space.
            if out.len() == start + usize::from(start > 0) {
                out.truncate(start);
            }
        } else {
            out.push_str(word);
        }
    }
    out
}

/// True for the characters XML 1.0 forbids: C0 controls other than tab,
/// line feed and carriage return, and U+FFFE and U+FFFF.
///
/// The merged feed is XML, and a reader that meets one of these rejects the
/// whole feed, not just the item. Parsing drops them from XML already; JSON
/// Feed strings and CDATA sections can still carry them.
pub(super) fn is_forbidden_in_xml(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` without the characters XML forbids; see [`is_forbidden_in_xml`].
pub(crate) fn without_forbidden_chars(s: String) -> String {
    if s.contains(is_forbidden_in_xml) {
        s.replace(is_forbidden_in_xml, "")
    } else {
        s
    }
}

/// `text` cut to at most `max_chars` characters, at a word boundary, with `…`
/// (counted in the bound) when anything was cut.
pub(crate) fn truncate_at_word(text: &str, max_chars: usize) -> String {
    if max_chars == 0 {
        return String::new();
    }
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return text.to_owned();
    };
    // Room for the ellipsis: keep at most max_chars - 1 characters of text.
    let keep_end = text
        .char_indices()
        .nth(max_chars - 1)
        .map_or(cut, |(i, _)| i);
    let head = &text[..keep_end];
    // Back up to the last space, unless the text is one long word (a URL, or
    // a language written without spaces), which is better cut mid-word than
    // cut to nothing.
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if space >= keep_end / 2 => &head[..space],
        _ => head,
    };
    let mut out = head.trim_end().to_owned();
    out.push('…');
    out
}

/// `text` escaped for use as HTML content.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_strips_tags_decodes_entities_and_collapses_space() {
        assert_eq!(
            html_to_text("  <b>Libraries</b> &amp; <i>archives</i>\n\t&#8217;24&nbsp;news "),
            "Libraries & archives \u{2019}24 news"
        );
    }

    #[test]
    fn html_to_text_separates_blocks_and_hides_scripts() {
        assert_eq!(
            html_to_text(
                "<p>one</p><p>two<br>three</p><script>alert(1)</script><style>p{}</style>"
            ),
            "one two three"
        );
    }

    #[test]
    fn html_to_text_keeps_a_lone_less_than_sign() {
        assert_eq!(html_to_text("a < b and AT&T"), "a < b and AT&T");
    }

    #[test]
    fn plain_markup_keeps_angle_brackets() {
        assert_eq!(
            plain_text(" <div>  is a tag ", Markup::Plain),
            "<div> is a tag"
        );
        assert_eq!(plain_text(" <div>  is a tag ", Markup::Html), "is a tag");
    }

    #[test]
    fn truncate_cuts_at_a_word_boundary_within_the_bound() {
        let text = "The National Library of China hosted the IFLA congress";
        let cut = truncate_at_word(text, 20);
        assert_eq!(cut, "The National…");
        assert!(cut.chars().count() <= 20);
        assert_eq!(truncate_at_word(text, 200), text);
        assert_eq!(truncate_at_word(text, text.chars().count()), text);
    }

    #[test]
    fn truncate_cuts_one_long_word_mid_word() {
        let cut = truncate_at_word("图书馆新闻图书馆新闻图书馆新闻", 6);
        assert_eq!(cut, "图书馆新闻…");
    }

    #[test]
    fn characters_xml_forbids_are_dropped_from_text() {
        assert_eq!(
            collapse_whitespace("a\u{1}b \u{2}\u{3} c\u{b}d\u{fffe} \u{ffff}"),
            "ab c d"
        );
        assert_eq!(collapse_whitespace("\u{1} x"), "x");
        assert_eq!(html_to_text("<p>a\u{1}b</p><p>\u{1f}</p>"), "ab");
        assert_eq!(
            without_forbidden_chars("<p>a\u{0}b\tc</p>".into()),
            "<p>ab\tc</p>"
        );
        // Everything else is kept, C1 controls and astral characters too.
        let kept = "\u{85}\u{a0}\u{d7ff}\u{e000}\u{fffd}\u{10000}\u{10ffff}";
        assert_eq!(without_forbidden_chars(kept.into()), kept);
    }

    #[test]
    fn escape_html_escapes_markup_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom's & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }
}
