//! Full-text search: tokenizers and the FTS items the reference store writes
//! (contract §4; `main` adds level `2`, §7).
//!
//! Tokenization is the reference's `re.findall("[a-z0-9]+", text.lower())`
//! followed, per level, by:
//! - `W`: drop stop words and one-character words, Snowball English stem, set;
//! - `3`: every 3-character window of every word;
//! - `2` (`main`): the last two characters of every word of length >= 2.
//!
//! Lowercasing. Python's `str.lower()` and Rust's `str::to_lowercase` both
//! follow Unicode's full case mappings, but only the ASCII letters and digits
//! of the lowered text survive tokenization, so only code points whose
//! lowercase form contains `[a-z0-9]` matter. Over all of Unicode (checked
//! with Python 3.11, Unicode 14.0) these are `A`-`Z`, U+0130 `İ` (lowered to
//! `i` + U+0307, a separator) and U+212A KELVIN SIGN (lowered to `k`). Context
//! rules such as the final sigma only ever produce Greek letters, which are
//! separators. So [`for_each_word`] maps characters one by one with that
//! table instead of lowering the whole text; the test
//! `lowercase_table_matches_unicode` re-derives the table from Rust's own
//! case tables, and the parity vectors cover these characters.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use crate::format::{FtsEntityType, FtsLevel, Profile, DEFAULT_WORKSPACE, GSI2_PK, GSI2_SK};
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};

/// The reference's stop words (`dynamodb/fts.py`, `STOP_WORDS`), sorted.
/// Its literal lists 153 entries; `while`, `not` and `no` appear twice.
#[rustfmt::skip]
pub const STOP_WORDS: [&str; 150] = [
    "a", "about", "above", "after", "against", "all", "already", "also", "although", "am", "an",
    "and", "any", "are", "as", "at", "back", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
    "each", "either", "even", "every", "few", "for", "from", "get", "gets", "got", "had", "has",
    "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "itself", "just", "let", "made", "make", "many", "may",
    "me", "might", "more", "most", "much", "must", "my", "myself", "neither", "no", "nor", "not",
    "now", "of", "off", "on", "one", "only", "or", "other", "our", "ours", "ourselves", "out",
    "over", "own", "same", "shall", "she", "should", "so", "some", "still", "such", "than", "that",
    "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
    "those", "though", "through", "to", "too", "two", "under", "until", "up", "very", "was", "we",
    "well", "were", "what", "when", "where", "which", "while", "who", "whom", "whose", "will",
    "with", "would", "yes", "yet", "you", "your", "yours", "yourself", "yourselves",
];

/// Whether `word` (already lowercase) is one of the reference's stop words.
pub fn is_stop_word(word: &str) -> bool {
    // Longest stop word has 10 characters; most words are longer or absent.
    word.len() <= 10 && STOP_WORDS.binary_search(&word).is_ok()
}

/// A set of `(level, token)` pairs: everything one text is indexed under.
pub type TokenSet = BTreeSet<(FtsLevel, String)>;

/// One character of a word after Python lowercasing, or `None` for a
/// separator. `İ` yields `i` and then a separator (see the module docs).
#[inline]
fn word_char(c: char) -> Option<char> {
    match c {
        'a'..='z' | '0'..='9' => Some(c),
        'A'..='Z' => Some(c.to_ascii_lowercase()),
        '\u{212A}' => Some('k'),
        '\u{130}' => Some('i'),
        _ => None,
    }
}

/// The lowered text reduced to its words, each followed by one space:
/// `"My Run-2"` → `"my run 2 "`. One allocation; words are slices of it.
fn lowered_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let mut in_word = false;
    for c in text.chars() {
        match word_char(c) {
            Some(l) => {
                out.push(l);
                in_word = true;
            }
            None if in_word => {
                out.push(' ');
                in_word = false;
            }
            None => {}
        }
        // `İ` lowers to `i` + U+0307 COMBINING DOT ABOVE, which ends the word.
        if c == '\u{130}' {
            out.push(' ');
            in_word = false;
        }
    }
    if in_word {
        out.push(' ');
    }
    out
}

