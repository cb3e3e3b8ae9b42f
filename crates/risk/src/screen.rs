//! Sanctions screening: names normalised across scripts and matched token
//! by token within an edit distance, whatever their order.
//!
//! Normalisation ([`tokens`]): every script to ASCII (`any_ascii`: Latin
//! with diacritics, Vietnamese, Russian and Mongolian Cyrillic — ө and ү
//! included — Han through pinyin, Thai), lower case, punctuation to
//! spaces. A run of Han characters is a surname (its first syllable) and a
//! given name (the rest, one token), as names are written in Latin
//! (李小龙 → `li xiaolong`). Thai leading vowels (เ แ โ ใ ไ) are read after
//! their consonant, as they are spoken, and a final `-ay` is the usual
//! `-ai` (ใจดี → `chaidi`).
//!
//! Matching ([`Screen::check`]): a listed name is a hit when every token of
//! the shorter of the two names matches a different token of the other
//! within `max_edits` (default 2; tokens of up to 3 characters must match
//! within 1, a single letter exactly), and the score — 1 less the edits
//! over the characters compared — reaches the threshold. Candidates come
//! from a deletion index (every token with up to `max_edits` characters
//! deleted), so a check compares a handful of names, not the whole list.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Most names a list holds, and characters per name.
pub const LIST_NAMES_MAX: usize = 1_000_000;
pub const NAME_CHARS_MAX: usize = 256;

/// A name's tokens, normalised.
pub fn tokens(name: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(name.len() * 2);
    let mut han_run = false;
    let chars: Vec<char> = name.chars().take(NAME_CHARS_MAX).collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if is_han(c) {
            // A surname, then the given name as one token.
            if !han_run {
                spaced.push(' ');
                spaced.push(c);
                spaced.push('\u{1}');
            } else {
                spaced.push(c);
            }
            han_run = true;
        } else {
            han_run = false;
            if is_thai_leading_vowel(c)
                && let Some(&next) = chars.get(i + 1)
                && is_thai_consonant(next)
            {
                spaced.push(next);
                spaced.push(c);
                i += 2;
                continue;
            }
            spaced.push(c);
        }
        i += 1;
    }
    let ascii = any_ascii::any_ascii(&spaced);
    let mut out = Vec::new();
    for raw in ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
    {
        let mut t = raw.to_ascii_lowercase();
        if t.len() > 3 && t.ends_with("ay") && name.chars().any(is_thai) {
            t.truncate(t.len() - 1);
            t.push('i');
        }
        out.push(t);
    }
    out
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
}

fn is_thai(c: char) -> bool {
    matches!(c as u32, 0x0E00..=0x0E7F)
}

fn is_thai_consonant(c: char) -> bool {
    matches!(c as u32, 0x0E01..=0x0E2E)
}

fn is_thai_leading_vowel(c: char) -> bool {
    matches!(c, 'เ' | 'แ' | 'โ' | 'ใ' | 'ไ')
}

/// One listed name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The list's own id of the entry.
    pub id: String,
    pub name: String,
}

/// A hit: which entry, how close.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    pub name: String,
    /// 1.0 is an exact match of every token.
    pub score: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("the list has more than {LIST_NAMES_MAX} names")]
    TooLong,
}

/// A loaded list with its index.
#[derive(Clone, Debug, Default)]
pub struct Screen {
    names: Vec<(Listed, Vec<String>)>,
    /// The distinct tokens of the list, and the names holding each.
    vocabulary: Vec<String>,
    postings: Vec<Vec<u32>>,
    /// Deletion variant → the tokens it comes from.
    index: HashMap<String, Vec<u32>>,
    max_edits: usize,
}

