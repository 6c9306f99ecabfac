//! Dates as feeds really write them.
//!
//! RSS asks for RFC 822 dates and Atom and JSON Feed for RFC 3339; feeds send
//! both in either, and much else: two-digit years, wrong or foreign
//! weekdays, zone names, no zone, no time, long month names, slashes.
//!
//! feed-rs's own lenient parser cannot be called from outside feed-rs (it is
//! crate-private), and it reads every date without a zone as UTC. So
//! [`parse_date`] replaces it: RFC 3339 and RFC 2822 as chrono reads them
//! first, then a reading by parts that accepts everything feed-rs's repairs
//! accept (weekday dropped, month names long or short, month before day, a
//! missing colon in the offset, `Z` after a space, hour 24) and more.
//!
//! A date without a zone is read in the source's `timezone` setting, else in
//! UTC; a zone name that setting's zone uses (CST for Asia/Shanghai) means
//! that zone, not what the name means elsewhere (CST is also US Central).
//!
//! Crates that parse "any" date were looked at: `dateparser` reads the system
//! clock for dates without a year, reads `05/06/2021` month first and
//! silently takes zone names it does not know (`CET`) as UTC; `dtparse`
//! reads the clock to place two-digit years; `parse_datetime` needs a system
//! time zone database read at run time and accepts relative dates ("next
//! thursday"). Parsing must read no clock and no file, and a date it cannot
//! read for sure is better left unread: normalize then uses the first-seen
//! time.

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc,
};
use chrono_tz::Tz;

/// The longest text taken for a date; anything longer is prose.
const MAX_DATE_LEN: usize = 80;

/// Reads a date as feeds write it. A date without a zone is read in `zone`,
/// else in UTC. None when the text is not a date this can be sure of.
pub(crate) fn parse_date(text: &str, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_DATE_LEN {
        return None;
    }
    // The forms the specs ask for, which chrono reads exactly (RFC 2822 with
    // its obsolete two-digit years and US zone names, and a weekday that
    // must match the date).
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Some(date.to_utc());
    }
    if let Ok(date) = DateTime::parse_from_rfc2822(text) {
        // chrono reads CST as US Central time. For a source whose own zone
        // writes a name (CST in Asia/Shanghai, IST in Asia/Kolkata), the name
        // is the source's zone: read by parts below.
        if zone.is_none() || ends_in_zone_name(text).is_none() {
            return Some(date.to_utc());
        }
    }
    Parts::read(text)?.resolve(zone)
}

/// What a date's words and numbers said.
#[derive(Debug, Default)]
struct Parts {
    /// The year, and how many digits it was written with.
    year: Option<(i32, usize)>,
    month: Option<u32>,
    day: Option<u32>,
    time: Option<NaiveTime>,
    /// `am` (false) or `pm` (true).
    pm: Option<bool>,
    offset: Option<FixedOffset>,
    /// A zone written as a name only (`CET`, `CST`), upper case, when no
    /// numeric offset came first.
    zone_name: Option<String>,
    /// Numbers that were neither part of a date nor a time, in order, with
    /// their number of digits: a day and a year next to a month's name.
    numbers: Vec<(u32, usize)>,
}

impl Parts {
    fn read(text: &str) -> Option<Parts> {
        let mut parts = Parts::default();
        // Chinese and Japanese sites write 2021年8月19日.
        let text = text.replace(['年', '月'], "-").replace('日', " ");
        let text = drop_leading_weekday(&text);
        for token in text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
        {
            parts.take(token)?;
        }
        Some(parts)
    }

