//! The sign-in pages: `/oauth/authorize/{id}` (prove the popup belongs to the widget that started the flow, or ask
//! the person in front of a same-tab link; bind the browser; go to the provider) and `/oauth/callback` (finish,
//! tell the widget, close, or go back to the host page). Both answer human pages in [`super::pages`]' look, since
//! a person is looking at them; only the authorize page's own `POST` answers JSON to its script.

use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde::{Deserialize, Serialize};

use super::{
    error::ApiError,
    extract::JsonBody,
    pages::{Look, Mark},
    sign_in_pages::{ask, choosing, ending_page, failure_heading, look_of_flow, opening, page_gone, plain_page, unusable, Ending, Window},
    AppState,
};
use crate::{
    connect::{
        authorization_code::{binding_cookie, seed_return_url, FLOW_TTL_SECS},
        callback::{CallbackFailure, CallbackQuery, Failure, Finished, Outcome},
        ConnectError,
    },
    store::FlowDisplay,
};

/// The script of every page but the authorize page: the callback's result and error pages. It takes the spent
/// provider answer (`code`, `state`) out of the address bar; in a sign-in window it tells the widget and closes
/// the window (a page with `data-close`), or, where the browser refuses that, says so and offers the Close button.
const CALLBACK_JS: &str = r#"(function () {
  var d = document.body.dataset, status = document.getElementById("pb-status"), closer = document.getElementById("pb-close");
  if (location.search) { try { history.replaceState(null, "", location.pathname); } catch (e) {} }
  if (window.opener && d.flow) {
    try { window.opener.postMessage({ type: "plugboard:oauth", flowId: d.flow, status: d.status }, location.origin); } catch (e) {}
  }
  function offer() { if (closer) closer.hidden = false; }
  // window.close() is refused for a window no script opened (a tab); window.closed tells.
  function shut(refused) { window.close(); setTimeout(function () { if (!window.closed) refused(); }, 300); }
  if (closer) closer.addEventListener("click", function () { shut(function () { status.textContent = d.refused || "Your browser keeps this window open: close it yourself."; }); });
  if (d.close) {
    setTimeout(function () { shut(function () { status.textContent = d.stay; offer(); }); }, 800);
  } else if (d.offer || window.opener || history.length === 1) {
    offer();
  }
  var h = document.querySelector("h1");
  if (h) h.focus();
})();
"#;

/// The authorize page's script. Proof of possession: it asks its opener — which must be a Plugboard page on this
/// very origin, i.e. the widget that started the flow — for the flow's one-time proof, and only then asks the
/// server to bind this browser and answer the provider URL. A link opened anywhere else (another browser, a page
/// on another origin that opened it) never gets the proof, so it cannot be completed.
const AUTHORIZE_JS: &str = r#"(function () {
  var flow = document.body.dataset.flow, status = document.getElementById("pb-status"), done = false;
  var closer = document.getElementById("pb-close"), h = document.querySelector("h1");
  if (closer) closer.addEventListener("click", function () {
    window.close();
    setTimeout(function () { if (!window.closed) status.textContent = "Your browser keeps this window open: close it yourself."; }, 300);
  });
  function refuse(text) {
    if (done) return;
    done = true;
    h.textContent = "This sign-in cannot continue here";
    status.textContent = text;
    document.querySelector(".pb-join").setAttribute("data-mark", "failed");
    // Only where the browser would let the button work: a window a script opened, or a tab with nothing before.
    if (closer && (window.opener || history.length === 1)) closer.hidden = false;
  }
  if (!flow) return;
  function go(proof, state) {
    done = true;
    fetch(location.pathname, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ proof: proof, state: state || undefined }), credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
      .then(function (a) { if (a[0] && a[1].location) { location.replace(a[1].location); } else { done = false; refuse(a[1].error || "This sign-in cannot continue. Close this window and start again from the app."); } })
      .catch(function () { done = false; refuse("Plugboard could not be reached. Close this window and try again."); });
  }
  // A same-tab sign-in of the embedded widget (or of @withone/auth, whose state names its return page): no opener
  // to vouch for this page, which may have been opened from a link in mail or chat; the person in front of it says
  // whether to go on. The widget proves itself when it claims the result.
  if (document.body.dataset.sameTab) {
    var yes = document.getElementById("continue"), no = document.getElementById("cancel"), armed = 0;
    // Continue works only a second after the page is seen, so a key or click meant for the page that opened this
    // one (a double click, a held Enter) cannot answer the question.
    function arm() {
      if (done) return;
      yes.disabled = true; clearTimeout(armed);
      armed = setTimeout(function () { if (!done) yes.disabled = false; }, 1000);
    }
    arm();
    window.addEventListener("focus", arm);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) arm(); });
    yes.addEventListener("click", function () {
      if (!done && !yes.disabled) {
        yes.disabled = true; no.disabled = true;
        document.querySelector(".pb-join").setAttribute("data-mark", "pending");
        status.textContent = "Taking you to sign in…";
        go("", new URLSearchParams(location.search).get("state"));
      }
    });
    no.addEventListener("click", function () {
      done = true; yes.disabled = no.disabled = true;
      document.querySelector(".pb-join").setAttribute("data-mark", "failed");
      status.textContent = "Nothing was connected. You can close this tab.";
      if (history.length > 1) history.back();
    });
    h.focus();
    return;
  }
  h.focus();
  if (!window.opener) { refuse("This sign-in link works only in the window your app opened for it. Close this window and start again from the app."); return; }
  window.addEventListener("message", function (e) {
    var d = e.data;
    if (done || e.origin !== location.origin || e.source !== window.opener || !d || d.type !== "plugboard:oauth-proof" || d.flowId !== flow) return;
    go(String(d.proof));
  });
  try { window.opener.postMessage({ type: "plugboard:oauth-claim", flowId: flow }, location.origin); } catch (e) {}
  setTimeout(function () { refuse("This sign-in link works only in the window your app opened for it. Close this window and start again from the app."); }, 5000);
})();
"#;

