//! The project's backend API as the tests call it: [`Server`], a Plugboard server in this process or a child
//! process, and its typed calls, each sent with the project's secret key (`X-One-Secret`) the way a host backend
//! sends it. A test that sends a wrong or missing key writes its request out instead.

use plugboard::keys::SecretKey;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::http;

/// A Plugboard server a test talks to: in this process ([`crate::TestApp`]) or a child process
/// ([`crate::ServerProcess`]). Its calls are `async fn`s: the tests await them where they call them, and never need
/// to name their futures' auto traits.
#[allow(async_fn_in_trait)]
pub trait Server {
    /// `http://127.0.0.1:<port>`.
    fn url(&self) -> &str;
    /// The test project's secret key.
    fn key(&self) -> &SecretKey;

    /// `{method} {url}{path}` with the project's secret key, to add a body or headers to and send.
    fn backend(&self, method: Method, path: &str) -> RequestBuilder {
        http().request(method, format!("{}{path}", self.url())).header("X-One-Secret", self.key().expose())
    }

    /// `GET {path}` with the project's secret key; answers the response as it is.
    async fn api_get(&self, path: &str) -> Response
    where
        Self: Sized,
    {
        self.backend(Method::GET, path).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `POST {path}` with `body` as JSON and the project's secret key; answers the response as it is.
    async fn api_post(&self, path: &str, body: &Value) -> Response
    where
        Self: Sized,
    {
        self.backend(Method::POST, path).json(body).send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `DELETE {path}` with the project's secret key; answers the response as it is.
    async fn api_delete(&self, path: &str) -> Response
    where
        Self: Sized,
    {
        self.backend(Method::DELETE, path).send().await.unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
    }

    /// `GET /v1/vault/connections{query}`: the project's connections (`query` empty or `?identity=…&limit=…`).
    async fn list_connections(&self, query: &str) -> Response
    where
        Self: Sized,
    {
        self.api_get(&format!("/v1/vault/connections{query}")).await
    }

    /// `GET /v1/vault/connections/{key}`: one connection's record.
    async fn get_connection(&self, key: &str) -> Response
    where
        Self: Sized,
    {
        self.api_get(&format!("/v1/vault/connections/{key}")).await
    }

    /// `DELETE /v1/vault/connections/{key}`.
    async fn delete_connection(&self, key: &str) -> Response
    where
        Self: Sized,
    {
        self.api_delete(&format!("/v1/vault/connections/{key}")).await
    }

    /// `POST /v1/authkit/token{query}` with `body`: mints a widget session (`query` empty or `?page=…&limit=…`).
    async fn mint_session(&self, query: &str, body: &Value) -> Response
    where
        Self: Sized,
    {
        self.api_post(&format!("/v1/authkit/token{query}"), body).await
    }

    /// `POST /v1/authkit/token/revoke` for the widget session `token`.
    async fn revoke_session(&self, token: &str) -> Response
    where
        Self: Sized,
    {
        self.api_post("/v1/authkit/token/revoke", &serde_json::json!({ "token": token })).await
    }

    /// `POST /v1/connect-sessions` with `body`: an auth link.
    async fn create_connect_session(&self, body: &Value) -> Response
    where
        Self: Sized,
    {
        self.api_post("/v1/connect-sessions", body).await
    }

    /// `POST /v1/connect-sessions/revoke` for the auth link `token`.
    async fn revoke_connect_session(&self, token: &Value) -> Response
    where
        Self: Sized,
    {
        self.api_post("/v1/connect-sessions/revoke", &serde_json::json!({ "token": token })).await
    }

    /// `POST /v1/hosted-connection-sessions` with `body`: a hosted connection session.
    async fn create_hosted_session(&self, body: &Value) -> Response
    where
        Self: Sized,
    {
        self.api_post("/v1/hosted-connection-sessions", body).await
    }

    /// `GET /v1/available-connectors{query}`: the project's catalog as the backend API lists it.
    async fn available_connectors(&self, query: &str) -> Response
    where
        Self: Sized,
    {
        self.api_get(&format!("/v1/available-connectors{query}")).await
    }
}
