//! Values learned while connecting (the catalog's `[[metadata]]`): a callback query parameter (QuickBooks'
//! `realmId`, Zoho's `accounts-server`), a token answer member (Salesforce's `instance_url`) or one GET request
//! after connecting (Xero's tenants, Atlassian's accessible resources). Each is checked (an allowed origin, or a
//! plain token) before it joins the connection's non-secret config. A request value may be a choice among the
//! places the grant reaches (`choices`): the list is kept, and the end user picks when there are several. (The metadata named `account` is no config
//! value: see `connect::account`.)

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use plugboard_shared::{Choice, Granted};

use super::Connections;
use crate::catalog::{inject, template};
use crate::{
    catalog::{Integration, Metadata, MetadataSource, ACCOUNT},
    vault::Credentials,
};

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks `found` for every declaration of `source`; a missing value that is not optional is an error naming it.
fn collect(
    entry: &Integration,
    source: MetadataSource,
    mut find: impl FnMut(&Metadata) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for m in entry.metadata.iter().filter(|m| m.from == source && m.name != ACCOUNT) {
        match find(m).or_else(|| m.default.clone()) {
            Some(raw) => {
                let value = m.check_value(&raw).map_err(|e| format!("{} sent a bad value: {e}.", entry.name))?;
                out.insert(m.name.clone(), value);
            }
            None if m.optional => {}
            None => return Err(format!("{} did not send the {} this connection needs.", entry.name, m.name)),
        }
    }
    Ok(out)
}

/// Values from the OAuth callback's query parameters.
pub fn from_callback(entry: &Integration, query: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    collect(entry, MetadataSource::Callback, |m| m.key.as_ref().and_then(|k| query.get(k)).filter(|v| !v.is_empty()).cloned())
}

/// The member of a token answer that `m` names.
fn token_member(m: &Metadata, answer: &Map<String, Value>) -> Option<String> {
    match (&m.key, &m.pointer) {
        (Some(k), _) => answer.get(k).and_then(text),
        (None, Some(p)) => Value::Object(answer.clone()).pointer(p).and_then(text),
        (None, None) => None,
    }
}

/// Values from the token answer's other members.
pub fn from_token(entry: &Integration, answer: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
    collect(entry, MetadataSource::Token, |m| token_member(m, answer))
}

/// Values a refresh answer carries again (Salesforce's `instance_url` after the org moved): those that pass their
/// check. A value that does not is logged and left out, so the connection keeps the one it has.
pub fn from_refresh(entry: &Integration, answer: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in entry.metadata.iter().filter(|m| m.from == MetadataSource::Token && m.name != ACCOUNT) {
        let Some(raw) = token_member(m, answer) else { continue };
        match m.check_value(&raw) {
            Ok(value) => {
                out.insert(m.name.clone(), value);
            }
            Err(e) => tracing::warn!(platform = %entry.platform, name = %m.name, error = %e, "a refresh answer named a value that is not allowed; the old one is kept"),
        }
    }
    out
}

/// Most places a grant may list: more would make a page nobody can read (Atlassian's and Xero's lists are a
/// user's sites or organisations).
pub const MAX_CHOICES: usize = 100;


/// The places listed in `answer` for `m`: each item whose id passes the value's check, named by its label (else
/// its id), with its address when that is an http(s) URL. Items without a usable id are left out; the first
/// [`MAX_CHOICES`] are kept; an id listed twice counts once.
pub fn choices_in(m: &Metadata, answer: &Value) -> Vec<Choice> {
    let Some(c) = &m.choices else { return Vec::new() };
    let list = if c.list.is_empty() { Some(answer) } else { answer.pointer(&c.list) };
    let items = list.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut out: Vec<Choice> = Vec::new();
    for item in items {
        let Some(id) = m.pointer.as_deref().and_then(|p| item.pointer(p)).and_then(text).and_then(|v| m.check_value(&v).ok()) else { continue };
        if out.iter().any(|c| c.id == id) {
            continue;
        }
        let shown = |v: String| v.chars().filter(|c| !c.is_control()).take(200).collect::<String>().trim().to_owned();
        let name = item.pointer(&c.label).and_then(text).map(shown).filter(|n| !n.is_empty()).unwrap_or_else(|| id.clone());
        let url = c.address.as_deref().and_then(|p| item.pointer(p)).and_then(text).filter(|u| {
            u.len() <= 2048 && url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        });
        out.push(Choice { id, name, url });
        if out.len() == MAX_CHOICES {
            break;
        }
    }
    out
}

