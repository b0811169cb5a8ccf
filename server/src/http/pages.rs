//! The look of the pages Plugboard serves to end users outside the widget (the sign-in window's pages, the
//! same-tab question, the callback's result and error pages): one card in the widget's colours, branded with who
//! asks (the project's name and logo) and what is connected (the integration's logo), light or dark by the
//! project's `theme` or the device's setting. Strict CSP: the one style sheet by hash, scripts from this origin.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha256};

use crate::projects::{is_invisible_format, Brand};

/// Text for an HTML text node or a quoted attribute.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `s` with the characters that change how text around them reads (controls, bidi overrides and isolates,
/// zero-width and other invisible format characters: Unicode's Cc and the Cf in use) shown as U+FFFD, so an
/// identity such as `alice\u{202e}moc.liam@` cannot pose as another on a page.
pub fn shown(s: &str) -> String {
    s.chars().map(|c| if c.is_control() || is_invisible_format(c) { '\u{FFFD}' } else { c }).collect()
}

/// Text someone else chose (an end user's id or name, a company or provider name), escaped and made visible.
pub fn text(s: &str) -> String {
    escape(&shown(s))
}

/// The pages' one style sheet. Colours are the widget's (`widget/style.css`); text ≥ 4.5:1 and control borders
/// ≥ 3:1 against what they sit on, in both themes (tests/tests/pages.rs measures them). Below 30rem the card is
/// the whole page.
const STYLE: &str = concat!(
    ":root{color-scheme:light;--page:#f3f4f7;--bg:#fff;--fg:#1b1f29;--muted:#586070;--line:#e3e6ec;--edge:#767e8c;",
    "--accent:#3b5bdb;--accent-fg:#fff;--ok:#2b8a3e;--bad:#c92a2a;--tile:#fff}",
    "@media (prefers-color-scheme:dark){:root:not([data-theme=light]){color-scheme:dark;--page:#0c0e13;--bg:#15181f;--fg:#eceef3;",
    "--muted:#a3acbd;--line:#2a2f3a;--edge:#7d8596;--accent:#748ffc;--accent-fg:#0b0d12;--ok:#69db7c;--bad:#ff8787}}",
    ":root[data-theme=dark]{color-scheme:dark;--page:#0c0e13;--bg:#15181f;--fg:#eceef3;--muted:#a3acbd;--line:#2a2f3a;",
    "--edge:#7d8596;--accent:#748ffc;--accent-fg:#0b0d12;--ok:#69db7c;--bad:#ff8787}",
    "*{box-sizing:border-box}html{background:var(--page)}",
    "body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;padding:2rem 1rem;",
    "font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:var(--fg);background:var(--page)}",
    ".pb-card{width:100%;max-width:26rem;padding:2rem 1.75rem 1.75rem;background:var(--bg);border:1px solid var(--line);",
    "border-radius:14px;box-shadow:0 12px 32px rgb(16 24 40 / .08);text-align:center}",
    "@media (max-width:30rem){html,body{background:var(--bg)}body{justify-content:flex-start;padding:1.5rem 1rem}",
    ".pb-card{border:0;box-shadow:none;padding:1rem 0}}",
    ".pb-brand{display:flex;align-items:center;justify-content:center;gap:.5rem;margin:0 0 1.5rem}",
    ".pb-tile{width:56px;height:56px;flex:none;border-radius:14px;background:var(--tile);border:1px solid var(--line);",
    "display:grid;place-items:center;overflow:hidden}",
    ".pb-tile img{width:40px;height:40px;object-fit:contain}.pb-tile img.pb-fill{width:100%;height:100%;object-fit:cover}",
    ".pb-mono{background:var(--accent);border-color:var(--accent);color:var(--accent-fg);font-weight:700;font-size:1.3rem}",
    ".pb-join{width:44px;height:28px;display:grid;place-items:center;color:var(--muted)}",
    ".pb-join svg{display:none;width:28px;height:28px}",
    ".pb-join[data-mark=pending] .pb-pending,.pb-join[data-mark=ask] .pb-pending,.pb-join[data-mark=done] .pb-done,",
    ".pb-join[data-mark=failed] .pb-failed,.pb-join[data-mark=info] .pb-info{display:block}",
    ".pb-done{color:var(--ok)}.pb-failed{color:var(--bad)}.pb-info{color:var(--muted)}.pb-join path{stroke:var(--bg)}",
    ".pb-solo .pb-join{width:56px;height:56px}.pb-solo .pb-join svg{width:56px;height:56px}",
    "[data-mark=pending] circle{animation:pb-blink 1.2s infinite both}[data-mark=pending] circle:nth-child(2){animation-delay:.2s}",
    "[data-mark=pending] circle:nth-child(3){animation-delay:.4s}@keyframes pb-blink{0%,80%,100%{opacity:.25}40%{opacity:1}}",
    "@media (prefers-reduced-motion:reduce){[data-mark] circle{animation:none}}",
    "h1{margin:0 0 .5rem;font-size:1.375rem;line-height:1.3;font-weight:650;overflow-wrap:anywhere}h1:focus{outline:none}",
    "p{margin:0 0 .75rem;overflow-wrap:anywhere}.pb-lead{color:var(--fg)}",
    ".pb-muted{color:var(--muted);font-size:.9375rem}strong{font-weight:600}",
    ".pb-actions{display:flex;flex-direction:column;gap:.625rem;margin:1.5rem 0 0}.pb-actions:not(:has(button:not([hidden]))){display:none}",
    "button,.pb-button{display:block;width:100%;min-height:44px;padding:.625rem 1rem;font:inherit;font-weight:600;",
    "border-radius:10px;border:1px solid var(--edge);background:var(--bg);color:var(--fg);cursor:pointer;text-decoration:none}",
    "button.pb-primary,.pb-button.pb-primary{background:var(--accent);border-color:var(--accent);color:var(--accent-fg)}",
    "button:hover{filter:brightness(1.06)}button:disabled{cursor:default;filter:none;opacity:.55}button[hidden]{display:none}",
    ":focus-visible{outline:3px solid var(--accent);outline-offset:2px}",
    ".pb-note{display:flex;gap:.5rem;align-items:flex-start;justify-content:center;margin:1.25rem 0 0;color:var(--muted);",
    "font-size:.875rem;text-align:left}.pb-note svg{flex:none;width:16px;height:16px;margin-top:.2rem}",
    ".pb-choices{border:0;margin:1.25rem 0 0;padding:0;min-width:0;text-align:left}",
    ".pb-choices legend{padding:0;margin:0 0 .5rem;color:var(--muted);font-size:.9375rem}",
    ".pb-choice{display:flex;gap:.75rem;align-items:flex-start;padding:.75rem;margin:0 0 .5rem;border:1px solid var(--edge);",
    "border-radius:10px;cursor:pointer}.pb-choice:has(input:checked){border-color:var(--accent);box-shadow:inset 0 0 0 1px var(--accent)}",
    ".pb-choice input{flex:none;width:1.125rem;height:1.125rem;margin:.2rem 0 0;accent-color:var(--accent)}",
    ".pb-choice span{display:flex;flex-direction:column;min-width:0;overflow-wrap:anywhere}",
    ".pb-choice small{color:var(--muted);font-size:.875rem}",
);