    /// Reads one token into the parts; None when it makes the text
    /// something other than a date.
    fn take(&mut self, token: &str) -> Option<()> {
        let lower = token.to_ascii_lowercase();
        let word = lower.trim_end_matches('.');
        if word.is_empty() || matches!(word, "at" | "on" | "the") || is_weekday(word) {
            return Some(());
        }
        if let Some(month) = month_number(word) {
            return set(&mut self.month, month);
        }
        if let Some(pm) = meridiem(&lower) {
            return set(&mut self.pm, pm);
        }
        if let Some(name) = zone_name(token) {
            // "+0000 (UTC)", "GMT (GMT)": a name in parentheses after a zone
            // only repeats it.
            let repeats =
                token.starts_with('(') && (self.offset.is_some() || self.zone_name.is_some());
            if !repeats {
                set(&mut self.zone_name, name.to_ascii_uppercase())?;
            }
            return Some(());
        }
        if let Some(offset) = zone_offset(token) {
            // "GMT +0800" is "GMT+0800"; after any other name, an offset
            // contradicts it.
            match self.zone_name.as_deref() {
                None => {}
                Some("GMT" | "UTC" | "UT") => self.zone_name = None,
                Some(_) => return None,
            }
            return set(&mut self.offset, offset);
        }
        if !token.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        // 2021-08-19T08:00:00 and 20210819T080000Z: a date and a time.
        if let Some((date, time)) = split_at_t(token) {
            self.take(date)?;
            return self.take_time(time);
        }
        if token.contains(':') {
            return self.take_time(token);
        }
        if token.contains(['-', '/', '.']) {
            return self.take_date(token);
        }
        let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let suffix = &lower[digits.len()..];
        let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
        if !all_digits || !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.len() > 8 {
            return None;
        }
        if digits.len() == 8 && suffix.is_empty() {
            // ISO 8601's basic form, 20210819.
            let (year, rest) = digits.split_at(4);
            let (month, day) = rest.split_at(2);
            return self.set_date(
                (year.parse().ok()?, 4),
                month.parse().ok()?,
                day.parse().ok()?,
            );
        }
        let value = digits.parse().ok()?;
        self.numbers.push((value, digits.len()));
        Some(())
    }

    /// Reads `08:00`, `8:00:00.123`, `08:00:00Z`, `08:00+08:00`, `8:00pm`,
    /// or the basic `080000Z`.
    fn take_time(&mut self, token: &str) -> Option<()> {
        let end = token
            .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
            .unwrap_or(token.len());
        let (clock, suffix) = token.split_at(end);
        let mut fields = clock.split(':');
        let (hour, minute, second) = match (fields.next(), fields.next(), fields.next()) {
            (Some(h), Some(m), s) if fields.next().is_none() => (h, m, s),
            // The basic form: hhmm or hhmmss.
            (Some(basic), None, None) if matches!(basic.len(), 4 | 6) => {
                let second = basic.get(4..);
                (&basic[..2], &basic[2..4], second)
            }
            _ => return None,
        };
        let hour: u32 = number(hour, 1..=2)?;
        let minute: u32 = number(minute, 2..=2)?;
        // Fractions of a second are dropped: items are kept to the second.
        let second: u32 = match second.map(|s| s.split('.').next().unwrap_or(s)) {
            Some(s) => number(s, 2..=2)?,
            None => 0,
        };
        // Some CMSes write midnight as 24:MM of the same day; feed-rs reads
        // it that way too. A leap second is kept within its minute.
        let hour = if hour == 24 { 0 } else { hour };
        set(
            &mut self.time,
            NaiveTime::from_hms_opt(hour, minute, second.min(59))?,
        )?;
        if suffix.is_empty() {
            return Some(());
        }
        if let Some(pm) = meridiem(&suffix.to_ascii_lowercase()) {
            return set(&mut self.pm, pm);
        }
        let offset = zone_offset(suffix)?;
        set(&mut self.offset, offset)
    }

    /// Reads a date written with `-`, `/` or `.` between its parts: year
    /// first (2021-08-19, 2021/08/19, 2021-Aug-19) or day first
    /// (19.08.2021, 19-08-2021, 19-Aug-21). `/` with the year last is read
    /// only when the day cannot be the month (19/08/2021, 08/19/2021):
    /// 05/06/2021 is May in one country and June in another.
    fn take_date(&mut self, token: &str) -> Option<()> {
        let separator = token.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
        let fields: Vec<&str> = token.split(separator).collect();
        let [first, middle, last] = fields[..] else {
            return None;
        };
        let month = |field: &str| -> Option<u32> {
            month_number(&field.to_ascii_lowercase()).or_else(|| number(field, 1..=2))
        };
        if first.len() == 4 {
            return self.set_date(
                (number(first, 4..=4)?, 4),
                month(middle)?,
                number(last, 1..=2)?,
            );
        }
        let year = (number(last, 2..=4)?, last.len());
        let day: u32 = number(first, 1..=2)?;
        if middle.starts_with(|c: char| c.is_ascii_alphabetic()) || separator != '/' {
            return self.set_date(year, month(middle)?, day);
        }
        let second: u32 = number(middle, 1..=2)?;
        match (day > 12, second > 12) {
            (true, false) => self.set_date(year, second, day),
            (false, true) => self.set_date(year, day, second),
            _ => None,
        }
    }