/// The cookie binding a flow to the browser that went to the provider: over https a `__Host-` cookie (Secure,
/// `Path=/`, no `Domain`, so no other host of the site can plant one; RFC 6265bis §4.1.3.2), else a plain one
/// limited to the callback path (local development).
fn binding_set_cookie(public_url: &str, flow_id: &str, value: &str) -> String {
    if public_url.starts_with("https://") {
        format!("__Host-{}={value}; Path=/; Max-Age={FLOW_TTL_SECS}; HttpOnly; Secure; SameSite=Lax", binding_cookie(flow_id))
    } else {
        format!("{}={value}; Path=/oauth/callback; Max-Age={FLOW_TTL_SECS}; HttpOnly; SameSite=Lax", binding_cookie(flow_id))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `GET /oauth/authorize/{id}`: a page whose script fetches the proof from its opener (see [`AUTHORIZE_JS`]).
/// Reads the flow only to say early that a link is used or expired; writes nothing.
#[utoipa::path(get, path = "/oauth/authorize/{id}", tag = "pages", params(("id" = String, Path)),
    responses((status = 200, description = "the popup's page; it asks its opener for the proof", content_type = "text/html", body = String),
              (status = 410, description = "a used, expired or unknown link", content_type = "text/html", body = String),
              (status = 429, description = "rate limited", body = plugboard_shared::ErrorBody),
              (status = 503, description = "briefly unavailable", body = plugboard_shared::ErrorBody)))]
pub async fn authorize(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    // Flow ids are UUIDs: anything else is no link of ours, and is never looked up (this page has no JSON edge).
    if uuid::Uuid::parse_str(&id).is_err() {
        return unusable(&Look::default(), crate::connect::authorization_code::LINK_USED);
    }
    let checked = app.connections.check_authorize_link(&id).await;
    let (look, _) = look_of_flow(&app, &id).await;
    match checked {
        Ok(Some(same_tab)) => ask(&id, &same_tab, &look),
        Ok(None) => opening(&id, &look),
        Err(ConnectError::NotFound(message)) => unusable(&look, &message),
        Err(e) => {
            tracing::warn!(error = %e, "authorize page");
            plain_page(StatusCode::SERVICE_UNAVAILABLE, &look, Mark::Failed, "Briefly unavailable", "Plugboard could not check this sign-in just now.", "Try again in a moment.")
        }
    }
}

/// Body of `POST /oauth/authorize/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Proof {
    /// The `proof` from `POST /v1/widget/oauth/{platform}/start`, handed over by the widget.
    pub proof: String,
    /// A same-tab sign-in of `@withone/auth`: the `state` the package put on this page's URL,
    /// `<anything>~<base64url of the host page's URL>`; the page it names is where the browser comes back to.
    #[serde(default)]
    pub state: Option<String>,
}

/// Answer of `POST /oauth/authorize/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Proceed {
    /// The provider's authorization URL (RFC 6749 §4.1.1) to navigate to.
    pub location: String,
}