/// `'sha256-…'` of [`STYLE`], for the CSP.
static STYLE_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(STYLE.as_bytes()))));

/// The marks between the company's and the integration's logos: a sign-in under way, done, failed.
const MARKS: &str = concat!(
    r#"<svg class="pb-pending" viewBox="0 0 28 28" aria-hidden="true" fill="currentColor"><circle cx="6" cy="14" r="2.5"/><circle cx="14" cy="14" r="2.5"/><circle cx="22" cy="14" r="2.5"/></svg>"#,
    r#"<svg class="pb-done" viewBox="0 0 28 28" aria-hidden="true"><circle cx="14" cy="14" r="13" fill="currentColor"/><path d="M8.5 14.5l3.5 3.5 7.5-8" fill="none" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>"#,
    r#"<svg class="pb-info" viewBox="0 0 28 28" aria-hidden="true"><circle cx="14" cy="14" r="13" fill="currentColor"/><path d="M14 12.5v7M14 8.5v.5" fill="none" stroke-width="2.6" stroke-linecap="round"/></svg>"#,
    r#"<svg class="pb-failed" viewBox="0 0 28 28" aria-hidden="true"><circle cx="14" cy="14" r="13" fill="currentColor"/><path d="M10 10l8 8M18 10l-8 8" fill="none" stroke-width="2.6" stroke-linecap="round"/></svg>"#,
);