fn split_words(lowered: &str) -> impl Iterator<Item = &str> {
    lowered.split(' ').filter(|w| !w.is_empty())
}

/// Calls `f` with every word of `text`, in order, repeats included, exactly
/// as the reference's `re.findall(r"[a-z0-9]+", text.lower())` yields them.
pub fn for_each_word(text: &str, f: impl FnMut(&str)) {
    split_words(&lowered_words(text)).for_each(f);
}

/// The words of `text` (see [`for_each_word`]).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(text, |w| out.push(w.to_owned()));
    out
}

/// The Snowball English stem of a lowercase word, as PyPI `snowballstemmer`
/// 3.1.1 computes it.
pub fn stem(word: &str) -> Cow<'_, str> {
    use snowball_stemmers_rs::{Algorithm, Stemmer};
    // `create` only picks a function pointer.
    Stemmer::create(Algorithm::English).stem(word)
}

/// The distinct tokens of `words` at `level`, sorted.
fn level_tokens<'w>(level: FtsLevel, words: &[&'w str]) -> Vec<Cow<'w, str>> {
    let mut out: Vec<Cow<'w, str>> = Vec::with_capacity(words.len() * 4);
    for &word in words {
        match level {
            FtsLevel::W => {
                if word.len() > 1 && !is_stop_word(word) {
                    out.push(stem(word));
                }
            }
            FtsLevel::Three => {
                // Words are ASCII: byte windows are character windows.
                for i in 0..word.len().saturating_sub(2) {
                    out.push(Cow::Borrowed(&word[i..i + 3]));
                }
            }
            FtsLevel::Two => {
                if word.len() >= 2 {
                    out.push(Cow::Borrowed(&word[word.len() - 2..]));
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The tokens `profile`'s format writes for `text` at `level`; empty for a
/// level the format does not write (level `2` in `v0.1`).
pub fn tokens(profile: &Profile, level: FtsLevel, text: &str) -> BTreeSet<String> {
    if !profile.has_level(level) {
        return BTreeSet::new();
    }
    let lowered = lowered_words(text);
    let words: Vec<&str> = split_words(&lowered).collect();
    level_tokens(level, &words)
        .into_iter()
        .map(Cow::into_owned)
        .collect()
}

/// Every `(level, token)` `profile`'s format writes for `text`.
pub fn token_set(profile: &Profile, text: &str) -> TokenSet {
    token_set_for_levels(profile.levels(), text)
}

/// Every `(level, token)` of `text` at the given levels (the reference's
/// `levels` argument; the store always passes its format's default).
pub fn token_set_for_levels(levels: &[FtsLevel], text: &str) -> TokenSet {
    let lowered = lowered_words(text);
    let words: Vec<&str> = split_words(&lowered).collect();
    let mut levels = levels.to_vec();
    levels.sort_unstable();
    levels.dedup();
    // Levels ascending, tokens ascending: the set is built from sorted input.
    levels
        .into_iter()
        .flat_map(|level| {
            level_tokens(level, &words)
                .into_iter()
                .map(move |t| (level, t.into_owned()))
        })
        .collect()
}

/// `(to_add, to_remove)`: pairs in `new` but not `old`, and the reverse.
/// Pairs in both appear in neither.
pub fn diff(old: &TokenSet, new: &TokenSet) -> (TokenSet, TokenSet) {
    (
        new.difference(old).cloned().collect(),
        old.difference(new).cloned().collect(),
    )
}

/// The reference's `fts_diff(old_text, new_text)` for `profile`'s levels:
/// the token diff between two versions of a text; `None` = no old text.
pub fn fts_diff(profile: &Profile, old_text: Option<&str>, new_text: &str) -> (TokenSet, TokenSet) {
    fts_diff_for_levels(profile.levels(), old_text, new_text)
}

/// [`fts_diff`] at the given levels.
pub fn fts_diff_for_levels(
    levels: &[FtsLevel],
    old_text: Option<&str>,
    new_text: &str,
) -> (TokenSet, TokenSet) {
    let old = old_text
        .map(|t| token_set_for_levels(levels, t))
        .unwrap_or_default();
    diff(&old, &token_set_for_levels(levels, new_text))
}

/// What one text is indexed for: the entity and field its FTS items name,
/// and the extras the store puts on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtsTarget<'a> {
    /// Partition of the entity (`EXP#<e>`, `RM#<m>`).
    pub pk: &'a str,
    pub entity: FtsEntityType,
    pub id: &'a str,
    /// Field suffix (tag key, param key, `assess_<id>`); `None` for names.
    pub field: Option<&'a str>,
    /// Workspace for `gsi2pk` of experiment and model names;
    /// `None` = [`DEFAULT_WORKSPACE`], what the `v0.1` store always passes.
    pub workspace: Option<&'a str>,
    /// `ttl` (epoch seconds) put on both items: trace FTS items carry the
    /// trace's ttl (contract §4). The reference's `fts_items_for_text` adds
    /// none itself; its callers do.
    pub ttl: Option<i64>,
}

impl<'a> FtsTarget<'a> {
    pub fn new(pk: &'a str, entity: FtsEntityType, id: &'a str, field: Option<&'a str>) -> Self {
        FtsTarget {
            pk,
            entity,
            id,
            field,
            workspace: None,
            ttl: None,
        }
    }

    pub fn with_workspace(self, workspace: Option<&'a str>) -> Self {
        FtsTarget { workspace, ..self }
    }

    pub fn with_ttl(self, ttl: Option<i64>) -> Self {
        FtsTarget { ttl, ..self }
    }

    /// Keys of the forward and reverse items of one token.
    pub fn key_pair(&self, profile: &Profile, level: FtsLevel, token: &str) -> [ItemKey; 2] {
        let (e, id, f) = (self.entity, self.id, self.field);
        [
            ItemKey::new(self.pk, profile.forward_sk(level, token, e, id, f)),
            ItemKey::new(self.pk, profile.reverse_sk(level, token, e, id, f)),
        ]
    }

    /// The forward and reverse items of one token, with exactly the
    /// attributes the reference writes (plus `ttl` when set).
    pub fn item_pair(&self, profile: &Profile, level: FtsLevel, token: &str) -> [Item; 2] {
        let (e, id, f) = (self.entity, self.id, self.field);
        let extra = usize::from(self.ttl.is_some());
        let mut forward = HashMap::with_capacity(4 + extra);
        let mut reverse = HashMap::with_capacity(2 + extra);
        forward.insert(PK.to_owned(), s(self.pk));
        forward.insert(SK.to_owned(), S(profile.forward_sk(level, token, e, id, f)));
        reverse.insert(PK.to_owned(), s(self.pk));
        reverse.insert(SK.to_owned(), S(profile.reverse_sk(level, token, e, id, f)));
        if let Some((pk, sk)) = profile.gsi2(
            level,
            token,
            e,
            id,
            f,
            self.workspace.unwrap_or(DEFAULT_WORKSPACE),
        ) {
            forward.insert(GSI2_PK.to_owned(), S(pk));
            forward.insert(GSI2_SK.to_owned(), S(sk));
        }
        if let Some(ttl) = self.ttl {
            forward.insert(TTL.to_owned(), AttributeValue::N(ttl.to_string()));
            reverse.insert(TTL.to_owned(), AttributeValue::N(ttl.to_string()));
        }
        [Item::from(forward), Item::from(reverse)]
    }
}

/// Name of the TTL attribute (epoch seconds).
pub const TTL: &str = "ttl";

#[allow(non_snake_case)]
fn S(v: String) -> AttributeValue {
    AttributeValue::S(v)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Forward and reverse items for every token of `text` (the reference's
/// `fts_items_for_text`), by level in profile order, tokens sorted, each
/// forward item followed by its reverse.
pub fn fts_items(profile: &Profile, target: &FtsTarget<'_>, text: &str) -> Vec<Item> {
    items_for_tokens(profile, target, &token_set(profile, text))
}

/// [`fts_items`] at the given levels (the reference's `levels` argument).
pub fn fts_items_for_levels(
    profile: &Profile,
    target: &FtsTarget<'_>,
    text: &str,
    levels: &[FtsLevel],
) -> Vec<Item> {
    items_for_tokens(profile, target, &token_set_for_levels(levels, text))
}

/// Forward and reverse items for the given tokens (e.g. the `to_add` half
/// of a [`diff`]).
pub fn items_for_tokens(profile: &Profile, target: &FtsTarget<'_>, tokens: &TokenSet) -> Vec<Item> {
    let mut items = Vec::with_capacity(tokens.len() * 2);
    for (level, token) in tokens {
        items.extend(target.item_pair(profile, *level, token));
    }
    items
}

/// Keys of the forward and reverse items of the given tokens (e.g. the
/// `to_remove` half of a [`diff`]).
pub fn keys_for_tokens(
    profile: &Profile,
    target: &FtsTarget<'_>,
    tokens: &TokenSet,
) -> Vec<ItemKey> {
    let mut keys = Vec::with_capacity(tokens.len() * 2);
    for (level, token) in tokens {
        keys.extend(target.key_pair(profile, *level, token));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::TableFormat;

    fn v01() -> &'static Profile {
        Profile::of(TableFormat::V0_1)
    }
    fn main_() -> &'static Profile {
        Profile::of(TableFormat::Main)
    }

    fn check_words(text: &str, expected: &[&str]) {
        assert_eq!(words(text), expected, "{text:?}");
    }

    fn check_tokens(p: &Profile, level: FtsLevel, text: &str, expected: &[&str]) {
        let got: Vec<String> = tokens(p, level, text).into_iter().collect();
        assert_eq!(got, expected, "{level} {text:?}");
    }

    #[test]
    fn words_follow_python_lower_and_findall() {
        check_words("", &[]);
        check_words("My Experiment_2024-v1", &["my", "experiment", "2024", "v1"]);
        check_words("İstanbul", &["i", "stanbul"]);
        check_words("\u{212A}elvin", &["kelvin"]);
        check_words("ΣΑΣ café naïve", &["caf", "na", "ve"]);
        check_words("ABC\u{FF21}def", &["abc", "def"]); // fullwidth A lowers to fullwidth a
        check_words("a\nb\tc", &["a", "b", "c"]);
    }

    #[test]
    fn level_w_drops_stop_words_and_short_words_and_stems() {
        check_tokens(
            v01(),
            FtsLevel::W,
            "The running of the models",
            &["model", "run"],
        );
        check_tokens(v01(), FtsLevel::W, "a b c 1 22", &["22"]);
        check_tokens(
            v01(),
            FtsLevel::W,
            "added organization international",
            &["add", "internat", "organiz"],
        );
        check_tokens(v01(), FtsLevel::W, "while not no", &[]);
    }

    #[test]
    fn level_3_and_2() {
        check_tokens(v01(), FtsLevel::Three, "abcd ab x-yz", &["abc", "bcd"]);
        check_tokens(v01(), FtsLevel::Two, "abcd", &[]);
        check_tokens(main_(), FtsLevel::Two, "abcd ab x yz", &["ab", "cd", "yz"]);
    }

    #[test]
    fn stop_words_are_sorted_and_distinct() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(STOP_WORDS.iter().all(|w| is_stop_word(w)));
        assert!(!is_stop_word("model"));
    }

    /// Re-derive the lowercase table of the module docs from Rust's Unicode
    /// tables: for every code point, the ASCII alphanumerics of its lowercase
    /// form are what `word_char` says.
    #[test]
    fn lowercase_table_matches_unicode() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let lowered: String = c.to_lowercase().collect();
            let ascii: String = lowered
                .chars()
                .filter(|l| l.is_ascii_lowercase() || l.is_ascii_digit())
                .collect();
            let ours: String = word_char(c).into_iter().collect();
            assert_eq!(ascii, ours, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn diff_keeps_common_tokens_out() {
        let p = v01();
        let (add, remove) = fts_diff(p, Some("alpha beta"), "beta gamma");
        let add: Vec<_> = add.iter().map(|(l, t)| format!("{l}:{t}")).collect();
        let remove: Vec<_> = remove.iter().map(|(l, t)| format!("{l}:{t}")).collect();
        assert_eq!(add, ["W:gamma", "3:amm", "3:gam", "3:mma"]);
        assert_eq!(remove, ["W:alpha", "3:alp", "3:lph", "3:pha"]);
        let (add, remove) = fts_diff(p, None, "ab");
        assert_eq!(add.len(), 1);
        assert!(remove.is_empty());
    }

    #[test]
    fn items_carry_gsi2_for_names_and_ttl_when_asked() {
        let p = v01();
        let t = FtsTarget::new("EXP#1", FtsEntityType::E, "1", None);
        let items = fts_items(p, &t, "Zebra");
        let sks: Vec<_> = items
            .iter()
            .map(|i| (i.len(), i.get(SK).cloned(), i.get(GSI2_PK).cloned()))
            .collect();
        assert_eq!(sks.len(), 8); // W:zebra and 3 trigrams, forward + reverse
        assert_eq!(items[0].get(SK), Some(&s("FTS#W#zebra#E#1")));
        assert_eq!(items[0].get(GSI2_PK), Some(&s("FTS_NAMES#default")));
        assert_eq!(items[0].get(GSI2_SK), Some(&s("W#zebra#E#1")));
        assert_eq!(items[1].len(), 2);
        assert_eq!(items[1].get(SK), Some(&s("FTS_REV#E#1#W#zebra")));

        let t =
            FtsTarget::new("EXP#1", FtsEntityType::T, "tr-1", Some("assess_a1")).with_ttl(Some(17));
        let items = fts_items(p, &t, "ok");
        assert_eq!(items.len(), 2);
        for i in &items {
            assert_eq!(i.get(TTL), Some(&AttributeValue::N("17".into())));
            assert_eq!(i.get(GSI2_PK), None);
        }
        let keys = keys_for_tokens(p, &t, &token_set(p, "ok"));
        assert_eq!(keys[0], ItemKey::new("EXP#1", "FTS#W#ok#T#tr-1#assess_a1"));
        assert_eq!(
            keys[1],
            ItemKey::new("EXP#1", "FTS_REV#T#tr-1#assess_a1#W#ok")
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn tokens_are_lowercase_alphanumeric(text in "\\PC{0,40}") {
                for (level, token) in token_set(main_(), &text) {
                    prop_assert!(!token.is_empty());
                    prop_assert!(token.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
                    match level {
                        FtsLevel::Three => prop_assert_eq!(token.len(), 3),
                        FtsLevel::Two => prop_assert_eq!(token.len(), 2),
                        FtsLevel::W => prop_assert!(token.len() >= 2),
                    }
                }
            }

            #[test]
            fn words_agree_with_lowering_then_splitting(text in "[a-zA-Z0-9 İK\u{212A}é_.-]{0,30}") {
                let lowered = text.to_lowercase();
                let expected: Vec<String> = lowered
                    .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect();
                prop_assert_eq!(words(&text), expected);
            }

            #[test]
            fn diff_applied_to_old_gives_new(a in "[a-z ]{0,30}", b in "[a-z ]{0,30}") {
                let p = main_();
                let old = token_set(p, &a);
                let new = token_set(p, &b);
                let (add, remove) = diff(&old, &new);
                let applied: TokenSet = old.difference(&remove).cloned().chain(add).collect();
                prop_assert_eq!(applied, new);
            }
        }
    }
}