/// `POST /oauth/authorize/{id}` `{proof}` → `{location}` and the cookie binding the flow to this browser;
/// 403 `flow_not_proven` for a wrong proof, 404 for a used, expired or unknown flow. Only the first good proof
/// binds (the flow can be sent to the provider once).
#[utoipa::path(post, path = "/oauth/authorize/{id}", tag = "pages", params(("id" = String, Path)), request_body = Proof,
    responses((status = 200, description = "where to go (and the binding cookie)", body = Proceed), crate::http::openapi::ErrorResponses))]
pub async fn prove(State(app): State<AppState>, Path(id): Path<String>, headers: HeaderMap, JsonBody(body): JsonBody<Proof>) -> Result<Response, ApiError> {
    // Only the authorize page's own script may post here: a JSON body (which another site cannot send without a
    // CORS preflight, and gets none) from this very origin (`Origin`, `Sec-Fetch-Site` where the browser sends them).
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let own = app.own_origin();
    let origin_ok = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_none_or(|o| o == own);
    let site_ok = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_none_or(|s| s == "same-origin");
    if !json {
        return Err(ApiError::bad_request("json_required", "send the proof as application/json"));
    }
    if !origin_ok || !site_ok {
        return Err(ApiError::Denied { code: "cross_site", message: "only Plugboard's own authorize page may send this".into() });
    }
    let (location, binding) = app.connections.begin_redirect(&id, &body.proof, body.state.as_deref()).await?;
    let cookie = binding_set_cookie(&app.public_url, &id, &binding);
    let mut res = Json(Proceed { location }).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /oauth/callback?code&state[&iss][&error&error_description]`.
#[utoipa::path(get, path = "/oauth/callback", tag = "pages",
    params(("code" = Option<String>, Query), ("state" = Option<String>, Query), ("iss" = Option<String>, Query),
           ("error" = Option<String>, Query), ("error_description" = Option<String>, Query)),
    responses((status = 200, description = "connected", content_type = "text/html", body = String),
              (status = 303, description = "a same-tab sign-in of an auth link with a redirectUrl: there, with the outcome"),
              (status = 400, description = "refused: the page says why", content_type = "text/html", body = String),
              (status = 403, content_type = "text/html", body = String), (status = 404, content_type = "text/html", body = String),
              (status = 409, content_type = "text/html", body = String), (status = 410, content_type = "text/html", body = String),
              (status = 422, content_type = "text/html", body = String), (status = 500, content_type = "text/html", body = String),
              (status = 502, content_type = "text/html", body = String), (status = 503, content_type = "text/html", body = String),
              (status = 429, description = "rate limited", body = plugboard_shared::ErrorBody)))]
pub async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // What the address bar keeps once the page's script has taken the spent answer out of it: a reload lands here.
    if query.as_deref().is_none_or(str::is_empty) {
        return plain_page(
            StatusCode::BAD_REQUEST,
            &Look::default(),
            Mark::Info,
            "Nothing to finish here",
            "This page has done its work, or it was opened without a sign-in.",
            "Go back to the app: it shows whether your account is connected.",
        );
    }
    let mut q = CallbackQuery::parse(query.as_deref().unwrap_or_default());
    // @withone/auth's same-tab sign-in appends `~<base64url of the host page's URL>` to the state before sending
    // its tab to the provider (`OAUTH_REDIRECT`); ours never holds `~`. The flow is found by our part alone.
    let seed_back = q.state.as_deref().and_then(|s| s.split_once('~')).map(|(ours, theirs)| (ours.to_owned(), theirs.to_owned()));
    let seed_back = seed_back.map(|(ours, theirs)| {
        q.state = Some(ours);
        seed_return_url(&theirs).unwrap_or_default()
    });
    // What the host page may learn of a failure from its own URL: one of a few fixed codes (embed.js words them),
    // never text that whoever wrote a link could choose.
    let code = match q.error.as_deref() {
        Some("access_denied") => "access_denied",
        _ => "failed",
    };
    let secure = app.public_url.starts_with("https://");
    // Over https only the `__Host-` cookie counts: no sibling subdomain can set one (cookie tossing).
    let binding = |name: &str| if secure { cookie(&headers, &format!("__Host-{name}")) } else { cookie(&headers, name) };
    let done = app.connections.finish_callback(&q, seed_back.as_deref(), binding).await;
    respond(&app, done, seed_back.is_some(), code).await
}

