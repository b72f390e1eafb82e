//! Tag-key patterns: Python's `fnmatch.fnmatch` as the reference runs it on
//! Linux (contract §2).
//!
//! On POSIX `os.path.normcase` is the identity, so matching is
//! case-sensitive. `fnmatch` compiles `fnmatch.translate(pattern)` (Python
//! 3.11) and full-matches it under `(?s:…)`, which gives:
//! - `*` matches any run of characters, including `.`, `/` and newlines;
//! - `?` matches exactly one character (one Unicode scalar value);
//! - `[seq]` / `[!seq]` match one character in / not in `seq`, where a `]`
//!   right after `[` or `[!` is literal, `a-z` is a range, `-` first or last is
//!   literal, a reversed range such as `z-a` is dropped *together with its two
//!   endpoints* (translate's "remove empty ranges"), a class left empty never
//!   matches, and `[!]`-style classes emptied that way match any character;
//! - a `[` without a closing `]` is a literal `[`;
//! - a backslash is an ordinary character: there are no escapes.
//!
//! The bracket rules above are not re-stated ad hoc: [`Pattern::new`]
//! follows translate's steps (split at range hyphens, drop reversed ranges,
//! escape, negate) and then reads the resulting regex class the way Python's
//! `sre_parse` does, so corner cases behave as in the reference.
//!
//! Every pattern element except `*` consumes exactly one character, and
//! translate's atomic groups (`(?>.*?X)`) accept the same language as plain
//! glob matching, so matching is the classic star-backtracking scan:
//! O(pattern × key) at worst, never exponential.

use std::fmt;

/// One compiled `fnmatch` pattern. Construction never fails: every string is
/// a valid pattern, as in Python.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    elems: Vec<Elem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Elem {
    /// Any run of characters (consecutive `*` are one).
    Star,
    /// Exactly one character, whatever it is.
    Any,
    Literal(char),
    /// One character in (or, negated, not in) a set of inclusive ranges.
    Class {
        negate: bool,
        ranges: Vec<(char, char)>,
    },
    /// A class that nothing matches (`[z-a]`).
    Never,
}

