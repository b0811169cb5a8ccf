//! What each sign-in page says (the authorize page, the same-tab question, the callback's result and error
//! pages): one heading, what happened, and one true way forward for where the page is shown; drawn in
//! [`super::pages`]' look. The routes that answer them are in [`super::oauth_pages`].

use axum::{http::StatusCode, response::Response};

use super::{
    pages::{escape, shown, text, Look, Mark, Page, LOCK},
    AppState,
};
use crate::{
    connect::callback::{Question, SameTabAsk},
    store::{FlowDisplay, LinkKind},
};

/// Where a page is shown, as far as the server knows: what it may promise about closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
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
pub(super) async fn look_of_flow(app: &AppState, flow_id: &str) -> (Look, Window) {
    let Ok(Some(flow)) = app.store.get_flow(flow_id).await else { return (Look::default(), Window::Unknown) };
    let provider = app.projects.view(&flow.project_id, flow.environment).await.ok().and_then(|v| v.catalog.get(&flow.platform).map(|e| e.name.clone()));
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
pub(super) enum Ending<'a> {
    Connected,
    Failed { status: StatusCode, heading: String, message: &'a str },
}

/// The page a sign-in ends on when it does not go back to a host page: one heading, what happened, and one true
/// way forward for where it is shown (closes by itself, Close, back to the app, the link again).
pub(super) fn ending_page(look: &Look, window: Window, flow_id: Option<&str>, ending: Ending<'_>) -> Response {
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
    Page { status, look, mark, title: &title, body, data: format!("{flow}{data}"), script: "/oauth/callback.js", connect: false, form: None }.render()
}

/// A page that only says what happened and the way back (`/oauth/callback` without its answer, a return page
/// that will not parse), with the Close button where the browser allows it.
pub(super) fn plain_page(status: StatusCode, look: &Look, mark: Mark, heading: &str, lead: &str, next: &str) -> Response {
    let body = format!(
        r#"<h1 tabindex="-1">{}</h1><p class="pb-lead">{}</p><p id="pb-status" class="pb-muted" role="status">{}</p>{}"#,
        text(heading),
        text(lead),
        text(next),
        CLOSE_BUTTON,
    );
    Page { status, look, mark, title: heading, body, data: String::new(), script: "/oauth/callback.js", connect: false, form: None }.render()
}

/// The authorize page of a popup sign-in: who asks to connect what, while its script fetches the proof.
pub(super) fn opening(flow_id: &str, look: &Look) -> Response {
    let company = text(look.company_or("Your app"));
    let provider = text(look.provider_or("your account"));
    let title = format!("{} wants to connect to {}", look.company_or("Your app"), look.provider_or("your account"));
    let body = format!(
        r#"<h1 tabindex="-1">{company} wants to connect to {provider}</h1>
<p id="pb-status" class="pb-muted" role="status">Opening {provider}’s sign-in page…</p>
<p class="pb-note">{LOCK}<span>You sign in on {provider}’s own page. {company} never sees your password.</span></p>{}"#,
        CLOSE_BUTTON,
    );
    Page { status: StatusCode::OK, look, mark: Mark::Pending, title: &title, body, data: format!(r#" data-flow="{}""#, escape(flow_id)), script: "/oauth/authorize.js", connect: true, form: None }
        .render()
}

/// The authorize page of a same-tab sign-in: it names who asks to connect what, and goes on only on a click.
pub(super) fn ask(flow_id: &str, ask: &SameTabAsk, look: &Look) -> Response {
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
    Page { status: StatusCode::OK, look, mark: Mark::Ask, title: &title, body, data: format!(r#" data-flow="{}" data-same-tab="1""#, escape(flow_id)), script: "/oauth/authorize.js", connect: true, form: None }
        .render()
}

/// A used, expired or unknown sign-in link (410).
pub(super) fn unusable(look: &Look, message: &str) -> Response {
    let body = format!(
        r#"<h1 tabindex="-1">This sign-in link cannot be used</h1><p id="pb-status" class="pb-lead" role="status">{}</p>{}"#,
        text(message),
        CLOSE_BUTTON,
    );
    Page { status: StatusCode::GONE, look, mark: Mark::Failed, title: "This sign-in link cannot be used", body, data: String::new(), script: "/oauth/callback.js", connect: false, form: None }
        .render()
}

/// The heading of a failed sign-in's page: what happened, in plain words.
pub(super) fn failure_heading(status: StatusCode, declined: bool, provider: Option<&str>) -> String {
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

/// A same-tab sign-in whose page to come back to will not parse (it was checked when the flow started).
pub(super) fn page_gone() -> Response {
    plain_page(StatusCode::OK, &Look::default(), Mark::Info, "Sign-in finished", "This sign-in has finished.", "Go back to the app: it shows whether your account is connected.")
}

/// The question of a sign-in whose grant reaches several places (Atlassian sites, Xero organisations): each by
/// name and address, as radio buttons (arrow keys move among them), and one button that connects the one picked.
/// The form posts the flow, its one-time `token` and the pick to `POST /oauth/callback/choose` (which also needs
/// the browser's binding cookie, sent for that path).
/// `onward`: the host page the sign-in ends on after the choice (a same-tab flow's page, an auth link's
/// `redirectUrl`), whose origin the form's redirect may reach.
pub(super) fn choosing(look: &Look, flow_id: &str, question: &Question, onward: Option<&str>) -> Response {
    let provider = text(look.provider_or("your account"));
    let company = text(look.company_or("the app"));
    let noun = text(&question.noun);
    let title = format!("Choose your {} {}", look.provider_or(""), question.noun).replace("  ", " ");
    let options: String = question
        .choices
        .iter()
        .map(|c| {
            let address = c.url.as_deref().map(|u| format!("<small>{}</small>", text(u))).unwrap_or_default();
            format!(
                r#"<label class="pb-choice"><input type="radio" name="choice" value="{}" required><span><strong>{}</strong>{address}</span></label>"#,
                escape(&c.id),
                text(&c.name),
            )
        })
        .collect();
    let body = format!(
        r#"<h1 tabindex="-1">{heading}</h1>
<p class="pb-lead">Your {provider} sign-in reaches {count} {noun}s. Choose the one {company} should use.</p>
<form method="post" action="/oauth/callback/choose"><input type="hidden" name="flow" value="{flow}"><input type="hidden" name="token" value="{token}">
<fieldset class="pb-choices"><legend>{Noun}s you can connect</legend>{options}</fieldset>
<div class="pb-actions"><button type="submit" class="pb-primary">Connect this {noun}</button></div></form>
<p class="pb-note">{LOCK}<span>Your sign-in grants {company} the other {noun}s too; it uses this one unless it asks for another.</span></p>"#,
        heading = text(&title),
        count = question.choices.len(),
        flow = escape(flow_id),
        token = escape(&question.token),
        Noun = capitalised(&noun),
    );
    let onward = onward.and_then(|u| url::Url::parse(u).ok()).filter(|u| matches!(u.scheme(), "http" | "https")).map(|u| u.origin().ascii_serialization());
    let form = match onward {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    Page { status: StatusCode::OK, look, mark: Mark::Ask, title: &title, body, data: String::new(), script: "/oauth/callback.js", connect: false, form: Some(form) }.render()
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