    fn set_date(&mut self, year: (i32, usize), month: u32, day: u32) -> Option<()> {
        set(&mut self.year, year)?;
        set(&mut self.month, month)?;
        set(&mut self.day, day)
    }

    /// The instant, with `zone` for a date that names none.
    fn resolve(mut self, zone: Option<Tz>) -> Option<DateTime<Utc>> {
        if self.year.is_none() {
            // A month's name with a day and a year around it, in either order
            // (19 August 2021, August 19 2021, Thu Aug 19 08:00:00 2021).
            self.month?;
            let [(a, a_len), (b, b_len)] = self.numbers[..] else {
                return None;
            };
            let (year, day) = if a_len == 4 {
                ((a, a_len), b)
            } else {
                ((b, b_len), a)
            };
            self.year = Some((i32::try_from(year.0).ok()?, year.1));
            self.day = Some(day);
        } else if !self.numbers.is_empty() {
            return None;
        }
        let (year, digits) = self.year?;
        let year = match digits {
            // RFC 2822, 4.3: 00-49 is 2000-2049, 50-99 and three digits are
            // 1900 onwards. Fixed, so the same text is always the same date.
            ..=2 if year < 50 => year + 2000,
            ..=3 => year + 1900,
            _ => year,
        };
        let date = NaiveDate::from_ymd_opt(year, self.month?, self.day?)?;
        let mut time = self.time.unwrap_or(NaiveTime::MIN);
        if let Some(pm) = self.pm {
            time = with_meridiem(time, pm)?;
        }
        let local = date.and_time(time);
        if let Some(offset) = self.offset {
            return Some(offset.from_local_datetime(&local).single()?.to_utc());
        }
        let Some(name) = self.zone_name else {
            return Some(in_zone(local, zone));
        };
        // A name the source's own zone uses means that zone, whatever the
        // name means elsewhere; other names are read from the table.
        if let Some(date) = zone.and_then(|zone| in_zone_named(local, zone, &name)) {
            return Some(date);
        }
        let offset = FixedOffset::east_opt(named_zone(&name)?)?;
        Some(offset.from_local_datetime(&local).single()?.to_utc())
    }
}

/// `local` in `zone`, when `zone` calls its offset at that time `name`.
fn in_zone_named(local: NaiveDateTime, zone: Tz, name: &str) -> Option<DateTime<Utc>> {
    use chrono_tz::OffsetName;
    let candidates = match zone.from_local_datetime(&local) {
        LocalResult::Single(date) => [Some(date), None],
        LocalResult::Ambiguous(first, second) => [Some(first), Some(second)],
        LocalResult::None => [None, None],
    };
    candidates
        .into_iter()
        .flatten()
        .find(|date| {
            date.offset()
                .abbreviation()
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|date| date.to_utc())
}

/// A zone written as a name: one to five ASCII letters, perhaps in
/// parentheses (`Z`, `GMT`, `(CEST)`).
fn zone_name(token: &str) -> Option<&str> {
    let name = token
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(token);
    let is_name = (1..=5).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphabetic());
    is_name.then_some(name)
}

/// The zone name a date ends with, other than the ones that mean UTC.
fn ends_in_zone_name(text: &str) -> Option<&str> {
    let last = text.split_whitespace().next_back()?;
    zone_name(last).filter(|name| {
        !["Z", "UT", "UTC", "GMT"]
            .iter()
            .any(|utc| name.eq_ignore_ascii_case(utc))
    })
}

/// `local` read as a wall-clock time in `zone` (UTC when None).
fn in_zone(local: NaiveDateTime, zone: Option<Tz>) -> DateTime<Utc> {
    let Some(zone) = zone else {
        return local.and_utc();
    };
    match zone.from_local_datetime(&local) {
        LocalResult::Single(date) => date.to_utc(),
        // The hour repeated when clocks go back: the first of the two.
        LocalResult::Ambiguous(first, _) => first.to_utc(),
        // The hour skipped when clocks go forward: the publisher's clock had
        // not yet moved, so it is an hour later by the zone's new clock.
        LocalResult::None => zone
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
            .map_or_else(|| local.and_utc(), |date| date.to_utc()),
    }
}

