//! What end users are offered, over HTTP: only integrations the project can connect (an OAuth app needs its OAuth
//! client), popular or featured apps first, a search that forgives typos, what each sign-in allows in plain words,
//! and the end user's own connections.

use plugboard_tests::fixtures;
use plugboard_tests::Server;
use plugboard::{
    catalog::{Catalog, POPULAR},
    config::OAuthClient,
    store::ProjectClientRow,
    vault::{Sealed, SecretString},
};
use plugboard_shared::{CategoryCount, ErrorBody, IntegrationDetail, IntegrationsPage, TokenResponse, WidgetConnection};
use plugboard_tests::{configure_project, connect_fields, http, session_token, spawn_app_with, spawn_with_provider, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const GOOD_KEY: &str = "mock-key-0123456789";

fn client(id: &str) -> OAuthClient {
    OAuthClient { client_id: id.into(), client_secret: SecretString::new("a-client-secret"), scopes: None, settings: Default::default(), token_scopes: Default::default() }
}

fn no_rate_limits(s: &mut plugboard::config::Settings) {
    s.limits.rate_limit_ip = 0;
    s.limits.rate_limit_project = 0;
    s.limits.rate_limit_identity = 0;
    s.limits.rate_limit_backend = 0;
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    http().get(format!("{}{path}", app.url)).bearer_auth(token).send().await.unwrap()
}

async fn list(app: &TestApp, token: &str, query: &str) -> IntegrationsPage {
    let res = get(app, token, &format!("/v1/widget/integrations{query}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Every platform the widget lists for `token`, in order, page after page.
async fn all_listed(app: &TestApp, token: &str) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let p = list(app, token, &format!("?page={page}&limit=100")).await;
        out.extend(p.rows.into_iter().map(|r| r.platform));
        if page >= p.pages {
            break;
        }
    }
    out
}

async fn search(app: &TestApp, token: &str, text: &str) -> Vec<String> {
    let q: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
    list(app, token, &format!("?search={q}&limit=100")).await.rows.into_iter().map(|r| r.platform).collect()
}

async fn mint(app: &TestApp, identity: &str) -> TokenResponse {
    let res = app.mint_session("", &json!({ "identity": identity, "identityType": "user" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn connectors(app: &TestApp, query: &str) -> Vec<Value> {
    let res = app.available_connectors(query).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["rows"].as_array().unwrap().clone()
}

/// A link for `identity` opened as its page does: the link session's answer.
async fn open_link(app: &TestApp, identity: &str) -> Value {
    let made: Value = app.create_connect_session(&json!({ "identity": identity })).await
        .json()
        .await
        .unwrap();
    let res = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": made["token"] })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Another node adds (or removes) the project's own OAuth client for `platform`; this node notices within 2 s.
async fn set_own_client(app: &TestApp, platform: &str, present: bool) {
    if present {
        let sealed = Sealed { key_id: "k1".into(), nonce: vec![0; 12], ciphertext: vec![0; 32] };
        let row = ProjectClientRow { client_id: "acme-client".into(), scopes: None, settings: Default::default(), token_scopes: Default::default(), sealed };
        app.store.set_project_client("test-project", platform, None, &row).await.unwrap();
    } else {
        assert!(app.store.delete_project_client("test-project", platform, None).await.unwrap());
    }
    tokio::time::sleep(plugboard::store::HOT_TTL + std::time::Duration::from_millis(200)).await;
}

#[tokio::test]
async fn only_what_the_project_can_connect_is_offered_anywhere_an_end_user_looks() {
    // The deployment has a client for Slack only; no OAuth app but Slack can be connected.
    let app = spawn_app_with(|s| {
        no_rate_limits(s);
        s.oauth_clients.insert("slack".into(), client("slack-client"));
    })
    .await;
    let catalog = Catalog::builtin().unwrap();
    let connectable: Vec<&str> =
        catalog.all().iter().filter(|e| !e.needs_server_client() || e.platform == "slack").map(|e| e.platform.as_str()).collect();
    let session = mint(&app, "alice").await;
    let listed = all_listed(&app, &session.token).await;
    assert_eq!(listed.len(), connectable.len());
    assert!(listed.iter().all(|p| connectable.contains(&p.as_str())), "nothing listed that cannot connect");
    assert!(listed.contains(&"slack".to_owned()) && listed.contains(&"stripe".to_owned()));
    assert!(listed.contains(&"bitwarden".to_owned()), "client credentials with the user's own client need nothing configured");
    assert!(!listed.contains(&"gmail".to_owned()) && !listed.contains(&"github".to_owned()));
    assert_eq!(session.total, connectable.len() as u64, "the token's first page counts the same");
    assert!(session.rows.iter().all(|r| connectable.contains(&r.platform.as_str())));
    assert!(search(&app, &session.token, "gmail").await.iter().all(|p| p != "gmail"));

    // Categories count what is listed; one whose apps all lack a client is gone.
    let chips: Vec<CategoryCount> = get(&app, &session.token, "/v1/widget/categories").await.json().await.unwrap();
    let listed_total: u64 = chips.iter().map(|c| c.count).sum();
    assert_eq!(listed_total, connectable.len() as u64);
    configure_project(&app, |s| s.visible_integrations = Some(vec!["gmail".into(), "google-calendar".into(), "stripe".into()])).await;
    let narrow = mint(&app, "alice").await;
    let chips: Vec<CategoryCount> = get(&app, &narrow.token, "/v1/widget/categories").await.json().await.unwrap();
    let stripe_category = catalog.get("stripe").unwrap().category.clone();
    assert_eq!(chips.iter().map(|c| (c.name.clone(), c.count)).collect::<Vec<_>>(), [(stripe_category, 1)]);
    assert_eq!(narrow.rows.iter().map(|r| r.platform.as_str()).collect::<Vec<_>>(), ["stripe"]);
    configure_project(&app, |s| s.visible_integrations = None).await;

    // Asked for by name, an app that cannot connect says so before any sign-in window opens.
    let session = mint(&app, "alice").await;
    for path in ["/v1/widget/integrations/gmail"] {
        let res = get(&app, &session.token, path).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let err: ErrorBody = res.json().await.unwrap();
        assert_eq!(err.code, "integration_not_configured");
        assert!(err.error.starts_with("Gmail is not set up here yet") && !err.error.contains("client"), "{}", err.error);
    }
    let res = http().post(format!("{}/v1/widget/oauth/gmail/start", app.url)).bearer_auth(&session.token).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(get(&app, &session.token, "/v1/widget/integrations/slack").await.status(), StatusCode::OK);

    // An auth link's first page, and the host's widget catalog, leave it out too; the developer's catalog lists it
    // as not ready.
    let link = open_link(&app, "alice").await;
    let link_rows = link["session"]["rows"].as_array().unwrap();
    assert!(!link_rows.is_empty() && link_rows.iter().all(|r| connectable.contains(&r["platform"].as_str().unwrap())));
    let shown = connectors(&app, "?authkit=true&limit=1000").await;
    assert_eq!(shown.len(), connectable.len());
    assert!(shown.iter().all(|r| r["ready"] == true));
    let everything = connectors(&app, "?limit=1000").await;
    assert_eq!(everything.len(), catalog.all().len(), "the developer's catalog lists everything");
    let ready = |p: &str| everything.iter().find(|r| r["platform"] == p).unwrap()["ready"].clone();
    assert_eq!((ready("gmail"), ready("slack"), ready("stripe")), (json!(false), json!(true), json!(true)));
}

#[tokio::test]
async fn a_client_added_or_removed_on_another_node_changes_the_lists_within_two_seconds() {
    let app = spawn_app_with(no_rate_limits).await;
    let before = mint(&app, "alice").await;
    assert!(!before.rows.iter().any(|r| r.platform == "gmail"));
    set_own_client(&app, "gmail", true).await;
    // Gmail is the first popular app: it now leads the token's (cached) first page and the list.
    let after = mint(&app, "alice").await;
    assert_eq!(after.rows[0].platform, "gmail");
    assert_eq!(after.total, before.total + 1);
    assert_eq!(list(&app, &after.token, "").await.rows[0].platform, "gmail");
    set_own_client(&app, "gmail", false).await;
    let gone = mint(&app, "alice").await;
    assert_eq!((gone.total, gone.rows), (before.total, before.rows));
    assert_eq!(get(&app, &gone.token, "/v1/widget/integrations/gmail").await.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_config_file_features_apps_and_its_oauth_clients_are_all_the_projects_own() {
    let var = fixtures::secret_env("PB_LISTS_GMAIL_SECRET", "gmail-secret-0123456789");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugboard.toml");
    let with_gmail = format!(
        "[[projects]]\nid = \"test-project\"\nfeatured = [\"stripe\", \"gmail\", \"notion\"]\n\
         [projects.oauth.gmail]\nclientId = \"acme.apps.example\"\nclientSecretEnv = \"{var}\"\n"
    );
    std::fs::write(&path, &with_gmail).unwrap();
    let app = spawn_app_with(|s| {
        no_rate_limits(s);
        s.config = Some(path.clone());
    })
    .await;
    // Featured, in order: Notion has no client, so it is skipped; then the rest by name.
    let session = mint(&app, "alice").await;
    let first: Vec<&str> = session.rows.iter().map(|r| r.platform.as_str()).collect();
    assert_eq!(first[..2], ["stripe", "gmail"]);
    let rest: Vec<String> = session.rows[2..].iter().map(|r| r.title.to_lowercase()).collect();
    assert!(rest.windows(2).all(|w| w[0] <= w[1]), "{rest:?}");

    // The file no longer names Gmail's client: at the next start it is removed, and Gmail is not offered.
    std::fs::write(&path, "[[projects]]\nid = \"test-project\"\nfeatured = [\"stripe\", \"gmail\"]\n").unwrap();
    let app = app.restart(|_| {}).await;
    let session = mint(&app, "alice").await;
    assert_eq!(session.rows[0].platform, "stripe");
    assert!(!all_listed(&app, &session.token).await.contains(&"gmail".to_owned()));

    // A bad list stops the start with a message naming it.
    std::fs::write(&path, "[[projects]]\nid = \"test-project\"\nfeatured = [\"no-such-app\"]\n").unwrap();
    let mut settings = plugboard_tests::settings(dir.path(), &app.key);
    settings.database_url = Some(app.db.url.clone());
    settings.master_key = app.db.is_postgres().then(|| SecretString::new(plugboard_tests::TEST_MASTER_KEY.to_owned()));
    settings.config = Some(path.clone());
    let err = plugboard::app::Application::build(&settings).await.err().expect("refused").to_string();
    assert!(err.contains("featured names an unknown integration \"no-such-app\""), "{err}");
    let many: Vec<String> = Catalog::builtin().unwrap().all().iter().take(51).map(|e| format!("{:?}", e.platform)).collect();
    std::fs::write(&path, format!("[[projects]]\nid = \"test-project\"\nfeatured = [{}]\n", many.join(", "))).unwrap();
    let err = plugboard::app::Application::build(&settings).await.err().expect("refused").to_string();
    assert!(err.contains("featured may name at most 50"), "{err}");
}

#[tokio::test]
async fn popular_apps_come_first_and_search_forgives_typos() {
    // Every popular OAuth app has the deployment's client, as on a set-up server.
    let app = spawn_app_with(|s| {
        no_rate_limits(s);
        for p in POPULAR {
            s.oauth_clients.insert((*p).into(), client(p));
        }
    })
    .await;
    let token = session_token(&app, "alice").await;
    let first = list(&app, &token, "?limit=20").await;
    assert_eq!(first.rows.iter().map(|r| r.platform.as_str()).collect::<Vec<_>>(), POPULAR);

    let top = |found: Vec<String>| found.first().cloned().unwrap_or_default();
    assert_eq!(top(search(&app, &token, "hubspt").await), "hubspot");
    assert_eq!(top(search(&app, &token, "slak").await), "slack");
    assert_eq!(top(search(&app, &token, "gogle drive").await), "google-drive");
    assert_eq!(top(search(&app, &token, "calendar").await), "google-calendar");
    let mail = search(&app, &token, "mail").await;
    assert!(mail.iter().position(|p| p == "gmail").is_some_and(|at| at < 3), "{mail:?}");
    // A near miss never beats the real thing, and nonsense finds nothing.
    assert_eq!(top(search(&app, &token, "Slack").await), "slack");
    assert_eq!(list(&app, &token, "?search=zzzzqqq").await.total, 0);

    // The project's own list replaces the popular one; an app it hides is skipped.
    configure_project(&app, |s| {
        s.featured = Some(vec!["notion".into(), "stripe".into(), "slack".into()]);
        s.visible_integrations = Some(vec!["stripe".into(), "slack".into(), "gmail".into(), "hackernews".into()]);
    })
    .await;
    let token = session_token(&app, "alice").await;
    let listed: Vec<String> = list(&app, &token, "").await.rows.into_iter().map(|r| r.platform).collect();
    assert_eq!(listed, ["stripe", "slack", "gmail", "hackernews"]);
    configure_project(&app, |s| {
        s.featured = Some(Vec::new());
        s.visible_integrations = None;
    })
    .await;
    let token = session_token(&app, "alice").await;
    let names: Vec<String> = list(&app, &token, "?limit=5").await.rows.into_iter().map(|r| r.title.to_lowercase()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "no featured apps: by name {names:?}");
}

#[tokio::test]
async fn the_connect_screen_says_what_a_sign_in_allows_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugboard.toml");
    std::fs::write(
        &path,
        "[[projects]]\nid = \"test-project\"\n[[projects.customIntegrations]]\nplatform = \"acme-crm\"\nname = \"Acme CRM\"\n\
         category = \"CRM\"\ndescription = \"Acme's CRM.\"\nauthMethod = \"oauth2\"\napiBaseUrl = \"https://crm.acme.example/api\"\n\
         [projects.customIntegrations.oauth]\nauthorizationUrl = \"https://sso.acme.example/authorize\"\ntokenUrl = \"https://sso.acme.example/token\"\n\
         scopes = [\"openid\", \"email\", \"crm.read\", \"crm.admin\"]\n\
         [projects.customIntegrations.oauth.scopeDescriptions]\n\"crm.read\" = \"Read your Acme CRM records\"\n",
    )
    .unwrap();
    let app = spawn_app_with(|s| {
        no_rate_limits(s);
        s.config = Some(path.clone());
        for p in ["acme-crm", "outlook", "slack", "notion"] {
            s.oauth_clients.insert(p.into(), client(p));
        }
        // The deployment's own scopes for Slack replace the catalog's, and are what is described.
        s.oauth_clients.get_mut("slack").unwrap().scopes = Some(vec!["chat:write".into(), "made:up".into()]);
    })
    .await;
    let token = session_token(&app, "alice").await;
    let detail = |p: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let res = get(app, token, &format!("/v1/widget/integrations/{p}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{p}");
            res.json::<IntegrationDetail>().await.unwrap()
        }
    };
    let acme = detail("acme-crm").await;
    // `openid` and `email` are one line; `crm.admin` is described by no one, so only `scopes` names it.
    assert_eq!(acme.permissions, ["See your name and email address", "Read your Acme CRM records"]);
    assert!(acme.scopes.contains(&"crm.admin".to_owned()));
    let outlook = detail("outlook").await;
    assert_eq!(outlook.permissions, ["Stay connected when you are away", "See your name and email address", "Read, change and delete your email", "Send email as you"]);
    let slack = detail("slack").await;
    assert_eq!((slack.scopes.len(), slack.permissions.clone()), (2, vec!["Send messages as the app".to_owned()]));
    assert!(detail("notion").await.permissions.is_empty());
}

#[tokio::test]
async fn the_widget_lists_the_end_users_own_connections_newest_first() {
    let (app, _provider) = spawn_with_provider(|s, _| no_rate_limits(s)).await;
    let first = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": GOOD_KEY })).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": GOOD_KEY })).await;
    let bobs = connect_fields(&app, "bob", "mock-api-key", json!({ "api_key": GOOD_KEY })).await;

    let token = session_token(&app, "alice").await;
    let res = get(&app, &token, "/v1/widget/connections").await;
    assert_eq!(res.status(), StatusCode::OK);
    let raw: Value = res.json().await.unwrap();
    // Only these fields: no secret, no configuration.
    let mut fields: Vec<&str> = raw[0].as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["createdAt", "key", "name", "platform", "state"]);
    let mine: Vec<WidgetConnection> = serde_json::from_value(raw).unwrap();
    assert_eq!(mine.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), [second.key.as_str(), first.key.as_str()]);
    assert_eq!((mine[0].platform.as_str(), mine[0].name.as_str(), mine[0].created_at), ("mock-api-key", "Mock API Key", second.created_at));
    assert!(!mine.iter().any(|c| c.key == bobs.key));

    // A deleted connection is not listed; an auth link's session is the same end user and sees the same.
    let res = app.delete_connection(&first.key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let link = open_link(&app, "alice").await;
    // (The link page is on Plugboard's own origin, and says so.)
    let res = http()
        .get(format!("{}/v1/widget/connections", app.url))
        .bearer_auth(link["session"]["token"].as_str().unwrap())
        .header("Plugboard-Origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let via_link: Vec<WidgetConnection> = res.json().await.unwrap();
    assert_eq!(via_link.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), [second.key.as_str()]);
    let bob: Vec<WidgetConnection> = get(&app, &session_token(&app, "bob").await, "/v1/widget/connections").await.json().await.unwrap();
    assert_eq!(bob.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), [bobs.key.as_str()]);
    let nobody: Vec<WidgetConnection> = get(&app, &session_token(&app, "carol").await, "/v1/widget/connections").await.json().await.unwrap();
    assert!(nobody.is_empty());

    let res = http().get(format!("{}/v1/widget/connections", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = get(&app, "pbs_forged", "/v1/widget/connections").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_demo_lists_its_mock_apps_first_unless_the_project_features_its_own() {
    let (app, provider) = spawn_with_provider(|s, _| no_rate_limits(s)).await;
    // What `plugboard demo` does after its start, here from beside the running server (same database).
    let builtin = std::sync::Arc::new(Catalog::with_extra(plugboard::demo::mock_integrations(&provider.config.issuer)).unwrap());
    let vault = std::sync::Arc::new(plugboard::vault::Vault::from_spec(plugboard_tests::TEST_MASTER_KEY).unwrap());
    let projects = plugboard::projects::Projects::new(app.store.clone(), vault, builtin, Default::default());
    plugboard::demo::feature_mock_apps(&projects, "test-project").await.unwrap();
    tokio::time::sleep(plugboard::store::HOT_TTL + std::time::Duration::from_millis(200)).await;
    let first: Vec<String> = mint(&app, "alice").await.rows.into_iter().take(4).map(|r| r.platform).collect();
    assert_eq!(first, ["mock-oauth", "mock-api-key", "mock-client-credentials", "stripe"]);

    configure_project(&app, |s| s.featured = Some(vec!["hackernews".into()])).await;
    plugboard::demo::feature_mock_apps(&projects, "test-project").await.unwrap();
    tokio::time::sleep(plugboard::store::HOT_TTL + std::time::Duration::from_millis(200)).await;
    assert_eq!(mint(&app, "alice").await.rows[0].platform, "hackernews", "the project's own choice stays");
}
