//! What `GET /api/articles` can look for beyond RealWorld's filters: words of the title, and a
//! range of creation dates. Both are parsed here, at the edge, because both become keys: a
//! title word is an index partition (`WORD#<word>`), a date bound a sort-key bound.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

use super::FieldErrors;

/// Longest title word that is indexed or searched, in characters. A longer one is not a word
/// anyone types, and as a key it would only grow the index.
pub const MAX_WORD_LEN: usize = 40;

/// Every word of `text`, folded: compatibility-decomposed (NFKD) with the combining marks
/// dropped, so `Café` and `cafe` are one word; lower-cased; split at anything that is not a
/// letter or a digit. In order, repeats kept, whatever their length.
fn folded_words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The words of `text` as the title index keeps them: [`folded_words`], de-duplicated and
/// sorted, without those longer than [`MAX_WORD_LEN`]. Indexing and searching both go through
/// this one function, so they can never disagree on what a word is.
pub fn title_words(text: &str) -> Vec<String> {
    folded_words(text)
        .into_iter()
        .filter(|word| word.chars().count() <= MAX_WORD_LEN)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A `?title=` search: one to [`TitleQuery::MAX_WORDS`] words, every one of which an
/// article's title must contain (in any order, any case, with or without accents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleQuery(Vec<String>);

impl TitleQuery {
    /// Most words in a search: each one past the first is a filter on the first's entries.
    pub const MAX_WORDS: usize = 5;

    /// Parses untrusted input: a 422 for no words, too many, or a word too long to be indexed.
    pub fn parse(raw: &str) -> Result<Self, FieldErrors> {
        // Measured as folded, as the index measures it (`ﬁ` folds to two letters).
        let too_long = folded_words(raw)
            .iter()
            .any(|word| word.chars().count() > MAX_WORD_LEN);
        if too_long {
            return Err(FieldErrors::single(
                "title",
                format!("has a word longer than {MAX_WORD_LEN} characters"),
            ));
        }
        let words = title_words(raw);
        match words.len() {
            0 => Err(FieldErrors::single(
                "title",
                "needs at least one word (letters or digits)",
            )),
            n if n > Self::MAX_WORDS => Err(FieldErrors::single(
                "title",
                format!("has more than {} words", Self::MAX_WORDS),
            )),
            _ => Ok(Self(words)),
        }
    }

    /// The word whose index partition is read: the longest (a long word is usually a rare
    /// one, so the partition read is short), the first alphabetically among equals.
    pub fn leading(&self) -> &str {
        self.0
            .iter()
            .max_by(|a, b| a.chars().count().cmp(&b.chars().count()).then_with(|| b.cmp(a)))
            .map_or("", String::as_str)
    }

    /// The other words, each checked on the leading word's entries.
    pub fn others(&self) -> impl Iterator<Item = &str> {
        let leading = self.leading();
        self.0.iter().map(String::as_str).filter(move |w| *w != leading)
    }
}

/// A `?since=&until=` range of creation times: `since` inclusive, `until` exclusive, each a
/// date (`2026-12-01`, midnight UTC) or a date-time with its zone (`2026-12-01T08:00:00+01:00`).
/// Held as the table writes times (UTC, milliseconds), so a bound compares with a list
/// entry's sort key as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DateRange {
    since: Option<String>,
    until: Option<String>,
}

