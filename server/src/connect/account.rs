//! The account a connection signs in as (`ConnectionRecord.account`), for people to read: what the provider said
//! in its token answer, with no extra request and no extra secret. Never used to authorize anything, never a
//! secret.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{Map, Value};

use crate::{
    catalog::{Integration, MetadataSource, ACCOUNT},
    vault::SecretString,
};

/// Longest account label kept, in characters.
pub const MAX_ACCOUNT_CHARS: usize = 200;

/// The account a token answer names (`answer`: its members but the tokens; `id_token`: its ID token), first found of:
/// - the catalog entry's `[[metadata]]` named `account` (`from = "token"`, e.g. Slack's `/team/name`);
/// - the OpenID Connect `id_token`'s `email`, else `name`, else `preferred_username` claim.
///
/// The `id_token`'s payload is read without checking its signature. That is enough for a display label, and only
/// for one: it came straight from the provider's token endpoint over TLS, to Plugboard as the client, which is
/// when OpenID Connect Core 1.0 §3.1.3.7 (item 6) lets a client rely on TLS instead of the signature. Nothing
/// else in Plugboard trusts it. Answers `None` when nothing usable was said.
pub fn from_token_answer(entry: &Integration, answer: &Map<String, Value>, id_token: Option<&SecretString>) -> Option<String> {
    let declared = entry.metadata.iter().find(|m| m.name == ACCOUNT && m.from == MetadataSource::Token);
    let from_catalog = declared.and_then(|m| match (&m.key, &m.pointer) {
        (Some(k), _) => answer.get(k).and_then(Value::as_str).map(str::to_owned),
        (None, Some(p)) => Value::Object(answer.clone()).pointer(p).and_then(Value::as_str).map(str::to_owned),
        (None, None) => None,
    });
    from_catalog.and_then(|raw| label(&raw)).or_else(|| {
        let claims = id_token_claims(id_token?.expose())?;
        ["email", "name", "preferred_username"].iter().find_map(|c| claims.get(*c).and_then(Value::as_str).and_then(label))
    })
}

/// The claims of a JWS compact `id_token` (`header.payload.signature`), its signature not checked (see
/// [`from_token_answer`] for why that is enough here).
fn id_token_claims(id_token: &str) -> Option<Map<String, Value>> {
    let mut parts = id_token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None; // five parts: an encrypted token (JWE), which Plugboard cannot read
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// `raw` as a label: control characters and the invisible marks that reorder text (bidirectional embeddings,
/// overrides and isolates) removed, surrounding space trimmed, cut at [`MAX_ACCOUNT_CHARS`] characters; `None` when
/// nothing is left.
pub fn label(raw: &str) -> Option<String> {
    let reorders = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let clean: String = raw.chars().filter(|&c| !c.is_control() && !reorders(c)).collect();
    let cut: String = clean.trim().chars().take(MAX_ACCOUNT_CHARS).collect();
    let cut = cut.trim_end().to_owned();
    (!cut.is_empty()).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn jwt(claims: &Value) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJl", URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()))
    }

    fn answer(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn an_id_token_names_the_account_by_email_then_name_then_username() {
        let c = Catalog::builtin().unwrap();
        let gmail = c.get("gmail").unwrap();
        let with = |claims: Value| from_token_answer(gmail, &Map::new(), Some(&SecretString::new(jwt(&claims))));
        assert_eq!(with(serde_json::json!({"sub": "1", "email": "ada@example.com", "name": "Ada"})).as_deref(), Some("ada@example.com"));
        assert_eq!(with(serde_json::json!({"sub": "1", "name": "Ada Lovelace", "preferred_username": "ada"})).as_deref(), Some("Ada Lovelace"));
        assert_eq!(with(serde_json::json!({"sub": "1", "preferred_username": "ada"})).as_deref(), Some("ada"));
        assert_eq!(with(serde_json::json!({"sub": "1", "email": "  \n "})), None, "nothing printable");
        assert_eq!(with(serde_json::json!({"sub": "1"})), None);
        for bad in ["", "x", "a.b", "a.!!!.c", "a.b.c.d.e", &format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1]"))] {
            assert_eq!(from_token_answer(gmail, &Map::new(), Some(&SecretString::new(bad.to_owned()))), None, "{bad}");
        }
        assert_eq!(from_token_answer(gmail, &Map::new(), None), None);
    }

    #[test]
    fn slack_names_its_workspace_from_the_catalog() {
        let c = Catalog::builtin().unwrap();
        let slack = c.get("slack").unwrap();
        let said = answer(serde_json::json!({"ok": true, "team": {"id": "T1", "name": "Acme HQ"}, "bot_user_id": "U1"}));
        assert_eq!(from_token_answer(slack, &said, None).as_deref(), Some("Acme HQ"));
        assert_eq!(from_token_answer(slack, &answer(serde_json::json!({"ok": true})), None), None);
        // The catalog's value comes first; an ID token is the fallback.
        let id_token = SecretString::new(jwt(&serde_json::json!({"sub": "U1", "email": "ada@acme.example"})));
        assert_eq!(from_token_answer(slack, &said, Some(&id_token)).as_deref(), Some("Acme HQ"));
        assert_eq!(from_token_answer(slack, &Map::new(), Some(&id_token)).as_deref(), Some("ada@acme.example"));
    }

    #[test]
    fn labels_lose_control_characters_and_are_capped() {
        assert_eq!(label("  Acme\u{7}\r\n Corp\u{0} ").as_deref(), Some("Acme Corp"));
        assert_eq!(label(&"é".repeat(300)).map(|l| l.chars().count()), Some(MAX_ACCOUNT_CHARS));
        assert_eq!(label("\u{1b}[31m"), Some("[31m".to_owned()), "an escape sequence is left harmless");
        assert_eq!(label("\t\n"), None);
        assert_eq!(label("evil\u{202e}gpj.exe").as_deref(), Some("evilgpj.exe"), "no right-to-left override");
    }
}
