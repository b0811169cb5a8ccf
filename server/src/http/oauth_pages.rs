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
    pages::{escape, shown, text, Look, Mark, Page, LOCK},
    AppState,
};
use crate::{
    connect::{
        oauth::{binding_cookie, seed_return_url, CallbackQuery, Finished, Outcome, SameTabAsk, FLOW_TTL_SECS},
        ConnectError,
    },
    store::{FlowDisplay, LinkKind},
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

/// Where a page is shown, as far as the server knows: what it may promise about closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    /// The widget's sign-in window (a popup its script opened): it can close itself.
    Popup,
    /// A hosted session's window, opened by `connect.js`, which closes it once connected.
    Hosted,
    /// An auth link's tab, opened from mail or chat: no script may close it.
    Tab,
    /// Not known (no flow): the page's script offers Close where the browser would allow it.
    Unknown,
}

/// The header and window of the pages of flow `flow_id`, from the flow, its project and its auth link; what
/// cannot be read is left out (the page still says what happened).
async fn look_of_flow(app: &AppState, flow_id: &str) -> (Look, Window) {
    let Ok(Some(flow)) = app.store.get_flow(flow_id).await else { return (Look::default(), Window::Unknown) };
    let provider = app.projects.view(&flow.project_id).await.ok().and_then(|v| v.catalog.get(&flow.platform).map(|e| e.name.clone()));
    let provider = provider.map(|name| (name, super::assets::image_url(&app.public_url, &flow.platform)));
    let brand = match app.projects.brand(&flow.project_id).await {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in page without its project's name");
            None
        }
    };
    let link = match &flow.link_hash {
        Some(hash) => app.store.find_link(hash).await.ok().flatten(),
        None => None,
    };
    let end_user = link.as_ref().and_then(|l| l.end_user_name.clone().or_else(|| l.end_user_username.clone()));
    let window = match (flow.display, link.map(|l| l.kind)) {
        (FlowDisplay::Popup, _) => Window::Popup,
        (FlowDisplay::Page, Some(LinkKind::Hosted)) => Window::Hosted,
        (FlowDisplay::Page, Some(LinkKind::Link)) => Window::Tab,
        (FlowDisplay::Page, None) => Window::Unknown,
    };
    (Look { brand, provider, end_user }, window)
}

/// The Close button, hidden until the page's script knows the browser would let it close the window (or the
/// server knows the page is in a sign-in window: `data-offer`).
const CLOSE_BUTTON: &str = r#"<div class="pb-actions"><button type="button" id="pb-close" class="pb-primary" hidden>Close window</button></div>"#;

/// What a callback ended with, for its page.
enum Ending<'a> {
    Connected,
    Failed { status: StatusCode, heading: String, message: &'a str },
}