/// The page (or redirect) a sign-in ends on, or its next question; `seed`: the flow's return page was named by
/// `@withone/auth`'s state; `code`: what the host page may learn of a failure.
async fn respond(app: &AppState, done: Result<Finished, CallbackFailure>, seed: bool, code: &str) -> Response {
    match done {
        // The grant reaches several places: the end user picks one, on this page.
        Ok(Finished { outcome: Outcome::Choose(question), flow_id, return_to, redirect_url, display, .. }) => {
            let (look, _) = look_of_flow(app, &flow_id).await;
            let onward = return_to.or(redirect_url.filter(|_| display == FlowDisplay::Page));
            choosing(&look, &flow_id, &question, onward.as_deref())
        }
        // @withone/auth's same-tab sign-in: back to the host page, whose package opens the widget with our state.
        // (`finish_callback` made sure the page is the one registered and kept when the tab left.)
        Ok(Finished { return_to: Some(back), outcome: Outcome::Parked(result), flow_id, .. }) if seed => {
            seed_return(&back, &[("one_auth_state", &format!("{flow_id}.{result}"))])
        }
        // The embedded widget's same-tab fallback: back to the host page, which claims the parked result.
        Ok(Finished { return_to: Some(back), outcome: Outcome::Parked(result), flow_id, .. }) => {
            return_redirect(&back, &[("plugboard_flow", &flow_id), ("plugboard_result", &result)])
        }
        Ok(done) => match (&done.display, &done.redirect_url, &done.outcome) {
            (FlowDisplay::Page, Some(url), Outcome::Saved(key)) => outcome_redirect(url, &[("plugboard_status", "connected"), ("connection_key", key)]),
            _ => {
                let (look, window) = look_of_flow(app, &done.flow_id).await;
                ending_page(&look, window, Some(&done.flow_id), Ending::Connected)
            }
        },
        Err(f) => {
            let status = super::error::sign_in_status(f.kind);
            match (&f.display, &f.redirect_url, &f.return_to) {
                (_, _, Some(back)) if seed => seed_return(
                    back,
                    &[("one_auth_state", f.flow_id.as_deref().unwrap_or_default()), ("one_auth_error", &f.message)],
                ),
                (_, _, Some(back)) => {
                    let code = if f.kind == Failure::Expired { "expired" } else { code };
                    return_redirect(back, &[("plugboard_flow", f.flow_id.as_deref().unwrap_or_default()), ("plugboard_error", code)])
                }
                (FlowDisplay::Page, Some(url), _) => outcome_redirect(url, &[("plugboard_status", "failed"), ("plugboard_error", &f.message)]),
                _ => {
                    let (look, window) = match &f.flow_id {
                        Some(id) => look_of_flow(app, id).await,
                        None => (Look::default(), Window::Unknown),
                    };
                    let heading = failure_heading(status, code == "access_denied", look.provider.as_ref().map(|(name, _)| name.as_str()));
                    ending_page(&look, window, f.flow_id.as_deref(), Ending::Failed { status, heading, message: &f.message })
                }
            }
        }
    }
}

/// The form of the page that asks which place to connect (see [`choosing`]).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    /// The flow's id.
    pub flow: String,
    /// The page's one-time capability.
    pub token: String,
    /// The id of the place picked, one the provider listed. Absent when nothing was picked.
    #[serde(default)]
    pub choice: Option<String>,
}

/// `POST /oauth/callback/choose` (a form of the choice page): connects the place the end user picked, then ends
/// like the callback would have (the page says connected, or back to the host page). Needs the page's one-time
/// token and this browser's binding cookie (sent for paths under `/oauth/callback`); from this origin only.
#[utoipa::path(post, path = "/oauth/callback/choose", tag = "pages", request_body(content = Choice, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "connected, or the next question", content_type = "text/html", body = String),
              (status = 303, description = "a same-tab sign-in: back to the host page, with the outcome"),
              (status = 400, description = "no pick, or one the provider did not list: the sign-in is voided", content_type = "text/html", body = String),
              (status = 403, description = "another browser, or another site's form", content_type = "text/html", body = String),
              (status = 410, description = "already answered, or too late", content_type = "text/html", body = String),
              (status = 429, description = "rate limited", body = plugboard_shared::ErrorBody)))]
