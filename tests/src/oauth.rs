//! The OAuth sign-in as the widget, its popup (or same tab) and the user go through it, against the mock provider or
//! any other: start, the authorize link and its proof, the provider's consent, the callback, the flow's outcome.

use crate::{http, session_token, Server, TestApp};

/// Runs the whole OAuth flow of `mock-oauth` as the popup and the user would (start, authorize, consent, callback);
/// answers the connection record.
pub async fn connect_oauth(app: &TestApp, identity: &str) -> plugboard_shared::ConnectionRecord {
    let out = oauth_connect(app, identity, "mock-oauth", None, mock_consent).await;
    assert_eq!(out.status, 200, "callback: {}", out.page);
    out.connection()
}

/// The user allows access on the mock provider's consent page; answers where the provider sends the browser back.
pub async fn mock_consent(provider_url: String) -> String {
    let c = http();
    let page = c.get(&provider_url).send().await.expect("consent page").text().await.expect("html");
    let request = page.split(r#"name="request" value=""#).nth(1).and_then(|s| s.split('"').next()).expect("consent form");
    let origin = &provider_url[..provider_url.find("/authorize").expect("provider authorize URL")];
    let res = c
        .post(format!("{origin}/authorize/decision"))
        .form(&[("request", request), ("decision", "allow")])
        .send()
        .await
        .expect("decision");
    res.headers()["location"].to_str().expect("redirect back").to_owned()
}

/// What the user and the host see of one OAuth connect.
#[derive(Debug)]
pub struct OAuthOutcome {
    /// The popup's callback page: HTTP status and text.
    pub status: u16,
    pub page: String,
    /// What the widget's poll of the flow answers.
    pub flow: plugboard_shared::FlowState,
    /// The session token the flow ran under.
    pub token: String,
}

impl OAuthOutcome {
    /// The connection record, when the flow connected.
    pub fn connection(&self) -> plugboard_shared::ConnectionRecord {
        self.flow.connection.clone().unwrap_or_else(|| panic!("the flow did not connect: {} {}", self.status, self.page))
    }
}

/// Runs an OAuth connect of `platform` as the widget, the popup and the user would: start (optionally as a
/// reconnect of `reconnect`), open the authorize link, let `provider` take the user through the provider (it gets
/// the provider's authorization URL and answers where the provider sends the browser back), then the callback.
pub async fn oauth_connect(
    app: &impl Server,
    identity: &str,
    platform: &str,
    reconnect: Option<&str>,
    provider: impl AsyncFnOnce(String) -> String,
) -> OAuthOutcome {
    let token = session_token(app, identity).await;
    let c = http();
    let body = match reconnect {
        Some(key) => serde_json::json!({ "reconnect": key }),
        None => serde_json::json!({}),
    };
    let res = c.post(format!("{}/v1/widget/oauth/{platform}/start", app.url())).bearer_auth(&token).json(&body).send().await.expect("start");
    assert_eq!(res.status(), 200, "start {platform}");
    let start: plugboard_shared::OAuthStart = res.json().await.expect("start answer");
    let (provider_url, cookie) = popup_authorize(&start).await;
    let back = provider(provider_url).await;
    let res = c.get(back).header("cookie", cookie).send().await.expect("callback");
    let status = res.status().as_u16();
    let page = res.text().await.expect("callback page");
    let flow: plugboard_shared::FlowState = c
        .get(format!("{}/v1/widget/oauth/flows/{}", app.url(), start.flow_id))
        .bearer_auth(&token)
        .send()
        .await
        .expect("flow")
        .json()
        .await
        .expect("flow state");
    OAuthOutcome { status, page, flow, token }
}

/// `POST /v1/widget/oauth/{platform}/start` with the session `token`, as the widget does; answers the flow's
/// link and proof.
pub async fn start_oauth(app: &impl Server, token: &str, platform: &str) -> plugboard_shared::OAuthStart {
    let res = http().post(format!("{}/v1/widget/oauth/{platform}/start", app.url())).bearer_auth(token).json(&serde_json::json!({})).send().await.expect("start");
    assert_eq!(res.status(), 200, "start {platform}");
    res.json().await.expect("start answer")
}

/// What the popup's authorize page does once its opener (the widget) hands it the flow's proof: `POST` the proof
/// to the authorize link; answers the provider URL and the `name=value` of the cookie binding the flow.
pub async fn popup_authorize(start: &plugboard_shared::OAuthStart) -> (String, String) {
    let res = http().post(&start.authorize_url).json(&serde_json::json!({ "proof": start.proof })).send().await.expect("authorize");
    assert_eq!(res.status(), 200, "the proof is accepted");
    let cookie = res.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("cookie pair").to_owned();
    let body: serde_json::Value = res.json().await.expect("authorize answer");
    (body["location"].as_str().expect("location").to_owned(), cookie)
}

/// A provider that grants at once: the authorization URL redirects straight back; answers where to.
pub async fn follow_redirect(url: String) -> String {
    let res = http().get(&url).send().await.expect("provider");
    assert!(res.status().is_redirection(), "the provider redirects back: {}", res.status());
    res.headers()["location"].to_str().expect("location").to_owned()
}

/// Starts a same-tab OAuth sign-in of `mock-oauth` for the session `token`, as a widget on a page of `origin` would,
/// coming back to `return_to` (with `in_state`, `@withone/auth`'s mode: the origin's root, the package naming the
/// page later in `state`); answers the server's response as it is.
pub async fn start_same_tab(app: &impl Server, token: &str, origin: &str, return_to: &str, in_state: bool) -> reqwest::Response {
    http()
        .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url()))
        .bearer_auth(token)
        .header("Plugboard-Origin", origin)
        .json(&serde_json::json!({ "display": "page", "returnTo": return_to, "returnInState": in_state }))
        .send()
        .await
        .expect("an answer")
}
