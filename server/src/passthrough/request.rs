//! What a passthrough call asks of Plugboard itself, in its own headers (never forwarded: see
//! [`super::target::request_headers`]): which connection (`X-One-Connection-Key`, also `x-pica-connection-key`),
//! which of its tokens (`Plugboard-Token`) and which place its grant reaches (`Plugboard-Choice`).

use axum::http::HeaderMap;

use super::PassthroughError;
use crate::store::ConnectionRow;

/// The header naming which of the places a connection's grant reaches a call is for (see [`chosen`]).
pub const CHOICE_HEADER: &str = "plugboard-choice";

/// The header naming the token a call presents (see [`crate::catalog::inject::TokenChoice`]).
pub const TOKEN_HEADER: &str = "plugboard-token";

/// The connection key the caller names; a control character in it (HTTP lets a tab through) is refused like any
/// text at the edge.
pub fn connection_key(headers: &HeaderMap) -> Result<&str, PassthroughError> {
    let key = ["x-one-connection-key", "x-pica-connection-key"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(PassthroughError::MissingConnectionKey)?;
    if key.chars().any(char::is_control) {
        return Err(PassthroughError::InvalidHeader("X-One-Connection-Key must not contain control characters"));
    }
    Ok(key)
}

/// The place a passthrough call addresses instead of the connection's own (`Plugboard-Choice: <id>`, or
/// `<name>=<id>` for an integration that lists more than one kind of place): one of those its grant reaches,
/// as the connection record's `choices` lists them. Absent: the one picked while connecting.
/// [`PassthroughError::InvalidChoice`] for a header that names no listed kind (or a connection that lists none);
/// [`PassthroughError::ChoiceNotGranted`] for a place the grant does not reach.
pub fn chosen<'a>(headers: &'a HeaderMap, row: &'a ConnectionRow) -> Result<Option<(&'a str, &'a str)>, PassthroughError> {
    use PassthroughError::InvalidChoice;
    let Some(value) = headers.get(CHOICE_HEADER) else { return Ok(None) };
    let value = value.to_str().map(str::trim).map_err(|_| InvalidChoice("Plugboard-Choice must be plain text".into()))?;
    let (name, id) = match value.split_once('=') {
        Some((name, id)) => (name.trim(), id.trim()),
        None if row.choices.len() == 1 => (row.choices.keys().next().map(String::as_str).unwrap_or_default(), value),
        None if row.choices.is_empty() => return Err(InvalidChoice("this connection reaches one place only: send no Plugboard-Choice".into())),
        None => return Err(InvalidChoice("this connection lists several kinds of place: send Plugboard-Choice: <name>=<id>".into())),
    };
    let Some((name, listed)) = row.choices.get_key_value(name) else {
        return Err(InvalidChoice(format!("this connection lists no places named {name:?} (see its record's choices)")));
    };
    if !listed.iter().any(|c| c.id == id) {
        return Err(PassthroughError::ChoiceNotGranted);
    }
    Ok(Some((name.as_str(), id)))
}

/// Which of the connection's tokens the caller asks for (`Plugboard-Token: bot|user`, for an integration whose
/// sign-in gives several, such as Slack); absent = the connection's default. A value that is not text is refused.
pub fn token_name(headers: &HeaderMap) -> Result<Option<&str>, PassthroughError> {
    let Some(value) = headers.get(TOKEN_HEADER) else { return Ok(None) };
    match value.to_str().map(str::trim) {
        Ok(v) if !v.chars().any(char::is_control) => Ok(Some(v)),
        _ => Err(PassthroughError::InvalidHeader("Plugboard-Token must be a token name such as user or bot")),
    }
}