pub async fn choose(State(app): State<AppState>, headers: HeaderMap, body: Result<axum::Form<Choice>, axum::extract::rejection::FormRejection>) -> Response {
    // The page's `no-referrer` makes browsers send `Origin: null` with its form; `Sec-Fetch-Site` still tells. (The
    // token and the binding cookie, which is `SameSite=Lax`, are what a foreign form cannot have anyway.)
    let own = app.own_origin();
    let origin_ok = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_none_or(|o| o == own || o == "null");
    let site_ok = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_none_or(|s| s == "same-origin");
    let refuse = |status, heading: &str, lead: &str| plain_page(status, &Look::default(), Mark::Failed, heading, lead, "Start again from the app.");
    if !origin_ok || !site_ok {
        return refuse(StatusCode::FORBIDDEN, "This choice came from another site", "Only Plugboard's own page may send it: nothing was connected.");
    }
    let Some(axum::Form(form)) = body.ok().filter(|f| uuid::Uuid::parse_str(&f.flow).is_ok()) else {
        return refuse(StatusCode::BAD_REQUEST, "Nothing to finish here", "This page was sent without a sign-in to finish.");
    };
    let Some(picked) = form.choice.filter(|c| !c.is_empty()) else {
        let (look, _) = look_of_flow(&app, &form.flow).await;
        return plain_page(StatusCode::BAD_REQUEST, &look, Mark::Info, "Nothing was picked", "Go back, choose one, and connect it.", "Your browser's Back button returns to the list.");
    };
    let secure = app.public_url.starts_with("https://");
    let binding = |name: &str| if secure { cookie(&headers, &format!("__Host-{name}")) } else { cookie(&headers, name) };
    // Whether the page to come back to was named by @withone/auth's state (it expects its own parameters back).
    let seed = app.store.get_flow(&form.flow).await.ok().flatten().is_some_and(|f| f.return_in_state);
    let done = app.connections.choose(&form.flow, &form.token, &picked, binding).await;
    respond(&app, done, seed, "failed").await
}

/// 303 back to the host page (its origin was checked when the flow started) with the outcome in the fragment,
/// which never reaches a server log or a `Referer`; `embed.js` reads it and removes it.
fn return_redirect(back: &str, outcome: &[(&str, &str)]) -> Response {
    match url::Url::parse(back) {
        Ok(mut u) => {
            // After the page's own fragment (a hash route stays as it was); embed.js cuts ours off again.
            let ours = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(outcome).finish();
            let fragment = match u.fragment().filter(|f| !f.is_empty()) {
                Some(theirs) => format!("{theirs}&{ours}"),
                None => ours,
            };
            u.set_fragment(Some(&fragment));
            Redirect::to(u.as_str()).into_response()
        }
        Err(_) => page_gone(),
    }
}

/// 303 back to the host page of `@withone/auth` with `one_auth_state` (and `one_auth_error`) in the query, where
/// the package looks (it then opens the widget with `checkState`). `page` is exactly the registered page the
/// package named when the tab left, and nothing else. The state alone cannot finish anything: the widget's claim
/// also needs the flow's proof, which never left the widget's storage.
fn seed_return(page: &str, outcome: &[(&str, &str)]) -> Response {
    let Ok(mut target) = url::Url::parse(page) else { return page_gone() };
    let kept: Vec<(String, String)> =
        target.query_pairs().filter(|(k, _)| k != "one_auth_state" && k != "one_auth_error").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    target.set_query(None);
    if !kept.is_empty() || !outcome.is_empty() {
        target.query_pairs_mut().extend_pairs(kept).extend_pairs(outcome);
    }
    Redirect::to(target.as_str()).into_response()
}

/// 303 to an auth link's `redirectUrl` (checked against the project's allowed origins when the link was made)
/// with the outcome added to its query; never a secret (the connection key is what the host stores anyway).
fn outcome_redirect(url: &str, outcome: &[(&str, &str)]) -> Response {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(outcome);
            Redirect::to(u.as_str()).into_response()
        }
        Err(_) => page_gone(),
    }
}

/// `GET /oauth/authorize.js`: the authorize page's only script.
#[utoipa::path(get, path = "/oauth/authorize.js", tag = "pages", responses((status = 200, content_type = "text/javascript", body = String)))]
pub async fn authorize_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], AUTHORIZE_JS)
        .into_response()
}

/// `GET /oauth/callback.js`: the callback page's only script (no inline script, so the page's CSP stays strict).
#[utoipa::path(get, path = "/oauth/callback.js", tag = "pages", responses((status = 200, content_type = "text/javascript", body = String)))]
pub async fn callback_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CALLBACK_JS)
        .into_response()
}
