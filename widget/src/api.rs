//! The widget's only HTTP client: calls `/v1/widget/*` on its own origin with the session token.

use plugboard_shared::{CategoryCount, ConnectRequest, ErrorBody, FlowStatus, IntegrationDetail, IntegrationsPage, LinkSession, LinkToken, OAuthStart, TokenResponse};
use serde::{de::DeserializeOwned, Deserialize};
use gloo_net::http::{Method, Request, RequestBuilder, Response};
use wasm_bindgen::{JsCast, JsValue};

use crate::js_value::from_value;

/// Human-readable failure, ready to show.
pub type ApiResult<T> = Result<T, String>;

const UNREACHABLE: &str = "Could not reach the server. Check your connection and try again.";
const NOT_UNDERSTOOD: &str = "The server sent an answer the widget does not understand.";
const UNPREPARED: &str = "Could not prepare the request.";

/// `GET /v1/widget/oauth/flows/{id}`; the connection stays a plain JS object, handed on to the host page as is.
#[derive(Deserialize)]
pub struct Flow {
    pub status: FlowStatus,
    pub error: Option<String>,
    #[serde(deserialize_with = "crate::js_value::preserve")]
    pub connection: JsValue,
}

thread_local! {
    /// The host page's origin from the handshake; sent with every call so the server can hold a project to its
    /// allowed origins.
    static HOST_ORIGIN: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// Set when the server says the session is over (401 to a call with a token): the widget's `Ctx::ended`.
    static ENDED: std::cell::Cell<Option<leptos::prelude::RwSignal<bool>>> = const { std::cell::Cell::new(None) };
    /// The connect funnel's state: the session token steps are reported with, the app on screen, whether a
    /// connection was made, and the machine code of the last error the server answered.
    static FUNNEL: std::cell::RefCell<Funnel> = std::cell::RefCell::new(Funnel::default());
}

#[derive(Default)]
struct Funnel {
    token: String,
    platform: String,
    finished: bool,
    last_code: Option<String>,
}

/// Reports one step of connecting to the connect funnel (`POST /v1/widget/events`): `kind` with the app on screen
/// and, for `error`, `code`. Fire and forget: `keepalive` (it outlives the frame when the host page removes it on
/// close), never awaited, its answer ignored.
pub fn report(kind: &str, code: Option<&str>) {
    let (token, platform) = FUNNEL.with(|f| {
        let f = f.borrow();
        (f.token.clone(), f.platform.clone())
    });
    let (Some(window), false) = (web_sys::window(), token.is_empty()) else { return };
    let body = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&body, &"kind".into(), &kind.into());
    if !platform.is_empty() {
        let _ = js_sys::Reflect::set(&body, &"platform".into(), &platform.into());
    }
    if let Some(code) = code {
        let _ = js_sys::Reflect::set(&body, &"code".into(), &code.into());
    }
    let (Ok(json), Ok(headers)) = (js_sys::JSON::stringify(&body), web_sys::Headers::new()) else { return };
    let _ = headers.set("Authorization", &format!("Bearer {token}"));
    let _ = headers.set("Content-Type", "application/json");
    let origin = HOST_ORIGIN.with(|o| o.borrow().clone());
    if !origin.is_empty() {
        let _ = headers.set("Plugboard-Origin", &origin);
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&json);
    let _ = js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    // A failed report is no one's concern: its rejection is caught, not left for the console.
    thread_local! {
        static IGNORE: wasm_bindgen::closure::Closure<dyn FnMut(JsValue)> = wasm_bindgen::closure::Closure::new(|_| {});
    }
    let sent = window.fetch_with_str_and_init("/v1/widget/events", &init);
    IGNORE.with(|ignore| {
        let _ = sent.catch(ignore);
    });
}

/// A session began: steps are reported with its token from now on, starting with `opened`.
pub fn funnel_opened(token: &str) {
    FUNNEL.with(|f| *f.borrow_mut() = Funnel { token: token.to_owned(), ..Funnel::default() });
    report("opened", None);
}

/// The app on screen changed (empty: back on the list); choosing one is reported as `app_chosen`.
pub fn funnel_app(platform: &str) {
    FUNNEL.with(|f| f.borrow_mut().platform = platform.to_owned());
    if !platform.is_empty() {
        report("app_chosen", None);
    }
}

/// A connection was made (`success`).
pub fn funnel_success() {
    FUNNEL.with(|f| f.borrow_mut().finished = true);
    report("success", None);
}

/// Connecting failed (`error`, with the code the server gave, else `connect_failed`).
pub fn funnel_error() {
    let code = FUNNEL.with(|f| f.borrow_mut().last_code.take());
    report("error", Some(code.as_deref().unwrap_or("connect_failed")));
}

/// The widget closes: `closed`, unless a connection was made.
pub fn funnel_closed() {
    if !FUNNEL.with(|f| f.borrow().finished) {
        report("closed", None);
    }
}

