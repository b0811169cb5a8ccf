//! OAuth scopes in plain words (`IntegrationDetail.permissions`): an entry's own `[oauth.scopeDescriptions]`, else
//! the shared table of well-known scopes in `scopes.toml` (compiled in).

use std::{collections::HashMap, sync::OnceLock};

use super::Integration;

/// Longest description of one scope, in characters.
pub const MAX_SCOPE_DESCRIPTION: usize = 200;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    scopes: HashMap<String, String>,
}

/// The shared table: scope string → what it lets an app do.
fn shared() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| toml::from_str::<Table>(include_str!("scopes.toml")).expect("scopes.toml is valid (a unit test parses it)").scopes)
}

/// What signing in with `scopes` lets the app do, one line per scope `entry` or the shared table describes, in
/// the scopes' order, each line once ("See your name and email address" for `openid`, `email` and `profile`
/// together). Scopes nobody describes are left out.
pub fn permissions(entry: &Integration, scopes: &[String]) -> Vec<String> {
    let own = entry.oauth.as_ref().map(|o| &o.scope_descriptions);
    let mut lines: Vec<String> = Vec::new();
    for scope in scopes {
        let line = own.and_then(|d| d.get(scope)).or_else(|| shared().get(scope));
        if let Some(line) = line {
            if !lines.contains(line) {
                lines.push(line.clone());
            }
        }
    }
    lines
}

/// Checks an entry's own descriptions: each names a scope and says something, briefly.
pub fn check(entry: &Integration) -> Result<(), String> {
    let Some(o) = &entry.oauth else { return Ok(()) };
    for (scope, line) in &o.scope_descriptions {
        if scope.trim().is_empty() || line.trim().is_empty() || line.chars().count() > MAX_SCOPE_DESCRIPTION || line.chars().any(char::is_control) {
            return Err(format!(
                "scopeDescriptions {scope:?}: a scope and a line of 1 to {MAX_SCOPE_DESCRIPTION} characters, without control characters"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Catalog;
    use super::*;

    fn of(platform: &str) -> Vec<String> {
        let c = Catalog::builtin().unwrap();
        let e = c.get(platform).unwrap();
        permissions(e, &e.oauth.as_ref().unwrap().scopes)
    }

    #[test]
    fn the_shared_table_parses_and_says_something_for_each_scope() {
        assert!(shared().len() > 40);
        assert!(shared().values().all(|l| !l.trim().is_empty() && l.chars().count() <= MAX_SCOPE_DESCRIPTION));
    }

    #[test]
    fn popular_apps_say_what_they_may_do() {
        assert_eq!(of("gmail"), ["Read, send and organize your email"]);
        assert_eq!(of("google-drive"), ["See and change only the Google Drive files you use with this app"]);
        assert_eq!(of("outlook"), ["Stay connected when you are away", "See your name and email address", "Read, change and delete your email", "Send email as you"]);
        assert_eq!(of("slack").len(), 3);
        assert_eq!(of("github").len(), 2);
        assert_eq!(of("salesforce"), ["Read and change your Salesforce data", "Stay connected when you are away"]);
        assert_eq!(of("hubspot").len(), 2);
        assert!(of("notion").is_empty(), "Notion asks for no scopes");
    }

    #[test]
    fn lines_are_deduplicated_in_order_and_unknown_scopes_left_out() {
        let c = Catalog::builtin().unwrap();
        let gmail = c.get("gmail").unwrap();
        let scopes: Vec<String> = ["openid", "email", "https://www.googleapis.com/auth/gmail.send", "profile", "made.up", "https://www.googleapis.com/auth/gmail.readonly"]
            .map(String::from)
            .into();
        assert_eq!(permissions(gmail, &scopes), ["See your name and email address", "Send email as you", "Read your email"]);
    }

    #[test]
    fn an_entry_describes_its_own_scopes_first() {
        let c = Catalog::builtin().unwrap();
        let mut custom = c.get("gmail").unwrap().clone();
        let oauth = custom.oauth.as_mut().unwrap();
        oauth.scope_descriptions.insert("openid".into(), "Know who you are at Acme".into());
        oauth.scope_descriptions.insert("crm.read".into(), "Read your Acme CRM records".into());
        let scopes: Vec<String> = ["openid", "crm.read"].map(String::from).into();
        assert_eq!(permissions(&custom, &scopes), ["Know who you are at Acme", "Read your Acme CRM records"]);
        assert_eq!(check(&custom), Ok(()));
        custom.oauth.as_mut().unwrap().scope_descriptions.insert("x".into(), "a\nb".into());
        assert!(check(&custom).is_err());
    }
}
