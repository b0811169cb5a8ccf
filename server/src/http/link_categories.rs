//! Which integrations an auth link lists by category: the catalog's own categories, or StackOne's connector
//! categories (`hris`, `ats`, `crm`, …), each of which lists some catalog categories. Shared by Plugboard's and
//! StackOne's ways of making a link ([`super::links`], [`super::stackone`]).

use super::error::ApiError;

/// StackOne's connector categories (the SDK's `ConnectSessionCreateCategories`, and `scheduling` of the current API
/// reference) and the catalog categories each one lists. `None`: every category (`stackone`, StackOne's own
/// connectors, is no kind of app). `lms` lists HR (the catalog has no learning platforms; the HR suites carry the
/// learning modules), `screening` lists Recruiting (background checks are a hiring step).
pub const CATEGORIES: [(&str, Option<&[&str]>); 14] = [
    ("ats", Some(&["Recruiting"])),
    ("hris", Some(&["HR"])),
    ("hris-legacy", Some(&["HR"])),
    ("crm", Some(&["CRM"])),
    ("iam", Some(&["Security"])),
    ("marketing", Some(&["Marketing"])),
    ("lms", Some(&["HR"])),
    ("stackone", None),
    ("documents", Some(&["Documents", "Storage"])),
    ("ticketing", Some(&["Project management", "Support"])),
    ("screening", Some(&["Recruiting"])),
    ("messaging", Some(&["Communication"])),
    ("accounting", Some(&["Accounting"])),
    ("scheduling", Some(&["Scheduling", "Calendar"])),
];

/// The catalog categories StackOne's category `name` lists (spelled exactly as StackOne does, lowercase): `None`
/// when `name` is not one of StackOne's, `Some(None)` for every category.
pub fn stackone_category(name: &str) -> Option<Option<&'static [&'static str]>> {
    CATEGORIES.iter().find(|(c, _)| *c == name).map(|(_, cats)| *cats)
}

/// Whether a link made with `wanted` (a StackOne category or a catalog category) lists an integration of the
/// catalog category `category`.
pub fn covers(wanted: &str, category: &str) -> bool {
    match stackone_category(wanted) {
        Some(None) => true,
        Some(Some(cats)) => cats.iter().any(|c| c.eq_ignore_ascii_case(category)),
        None => wanted.eq_ignore_ascii_case(category),
    }
}

/// The categories of a new link as they are stored: each a StackOne category (as StackOne spells it) or one of the
/// catalog categories in which the project offers something (`known`, with counts; matched case-insensitively,
/// stored as the catalog spells it). 400 `unknown_category` naming the values that work, for one that is neither,
/// or a StackOne category in whose catalog categories the project offers nothing.
pub fn link_categories(known: &[(String, u64)], wanted: &[String]) -> Result<Vec<String>, ApiError> {
    let offered = |cat: &str| known.iter().any(|(k, _)| k.eq_ignore_ascii_case(cat));
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let w = w.trim();
        let shown: String = w.chars().take(64).collect();
        match stackone_category(w) {
            Some(None) => out.push(w.to_owned()),
            Some(Some(cats)) if cats.iter().any(|c| offered(c)) => out.push(w.to_owned()),
            Some(Some(cats)) => {
                return Err(ApiError::bad_request(
                    "unknown_category",
                    format!("StackOne's category {shown:?} lists {}: this project offers no integration there", cats.join(", ")),
                ))
            }
            None => match known.iter().find(|(k, _)| k.eq_ignore_ascii_case(w)) {
                Some((k, _)) => out.push(k.clone()),
                None => {
                    let ours: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
                    let theirs: Vec<&str> = CATEGORIES.iter().map(|(c, _)| *c).collect();
                    return Err(ApiError::bad_request(
                        "unknown_category",
                        format!("no category {shown:?}: use one of this project's ({}) or of StackOne's ({})", ours.join(", "), theirs.join(", ")),
                    ));
                }
            },
        }
    }
    Ok(out)
}
