//! What text the API accepts, decided once, at the edge, for every route behind the router — so SQLite and
//! PostgreSQL never disagree about a value (PostgreSQL's text cannot hold NUL, SQLite's can) and a new field cannot
//! forget the check:
//!
//! - the request path (percent-decoded) and every query parameter, name and value: no control character
//!   ([`char::is_control`]: U+0000–U+001F, U+007F–U+009F) — [`refuse_control_characters`], a layer on every route
//!   but the OAuth popup's HTML pages, which answer in HTML and store none of it as text;
//! - every string of a JSON body, member names included: no control character, except the values of a top-level
//!   `fields` object (what a user types into a connect form, where a pasted key may span lines), which may hold
//!   any text but NUL — [`check_json`], called by [`super::extract::JsonBody`] for every body;
//! - header-carried values that reach the database (the passthrough's connection key) are checked where they are
//!   read (HTTP itself refuses NUL, CR and LF in headers).
//!
//! A refusal is a 400 `invalid_input` naming the field (`identity`, `fields.api_key`, `allowedIntegrations[2]`,
//! the query parameter, the path). The passthrough's own path and query are the provider's business and pass as
//! they are (`proxy::target` keeps them on the integration's API).

use axum::{extract::Request, middleware::Next, response::Response};
use serde_json::Value;

use super::error::ApiError;

/// Top-level JSON members whose object values are typed by users as they please (any text but NUL).
const FREE_TEXT_MEMBERS: &[&str] = &["fields"];

/// Longest field name quoted in an error.
const MAX_NAME_IN_ERROR: usize = 64;

/// The first character of `s` that text of this kind may not hold: any control character, or for free text only
/// NUL.
fn refused(s: &str, free_text: bool) -> Option<char> {
    s.chars().find(|&c| if free_text { c == '\0' } else { c.is_control() })
}

/// The 400 that names `field` and what it held.
fn invalid(field: &str, c: char, free_text: bool) -> ApiError {
    let mut name = String::new();
    for c in field.chars().take(MAX_NAME_IN_ERROR) {
        // A member name may hold what it is refused for: shown escaped (`\n`, `\u{0}`).
        if c.is_control() {
            name.extend(c.escape_debug());
        } else {
            name.push(c);
        }
    }
    if field.chars().count() > MAX_NAME_IN_ERROR {
        name.push('…');
    }
    let what = if free_text { "a NUL character" } else { "control characters" };
    ApiError::bad_request("invalid_input", format!("{name} must not contain {what} (found U+{:04X})", u32::from(c)))
}

/// Whether a JSON text can hold a control character in a string at all: only as an escape (`\u0000`, `\n`, …), a
/// raw DEL (U+007F) or a raw C1 character (UTF-8 `C2 80`–`C2 9F`); raw C0 characters are not JSON. Lets almost
/// every body skip the walk.
fn may_hold_control(json: &[u8]) -> bool {
    json.iter().any(|&b| b == b'\\' || b == 0x7f) || json.windows(2).any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
}

/// Refuses a JSON body (`json`, its text) with a control character in any string or member name (see the module
/// documentation for `fields`), naming the first such field. A text that is not JSON passes: the body's own parser
/// says what is wrong with it.
pub fn check_json(json: &[u8]) -> Result<(), ApiError> {
    if !may_hold_control(json) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(json) else { return Ok(()) };
    let mut path = String::new();
    walk(&value, &mut path, 0, false)
}

