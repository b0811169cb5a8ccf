//! Component tests in headless Chromium (`cargo test -p plugboard-widget --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use plugboard_shared::{AuthMethod, IntegrationRow, TokenResponse};
use plugboard_widget::{
    components::{app::App, integration_list::IntegrationList, logo::monogram, Ctx, Screen},
    messaging::{parse_return_state, Handshake, Protocol},
};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> web_sys::Element {
    let doc = web_sys::window().unwrap().document().unwrap();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    leptos::mount::mount_to(root.clone().unchecked_into(), view).forget();
    root
}

/// The list as the modal mounts it: under a session's shared state.
fn list(session: TokenResponse, page_size: u64) -> web_sys::Element {
    mount(move || {
        provide_context(Ctx::new(session.token.clone(), RwSignal::new(Default::default()), RwSignal::new(Screen::List), None, None));
        view! { <IntegrationList session=session page_size=page_size/> }
    })
}

fn texts(root: &web_sys::Element, css: &str) -> Vec<String> {
    let list = root.query_selector_all(css).unwrap();
    (0..list.length()).map(|i| list.item(i).unwrap().text_content().unwrap_or_default()).collect()
}

fn row(platform: &str, title: &str, image: &str) -> IntegrationRow {
    IntegrationRow {
        id: 1,
        connection_def_id: 2,
        platform: platform.into(),
        kind: "api".into(),
        title: title.into(),
        image: image.into(),
        category: "CRM".into(),
        auth_method: AuthMethod::Oauth2,
        environment: "test".into(),
        tags: vec![],
        active: true,
    }
}

#[wasm_bindgen_test]
fn the_list_shows_rows_monograms_and_load_more() {
    let session = TokenResponse {
        token: "pbs_x".into(),
        expires_at: "2030-01-01T00:00:00Z".into(),
        rows: vec![row("hubspot", "HubSpot", "/assets/logos/hubspot.svg"), row("acme-crm", "Acme CRM", "")],
        total: 7,
        pages: 4,
        page: 1,
        request_id: String::new(),
    };
    let root = list(session, 2);
    assert_eq!(texts(&root, ".pb-name"), ["HubSpot", "Acme CRM"]);
    // No image → monogram straight away; an image → a lazy <img>.
    assert_eq!(texts(&root, "[data-platform=acme-crm] .pb-monogram"), ["AC"]);
    let img = root.query_selector("[data-platform=hubspot] img").unwrap().unwrap();
    assert_eq!(img.get_attribute("loading").as_deref(), Some("lazy"));
    assert_eq!(texts(&root, ".pb-count"), ["7 apps"]);
    assert_eq!(texts(&root, ".pb-more"), ["Load more"]);
}

#[wasm_bindgen_test]
fn the_last_page_has_no_load_more_and_an_empty_result_says_so() {
    let session = TokenResponse {
        token: "pbs_x".into(),
        expires_at: "2030-01-01T00:00:00Z".into(),
        rows: vec![],
        total: 0,
        pages: 0,
        page: 1,
        request_id: String::new(),
    };
    let root = list(session, 20);
    assert!(texts(&root, ".pb-more").is_empty());
    assert_eq!(texts(&root, ".pb-count"), ["0 apps"]);
    assert_eq!(texts(&root, ".pb-empty").len(), 1);
}

#[wasm_bindgen_test]
fn opened_without_the_embed_it_explains_itself() {
    let root = mount(App);
    let alert = texts(&root, "[role=alert]");
    assert_eq!(alert.len(), 1);
    assert!(alert[0].contains("Plugboard.create"), "{alert:?}");
}

#[wasm_bindgen_test]
fn the_handshake_needs_an_http_origin_and_a_nonce() {
    let ok = Handshake::from_fragment("#origin=https%3A%2F%2Fapp.example.com&nonce=abc").unwrap();
    assert_eq!(ok.origin, "https://app.example.com");
    assert_eq!(ok.protocol, Protocol::Plugboard { nonce: "abc".into() });
    assert!(Handshake::from_fragment("#origin=javascript%3Aalert(1)&nonce=abc").is_none());
    assert!(Handshake::from_fragment("#origin=https%3A%2F%2Fa.example&nonce=").is_none());
    assert!(Handshake::from_fragment("").is_none());
}

#[wasm_bindgen_test]
fn a_same_tab_return_state_is_a_flow_id_and_an_optional_result_and_nothing_else() {
    let back = parse_return_state("3f1c6c3e-1b1a-4d3e-9a55-0b5d8d1e2f3a.Ab-_09").unwrap();
    assert_eq!((back.flow_id.as_str(), back.result.as_str()), ("3f1c6c3e-1b1a-4d3e-9a55-0b5d8d1e2f3a", "Ab-_09"));
    let failed = parse_return_state("3f1c6c3e-1b1a-4d3e-9a55-0b5d8d1e2f3a").unwrap();
    assert_eq!(failed.result, "", "a failed sign-in comes back without a result");
    for bad in ["", ".abc", "../x.y", "a b.c", "id.<script>"] {
        assert!(parse_return_state(bad).is_none(), "{bad:?}");
    }
}

#[wasm_bindgen_test]
fn monograms() {
    assert_eq!(monogram("Google Drive"), "GD");
    assert_eq!(monogram("stripe"), "S");
}