impl Elem {
    #[inline]
    fn matches(&self, c: char) -> bool {
        match self {
            Elem::Any => true,
            Elem::Literal(l) => *l == c,
            Elem::Class { negate, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negate
            }
            Elem::Never | Elem::Star => false,
        }
    }
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        Pattern {
            source: pattern.to_owned(),
            elems: compile(pattern),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `key` matches the whole pattern (`fnmatch.fnmatch(key, pattern)`).
    pub fn matches(&self, key: &str) -> bool {
        let elems = &self.elems;
        let (mut p, mut t) = (0usize, 0usize);
        // Position after the last `*` seen, and where in `key` it resumes.
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(elem) = elems.get(p) {
                if *elem == Elem::Star {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                if let Some(c) = key[t..].chars().next() {
                    if elem.matches(c) {
                        p += 1;
                        t += c.len_utf8();
                        continue;
                    }
                }
            } else if t == key.len() {
                return true;
            }
            // Mismatch: let the last `*` swallow one more character.
            let Some((sp, st)) = star else { return false };
            let Some(c) = key[st..].chars().next() else {
                return false;
            };
            let resume = st + c.len_utf8();
            star = Some((sp, resume));
            p = sp;
            t = resume;
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl From<&str> for Pattern {
    fn from(s: &str) -> Self {
        Pattern::new(s)
    }
}

/// `fnmatch.fnmatch(key, pattern)` for a one-off match.
pub fn fnmatch(key: &str, pattern: &str) -> bool {
    Pattern::new(pattern).matches(key)
}

fn compile(pattern: &str) -> Vec<Elem> {
    let pat: Vec<char> = pattern.chars().collect();
    let n = pat.len();
    let mut elems = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let c = pat[i];
        i += 1;
        match c {
            '*' => {
                if elems.last() != Some(&Elem::Star) {
                    elems.push(Elem::Star);
                }
            }
            '?' => elems.push(Elem::Any),
            '[' => {
                let mut j = i;
                if j < n && pat[j] == '!' {
                    j += 1;
                }
                if j < n && pat[j] == ']' {
                    j += 1;
                }
                while j < n && pat[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    elems.push(Elem::Literal('['));
                } else {
                    elems.push(bracket(&pat, i, j));
                    i = j + 1;
                }
            }
            _ => elems.push(Elem::Literal(c)),
        }
    }
    elems
}

/// The element for the bracket expression `pat[i..j]` (between `[` and `]`),
/// following `fnmatch.translate` and then `sre_parse`.
fn bracket(pat: &[char], mut i: usize, j: usize) -> Elem {
    let inner = &pat[i..j];
    // 1. translate: the regex class body ("stuff"), with its escapes.
    let mut stuff: Vec<char> = Vec::with_capacity(inner.len() + 4);
    if !inner.contains(&'-') {
        escape_into(&mut stuff, inner, false);
    } else {
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
        while let Some(h) = find_hyphen(pat, k, j) {
            chunks.push(pat[i..h].to_vec());
            i = h + 1;
            k = h + 3;
        }
        let last = &pat[i..j];
        if !last.is_empty() {
            chunks.push(last.to_vec());
        } else if let Some(prev) = chunks.last_mut() {
            prev.push('-');
        }
        // Remove reversed ranges together with their endpoints.
        for k in (1..chunks.len()).rev() {
            let (left, right) = (chunks[k - 1].last(), chunks[k].first());
            if let (Some(l), Some(r)) = (left, right) {
                if l > r {
                    let right = chunks.remove(k);
                    let left = &mut chunks[k - 1];
                    left.pop();
                    left.extend_from_slice(&right[1..]);
                }
            }
        }
        for (n, chunk) in chunks.iter().enumerate() {
            if n > 0 {
                stuff.push('-');
            }
            escape_into(&mut stuff, chunk, true);
        }
    }
    // Set operations `&&`, `~~`, `||` are escaped.
    let mut escaped = Vec::with_capacity(stuff.len());
    for c in stuff {
        if matches!(c, '&' | '~' | '|') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    let mut stuff = escaped;
    match stuff.as_slice() {
        [] => return Elem::Never,
        ['!'] => return Elem::Any,
        ['!', ..] => stuff[0] = '^',
        ['^' | '[', ..] => stuff.insert(0, '\\'),
        _ => {}
    }
    // 2. sre_parse: read the class body.
    parse_class(&stuff)
}

fn find_hyphen(pat: &[char], from: usize, to: usize) -> Option<usize> {
    (from..to).find(|&k| pat[k] == '-')
}

fn escape_into(out: &mut Vec<char>, chunk: &[char], hyphens: bool) {
    for &c in chunk {
        if c == '\\' || (hyphens && c == '-') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Read a regex class body (what lies between `[` and the closing `]`) as
/// `sre_parse` does. Every backslash in it starts a two-character escape of
/// a punctuation character, which stands for that character.
fn parse_class(body: &[char]) -> Elem {
    let mut pos = 0;
    let negate = body.first() == Some(&'^');
    if negate {
        pos = 1;
    }
    let next = |pos: &mut usize| -> Option<char> {
        let c = *body.get(*pos)?;
        if c == '\\' {
            let e = body.get(*pos + 1).copied();
            *pos += 2;
            e
        } else {
            *pos += 1;
            Some(c)
        }
    };
    let mut ranges = Vec::new();
    while let Some(this) = next(&mut pos) {
        if body.get(pos) == Some(&'-') {
            pos += 1;
            match next(&mut pos) {
                // `-` right before the closing `]` is literal.
                None => {
                    ranges.push((this, this));
                    ranges.push(('-', '-'));
                }
                // translate removed reversed ranges, so `that < this` does
                // not occur (Python would raise); it would match nothing.
                Some(that) => {
                    if this <= that {
                        ranges.push((this, that));
                    }
                }
            }
        } else {
            ranges.push((this, this));
        }
    }
    Elem::Class { negate, ranges }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` as computed by Python 3.11 `fnmatch.fnmatch(key, pattern)`.
    fn check(pattern: &str, key: &str, expected: bool) {
        assert_eq!(
            Pattern::new(pattern).matches(key),
            expected,
            "fnmatch({key:?}, {pattern:?})"
        );
    }

    #[test]
    fn stars_and_question_marks() {
        for (p, k, m) in [
            ("mlflow.*", "mlflow.user", true),
            ("mlflow.*", "mlflow.", true),
            ("mlflow.*", "mlflow", false),
            ("mlflow.*", "MLFLOW.user", false),
            ("mlflow.*", "xmlflow.user", false),
            ("*", "", true),
            ("*", "a/b.c\nd", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZcd", false),
            ("?", "é", true),
            ("?", "\n", true),
            ("??", "é", false),
            ("a?c", "a/c", true),
            ("", "", true),
            ("", "a", false),
            ("**a**", "ba", true),
            ("team.*.owner", "team.ml.ops.owner", true),
        ] {
            check(p, k, m);
        }
    }

    #[test]
    fn brackets() {
        for (p, k, m) in [
            ("[abc]", "b", true),
            ("[abc]", "d", false),
            ("[!abc]", "d", true),
            ("[!abc]", "a", false),
            ("[]]", "]", true),
            ("[]a]", "a", true),
            ("[!]]", "]", false),
            ("[!]]", "x", true),
            ("[a-c]", "b", true),
            ("[a-c]", "-", false),
            ("[-a]", "-", true),
            ("[a-]", "-", true),
            ("[z-a]", "z", false),
            ("[z-a]", "-", false),
            ("[z-ab]", "b", true),
            ("[z-ab]", "z", false),
            ("[!z-a]", "q", true),
            ("[a", "[a", true),
            ("[", "[", true),
            ("[!]", "[!]", true),
            ("[\\]", "\\", true),
            ("\\*", "\\abc", true),
            ("[a-c-e]", "d", false),
            ("[a-c-e]", "-", true),
            ("[^a]", "^", true),
            ("[^a]", "b", false),
            ("[&&]", "&", true),
            ("[a--]", "-", false),
            ("[!-a]", "-", false),
            ("[!-a]", "b", true),
            ("[[:alpha:]]", ":]", true),
            ("[[:alpha:]]", "a", false),
        ] {
            check(p, k, m);
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn star_matches_everything(key in "\\PC*", stars in 1usize..4) {
                prop_assert!(Pattern::new(&"*".repeat(stars)).matches(&key));
            }

            #[test]
            fn literal_patterns_match_only_themselves(p in "[^*?\\[]{0,12}", k in "[a-c.]{0,4}") {
                prop_assert!(Pattern::new(&p).matches(&p));
                prop_assert_eq!(Pattern::new(&p).matches(&k), p == k);
            }

            #[test]
            fn prefix_star_is_starts_with(prefix in "[a-z./]{0,8}", key in "[a-z./]{0,12}") {
                let p = Pattern::new(&format!("{prefix}*"));
                prop_assert_eq!(p.matches(&key), key.starts_with(&prefix));
            }
        }
    }
}
