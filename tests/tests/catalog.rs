//! The built-in catalog as a whole: every entry valid, names and ids unique, every logo present.
//! `cargo test -p plugboard-tests --test it catalog:: -- --nocapture` prints the counts by category and auth method.

use std::{collections::BTreeMap, path::Path};

use plugboard::catalog::Catalog;

fn catalog() -> Catalog {
    Catalog::builtin().unwrap_or_else(|e| panic!("the catalog must load: {e}"))
}

#[test]
fn every_entry_is_valid_and_unique() {
    // `builtin` parses each file and runs the same checks custom integrations get: https URLs that parse after
    // filling templates with sample values, the parts each auth method needs, field names and patterns.
    let c = catalog();
    let mut platforms: Vec<&str> = c.all().iter().map(|e| e.platform.as_str()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    assert_eq!(platforms.len(), c.all().len());
    let mut names: Vec<String> = c.all().iter().map(|e| e.name.to_lowercase()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), c.all().len(), "display names are unique, ignoring case");
}

#[test]
fn every_named_logo_is_vendored_and_no_logo_is_orphaned() {
    let c = catalog();
    let logos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/assets/logos");
    for e in c.all() {
        let file = logos.join(format!("{}.svg", e.platform));
        if e.logo.is_some() {
            let svg = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{} names a logo: run scripts/vendor-logos.mjs", e.platform));
            assert!(svg.starts_with("<svg") && !svg.contains("<script"), "{}", e.platform);
        }
    }
    for file in std::fs::read_dir(&logos).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        if let Some(platform) = name.strip_suffix(".svg") {
            assert!(c.get(platform).is_some_and(|e| e.logo.is_some()), "{name} belongs to no catalog entry");
        }
    }
}

#[test]
fn prints_counts_by_category_and_auth_method() {
    let c = catalog();
    let mut by_category = BTreeMap::<&str, usize>::new();
    let mut by_method = BTreeMap::<&str, usize>::new();
    for e in c.all() {
        *by_category.entry(&e.category).or_default() += 1;
        *by_method.entry(e.auth_method.as_str()).or_default() += 1;
    }
    println!("{} integrations, {} with logos", c.all().len(), c.all().iter().filter(|e| e.logo.is_some()).count());
    println!("by category ({}):", by_category.len());
    for (k, v) in &by_category {
        println!("  {k:<20} {v:>4}");
    }
    println!("by auth method:");
    for (k, v) in &by_method {
        println!("  {k:<26} {v:>4}");
    }
    assert_eq!(by_category.values().sum::<usize>(), c.all().len());
    assert!(c.all().len() >= 300 && by_category.len() >= 20, "the catalog promises 300+ integrations in 20+ categories");
}

#[test]
fn every_authorization_code_flow_sends_pkce_unless_its_entry_says_why_not() {
    let c = catalog();
    let code_flows: Vec<_> = c.all().iter().filter(|e| e.auth_method == plugboard_shared::AuthMethod::Oauth2).collect();
    assert!(code_flows.len() > 100);
    for e in &code_flows {
        let o = e.oauth.as_ref().unwrap();
        assert!(o.pkce() || o.pkce_opt_out.as_deref().is_some_and(|why| why.len() > 20), "{}", e.platform);
    }
    let out: Vec<_> = code_flows.iter().filter(|e| !e.oauth.as_ref().unwrap().pkce()).map(|e| e.platform.as_str()).collect();
    println!("{} of {} authorization-code entries send PKCE S256; opted out: {out:?}", code_flows.len() - out.len(), code_flows.len());
}