impl Connections {
    /// Values from one GET request each, made with the new credential (injected as for the passthrough), and for
    /// each value that is a choice ([`Metadata::choices`]) the places the grant reaches. A choice with one place is
    /// taken; with several, the value is left out for the end user to pick (see `oauth::Connections::choose`); with
    /// none, the connect fails with a message naming what is missing.
    pub async fn metadata_requests(
        &self,
        entry: &Integration,
        config: &BTreeMap<String, String>,
        creds: &Credentials,
    ) -> Result<(BTreeMap<String, String>, Granted), String> {
        let mut answers = Vec::new();
        let mut granted = Granted::new();
        let values = inject::template_values(config, creds);
        for m in entry.metadata.iter().filter(|m| m.from == MetadataSource::Request) {
            let url = template::render(m.url.as_deref().unwrap_or_default(), &values);
            let how = entry.inject.clone().unwrap_or_else(inject::default_for_oauth);
            let req = inject::apply(self.http.get(&url).header(reqwest::header::ACCEPT, "application/json"), &how, &values);
            // A request that fails is not a value the provider left out: say so, and that trying again may work.
            let failed = |why: String| format!("Could not ask {} for the {} this connection needs ({why}). Try again in a moment.", entry.name, m.name);
            let answer = match req.send().await {
                Ok(res) if res.status().is_success() => {
                    let body = res.bytes().await.map_err(|_| failed("the answer broke off".into()));
                    body.and_then(|b| {
                        serde_json::from_slice::<Value>(b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&b)).map_err(|_| failed("the answer is not JSON".into()))
                    })
                }
                Ok(res) => Err(failed(format!("HTTP {}", res.status().as_u16()))),
                Err(e) => {
                    let why = if e.is_timeout() { "no answer in time" } else { "no answer" };
                    tracing::warn!(platform = %entry.platform, error = %e.without_url(), name = %m.name, "metadata request failed");
                    Err(failed(why.into()))
                }
            };
            match (answer, &m.choices) {
                (Ok(a), Some(c)) => {
                    let listed = choices_in(m, &a);
                    match listed.as_slice() {
                        [] => return Err(format!("{} gave this sign-in no {} to use, so there is nothing to connect. Check that your account has one, then try again.", entry.name, c.noun)),
                        [only] => answers.push((m.name.clone(), Some(only.id.clone()))),
                        _ => {}
                    }
                    granted.insert(m.name.clone(), listed);
                }
                (Ok(a), None) => answers.push((m.name.clone(), m.pointer.as_deref().and_then(|p| a.pointer(p)).and_then(text))),
                (Err(_), None) if m.optional || m.default.is_some() => answers.push((m.name.clone(), None)),
                (Err(message), _) => return Err(message),
            }
        }
        let undecided = |m: &Metadata| granted.get(&m.name).is_some_and(|l| l.len() > 1);
        let mut values = BTreeMap::new();
        for m in entry.metadata.iter().filter(|m| m.from == MetadataSource::Request && !undecided(m)) {
            let found = answers.iter().find(|(n, _)| *n == m.name).and_then(|(_, v)| v.clone()).or_else(|| m.default.clone());
            match found {
                Some(raw) => {
                    let value = m.check_value(&raw).map_err(|e| format!("{} sent a bad value: {e}.", entry.name))?;
                    values.insert(m.name.clone(), value);
                }
                None if m.optional => {}
                None => return Err(format!("{} did not send the {} this connection needs.", entry.name, m.name)),
            }
        }
        Ok((values, granted))
    }
}