impl DateRange {
    /// Parses untrusted input; a 422 names a bound that is not a date, or a range that ends
    /// before it starts.
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let since = super::collect(&mut errors, bound("since", since));
        let until = super::collect(&mut errors, bound("until", until));
        errors.into_result()?;
        let (since, until) = (since.flatten(), until.flatten());
        if let (Some(from), Some(to)) = (&since, &until)
            && from > to
        {
            return Err(FieldErrors::single("until", "is before since"));
        }
        Ok(Self { since, until })
    }

    /// The first time in the range, if bounded.
    pub fn since(&self) -> Option<&str> {
        self.since.as_deref()
    }

    /// The first time after the range, if bounded.
    pub fn until(&self) -> Option<&str> {
        self.until.as_deref()
    }

    /// True when neither bound is set: every date.
    pub fn is_unbounded(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// One bound: `None` when absent.
fn bound(field: &'static str, raw: Option<&str>) -> Result<Option<String>, FieldErrors> {
    let Some(raw) = raw else { return Ok(None) };
    let invalid = || {
        FieldErrors::single(
            field,
            "must be a date (2026-12-01) or a date-time with its zone (2026-12-01T08:00:00Z)",
        )
    };
    if raw.len() > 40 {
        return Err(invalid());
    }
    let at: DateTime<Utc> = match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(date) if raw.len() == 10 => date.and_time(chrono::NaiveTime::MIN).and_utc(),
        _ => DateTime::parse_from_rfc3339(raw).map_err(|_| invalid())?.to_utc(),
    };
    // Four-digit years only: the table's times compare as text of one width.
    if !(1..=9999).contains(&chrono::Datelike::year(&at)) {
        return Err(invalid());
    }
    Ok(Some(at.to_rfc3339_opts(SecondsFormat::Millis, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_ignore_case_accents_punctuation_and_order() {
        assert_eq!(
            title_words("Crème Brûlée, the RUST way!"),
            ["brulee", "creme", "rust", "the", "way"]
        );
        assert_eq!(title_words("rust-rust RUST"), ["rust"]);
        assert_eq!(title_words("ﬁle №5"), ["file", "no5"]);
        assert!(title_words("— … !").is_empty());
    }

    #[test]
    fn a_word_too_long_to_index_is_left_out_and_refused_in_a_search() {
        let long = "a".repeat(MAX_WORD_LEN + 1);
        assert_eq!(title_words(&format!("{long} short")), ["short"]);
        assert!(TitleQuery::parse(&long).is_err());
        assert!(TitleQuery::parse(&"a".repeat(MAX_WORD_LEN)).is_ok());
        let folds_longer = format!("{}\u{fb01}", "a".repeat(MAX_WORD_LEN - 1));
        assert_eq!(folds_longer.chars().count(), MAX_WORD_LEN);
        assert!(
            TitleQuery::parse(&format!("{folds_longer} short")).is_err(),
            "41 letters once folded"
        );
    }

    #[test]
    fn a_search_has_one_to_five_words_and_reads_the_longest() {
        assert!(TitleQuery::parse(" ,. ").is_err());
        assert!(TitleQuery::parse("a b c d e f").is_err());
        let query = TitleQuery::parse("Rust and Dragons").unwrap();
        assert_eq!(query.leading(), "dragons");
        assert_eq!(query.others().collect::<Vec<_>>(), ["and", "rust"]);
        assert_eq!(TitleQuery::parse("bb aa").unwrap().leading(), "aa");
    }

    #[test]
    fn dates_and_date_times_become_table_times_and_bad_ones_are_named() {
        let range = DateRange::parse(Some("2026-12-01"), Some("2026-12-02T08:00:00+01:00")).unwrap();
        assert_eq!(range.since(), Some("2026-12-01T00:00:00.000Z"));
        assert_eq!(range.until(), Some("2026-12-02T07:00:00.000Z"));
        assert!(DateRange::parse(None, None).unwrap().is_unbounded());
        let errors = DateRange::parse(Some("yesterday"), Some("2026-13-01")).unwrap_err();
        assert!(
            errors.get("since").is_some() && errors.get("until").is_some(),
            "{errors:?}"
        );
        assert!(DateRange::parse(Some("2026-12-02"), Some("2026-12-01")).is_err());
        assert!(
            DateRange::parse(Some("2026-12-01"), Some("2026-12-01")).is_ok(),
            "empty, not wrong"
        );
        assert!(DateRange::parse(Some("+12026-12-01T00:00:00Z"), None).is_err());
    }
}
