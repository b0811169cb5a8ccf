//! The widget's only HTTP client: calls `/v1/widget/*` on its own origin with the session token.

use gloo_net::http::{Request, Response};
use plugboard_shared::{ErrorBody, IntegrationsPage};
use serde::de::DeserializeOwned;

/// Human-readable failure, ready to show.
pub type ApiResult<T> = Result<T, String>;

pub async fn integrations(token: &str, page: u64, limit: u64, search: &str) -> ApiResult<IntegrationsPage> {
    let page = page.to_string();
    let limit = limit.to_string();
    let res = Request::get("/v1/widget/integrations")
        .query([("page", page.as_str()), ("limit", limit.as_str()), ("search", search)])
        .header("Authorization", &format!("Bearer {token}"))
        .send()
        .await
        .map_err(|_| "Could not reach the server. Check your connection and try again.".to_string())?;
    if res.ok() {
        json(&res).await.ok_or_else(|| "The server sent an answer the widget does not understand.".to_string())
    } else {
        Err(match json::<ErrorBody>(&res).await {
            Some(body) => body.error,
            None => format!("The server answered {}.", res.status()),
        })
    }
}

/// Parses with the browser's JSON parser and serde-wasm-bindgen: much smaller than serde_json in wasm.
async fn json<T: DeserializeOwned>(res: &Response) -> Option<T> {
    let text = res.text().await.ok()?;
    serde_wasm_bindgen::from_value(js_sys::JSON::parse(&text).ok()?).ok()
}