fn walk(value: &Value, path: &mut String, depth: usize, free_text: bool) -> Result<(), ApiError> {
    match value {
        Value::String(s) => match refused(s, free_text) {
            Some(c) => Err(invalid(if path.is_empty() { "the body" } else { path }, c, free_text)),
            None => Ok(()),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, depth + 1, free_text)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(members) => {
            for (name, member) in members {
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(name);
                if let Some(c) = refused(name, false) {
                    return Err(invalid(&format!("the member name {path}"), c, false));
                }
                let free = free_text || (depth == 0 && FREE_TEXT_MEMBERS.contains(&name.as_str()) && member.is_object());
                walk(member, path, depth + 1, free)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Refuses a query parameter (name or value, decoded as `application/x-www-form-urlencoded`) holding a control
/// character, naming it.
pub fn check_query(query: &str) -> Result<(), ApiError> {
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if let Some(c) = refused(&name, false) {
            return Err(invalid("a query parameter's name", c, false));
        }
        if let Some(c) = refused(&value, false) {
            return Err(invalid(&format!("the query parameter {name}"), c, false));
        }
    }
    Ok(())
}

/// Refuses a path holding a control character once percent-decoded (`/v1/vault/connections/a%00b`).
pub fn check_path(path: &str) -> Result<(), ApiError> {
    if !path.contains('%') {
        // Raw control characters never get this far (HTTP refuses them in the request line).
        return Ok(());
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    match refused(&decoded, false) {
        Some(c) => Err(invalid("the path", c, false)),
        None => Ok(()),
    }
}

/// The OAuth popup's pages, which answer bad input with a page of their own (HTML, as their documentation says)
/// and store nothing of their path or query as text (the `state` is looked up by its digest; a failure's message
/// is stored as a diagnostic, control characters replaced).
const OWN_PAGES: &[&str] = &["/oauth/authorize/{id}", "/oauth/callback"];

/// Middleware on every route behind the router: [`check_path`] and [`check_query`] before the handler runs (but
/// on the [`OWN_PAGES`]).
pub async fn refuse_control_characters(req: Request, next: Next) -> Result<Response, ApiError> {
    let own_page = req.method() == axum::http::Method::GET
        && req.extensions().get::<axum::extract::MatchedPath>().is_some_and(|p| OWN_PAGES.contains(&p.as_str()));
    if own_page {
        return Ok(next.run(req).await);
    }
    check_path(req.uri().path())?;
    if let Some(query) = req.uri().query() {
        check_query(query)?;
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn names_the_field_that_holds_a_control_character() {
        let cases = [
            (r#"{"identity":"a\u0000b","identityType":"user"}"#, "identity must not contain control characters (found U+0000)"),
            (r#"{"identity":"u","allowedIntegrations":["gmail","x\ty"]}"#, "allowedIntegrations[1] must not"),
            (r#"{"fields":{"api_key":"k\u0000"}}"#, "fields.api_key must not contain a NUL character"),
            (r#"{"name":"a\u007fb"}"#, "name must not contain control characters (found U+007F)"),
            ("{\"name\":\"a\u{85}b\"}", "found U+0085"),
            (r#"{"fields":{"a\nb":"v"}}"#, "the member name fields.a\\nb must not"),
            (r#"{"nested":{"fields":{"x":"a\nb"}}}"#, "nested.fields.x must not contain control characters"),
            (r#""\u0001""#, "the body must not"),
        ];
        for (json, says) in cases {
            let err = check_json(json.as_bytes()).expect_err(json);
            assert!(message(err).contains(says), "{json}: {says}");
        }
    }

    #[test]
    fn form_values_may_hold_line_breaks_and_everything_else_passes() {
        for json in [
            r#"{"fields":{"private_key":"-----BEGIN KEY-----\nabc\n-----END KEY-----\n","tab":"a\tb"}}"#,
            r#"{"identity":"ünïcode \"quoted\" \\ back\/slash 𝄞","identityType":"user"}"#,
            r#"{"identity":"#,
            "not json \\u0000",
        ] {
            assert!(check_json(json.as_bytes()).is_ok(), "{json}");
        }
    }

    #[test]
    fn queries_and_paths() {
        assert!(message(check_query("identity=a%00b&identityType=user").unwrap_err()).contains("the query parameter identity must not"));
        assert!(message(check_query("a%0Ab=1").unwrap_err()).contains("a query parameter's name"));
        assert!(check_query("identity=a+b%20c&search=%C3%A9t%C3%A9&x=%ff").is_ok());
        assert!(message(check_path("/v1/vault/connections/a%00b").unwrap_err()).contains("the path must not"));
        assert!(check_path("/v1/vault/connections/test::gmail::default::abc").is_ok());
        assert!(check_path("/widget/app-1f2e.wasm").is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn a_string_passes_exactly_when_it_holds_no_control_character(s in "\\PC{0,8}[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}]?\\PC{0,8}") {
                let body = serde_json::json!({ "identity": s, "fields": { "f": s } }).to_string();
                let strict_ok = !s.chars().any(char::is_control);
                prop_assert_eq!(check_json(body.as_bytes()).is_ok(), strict_ok, "{:?}", body);
                let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("identity", &s).finish();
                prop_assert_eq!(check_query(&query).is_ok(), strict_ok, "{}", query);
            }
        }
    }
}