fn error_code(code: String) {
    FUNNEL.with(|f| f.borrow_mut().last_code = Some(code));
}

/// What [`call`] sets when the server refuses the session token (revoked, expired).
pub fn on_session_end(ended: leptos::prelude::RwSignal<bool>) {
    ENDED.with(|e| e.set(Some(ended)));
}

/// What the user reads when the session ended.
pub const SESSION_ENDED: &str = "This session has ended. Close this window and open it again from the app.";

pub fn set_host_origin(origin: &str) {
    HOST_ORIGIN.with(|o| *o.borrow_mut() = origin.to_owned());
}

/// A request to Plugboard: the session token (if any) and the host page's origin, `body` as JSON.
fn request(method: Method, token: &str, url: &str, body: Option<&str>) -> Option<Request> {
    let mut req = RequestBuilder::new(url).method(method);
    if !token.is_empty() {
        req = req.header("Authorization", &format!("Bearer {token}"));
        let origin = HOST_ORIGIN.with(|o| o.borrow().clone());
        if !origin.is_empty() {
            req = req.header("Plugboard-Origin", &origin);
        }
    }
    match body {
        Some(body) => req.header("Content-Type", "application/json").body(body).ok(),
        None => req.build().ok(),
    }
}

/// The answer's body, parsed by the browser's JSON parser (much smaller than serde_json in wasm).
async fn body(res: &Response) -> Option<JsValue> {
    js_sys::JSON::parse(&res.text().await.ok()?).ok()
}

/// Sends the request; answers the JSON body of a success, or the server's error message.
async fn call(method: Method, token: &str, url: &str, json: Option<&str>) -> ApiResult<JsValue> {
    let req = request(method, token, url, json).ok_or(UNPREPARED)?;
    let res = req.send().await.map_err(|_| {
        error_code("unreachable".into());
        UNREACHABLE.to_string()
    })?;
    let answer = body(&res).await;
    if res.ok() {
        answer.ok_or_else(|| NOT_UNDERSTOOD.to_string())
    } else if res.status() == 401 && !token.is_empty() {
        if let Some(ended) = ENDED.with(std::cell::Cell::get) {
            leptos::prelude::Set::set(&ended, true);
        }
        Err(SESSION_ENDED.to_string())
    } else {
        Err(match answer.and_then(from_value::<ErrorBody>) {
            Some(body) => {
                error_code(body.code);
                body.error
            }
            None => {
                error_code(format!("http_{}", res.status()));
                format!("The server answered {}.", res.status())
            }
        })
    }
}

async fn get<T: DeserializeOwned>(token: &str, url: &str) -> ApiResult<T> {
    from_value(call(Method::GET, token, url, None).await?).ok_or_else(|| NOT_UNDERSTOOD.to_string())
}

async fn post<T: DeserializeOwned>(token: &str, url: &str, body: &impl serde::Serialize) -> ApiResult<T> {
    let json = crate::js_value::to_json(body).ok_or(UNPREPARED)?;
    from_value(call(Method::POST, token, url, Some(&json)).await?).ok_or_else(|| NOT_UNDERSTOOD.to_string())
}

pub async fn integrations(token: &str, page: u64, limit: u64, search: &str, category: &str) -> ApiResult<IntegrationsPage> {
    let query = web_sys::UrlSearchParams::new().map_err(|_| UNPREPARED)?;
    query.append("page", &page.to_string());
    query.append("limit", &limit.to_string());
    query.append("search", search);
    query.append("category", category);
    get(token, &format!("/v1/widget/integrations?{}", String::from(query.to_string()))).await
}

/// `GET /v1/widget/connections`: the session identity's connections, newest first.
pub async fn connections(token: &str) -> ApiResult<Vec<crate::components::Mine>> {
    let list = call(Method::GET, token, "/v1/widget/connections", None).await?;
    Ok(js_sys::Array::from(&list).iter().filter_map(|c| crate::components::Mine::read(&c)).collect())
}

pub async fn categories(token: &str) -> ApiResult<Vec<CategoryCount>> {
    get(token, "/v1/widget/categories").await
}

pub async fn integration(token: &str, platform: &str) -> ApiResult<IntegrationDetail> {
    get(token, &format!("/v1/widget/integrations/{platform}")).await
}