impl Screen {
    /// A list from CSV lines `id,name` (a header line `id,name` is
    /// skipped; `#` starts a comment). Every bad line is refused with its
    /// number.
    pub fn parse(text: &str, max_edits: usize) -> Result<Screen, ListError> {
        let mut names = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (n == 0 && line == "id,name") {
                continue;
            }
            let bad = |why: &str| ListError::Line {
                line: n + 1,
                why: why.into(),
            };
            let (id, name) = line
                .split_once(',')
                .ok_or_else(|| bad("expected id,name"))?;
            let name = name.trim().trim_matches('"');
            if id.trim().is_empty() || name.is_empty() {
                return Err(bad("empty id or name"));
            }
            if name.chars().count() > NAME_CHARS_MAX {
                return Err(bad("name longer than 256 characters"));
            }
            if tokens(name).is_empty() {
                return Err(bad("the name has no letters"));
            }
            names.push(Listed {
                id: id.trim().to_string(),
                name: name.to_string(),
            });
            if names.len() > LIST_NAMES_MAX {
                return Err(ListError::TooLong);
            }
        }
        Ok(Screen::new(names, max_edits))
    }

    pub fn new(list: Vec<Listed>, max_edits: usize) -> Screen {
        let max_edits = max_edits.min(2);
        let mut screen = Screen {
            max_edits,
            ..Screen::default()
        };
        let mut ids: HashMap<String, u32> = HashMap::new();
        for (i, entry) in list.into_iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            let toks = tokens(&entry.name);
            for tok in &toks {
                let id = match ids.get(tok) {
                    Some(id) => *id,
                    None => {
                        let Ok(id) = u32::try_from(screen.vocabulary.len()) else {
                            continue;
                        };
                        ids.insert(tok.clone(), id);
                        screen.vocabulary.push(tok.clone());
                        screen.postings.push(Vec::new());
                        for d in deletions(tok, allowed(tok.len(), max_edits)) {
                            screen.index.entry(d).or_default().push(id);
                        }
                        id
                    }
                };
                if let Some(p) = screen
                    .postings
                    .get_mut(usize::try_from(id).unwrap_or(usize::MAX))
                    && p.last() != Some(&i)
                {
                    p.push(i);
                }
            }
            screen.names.push((entry, toks));
        }
        screen
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The listed names that `name` matches with a score of at least
    /// `threshold`, best first.
    pub fn check(&self, name: &str, threshold: f64) -> Vec<Hit> {
        let query = tokens(name);
        if query.is_empty() {
            return Vec::new();
        }
        // Which query tokens come near each listed name: only a name that
        // every token of the shorter of the two can match is scored.
        // One mask per listed name (dense: cheaper than a map), and the
        // names touched.
        let mut masks = vec![0u64; self.names.len()];
        let mut touched: Vec<u32> = Vec::new();
        for (q, tok) in query.iter().enumerate().take(64) {
            let mut seen: Vec<u32> = Vec::new();
            for d in deletions(tok, allowed(tok.len(), self.max_edits)) {
                if let Some(ids) = self.index.get(&d) {
                    seen.extend(ids);
                }
            }
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                let Some(word) = self
                    .vocabulary
                    .get(usize::try_from(id).unwrap_or(usize::MAX))
                else {
                    continue;
                };
                if strsim::levenshtein(tok, word)
                    > allowed(tok.len().min(word.len()), self.max_edits)
                {
                    continue;
                }
                for i in self
                    .postings
                    .get(usize::try_from(id).unwrap_or(usize::MAX))
                    .into_iter()
                    .flatten()
                {
                    if let Some(m) = masks.get_mut(usize::try_from(*i).unwrap_or(usize::MAX)) {
                        if *m == 0 {
                            touched.push(*i);
                        }
                        *m |= 1u64 << q;
                    }
                }
            }
        }
        let candidates = touched.into_iter().filter_map(|i| {
            let idx = usize::try_from(i).ok()?;
            let mask = masks.get(idx).copied()?;
            let (_, toks) = self.names.get(idx)?;
            let needed = u32::try_from(query.len().min(toks.len())).unwrap_or(u32::MAX);
            (mask.count_ones() >= needed).then_some(i)
        });
        let mut out: Vec<Hit> = candidates
            .filter_map(|i| {
                let (entry, toks) = self.names.get(usize::try_from(i).ok()?)?;
                let score = score(&query, toks, self.max_edits)?;
                (score >= threshold).then(|| Hit {
                    id: entry.id.clone(),
                    name: entry.name.clone(),
                    score,
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        out
    }
}

/// Edits a token of `len` characters may differ by.
fn allowed(len: usize, max_edits: usize) -> usize {
    match len {
        0 | 1 => 0,
        2 | 3 => max_edits.min(1),
        _ => max_edits,
    }
}

/// The token and every variant with up to `k` characters deleted (tokens
/// are ASCII once normalised: bytes are characters).
fn deletions(token: &str, k: usize) -> Vec<String> {
    let bytes = token.as_bytes();
    let n = bytes.len();
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(1 + n + n * n / 2);
    out.push(bytes.to_vec());
    if k >= 1 && n > 1 {
        for a in 0..n {
            let one: Vec<u8> = bytes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != a)
                .map(|(_, b)| *b)
                .collect();
            if k >= 2 && n > 2 {
                for b in a..n - 1 {
                    out.push(
                        one.iter()
                            .enumerate()
                            .filter(|(i, _)| *i != b)
                            .map(|(_, c)| *c)
                            .collect(),
                    );
                }
            }
            out.push(one);
        }
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter()
        .filter_map(|v| String::from_utf8(v).ok())
        .collect()
}

/// Every token of the shorter name matched to a different token of the
/// other within its allowance (greedy, closest first): the score, or
/// `None` when a token finds no match.
fn score(a: &[String], b: &[String], max_edits: usize) -> Option<f64> {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut used = vec![false; long.len()];
    let (mut edits, mut chars) = (0usize, 0usize);
    for s in short {
        let best = long
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.get(*i).copied().unwrap_or(true))
            .map(|(i, l)| (strsim::levenshtein(s, l), i, l.len()))
            .filter(|(d, _, l)| *d <= allowed(s.len().min(*l), max_edits))
            .min_by_key(|(d, i, _)| (*d, *i))?;
        if let Some(u) = used.get_mut(best.1) {
            *u = true;
        }
        edits += best.0;
        chars += s.len().max(best.2);
    }
    // Tokens of the longer name left unmatched lower the score too.
    let left: usize = long
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(t, _)| t.len())
        .sum();
    let total = chars + left;
    if total == 0 {
        return None;
    }
    let (edits, total) = (edits + left, total);
    Some(1.0 - ratio(edits, total))
}