/// Sets `slot` once; a second value for it makes the text not a date.
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// `text` as a number of `digits` digits and nothing else.
fn number<T: std::str::FromStr>(text: &str, digits: std::ops::RangeInclusive<usize>) -> Option<T> {
    if !digits.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A 12-hour clock time made 24-hour.
fn with_meridiem(time: NaiveTime, pm: bool) -> Option<NaiveTime> {
    use chrono::Timelike;
    let hour = time.hour();
    if !(1..=12).contains(&hour) {
        return None;
    }
    let hour = match (hour, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, false) => h,
        (h, true) => h + 12,
    };
    time.with_hour(hour)
}

/// `am`/`a.m.` is false, `pm`/`p.m.` is true.
fn meridiem(word: &str) -> Option<bool> {
    match word {
        "am" | "a.m." => Some(false),
        "pm" | "p.m." => Some(true),
        _ => None,
    }
}

/// A date and a time joined by `T`, as ISO 8601 writes them.
fn split_at_t(token: &str) -> Option<(&str, &str)> {
    let at = token.find(['T', 't'])?;
    let (date, time) = (&token[..at], &token[at + 1..]);
    let digit_before = date.ends_with(|c: char| c.is_ascii_digit());
    let digit_after = time.starts_with(|c: char| c.is_ascii_digit());
    (digit_before && digit_after).then_some((date, time))
}