/// `POST /v1/widget/connect/{platform}`; answers the connection record as a JS object.
pub async fn connect(token: &str, platform: &str, body: &ConnectRequest) -> ApiResult<JsValue> {
    #[derive(Deserialize)]
    struct Raw(#[serde(deserialize_with = "crate::js_value::preserve")] JsValue);
    post::<Raw>(token, &format!("/v1/widget/connect/{platform}"), body).await.map(|r| r.0)
}

pub async fn start_oauth(token: &str, platform: &str, body: &ConnectRequest) -> ApiResult<OAuthStart> {
    post(token, &format!("/v1/widget/oauth/{platform}/start"), body).await
}

pub async fn flow(token: &str, id: &str) -> ApiResult<Flow> {
    get(token, &format!("/v1/widget/oauth/flows/{id}")).await
}

/// `POST /v1/links/session`: opens an auth link or hosted session (the page's token from its fragment).
pub async fn open_link(link_token: &str) -> ApiResult<LinkSession> {
    post("", "/v1/links/session", &LinkToken { token: link_token.to_owned() }).await
}

/// What the popup's authorize page does with its proof, done by the page itself when the sign-in runs in this
/// tab (`display: page`): binds the flow to this browser and answers where to go.
pub async fn prove(authorize_url: &str, proof: &str) -> ApiResult<String> {
    #[derive(serde::Serialize)]
    struct Proof<'a> {
        proof: &'a str,
    }
    #[derive(Deserialize)]
    struct Proceed {
        location: String,
    }
    post::<Proceed>("", authorize_url, &Proof { proof }).await.map(|p| p.location)
}

/// `POST /v1/widget/oauth/flows/{id}/claim`: back from a same-tab sign-in, saves its connection; answers the
/// record as a JS object.
pub async fn claim(token: &str, flow_id: &str, result: &str, proof: &str) -> ApiResult<JsValue> {
    #[derive(Deserialize)]
    struct Raw(#[serde(deserialize_with = "crate::js_value::preserve")] JsValue);
    let body = plugboard_shared::Claim { result: result.to_owned(), proof: proof.to_owned() };
    post::<Raw>(token, &format!("/v1/widget/oauth/flows/{flow_id}/claim"), &body).await.map(|r| r.0)
}

/// The seeds' way to a session, as their hosted widgets do it: `POST <linkTokenEndpoint>?page=1&limit=<limit>`
/// on the host's backend (a full URL; the host sends CORS headers, as One Auth's guide asks) with the payload's `linkHeaders`,
/// no cookies. Takes `{token, ...}` (`/v1/authkit/token` forwarded) or `@picahq/authkit-token`'s merged answer,
/// whose `requestId` is the session (see `/v1/authkit`). `Err`: the endpoint's `error`/`message`, or its status.
pub async fn seed_token(endpoint: &str, headers: &JsValue, limit: u64) -> ApiResult<TokenResponse> {
    let url = web_sys::Url::new(endpoint).map_err(|_| format!("The token URL \u{201c}{endpoint}\u{201d} is not a full URL (https://…)."))?;
    url.search_params().set("page", "1");
    url.search_params().set("limit", &limit.to_string());
    let mut req = RequestBuilder::new(&url.href()).method(Method::POST).credentials(web_sys::RequestCredentials::Omit);
    if headers.is_object() {
        for entry in js_sys::Object::entries(headers.unchecked_ref()).iter() {
            let pair = js_sys::Array::from(&entry);
            let (Some(name), value) = (pair.get(0).as_string(), pair.get(1)) else { continue };
            let value = match value.as_string() {
                Some(v) => v,
                None if value.is_null() || value.is_undefined() => continue,
                None => js_sys::JSON::stringify(&value).ok().and_then(|v| v.as_string()).unwrap_or_default(),
            };
            // What the browser's Headers would refuse (by throwing): an RFC 9110 §5.1 token name, a value
            // without control characters.
            let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !name_ok || value.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
                return Err(format!("The token header \u{201c}{name}\u{201d} is not a valid HTTP header."));
            }
            req = req.header(&name, &value);
        }
    }
    // A token endpoint that never answers: give up after 20 s, and say so.
    let abort = web_sys::AbortController::new().ok();
    if let (Some(a), Some(w)) = (&abort, web_sys::window()) {
        let signal_abort = a.clone();
        let cb = wasm_bindgen::closure::Closure::once_into_js(move || signal_abort.abort());
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 20_000);
    }
    let res = req
        .abort_signal(abort.as_ref().map(|a| a.signal()).as_ref())
        .send()
        .await
        .map_err(|_| "Could not reach the app's token endpoint (or it did not answer within 20 s).".to_string())?;
    let body = body(&res).await.filter(JsValue::is_object);
    let field = |name: &str| body.as_ref().and_then(|b| js_sys::Reflect::get(b, &name.into()).ok()).and_then(|v| v.as_string());
    let token = field("token").or_else(|| field("requestId").filter(|r| r.starts_with("pbs_")));
    match token {
        Some(token) if res.ok() => {
            // The first page of the list, when the answer has one in the usual shape.
            let mut session: TokenResponse = body.and_then(from_value).unwrap_or(TokenResponse {
                token: String::new(),
                expires_at: String::new(),
                rows: Vec::new(),
                total: 0,
                pages: 0,
                page: 0,
                request_id: String::new(),
            });
            session.token = token;
            Ok(session)
        }
        _ => Err(field("error").or_else(|| field("message")).unwrap_or_else(|| format!("The app's token endpoint answered {}.", res.status()))),
    }
}
