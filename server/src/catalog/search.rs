//! In-memory catalog search: case- and accent-insensitive over name, id, category and aliases, tolerant of typos,
//! and aware of what the project features. The order, best first:
//!
//! 1. exact: the name, the id (its dashes read as spaces too) or an alias is the search text;
//! 2. direct matches, where the text occurs in a key: first the featured apps that match at the start of their
//!    name or of one of its words (or, for three characters or more, anywhere in the name: `mail` finds Gmail),
//!    then by where the text occurs — the name's start, a word of the name, a word of the id, category or aliases,
//!    anywhere;
//! 3. near misses, only when fewer than [`FEW_DIRECT`] entries match directly and the text has four characters or
//!    more: within [`max_edits`] of a word of a name, id or alias (of the whole, for text of several words), or of
//!    its start, with the same first letter (optimal string alignment distance: a typo, a missing or extra letter,
//!    two letters swapped), fewest edits first.
//!
//! Within each, featured apps come first in the featured order, then the rest by name. Without search text: the
//! featured apps in their order, then the rest by name.

use std::collections::{HashMap, HashSet};

use super::{Integration, Offer};

/// What the caller asks for; empty strings mean "no filter".
#[derive(Debug, Default, Clone, Copy)]
pub struct Query<'a> {
    pub search: &'a str,
    pub category: &'a str,
    /// Restrict to these platform ids (a session's `allowedIntegrations`).
    pub only: Option<&'a [String]>,
    /// Also list the entries the project cannot connect (the developer's catalog); end users' lists leave them out.
    pub include_unready: bool,
}

/// Near misses are looked for only when fewer entries than this match directly: a typo rarely matches many.
pub const FEW_DIRECT: usize = 5;

/// The near-miss candidates checked at most (those sharing the most word trigrams with the text): bounds a search's
/// cost on a large catalog.
const MAX_NEAR_CANDIDATES: usize = 200;

/// Edits a near miss may be away from the text, by the text's length in characters: none below four, one up to
/// seven, two beyond (as typo-tolerant search engines commonly allow; more finds look-alikes, not typos).
pub fn max_edits(chars: usize) -> usize {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

#[derive(Debug)]
pub struct Index {
    /// Per entry: normalised searchable words (name first).
    keys: Vec<Vec<String>>,
    /// Per entry: the keys a near miss of several words is measured against — name, id with its dashes as spaces,
    /// aliases.
    near_keys: Vec<Vec<String>>,
    /// Per entry: the words of those keys, each once, which a near miss of one word is measured against.
    near_words: Vec<Vec<String>>,
    categories: Vec<String>,
    /// Every run of three characters in any key → the entries having it, ascending. A search of three or more
    /// characters only looks at the entries that have all of its trigrams, so its cost follows the matches, not
    /// the catalog's size (10,000 entries search as fast as 375: `scripts/bench`).
    trigrams: HashMap<[char; 3], Vec<u32>>,
    /// The trigrams of each word of the near-miss keys, padded as in [`word_grams`] → the entries having it,
    /// ascending: an entry within k edits of the text shares all but about 3k of the text's word trigrams, so only
    /// entries sharing enough are measured.
    word_grams: HashMap<[char; 3], Vec<u32>>,
}

fn trigrams(s: &str) -> impl Iterator<Item = [char; 3]> + '_ {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len().saturating_sub(2)).map(move |i| [chars[i], chars[i + 1], chars[i + 2]])
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', '-', '.']).filter(|w| !w.is_empty())
}

/// The trigrams of each word of `s`, the word padded with two start marks and one end mark (as PostgreSQL's
/// `pg_trgm` pads), so that its first letters and its end count too; sorted, each once.
fn word_grams(s: &str) -> Vec<[char; 3]> {
    const START: char = '\u{1}';
    const END: char = '\u{2}';
    let mut out = Vec::new();
    for w in words(s) {
        let padded: Vec<char> = [START, START].into_iter().chain(w.chars()).chain([END]).collect();
        out.extend(padded.windows(3).map(|g| [g[0], g[1], g[2]]));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Lowercases and strips the common Latin diacritics so "Zoho Créator" matches "creator".
pub fn normalise(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c => c,
        })
        .collect()
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(at, _)| &s[..at])
}

