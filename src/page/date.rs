//! The dates pages write: RFC 3339 and the HTML forms, a source's
//! `date_format` anywhere in a line of text, else the parse stage's reader
//! of feed dates.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Formats tried after RFC 3339 and before `date_format`: the local date-time
/// and date forms HTML allows in `<time datetime>`, which WordPress and
/// others emit without an offset.
const HTML_DATE_FORMATS: [&str; 3] = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"];

/// Reads a date: RFC 3339, RFC 2822, HTML's local date-time and date forms,
/// then `format` (chrono `strftime`), which may match anywhere in the text
/// ("Date: 2021-08-23 | Source: NLC"), then the parse stage's lenient reader
/// of feed dates (`August 19, 2021`, `Thu, 19 Aug 21 08:00 CST`). Dates
/// without an offset are read in `timezone`, else UTC.
pub fn parse_date(text: &str, format: Option<&str>, timezone: Option<Tz>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(text) {
        return Some(d.with_timezone(&Utc));
    }
    for f in HTML_DATE_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, f) {
            return localize(naive, timezone);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return localize(date.and_hms_opt(0, 0, 0)?, timezone);
    }
    let Some(format) = format else {
        // No format given: the parse stage's reader of dates as feeds write
        // them (month names, two-digit years, zone names), which only says
        // yes when it is sure.
        return crate::parse::date::parse_date(text, timezone);
    };
    let text = &strip_ordinals(text);
    // Try the format at every word start, so a date inside a line of text
    // is found; the text is a date line, so this is a few dozen tries.
    let starts = text
        .char_indices()
        .filter(|(i, c)| {
            *i == 0
                || (c.is_alphanumeric()
                    && !text[..*i]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_alphanumeric))
        })
        .map(|(i, _)| i)
        .take(64);
    for start in starts {
        let rest = &text[start..];
        if let Ok((d, _)) = DateTime::parse_and_remainder(rest, format) {
            return Some(d.with_timezone(&Utc));
        }
        if let Ok((naive, _)) = NaiveDateTime::parse_and_remainder(rest, format) {
            return localize(naive, timezone);
        }
        if let Ok((date, _)) = NaiveDate::parse_and_remainder(rest, format) {
            return localize(date.and_hms_opt(0, 0, 0)?, timezone);
        }
    }
    crate::parse::date::parse_date(text, timezone)
}

/// `text` without English ordinal suffixes on numbers ("January 8th" is
/// "January 8"): chrono's `%d` reads no suffix, and WordPress themes write
/// them all the time.
fn strip_ordinals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        out.push(c);
        rest = &rest[c.len_utf8()..];
        if c.is_ascii_digit() {
            let suffix = ["st", "nd", "rd", "th"]
                .into_iter()
                .find(|s| rest.get(..2).is_some_and(|r| r.eq_ignore_ascii_case(s)));
            let word_ends = rest
                .get(2..)
                .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric()));
            if suffix.is_some() && word_ends {
                rest = &rest[2..];
            }
        }
    }
    out
}

fn localize(naive: NaiveDateTime, timezone: Option<Tz>) -> Option<DateTime<Utc>> {
    match timezone {
        // `earliest`: in the hour a clock goes back, either reading is
        // right; in the hour it skips, there is none and the date is dropped.
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc)),
        None => Some(Utc.from_utc_datetime(&naive)),
    }
}