/// A small padlock before a reassurance.
pub const LOCK: &str = r#"<svg viewBox="0 0 16 16" aria-hidden="true" fill="currentColor"><path d="M4.5 7V5a3.5 3.5 0 0 1 7 0v2H12a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1h.5zm1.5 0h4V5a2 2 0 0 0-4 0v2z"/></svg>"#;

/// Which of the marks a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A question to the person in front of the page (still dots).
    Ask,
    /// Under way (moving dots).
    Pending,
    Done,
    Failed,
    /// Nothing happened here (a page with nothing left to do).
    Info,
}

impl Mark {
    fn as_str(self) -> &'static str {
        match self {
            Mark::Ask => "ask",
            Mark::Pending => "pending",
            Mark::Done => "done",
            Mark::Failed => "failed",
            Mark::Info => "info",
        }
    }
}

/// What a page knows of its sign-in, for its header: who asks, what is connected, for whom. Each part is absent
/// when the page cannot know it (an unknown `state`, a flow gone).
#[derive(Debug, Clone, Default)]
pub struct Look {
    pub brand: Option<Brand>,
    /// The integration's name and its logo's URL (a vendored logo or a monogram, served by this origin).
    pub provider: Option<(String, String)>,
    /// The end user's name as the auth link's maker gave it.
    pub end_user: Option<String>,
}

