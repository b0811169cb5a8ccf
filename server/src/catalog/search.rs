//! In-memory catalog search: case- and accent-insensitive, over name, id, category and aliases; prefix matches
//! rank before substring matches, and matches in the name before matches elsewhere.

use std::collections::{HashMap, HashSet};

use super::Integration;

/// What the caller asks for; empty strings mean "no filter".
#[derive(Debug, Default, Clone, Copy)]
pub struct Query<'a> {
    pub search: &'a str,
    pub category: &'a str,
    /// Restrict to these platform ids (a session's `allowedIntegrations`).
    pub only: Option<&'a [String]>,
}

#[derive(Debug)]
pub struct Index {
    /// Per entry: normalised searchable words (name first).
    keys: Vec<Vec<String>>,
    categories: Vec<String>,
    /// Every run of three characters in any key → the entries having it, ascending. A search of three or more
    /// characters only looks at the entries that have all of its trigrams, so its cost follows the matches, not
    /// the catalog's size (10,000 entries search as fast as 375: `scripts/bench`).
    trigrams: HashMap<[char; 3], Vec<u32>>,
}

fn trigrams(s: &str) -> impl Iterator<Item = [char; 3]> + '_ {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len().saturating_sub(2)).map(move |i| [chars[i], chars[i + 1], chars[i + 2]])
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
        Self { keys, categories, trigrams: index }
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

    pub fn find<'e>(&self, entries: &'e [Integration], q: &Query<'_>) -> Vec<&'e Integration> {
        let needle = normalise(q.search.trim());
        let category = normalise(q.category.trim());
        let only: Option<HashSet<&str>> = q.only.map(|o| o.iter().map(String::as_str).collect());
        let mut hits: Vec<(u8, usize)> = Vec::new();
        for i in self.candidates(&needle, entries.len()) {
            let entry = &entries[i];
            if only.as_ref().is_some_and(|only| !only.contains(entry.platform.as_str())) {
                continue;
            }
            if !category.is_empty() && self.categories[i] != category {
                continue;
            }
            let rank = if needle.is_empty() {
                0
            } else {
                let keys = &self.keys[i];
                let word_prefix = |k: &String| k.split([' ', '-', '.']).any(|w| w.starts_with(&needle));
                // The name's start, then a word of the name ("Google Calendar" for "calendar"), then a word of the
                // id, category or aliases, then anywhere.
                if keys[0].starts_with(&needle) {
                    0
                } else if word_prefix(&keys[0]) {
                    1
                } else if keys[1..].iter().any(word_prefix) {
                    2
                } else if keys.iter().any(|k| k.contains(&needle)) {
                    3
                } else {
                    continue;
                }
            };
            hits.push((rank, i));
        }
        // Entries are already sorted by name, so a stable sort on rank keeps names in order within a rank.
        if !needle.is_empty() {
            hits.sort_by_key(|&(rank, _)| rank);
        }
        hits.into_iter().map(|(_, i)| &entries[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Catalog;
    use super::*;

    fn names(c: &Catalog, search: &str) -> Vec<String> {
        c.find(&Query { search, ..Default::default() }).iter().map(|e| e.name.clone()).collect()
    }

    #[test]
    fn search_is_case_and_accent_insensitive_and_ranks_prefixes_first() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(names(&c, "GMAIL"), ["Gmail"]);
        assert_eq!(names(&c, "gmaïl"), ["Gmail"]);
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
        for needle in ["mail", "goo", "calendar", "crm", "hub", "ai", "x", "sale", "drive", "book", "Créa", "zzz"] {
            let mut found = names(&c, needle);
            found.sort();
            let mut expected = scan(needle);
            expected.sort();
            assert_eq!(found, expected, "{needle}");
        }
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