/// The page a sign-in ends on when it does not go back to a host page: one heading, what happened, and one true
/// way forward for where it is shown (closes by itself, Close, back to the app, the link again).
fn ending_page(look: &Look, window: Window, flow_id: Option<&str>, ending: Ending) -> Response {
    let company = text(look.company_or("the app"));
    let provider = text(look.provider_or("your"));
    let for_whom = look.end_user.as_deref().map(|u| format!(" for <bdi>{}</bdi>", text(u))).unwrap_or_default();
    let closes = matches!(window, Window::Popup | Window::Hosted);
    let (status, mark, title, heading, lead, next, data) = match ending {
        Ending::Connected => {
            let lead = match &look.provider {
                Some(_) => format!("Your {provider} account is now connected to {company}{for_whom}."),
                None => format!("Your account is now connected to {company}{for_whom}."),
            };
            let (next, data) = if closes {
                let data = format!(
                    r#" data-close="1" data-stay="{}" data-refused="{}""#,
                    escape(&format!("Close this window to go back to {}.", look.company_or("the app"))),
                    escape(&format!("Your browser keeps this window open: close it yourself to go back to {}.", look.company_or("the app"))),
                );
                ("This window will close.".to_owned(), data)
            } else {
                ("You can close this tab now.".to_owned(), String::new())
            };
            (StatusCode::OK, Mark::Done, "Connected".to_owned(), "Connected".to_owned(), lead, next, data)
        }
        Ending::Failed { status, heading, message } => {
            // The connect layer ends its messages with the way forward from a sign-in window; the page says its own.
            let (message, later) = match message.strip_suffix(" Start again from the app in a moment.") {
                Some(m) => (m, " in a moment"),
                None => (message.strip_suffix(" Start again from the app.").unwrap_or(message), ""),
            };
            let next = match window {
                Window::Tab => "Open the link you were sent again to try once more.".to_owned(),
                _ => format!("Start again from {}{later}.", look.company_or("the app")),
            };
            let offer = if window == Window::Popup || window == Window::Hosted { r#" data-offer="1""# } else { "" };
            (status, Mark::Failed, heading.clone(), text(&heading), text(message), next, offer.to_owned())
        }
    };
    let flow = match (flow_id, window) {
        (Some(id), Window::Popup) => format!(r#" data-flow="{}" data-status="{}""#, escape(id), if mark == Mark::Done { "connected" } else { "failed" }),
        _ => String::new(),
    };
    let button = if window == Window::Tab { "" } else { CLOSE_BUTTON };
    let body = format!(
        r#"<h1 tabindex="-1">{heading}</h1><p class="pb-lead">{lead}</p><p id="pb-status" class="pb-muted" role="status">{next}</p>{button}"#,
        next = text(&next),
    );
    Page { status, look, mark, title: &title, body, data: format!("{flow}{data}"), script: "/oauth/callback.js", connect: false }.render()
}

/// A page that only says what happened and the way back (`/oauth/callback` without its answer, a return page
/// that will not parse), with the Close button where the browser allows it.
fn plain_page(status: StatusCode, look: &Look, mark: Mark, heading: &str, lead: &str, next: &str) -> Response {
    let body = format!(
        r#"<h1 tabindex="-1">{}</h1><p class="pb-lead">{}</p><p id="pb-status" class="pb-muted" role="status">{}</p>{}"#,
        text(heading),
        text(lead),
        text(next),
        CLOSE_BUTTON,
    );
    Page { status, look, mark, title: heading, body, data: String::new(), script: "/oauth/callback.js", connect: false }.render()
}

/// The authorize page of a popup sign-in: who asks to connect what, while its script fetches the proof.
fn opening(flow_id: &str, look: &Look) -> Response {
    let company = text(look.company_or("Your app"));
    let provider = text(look.provider_or("your account"));
    let title = format!("{} wants to connect to {}", look.company_or("Your app"), look.provider_or("your account"));
    let body = format!(
        r#"<h1 tabindex="-1">{company} wants to connect to {provider}</h1>
<p id="pb-status" class="pb-muted" role="status">Opening {provider}’s sign-in page…</p>
<p class="pb-note">{LOCK}<span>You sign in on {provider}’s own page. {company} never sees your password.</span></p>{}"#,
        CLOSE_BUTTON,
    );
    Page { status: StatusCode::OK, look, mark: Mark::Pending, title: &title, body, data: format!(r#" data-flow="{}""#, escape(flow_id)), script: "/oauth/authorize.js", connect: true }
        .render()
}

/// The authorize page of a same-tab sign-in: it names who asks to connect what, and goes on only on a click.
fn ask(flow_id: &str, ask: &SameTabAsk, look: &Look) -> Response {
    let app = look.company_or(&ask.app);
    let title = format!("Connect {} to {} as {}?", ask.provider, app, shown(&ask.user));
    let body = format!(
        r#"<h1 tabindex="-1">Connect {provider} to {app} as <strong><bdi>{user}</bdi></strong>?</h1>
<p class="pb-lead">{app} will be able to use your {provider} account for its user <strong><bdi>{user}</bdi></strong>.</p>
<div class="pb-actions"><button type="button" class="pb-primary" id="continue">Continue to {provider}</button><button type="button" id="cancel">Cancel</button></div>
<p id="pb-status" class="pb-muted" role="status" aria-live="polite"></p>
<p class="pb-note">{LOCK}<span>Go on only if you started this in {app} yourself. If the link came from someone else, cancel and close this tab.</span></p>"#,
        provider = text(&ask.provider),
        app = text(app),
        user = text(&ask.user),
    );
    Page { status: StatusCode::OK, look, mark: Mark::Ask, title: &title, body, data: format!(r#" data-flow="{}" data-same-tab="1""#, escape(flow_id)), script: "/oauth/authorize.js", connect: true }
        .render()
}

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
        return unusable(&Look::default(), crate::connect::oauth::LINK_USED);
    }
    let checked = app.connector.check_authorize_link(&id).await;
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

/// A used, expired or unknown sign-in link (410).
fn unusable(look: &Look, message: &str) -> Response {
    let body = format!(
        r#"<h1 tabindex="-1">This sign-in link cannot be used</h1><p id="pb-status" class="pb-lead" role="status">{}</p>{}"#,
        text(message),
        CLOSE_BUTTON,
    );
    Page { status: StatusCode::GONE, look, mark: Mark::Failed, title: "This sign-in link cannot be used", body, data: String::new(), script: "/oauth/callback.js", connect: false }
        .render()
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
    let (location, binding) = app.connector.begin_redirect(&id, &body.proof, body.state.as_deref()).await?;
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
            Mark::Done,
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
    match app.connector.finish_callback(&q, seed_back.as_deref(), binding).await {
        // @withone/auth's same-tab sign-in: back to the host page, whose package opens the widget with our state.
        // (`finish_callback` made sure the page is the one registered and kept when the tab left.)
        Ok(Finished { return_to: Some(back), outcome: Outcome::Parked(result), flow_id, .. }) if seed_back.is_some() => {
            seed_return(&back, &[("one_auth_state", &format!("{flow_id}.{result}"))])
        }
        // The embedded widget's same-tab fallback: back to the host page, which claims the parked result.
        Ok(Finished { return_to: Some(back), outcome: Outcome::Parked(result), flow_id, .. }) => {
            return_redirect(&back, &[("plugboard_flow", &flow_id), ("plugboard_result", &result)])
        }
        Ok(done) => match (&done.display, &done.redirect_url, &done.outcome) {
            (FlowDisplay::Page, Some(url), Outcome::Saved(key)) => outcome_redirect(url, &[("plugboard_status", "connected"), ("connection_key", key)]),
            _ => {
                let (look, window) = look_of_flow(&app, &done.flow_id).await;
                ending_page(&look, window, Some(&done.flow_id), Ending::Connected)
            }
        },
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            match (&f.display, &f.redirect_url, &f.return_to) {
                (_, _, Some(back)) if seed_back.is_some() => seed_return(
                    back,
                    &[("one_auth_state", f.flow_id.as_deref().unwrap_or_default()), ("one_auth_error", &f.message)],
                ),
                (_, _, Some(back)) => {
                    let code = if f.status == 410 { "expired" } else { code };
                    return_redirect(back, &[("plugboard_flow", f.flow_id.as_deref().unwrap_or_default()), ("plugboard_error", code)])
                }
                (FlowDisplay::Page, Some(url), _) => outcome_redirect(url, &[("plugboard_status", "failed"), ("plugboard_error", &f.message)]),
                _ => {
                    let (look, window) = match &f.flow_id {
                        Some(id) => look_of_flow(&app, id).await,
                        None => (Look::default(), Window::Unknown),
                    };
                    let heading = failure_heading(status, code == "access_denied", look.provider.as_ref().map(|(name, _)| name.as_str()));
                    ending_page(&look, window, f.flow_id.as_deref(), Ending::Failed { status, heading, message: &f.message })
                }
            }
        }
    }
}

/// The heading of a failed sign-in's page: what happened, in plain words.
fn failure_heading(status: StatusCode, declined: bool, provider: Option<&str>) -> String {
    match status.as_u16() {
        _ if declined => "Nothing was connected".into(),
        403 => "This sign-in belongs to another window".into(),
        409 => "This sign-in has already ended".into(),
        410 => "This sign-in expired".into(),
        503 => "Briefly unavailable".into(),
        500 => "Something went wrong".into(),
        _ => match provider {
            Some(p) => format!("Could not connect {p}"),
            None => "Could not connect".into(),
        },
    }
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

/// A same-tab sign-in whose page to come back to will not parse (it was checked when the flow started).
fn page_gone() -> Response {
    plain_page(StatusCode::OK, &Look::default(), Mark::Done, "Sign-in finished", "This sign-in has finished.", "Go back to the app: it shows whether your account is connected.")
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