/// Fewest edits from `needle` (`len` characters) to `target` or to its start (text still being typed), counting
/// only a target that begins with the needle's first letter: people rarely mistype the first one, and without that
/// rule short words find look-alikes (`crea` would find `breach`). `usize::MAX` for another first letter.
fn edits(needle: &str, len: usize, target: &str) -> usize {
    if target.chars().next() != needle.chars().next() {
        return usize::MAX;
    }
    let mut best = strsim::osa_distance(needle, target);
    let target_len = target.chars().count();
    for take in [len, len + 1] {
        if target_len > take {
            best = best.min(strsim::osa_distance(needle, prefix(target, take)));
        }
    }
    best
}

/// Sort key of a hit, smallest first: tier (0 exact, 1 direct, 2 near miss), then within the tier what the module
/// documentation says, then the featured rank; ties keep the name order.
type Rank = (u8, u8, u8, u32);

impl Index {
    pub fn new(entries: &[Integration]) -> Self {
        let keys: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let mut k = vec![normalise(&e.name), normalise(&e.platform), normalise(&e.category)];
                k.extend(e.aliases.iter().map(|a| normalise(a)));
                k
            })
            .collect();
        let near_keys: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let mut k = vec![normalise(&e.name), normalise(&e.platform).replace('-', " ")];
                k.extend(e.aliases.iter().map(|a| normalise(a)));
                k.dedup();
                k
            })
            .collect();
        let near_words = near_keys
            .iter()
            .map(|keys| {
                let mut w: Vec<String> = keys.iter().flat_map(|k| words(k)).map(str::to_owned).collect();
                w.sort_unstable();
                w.dedup();
                w
            })
            .collect();
        let categories = entries.iter().map(|e| normalise(&e.category)).collect();
        let mut index: HashMap<[char; 3], Vec<u32>> = HashMap::new();
        for (i, entry_keys) in (0u32..).zip(keys.iter()) {
            for gram in entry_keys.iter().flat_map(|k| trigrams(k)) {
                let list = index.entry(gram).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        let mut word_index: HashMap<[char; 3], Vec<u32>> = HashMap::new();
        for (i, entry_keys) in (0u32..).zip(near_keys.iter()) {
            let mut grams: Vec<[char; 3]> = entry_keys.iter().flat_map(|k| word_grams(k)).collect();
            grams.sort_unstable();
            grams.dedup();
            for gram in grams {
                word_index.entry(gram).or_default().push(i);
            }
        }
        Self { keys, near_keys, near_words, categories, trigrams: index, word_grams: word_index }
    }

    /// The entries that can match `needle` (all of them for a needle shorter than three characters), ascending.
    fn candidates(&self, needle: &str, len: usize) -> Vec<usize> {
        if needle.chars().count() < 3 {
            return (0..len).collect();
        }
        let mut lists = Vec::new();
        for gram in trigrams(needle) {
            match self.trigrams.get(&gram) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let (first, rest) = lists.split_first().expect("a needle of three characters has a trigram");
        first.iter().filter(|i| rest.iter().all(|l| l.binary_search(i).is_ok())).map(|&i| i as usize).collect()
    }

    /// The entries that may be within `max` edits of `needle`: those sharing enough of its word trigrams (at most
    /// [`MAX_NEAR_CANDIDATES`], the ones sharing most), ascending.
    fn near_candidates(&self, needle: &str, max: usize, len: usize) -> Vec<usize> {
        let grams = word_grams(needle);
        // An edit spoils at most three trigrams of the word it falls in, a swap of two letters four; text still
        // being typed lacks one more (its last word's end).
        let needed = grams.len().saturating_sub(4 * max + 1).max(1);
        let mut shared = vec![0u16; len];
        for gram in &grams {
            for &i in self.word_grams.get(gram).map_or(&[][..], Vec::as_slice) {
                shared[i as usize] = shared[i as usize].saturating_add(1);
            }
        }
        let mut found: Vec<usize> = (0..len).filter(|&i| usize::from(shared[i]) >= needed).collect();
        if found.len() > MAX_NEAR_CANDIDATES {
            found.select_nth_unstable_by_key(MAX_NEAR_CANDIDATES - 1, |&i| std::cmp::Reverse(shared[i]));
            found.truncate(MAX_NEAR_CANDIDATES);
            found.sort_unstable();
        }
        found
    }

    pub fn find<'e>(&self, entries: &'e [Integration], q: &Query<'_>, offer: &Offer) -> Vec<&'e Integration> {
        let needle = normalise(q.search.trim());
        let category = normalise(q.category.trim());
        let only: Option<HashSet<&str>> = q.only.map(|o| o.iter().map(String::as_str).collect());
        let passes = |i: usize| {
            (q.include_unready || offer.is_ready(i))
                && only.as_ref().is_none_or(|only| only.contains(entries[i].platform.as_str()))
                && (category.is_empty() || self.categories[i] == category)
        };
        if needle.is_empty() {
            let featured = offer.featured().filter(|&i| passes(i));
            let rest = (0..entries.len()).filter(|&i| offer.rank(i) == u32::MAX && passes(i));
            return featured.chain(rest).map(|i| &entries[i]).collect();
        }
        let len = needle.chars().count();
        let mut hits: Vec<(Rank, usize)> = Vec::new();
        for i in self.candidates(&needle, entries.len()) {
            if !passes(i) {
                continue;
            }
            if let Some(rank) = self.direct_rank(i, &needle, len, offer) {
                hits.push((rank, i));
            }
        }
        let max = max_edits(len);
        if hits.len() < FEW_DIRECT && max > 0 {
            let direct: HashSet<usize> = hits.iter().map(|&(_, i)| i).collect();
            for i in self.near_candidates(&needle, max, entries.len()) {
                if direct.contains(&i) || !passes(i) {
                    continue;
                }
                let targets = if needle.contains(' ') { &self.near_keys[i] } else { &self.near_words[i] };
                let best = targets.iter().map(|t| edits(&needle, len, t)).min().unwrap_or(usize::MAX);
                if best <= max {
                    hits.push(((2, 0, best as u8, offer.rank(i)), i));
                }
            }
        }
        // Candidates come in name order, so a stable sort keeps names in order among equals.
        hits.sort_by_key(|&(rank, _)| rank);
        hits.into_iter().map(|(_, i)| &entries[i]).collect()
    }

    /// How entry `i` matches `needle` (`len` characters) directly, if it does.
    fn direct_rank(&self, i: usize, needle: &str, len: usize, offer: &Offer) -> Option<Rank> {
        let keys = &self.keys[i];
        let featured = offer.rank(i);
        // Not the category: "calendar" is the name of no app, only of a shelf.
        let exact = keys[1] == needle || self.near_keys[i].iter().any(|k| k == needle);
        if exact {
            return Some((0, 0, 0, featured));
        }
        let word_prefix = |k: &String| words(k).any(|w| w.starts_with(needle));
        // The name's start, then a word of the name ("Google Calendar" for "calendar"), then a word of the id,
        // category or aliases, then anywhere.
        let place = if keys[0].starts_with(needle) {
            0
        } else if word_prefix(&keys[0]) {
            1
        } else if keys[1..].iter().any(word_prefix) {
            2
        } else if keys.iter().any(|k| k.contains(needle)) {
            3
        } else {
            return None;
        };
        let in_name = place <= 1 || (len >= 3 && keys[0].contains(needle));
        let promoted = featured != u32::MAX && in_name;
        Some((1, u8::from(!promoted), place, featured))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Catalog, POPULAR};
    use super::*;

    fn names(c: &Catalog, search: &str) -> Vec<String> {
        c.find(&Query { search, ..Default::default() }).iter().map(|e| e.name.clone()).collect()
    }

    /// The built-in catalog as a project without settings offers it: the popular apps featured.
    fn popular() -> Catalog {
        Catalog::builtin().unwrap().offered(|_| true, POPULAR)
    }

    fn position(found: &[String], name: &str) -> Option<usize> {
        found.iter().position(|n| n == name)
    }

    #[test]
    fn search_is_case_and_accent_insensitive_and_ranks_prefixes_first() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(names(&c, "GMAIL").first().map(String::as_str), Some("Gmail"));
        assert_eq!(names(&c, "gmaïl").first().map(String::as_str), Some("Gmail"));
        // "Google …" names start with "goo" and rank first; Gmail only has the alias "google", so it comes after.
        let goo = names(&c, "goo");
        let first_other = goo.iter().position(|n| !n.starts_with("Google")).expect("alias matches too");
        assert!(first_other >= 2 && goo[first_other..].iter().all(|n| !n.starts_with("Google")), "{goo:?}");
        assert!(goo[first_other..].iter().any(|n| n == "Gmail"), "{goo:?}");
        assert_eq!(names(&c, "claude").first().map(String::as_str), Some("Anthropic"));
        assert!(names(&c, "zzzz-nothing").is_empty());
        // Across word boundaries and inside words, as a plain substring scan finds them.
        assert!(names(&c, "e cal").contains(&"Google Calendar".to_owned()));
        assert!(names(&c, "ogle").contains(&"Google Calendar".to_owned()));
    }

    #[test]
    fn the_trigram_index_finds_exactly_what_a_full_scan_finds() {
        let c = Catalog::builtin().unwrap();
        let scan = |needle: &str| -> Vec<String> {
            let n = normalise(needle);
            c.all().iter().filter(|e| {
                let mut keys = vec![normalise(&e.name), normalise(&e.platform), normalise(&e.category)];
                keys.extend(e.aliases.iter().map(|a| normalise(a)));
                keys.iter().any(|k| k.contains(&n))
            }).map(|e| e.name.clone()).collect()
        };
        for needle in ["mail", "goo", "calendar", "crm", "hub", "ai", "x", "sale", "drive", "book", "Créa", "zzz", "notion"] {
            let found = names(&c, needle);
            let mut expected = scan(needle);
            expected.sort();
            // The direct matches first, then near misses (which the scan does not find).
            let mut direct = found[..expected.len().min(found.len())].to_vec();
            direct.sort();
            assert_eq!(direct, expected, "{needle}");
            assert!(found[expected.len()..].iter().all(|n| !expected.contains(n)), "{needle}: {found:?}");
        }
    }

    #[test]
    fn typos_find_the_app_meant_and_popular_apps_rank_first() {
        let c = popular();
        for (typed, meant) in [("hubspt", "HubSpot"), ("slak", "Slack"), ("gogle drive", "Google Drive"), ("salesfroce", "Salesforce"), ("calender", "Google Calendar"), ("notoin", "Notion")] {
            assert_eq!(names(&c, typed).first().map(String::as_str), Some(meant), "{typed}: {:?}", names(&c, typed));
        }
        let mail = names(&c, "mail");
        assert!(position(&mail, "Gmail").is_some_and(|p| p < 3), "{mail:?}");
        // Popularity is what lifts it: without featured apps, the names starting with "mail" come first.
        let plain = Catalog::builtin().unwrap();
        assert!(position(&names(&plain, "mail"), "Gmail").is_some_and(|p| p >= 3));
        let calendar = names(&c, "calendar");
        assert_eq!(calendar.first().map(String::as_str), Some("Google Calendar"), "{calendar:?}");
        assert_eq!(names(&c, "drive").first().map(String::as_str), Some("Google Drive"));
    }

    #[test]
    fn exact_and_direct_matches_beat_near_misses_and_nonsense_finds_nothing() {
        let c = popular();
        for needle in ["slac", "zoom", "notion", "linear", "stripe", "asana", "jira", "hubs", "shopif"] {
            let found = c.find(&Query { search: needle, ..Default::default() });
            let contains = |e: &Integration| {
                let mut keys = vec![normalise(&e.name), normalise(&e.platform), normalise(&e.category)];
                keys.extend(e.aliases.iter().map(|a| normalise(a)));
                keys.iter().any(|k| k.contains(needle))
            };
            let first_near = found.iter().position(|e| !contains(e)).unwrap_or(found.len());
            assert!(first_near > 0 && found[first_near..].iter().all(|e| !contains(e)), "{needle}: direct matches first");
        }
        // An exact name wins even over a featured app that merely contains the text.
        assert_eq!(names(&c, "zoom").first().map(String::as_str), Some("Zoom"));
        for nonsense in ["zzzzqqq", "qxqxqx", "xkcdzzq wvvv", "zzzz"] {
            assert_eq!(names(&c, nonsense), Vec::<String>::new(), "{nonsense}");
        }
        // Three characters or fewer: no guessing.
        assert!(names(&c, "slk").is_empty());
    }

    #[test]
    fn without_search_text_the_featured_apps_come_first_in_their_order() {
        let c = Catalog::builtin().unwrap().offered(|_| true, &["slack", "gmail", "no-such-app", "slack"]);
        let all = names(&c, "");
        assert_eq!(all[..2], ["Slack", "Gmail"]);
        let rest = &all[2..];
        assert!(rest.windows(2).all(|w| w[0].to_lowercase() <= w[1].to_lowercase()), "the rest by name");
        assert_eq!(all.len(), c.all().len(), "each app once");
        // A category keeps the order among its own apps.
        let chat = c.find(&Query { category: "Communication", ..Default::default() });
        assert_eq!(chat.first().map(|e| e.platform.as_str()), Some("slack"));
        // No featured apps: by name.
        let none: &[&str] = &[];
        let plain = Catalog::builtin().unwrap().offered(|_| true, none);
        assert_eq!(names(&plain, ""), names(&Catalog::builtin().unwrap(), ""));
        assert_eq!(names(&plain, "").first().map(String::as_str), Some(Catalog::builtin().unwrap().all()[0].name.as_str()));
    }

    #[test]
    fn what_cannot_be_connected_is_left_out_of_lists_and_categories() {
        let builtin = Catalog::builtin().unwrap();
        let c = builtin.offered(|e| !e.needs_server_client(), POPULAR);
        let listed = c.find(&Query::default());
        assert!(!listed.is_empty() && listed.iter().all(|e| !e.needs_server_client()));
        assert!(!listed.iter().any(|e| e.platform == "gmail") && !names(&c, "gmail").contains(&"Gmail".to_owned()));
        assert!(!c.is_ready("gmail") && c.is_ready("stripe") && c.get("gmail").is_some(), "still found by id");
        assert_eq!(c.find(&Query { include_unready: true, ..Default::default() }).len(), builtin.all().len());
        // Stripe is featured and can be connected: it leads.
        assert_eq!(listed.first().map(|e| e.platform.as_str()), Some("stripe"));
        // A category none of whose apps can be connected is not offered.
        let no_ai = builtin.offered(|e| e.category != "AI", POPULAR);
        assert!(builtin.categories(None).iter().any(|(n, _)| n == "AI"));
        assert!(!no_ai.categories(None).iter().any(|(n, _)| n == "AI"));
    }

    #[test]
    fn category_and_allow_list_filter() {
        let c = Catalog::builtin().unwrap();
        let ai = c.find(&Query { category: "ai", ..Default::default() });
        assert!(ai.len() >= 2 && ai.iter().all(|e| e.category == "AI"));
        assert_eq!(c.categories(None).iter().find(|(n, _)| n == "AI").map(|(_, k)| *k as usize), Some(ai.len()));
        let only = vec!["slack".to_string(), "gmail".to_string()];
        let got = c.find(&Query { only: Some(&only), ..Default::default() });
        assert_eq!(got.iter().map(|e| e.platform.as_str()).collect::<Vec<_>>(), ["gmail", "slack"]);
    }
}