fn ratio(n: usize, d: usize) -> f64 {
    // Both are small counts of characters: exact in f64.
    let (n, d) = (
        u32::try_from(n).unwrap_or(u32::MAX),
        u32::try_from(d).unwrap_or(u32::MAX),
    );
    f64::from(n) / f64::from(d.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> Screen {
        Screen::parse(
            "id,name\n\
             1,Batbayar Ganbold\n\
             2,Li Xiaolong\n\
             3,Nguyen Van Duc\n\
             4,Somchai Chaidi\n\
             5,Vladimir Sokolov\n\
             6,Hans Müller\n\
             7,Olziibayar Tumen\n",
            2,
        )
        .unwrap()
    }

    fn hit(s: &Screen, name: &str) -> Option<String> {
        s.check(name, 0.8).first().map(|h| h.id.clone())
    }

    #[test]
    fn names_normalise_across_scripts() {
        assert_eq!(tokens("Батбаяр Ганболд"), vec!["batbayar", "ganbold"]);
        assert_eq!(tokens("李小龙"), vec!["li", "xiaolong"]);
        assert_eq!(tokens("Nguyễn Văn Đức"), vec!["nguyen", "van", "duc"]);
        assert_eq!(tokens("ใจดี"), vec!["chaidi"]);
        assert_eq!(tokens("MÜLLER, hans!"), vec!["muller", "hans"]);
        assert_eq!(tokens("Өлзийбаяр Түмэн"), vec!["olziybayar", "tumen"]);
    }

    #[test]
    fn hits_in_every_script_and_order() {
        let s = screen();
        // Mongolian and Russian Cyrillic, reordered.
        assert_eq!(hit(&s, "Ганболд Батбаяр").as_deref(), Some("1"));
        assert_eq!(hit(&s, "Соколов Владимир").as_deref(), Some("5"));
        // Mongolian ө, ү: a different romanisation, within two edits.
        assert_eq!(hit(&s, "Өлзийбаяр Түмэн").as_deref(), Some("7"));
        // Han through pinyin.
        assert_eq!(hit(&s, "李小龙").as_deref(), Some("2"));
        // Vietnamese diacritics, any case.
        assert_eq!(hit(&s, "NGUYỄN VĂN ĐỨC").as_deref(), Some("3"));
        // Thai.
        assert_eq!(hit(&s, "สมชาย ใจดี").as_deref(), Some("4"));
        // Latin diacritics, punctuation, order.
        assert_eq!(hit(&s, "Muller, Hans").as_deref(), Some("6"));
        // Two edits in one token.
        assert_eq!(hit(&s, "Vladimyr Sokolof").as_deref(), Some("5"));
    }

    #[test]
    fn near_names_do_not_hit() {
        let s = screen();
        assert_eq!(hit(&s, "Bat-Erdene Dorj"), None);
        assert_eq!(hit(&s, "Li Wei"), None);
        // Three edits in a token: beyond the distance.
        assert_eq!(hit(&s, "Vlodymyr Sokolov"), None);
        // One matching token of two is not a hit.
        assert_eq!(hit(&s, "Vladimir Ivanov"), None);
        assert_eq!(hit(&s, "!!!"), None);
        // A stricter threshold refuses a fuzzy one.
        assert!(s.check("Vladimyr Sokolof", 0.95).is_empty());
        assert_eq!(s.check("Vladimir Sokolov", 1.0).len(), 1);
    }

    #[test]
    fn bad_lists_are_refused_with_their_line() {
        assert_eq!(
            Screen::parse("id,name\n1,Ok Name\nno comma here\n", 2).unwrap_err(),
            ListError::Line {
                line: 3,
                why: "expected id,name".into()
            }
        );
        assert!(matches!(
            Screen::parse("1,\n", 2),
            Err(ListError::Line { line: 1, .. })
        ));
        assert!(matches!(
            Screen::parse("1,!!!\n", 2),
            Err(ListError::Line { line: 1, .. })
        ));
    }
}