/// Drops a first word followed by a comma ("mer, 16 nov 2022", "Do, 19 Aug
/// 2021", "Thurs, …"): a weekday, in whatever language; the date says which.
fn drop_leading_weekday(text: &str) -> &str {
    match text.split_once(',') {
        Some((word, rest)) if !word.is_empty() && word.chars().all(char::is_alphabetic) => rest,
        _ => text,
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The month a lowercase English name or abbreviation of at least three
/// letters stands for (`aug`, `sept`, `august`).
fn month_number(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let index = MONTHS.iter().position(|m| m.starts_with(word))?;
    u32::try_from(index + 1).ok()
}

/// True for a lowercase English weekday or abbreviation of at least three
/// letters (`thu`, `thurs`, `thursday`).
fn is_weekday(word: &str) -> bool {
    word.len() >= 3 && WEEKDAYS.iter().any(|d| d.starts_with(word))
}

/// The offset a zone token stands for: `Z`, a name (`GMT`, `EST`, `CET`), a
/// numeric offset (`+0800`, `+08:00`, `-05`), a name with one (`GMT+8`,
/// `UTC+08:00`), or any of these in parentheses.
fn zone_offset(token: &str) -> Option<FixedOffset> {
    let token = token
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(token);
    let name_len = token
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(token.len());
    let (name, numeric) = token.split_at(name_len);
    let base = if name.is_empty() {
        0
    } else {
        named_zone(&name.to_ascii_uppercase())?
    };
    let extra = if numeric.is_empty() {
        0
    } else {
        numeric_offset(numeric)?
    };
    // A bare number is not a zone; only a sign makes it one.
    if name.is_empty() && numeric.is_empty() {
        return None;
    }
    FixedOffset::east_opt(base + extra)
}

/// `+0800`, `+08:00`, `+08`, `-5`, `+8` in seconds east of UTC.
fn numeric_offset(text: &str) -> Option<i32> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = text[1..].replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes): (i32, i32) = match digits.len() {
        1 | 2 => (number(&digits, 1..=2)?, 0),
        3 => (number(&digits[..1], 1..=1)?, number(&digits[1..], 2..=2)?),
        4 => (number(&digits[..2], 2..=2)?, number(&digits[2..], 2..=2)?),
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Seconds east of UTC for the zone abbreviations feeds use. Only names with
/// one common meaning: `CST` is RFC 822's US Central (as chrono reads it),
/// and `IST` (India, Ireland or Israel) is not guessed. A source whose
/// `timezone` uses a name (China's CST, India's IST) gets that meaning
/// instead: see [`in_zone_named`].
fn named_zone(name: &str) -> Option<i32> {
    let minutes = match name {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => 0,
        "BST" | "WEST" | "CET" | "MET" => 60,
        "CEST" | "MEST" | "EET" | "SAST" => 2 * 60,
        "EEST" | "MSK" => 3 * 60,
        "HKT" | "SGT" | "AWST" | "PHT" => 8 * 60,
        "JST" | "KST" => 9 * 60,
        "ACST" => 9 * 60 + 30,
        "AEST" => 10 * 60,
        "ACDT" => 10 * 60 + 30,
        "AEDT" => 11 * 60,
        "NZST" => 12 * 60,
        "NZDT" => 13 * 60,
        "NDT" => -(2 * 60 + 30),
        "ADT" => -3 * 60,
        "NST" => -(3 * 60 + 30),
        "AST" | "EDT" => -4 * 60,
        "EST" | "CDT" => -5 * 60,
        "CST" | "MDT" => -6 * 60,
        "MST" | "PDT" => -7 * 60,
        "PST" | "AKDT" => -8 * 60,
        "AKST" => -9 * 60,
        "HST" => -10 * 60,
        _ => return None,
    };
    Some(minutes * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a valid RFC 3339 date")
    }

    fn read(text: &str) -> Option<DateTime<Utc>> {
        parse_date(text, None)
    }

    #[track_caller]
    fn check(cases: &[(&str, &str)]) {
        for (text, expected) in cases {
            assert_eq!(read(text), Some(utc(expected)), "{text:?}");
        }
    }

    #[test]
    fn rfc_3339_and_rfc_2822_as_the_specs_write_them() {
        check(&[
            ("2021-08-19T08:00:00Z", "2021-08-19T08:00:00Z"),
            ("2021-08-19T16:00:00+08:00", "2021-08-19T08:00:00Z"),
            (
                "2021-08-19T08:00:00.123456-04:00",
                "2021-08-19T12:00:00.123456Z",
            ),
            ("Thu, 19 Aug 2021 08:00:00 GMT", "2021-08-19T08:00:00Z"),
            ("Thu, 19 Aug 2021 08:00:00 +0800", "2021-08-19T00:00:00Z"),
            (
                "  Thu, 19 Aug 2021 08:00:00 -0000\n",
                "2021-08-19T08:00:00Z",
            ),
        ]);
    }

    #[test]
    fn rfc_822_with_two_digit_years() {
        check(&[
            ("Thu, 19 Aug 21 08:00:00 GMT", "2021-08-19T08:00:00Z"),
            ("19 Aug 21 08:00 +0200", "2021-08-19T06:00:00Z"),
            ("Thu, 19 Aug 99 08:00:00 GMT", "1999-08-19T08:00:00Z"),
            // With a weekday that does not match, chrono refuses it.
            ("Mon, 19 Aug 21 08:00:00 GMT", "2021-08-19T08:00:00Z"),
            ("19-Aug-21", "2021-08-19T00:00:00Z"),
        ]);
    }

    #[test]
    fn a_missing_wrong_or_foreign_weekday_is_ignored() {
        check(&[
            ("19 Aug 2021 08:00:00 GMT", "2021-08-19T08:00:00Z"),
            ("Wed, 25 Aug 2012 03:25:42 GMT", "2012-08-25T03:25:42Z"),
            ("Thurs, 19 Aug 2021 08:00:00 GMT", "2021-08-19T08:00:00Z"),
            (
                "Thursday, 19 August 2021 08:00:00 GMT",
                "2021-08-19T08:00:00Z",
            ),
            ("mer, 16 nov 2022 00:38:15 +0100", "2022-11-15T23:38:15Z"),
            ("Do, 19 Aug 2021 08:00:00 +0200", "2021-08-19T06:00:00Z"),
        ]);
    }

    #[test]
    fn zone_names_and_offsets() {
        check(&[
            ("Thu, 19 Aug 2021 08:00:00 EST", "2021-08-19T13:00:00Z"),
            ("Thu, 19 Aug 2021 08:00:00 PDT", "2021-08-19T15:00:00Z"),
            ("Thu, 19 Aug 2021 08:00:00 CET", "2021-08-19T07:00:00Z"),
            ("Thu, 19 Aug 2021 08:00:00 cest", "2021-08-19T06:00:00Z"),
            ("Thu, 19 Aug 2021 17:00:00 JST", "2021-08-19T08:00:00Z"),
            ("Thu, 19 Aug 2021 08:00:00 UTC", "2021-08-19T08:00:00Z"),
            ("Tue, 15 Nov 2022 20:15:04 Z", "2022-11-15T20:15:04Z"),
            ("2021-08-19 16:00:00 +0800", "2021-08-19T08:00:00Z"),
            ("2021-08-19 16:00:00 +08:00", "2021-08-19T08:00:00Z"),
            ("2021-08-19T16:00:00+0800", "2021-08-19T08:00:00Z"),
            ("2021-08-19 16:00 GMT+8", "2021-08-19T08:00:00Z"),
            ("2021-08-19 16:00 UTC+08:00", "2021-08-19T08:00:00Z"),
            (
                "Thu, 19 Aug 2021 08:00:00 +0000 (UTC)",
                "2021-08-19T08:00:00Z",
            ),
            (
                "Thu, 19 Aug 2021 10:00:00 +0200 (CEST)",
                "2021-08-19T08:00:00Z",
            ),
            ("19 Aug 2021 03:00 -05", "2021-08-19T08:00:00Z"),
        ]);
    }

    #[test]
    fn dates_without_a_time_or_zone_are_utc_by_default() {
        check(&[
            ("2021-08-19", "2021-08-19T00:00:00Z"),
            ("2021-08-19 08:00:00", "2021-08-19T08:00:00Z"),
            ("2021-08-19T08:00", "2021-08-19T08:00:00Z"),
            ("2021-08-19T08:00Z", "2021-08-19T08:00:00Z"),
            ("2021/08/19", "2021-08-19T00:00:00Z"),
            ("2021/8/19 8:00", "2021-08-19T08:00:00Z"),
            ("2021.08.19", "2021-08-19T00:00:00Z"),
            ("20210819", "2021-08-19T00:00:00Z"),
            ("20210819T080000Z", "2021-08-19T08:00:00Z"),
            ("2021年08月19日", "2021-08-19T00:00:00Z"),
            ("2021年8月19日 16:00", "2021-08-19T16:00:00Z"),
        ]);
    }

    #[test]
    fn month_names_long_short_and_first() {
        check(&[
            ("19 August 2021", "2021-08-19T00:00:00Z"),
            ("19th August 2021", "2021-08-19T00:00:00Z"),
            ("August 19, 2021", "2021-08-19T00:00:00Z"),
            ("Aug. 19, 2021, 8:00 p.m.", "2021-08-19T20:00:00Z"),
            ("Sept 19 2021 8:00 AM EDT", "2021-09-19T12:00:00Z"),
            ("Fri, Oct 7 2022 10:15:00 -0400", "2022-10-07T14:15:00Z"),
            ("2 September 2019 20:00:00 +0000", "2019-09-02T20:00:00Z"),
            ("Thu Aug 19 08:00:00 UTC 2021", "2021-08-19T08:00:00Z"),
            ("2021-Aug-19", "2021-08-19T00:00:00Z"),
            ("19.08.2021 16:00", "2021-08-19T16:00:00Z"),
            ("19/08/2021", "2021-08-19T00:00:00Z"),
            ("08/19/2021 12:30 am", "2021-08-19T00:30:00Z"),
        ]);
    }

    #[test]
    fn odd_clock_times_that_feeds_send() {
        check(&[
            ("24 Sep 2013 1:27 PDT", "2013-09-24T08:27:00Z"),
            // Hour 24 is midnight of the same day, as feed-rs reads it.
            ("5 Jun 2017 24:05 PDT", "2017-06-05T07:05:00Z"),
            // A leap second stays within its minute.
            ("2021-08-19 23:59:60", "2021-08-19T23:59:59Z"),
        ]);
    }

    #[test]
    fn a_zone_name_the_sources_zone_uses_means_that_zone() {
        let shanghai = Some(chrono_tz::Asia::Shanghai);
        // Java's Date.toString(), as Chinese CMSes print it.
        assert_eq!(
            parse_date("Thu Aug 19 16:00:00 CST 2021", shanghai),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 16:00:00 CST", shanghai),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        // Elsewhere CST is RFC 822's US Central time.
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 16:00:00 CST", None),
            Some(utc("2021-08-19T22:00:00Z"))
        );
        // A name the source's zone does not use keeps its usual meaning.
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 16:00:00 EST", shanghai),
            Some(utc("2021-08-19T21:00:00Z"))
        );
        // IST is not guessed, but a source in India may write it.
        assert_eq!(parse_date("19 Aug 2021 13:30 IST", None), None);
        assert_eq!(
            parse_date("19 Aug 2021 13:30 IST", Some(chrono_tz::Asia::Kolkata)),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        // London's summer name.
        assert_eq!(
            parse_date(
                "Thu, 19 Aug 2021 09:00:00 BST",
                Some(chrono_tz::Europe::London)
            ),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        // Repeated or combined names.
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 08:00:00 GMT (GMT)", None),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 16:00:00 GMT +0800", None),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 16:00:00 CET +0800", None),
            None
        );
    }

    #[test]
    fn dates_without_a_zone_are_read_in_the_sources_zone() {
        let shanghai = Some(chrono_tz::Asia::Shanghai);
        assert_eq!(
            parse_date("2021-08-19 16:00", shanghai),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        assert_eq!(
            parse_date("2021-08-19", shanghai),
            Some(utc("2021-08-18T16:00:00Z"))
        );
        assert_eq!(
            parse_date("2021年8月19日 16:00", shanghai),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        // A date that names its zone keeps it.
        assert_eq!(
            parse_date("2021-08-19T16:00:00Z", shanghai),
            Some(utc("2021-08-19T16:00:00Z"))
        );
        assert_eq!(
            parse_date("Thu, 19 Aug 2021 16:00:00 GMT", shanghai),
            Some(utc("2021-08-19T16:00:00Z"))
        );

        let berlin = Some(chrono_tz::Europe::Berlin);
        // Summer and winter time.
        assert_eq!(
            parse_date("2021-08-19 10:00", berlin),
            Some(utc("2021-08-19T08:00:00Z"))
        );
        assert_eq!(
            parse_date("2021-12-19 10:00", berlin),
            Some(utc("2021-12-19T09:00:00Z"))
        );
        // 02:30 on 28 March 2021 never happened in Berlin; 31 October's
        // happened twice.
        assert_eq!(
            parse_date("2021-03-28 02:30", berlin),
            Some(utc("2021-03-28T01:30:00Z"))
        );
        assert_eq!(
            parse_date("2021-10-31 02:30", berlin),
            Some(utc("2021-10-31T00:30:00Z"))
        );
    }

    #[test]
    fn what_is_not_surely_a_date_is_none() {
        for text in [
            "",
            "   ",
            "yesterday",
            "next thursday",
            "05/06/2021",
            "2021-13-01",
            "2021-02-30",
            "32 August 2021",
            "Thu, 19 Aug 2021 25:00:00 GMT",
            "Thu, 19 Aug 2021 08:00:00 XYZ",
            "19 Agu 2021",
            "August 2021",
            "1629360000",
            "08:00",
            "2021-08-19 08:00 13:00",
            "August 19 2021 September",
            "13:00 pm 2021-08-19",
            "2021-08-19 +25:00",
            "2021-08-19 +é1",
            "2021-08-19 GMT+٠٨",
            "١٩ August ٢٠٢١",
            "20210\u{FFFD}",
            "1\u{FFFD}9 August 2021",
            "Posted by the library on its website, about a week ago, in the morning",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }

    #[test]
    fn damaged_dates_never_panic() {
        let dates = [
            "Thu, 19 Aug 21 08:00:00 +0800",
            "2021-08-19T16:00:00.123+08:00",
            "20210819T080000Z",
            "Aug. 19, 2021, 8:00 p.m. (GMT+8)",
            "2021年8月19日 16:00",
            "19.08.2021",
        ];
        let hostile = [
            "é", "\u{FFFD}", "+", "-", ":", "T", "年", ".", "/", "(", "12345", " ",
        ];
        for date in dates {
            let boundaries = date.char_indices().map(|(i, _)| i).chain([date.len()]);
            for at in boundaries {
                let _ = parse_date(&date[..at], Some(chrono_tz::Asia::Shanghai));
                for insert in hostile {
                    let damaged = format!("{}{insert}{}", &date[..at], &date[at..]);
                    let _ = parse_date(&damaged, Some(chrono_tz::Asia::Shanghai));
                }
            }
        }
    }
}