impl Look {
    /// The company's name for a sentence, else `fallback` ("the app").
    pub fn company_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.brand.as_ref().map_or(fallback, |b| b.company.as_str())
    }

    /// The integration's name, else `fallback`.
    pub fn provider_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.provider.as_ref().map_or(fallback, |(name, _)| name.as_str())
    }

    fn header(&self, mark: Mark) -> String {
        let join = format!(r#"<span class="pb-join" data-mark="{}">{MARKS}</span>"#, mark.as_str());
        let company = self.brand.as_ref().map(|b| match &b.logo_url {
            Some(url) => format!(r#"<span class="pb-tile"><img class="pb-fill" src="{}" alt=""></span>"#, escape(url.as_str())),
            None => format!(r#"<span class="pb-tile pb-mono">{}</span>"#, escape(&initials(&b.company))),
        });
        let provider = self.provider.as_ref().map(|(_, logo)| format!(r#"<span class="pb-tile"><img src="{}" alt=""></span>"#, escape(logo)));
        match (company, provider) {
            (None, None) => format!(r#"<div class="pb-brand pb-solo">{join}</div>"#),
            (a, b) => format!(r#"<div class="pb-brand">{}{join}{}</div>"#, a.unwrap_or_default(), b.unwrap_or_default()),
        }
    }

    /// `img-src` of the CSP: this origin (integration logos) and the company logo's origin.
    fn img_src(&self) -> String {
        match self.brand.as_ref().and_then(|b| b.logo_url.as_ref()) {
            Some(u) => format!("'self' {}", u.origin().ascii_serialization()),
            None => "'self'".into(),
        }
    }
}

/// Up to two letters of a name ("Acme Robotics" → "AR"), for a company without a logo.
fn initials(name: &str) -> String {
    let letters: String = name.split_whitespace().filter_map(|w| w.chars().find(|c| c.is_alphanumeric())).take(2).flat_map(char::to_uppercase).collect();
    if letters.is_empty() {
        "·".into()
    } else {
        letters
    }
}

/// One page to answer.
pub struct Page<'a> {
    pub status: StatusCode,
    pub look: &'a Look,
    pub mark: Mark,
    /// The document's title (plain text).
    pub title: &'a str,
    /// The card's content below the header (HTML, its parts escaped by the caller).
    pub body: String,
    /// Attributes of `<body>` for the page's script (` data-x="…"`, escaped by the caller).
    pub data: String,
    /// The page's one script: a path on this origin.
    pub script: &'static str,
    /// Whether the script may `fetch` this origin (the authorize page).
    pub connect: bool,
    /// Where the page's form may send the browser, as CSP `form-action` sources: `'self'` for the choice among
    /// places a grant reaches, plus the origin of the host page the sign-in ends on when it ends there (browsers
    /// hold a form's redirects to `form-action` too). `None`: the page has no form.
    pub form: Option<String>,
}

impl Page<'_> {
    pub fn render(self) -> Response {
        let theme = self.look.brand.as_ref().and_then(|b| b.theme.as_deref());
        let (theme_attr, scheme) = match theme {
            Some(t @ ("light" | "dark")) => (format!(r#" data-theme="{t}""#), t),
            _ => (String::new(), "light dark"),
        };
        let html = format!(
            r#"<!doctype html><html lang="en"{theme_attr}><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="{scheme}"><meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>{title}</title><style>{STYLE}</style></head>
<body{data}><main class="pb-card">{header}{body}</main><script src="{script}"></script></body></html>"#,
            title = text(self.title),
            data = self.data,
            header = self.look.header(self.mark),
            body = self.body,
            script = self.script,
        );
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src {}; img-src {}; connect-src {}; base-uri 'none'; form-action {}; frame-ancestors 'none'",
            *STYLE_HASH,
            self.look.img_src(),
            if self.connect { "'self'" } else { "'none'" },
            self.form.as_deref().unwrap_or("'none'"),
        );
        let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
        (self.status, [(header::CONTENT_SECURITY_POLICY, csp), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Html(html)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shows_invisible_and_direction_changing_characters_as_what_they_are() {
        assert_eq!(shown("alice@acme.com"), "alice@acme.com");
        assert_eq!(shown("alice@acme.com\u{202e}moc.emca@yrolam"), "alice@acme.com\u{FFFD}moc.emca@yrolam");
        assert_eq!(shown("bo\u{200b}b\u{2066}\u{0007}"), "bo\u{FFFD}b\u{FFFD}\u{FFFD}");
        assert_eq!(shown("Zoë 山田"), "Zoë 山田");
        assert_eq!(text("<b>\"x\"</b>"), "&lt;b&gt;&quot;x&quot;&lt;/b&gt;");
    }

    #[test]
    fn a_company_without_a_logo_gets_its_initials() {
        assert_eq!(initials("Acme Robotics Inc"), "AR");
        assert_eq!(initials("zoë"), "Z");
        assert_eq!(initials("  "), "·");
    }

    #[test]
    fn the_page_names_its_style_by_hash_and_the_company_logo_origin_only() {
        let look = Look {
            brand: Some(Brand { company: "A<b>".into(), logo_url: Some(url::Url::parse("https://cdn.acme.example/l.svg?x=\"").unwrap()), theme: Some("dark".into()) }),
            provider: None,
            end_user: None,
        };
        let res = Page { status: StatusCode::OK, look: &look, mark: Mark::Done, title: "t", body: String::new(), data: String::new(), script: "/s.js", connect: false, form: None }.render();
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.contains(&format!("style-src {}", *STYLE_HASH)) && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("img-src 'self' https://cdn.acme.example;") && csp.contains("connect-src 'none'"), "{csp}");
    }
}
