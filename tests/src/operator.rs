//! The operator API as the tests call it: operators made straight in the server's store (as `plugboard operator
//! create` makes them), and [`Operator`], an HTTP client that authenticates with an operator API token or with a
//! browser's sign-in (cookie + `X-CSRF-Token`).

use plugboard::operators::{accounts::Accounts, audit::Actor, Role, TokenScope};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::TestApp;

/// The password every test operator is made with.
pub const PASSWORD: &str = "correct horse battery staple";

/// How an [`Operator`] client proves who it is.
#[derive(Clone)]
enum Credential {
    Token(String),
    /// The session cookie travels in the client's cookie store; the CSRF token goes with every write.
    Session { csrf: String },
}

/// An operator client of one server.
#[derive(Clone)]
pub struct Operator {
    pub url: String,
    pub email: String,
    client: reqwest::Client,
    credential: Credential,
}

/// Makes an operator `email` with `role` and [`PASSWORD`] in `app`'s store.
pub async fn create_operator(app: &TestApp, email: &str, role: Role) -> String {
    let accounts = Accounts::new(app.store.clone());
    accounts.create(email, role, Some(PASSWORD), &Actor::cli()).await.expect("operator created").id
}

/// A new operator with `role` and an API token of `scope` for them: the token.
pub async fn operator_token(app: &TestApp, role: Role, scope: TokenScope) -> String {
    let email = format!("{}-{}@example.com", role.as_str(), uuid::Uuid::new_v4().simple());
    let id = create_operator(app, &email, role).await;
    let accounts = Accounts::new(app.store.clone());
    accounts.create_token(&id, "tests", scope, &Actor::cli()).await.expect("token created").1
}

impl Operator {
    /// A new operator with `role`, calling with an API token of `scope` (made in the store).
    pub async fn with_token(app: &TestApp, role: Role, scope: TokenScope) -> Self {
        let email = format!("{}-{}@example.com", role.as_str(), uuid::Uuid::new_v4().simple());
        let id = create_operator(app, &email, role).await;
        let accounts = Accounts::new(app.store.clone());
        let (_, token) = accounts.create_token(&id, "tests", scope, &Actor::cli()).await.expect("token created");
        Self { url: app.url.clone(), email, client: crate::http(), credential: Credential::Token(token) }
    }

    /// An admin with a full token.
    pub async fn admin(app: &TestApp) -> Self {
        Self::with_token(app, Role::Admin, TokenScope::Full).await
    }

    /// Signs in as `email` with `password` the way the console does (cookie store + CSRF token); panics unless it
    /// worked.
    pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Self {
        let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
        let res = client.post(format!("{}/operator/v1/sign-in", app.url)).json(&json!({"email": email, "password": password})).send().await.expect("sign-in");
        assert_eq!(res.status(), 200, "sign-in of {email}");
        let me: Value = res.json().await.expect("json");
        let csrf = me["csrfToken"].as_str().expect("csrfToken").to_owned();
        Self { url: app.url.clone(), email: email.into(), client, credential: Credential::Session { csrf } }
    }

    /// `method {url}{path}` authenticated, to add a body to and send.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.url));
        match &self.credential {
            Credential::Token(t) => req.bearer_auth(t),
            Credential::Session { csrf } => req.header("X-CSRF-Token", csrf),
        }
    }

    /// The same client without its CSRF token (a cross-site form post rides the cookie alone).
    pub fn without_csrf(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path).json(body).send().await.unwrap_or_else(|e| panic!("PATCH {path}: {e}"))
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path).json(body).send().await.unwrap_or_else(|e| panic!("PUT {path}: {e}"))
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
    }

    /// `GET path` answered 200: its JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}
