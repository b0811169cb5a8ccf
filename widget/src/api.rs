//! The widget's only HTTP client: calls `/v1/widget/*` on its own origin with the session token.

use gloo_net::http::Request;
use plugboard_shared::{ErrorBody, IntegrationsPage};

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
        res.json().await.map_err(|_| "The server sent an answer the widget does not understand.".to_string())
    } else {
        let status = res.status();
        Err(match res.json::<ErrorBody>().await {
            Ok(body) => body.error,
            Err(_) => format!("The server answered {status}."),
        })
    }
}
