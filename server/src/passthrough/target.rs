//! The passthrough's rules (docs/architecture.md, The passthrough): which upstream URL a request may reach — only the catalog's API host,
//! under its base path — and which headers cross in each direction.

use axum::http::{header, HeaderMap, HeaderName};
use url::Url;

/// Builds the upstream URL for `raw_path` (the request's path after `/v1/passthrough/{platform}/`, still
/// percent-encoded as received) and `raw_query` under `base` (the integration's parsed API base URL). Refuses
/// anything that could leave the base: dot segments — plain, encoded, or made by decoding an encoded slash
/// (`a%2F..%2F..%2Fx`), however many times the provider decodes —, encoded backslashes and NULs, empty segments
/// (`//host`), control characters; and only ever changes the parsed base URL's path and query, checking the path
/// again afterwards, so a trick not listed here still cannot change the scheme, host or port, or escape the base
/// path.
///
/// An encoded slash is otherwise forwarded verbatim: it is how GitLab names a project (`projects/group%2Fproject`)
/// and Google Cloud Storage an object (`o/folder%2Ffile.txt`).
pub fn target(base: &Url, raw_path: &str, raw_query: Option<&str>) -> Result<Url, String> {
    if raw_path.bytes().any(|b| b.is_ascii_control() || b == b'\\' || b == b' ') {
        return Err("the path has characters that are not allowed".into());
    }
    let lower = raw_path.to_ascii_lowercase();
    if ["%5c", "%00"].iter().any(|enc| lower.contains(enc)) {
        return Err("encoded backslashes and NULs are not allowed in the path".into());
    }
    if raw_path.starts_with('/') || raw_path.contains("//") {
        // An empty segment is how `//evil.com` would turn into a host name.
        return Err("empty path segments are not allowed".into());
    }
    if raw_path.split('/').any(has_dot_segment) {
        return Err("dot segments are not allowed in the path".into());
    }
    // Only the path and query change: the parsed base keeps its scheme, host and port.
    let base_path = base.path().trim_end_matches('/');
    let mut path = String::with_capacity(base_path.len() + 1 + raw_path.len());
    path.push_str(base_path);
    if !raw_path.is_empty() || base_path.is_empty() {
        path.push('/');
        path.push_str(raw_path);
    }
    let mut url = base.clone();
    url.set_path(&path);
    url.set_query(raw_query.filter(|q| !q.is_empty()));
    let under_base = base_path.is_empty()
        || url.path() == base_path
        || url.path().strip_prefix(base_path).is_some_and(|rest| rest.starts_with('/'));
    if !under_base || url.host() != base.host() || url.port_or_known_default() != base.port_or_known_default() {
        return Err("the path leaves the integration's API".into());
    }
    Ok(url)
}

/// Whether `segment`, decoded once, twice or three times (providers and their proxies differ), is or contains a
/// `.`/`..` path component once decoded slashes and backslashes split it.
fn has_dot_segment(segment: &str) -> bool {
    if !segment.contains(['.', '%']) {
        // Nothing to decode and no dot: the common case, decided without copying.
        return false;
    }
    let mut text = segment.to_owned();
    for _ in 0..4 {
        // `..;jsessionid=1` is `..` to Java servers (Tomcat, Spring strip path parameters before resolving).
        if text.split(['/', '\\']).any(|part| matches!(part.split(';').next().unwrap_or_default(), "." | "..")) {
            return true;
        }
        let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            return false;
        }
        text = decoded;
    }
    true
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those `Connection` names in
/// `headers` — usually none, so nothing is allocated.
fn hop_by_hop(headers: &HeaderMap) -> impl Fn(&HeaderName) -> bool {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    move |name| {
        matches!(
            name.as_str(),
            "connection" | "keep-alive" | "proxy-authenticate" | "proxy-authorization" | "te" | "trailer" | "transfer-encoding" | "upgrade" | "proxy-connection"
        ) || listed.contains(name)
    }
}

/// Plugboard's own request headers: the host backend's credentials for Plugboard, never for the provider.
fn is_plugboard_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("x-one-") || n.starts_with("x-pica-") || n.starts_with("plugboard-") || n == "x-request-id"
}

/// What is forwarded upstream: everything but hop-by-hop headers, `Host`, Plugboard's own headers, the
/// caller's `Authorization` (it carries Plugboard's secret key, or would override the injected credential),
/// cookies and proxy-chain headers that would leak the caller's network.
pub fn request_headers(incoming: &HeaderMap) -> HeaderMap {
    let hop = hop_by_hop(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let n = name.as_str();
        let excluded = hop(name)
            || is_plugboard_header(name)
            || name == header::HOST
            || name == header::AUTHORIZATION
            || name == header::COOKIE
            || n == "forwarded"
            || n.starts_with("x-forwarded-")
            || n == "x-real-ip";
        if !excluded {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Removes from the provider's answer the hop-by-hop headers (those RFC 9110 §7.6.1 names and those its
/// `Connection` lists) and any that would pass as Plugboard's. When there are none the map is left as it is, with
/// nothing copied; else it is rebuilt without them, the other headers in the provider's order (`HeaderMap::remove`
/// would move the last header into each gap). Over HTTP/1.1 most answers have some (`Connection: keep-alive`,
/// `Transfer-Encoding: chunked`).
pub fn strip_response_headers(upstream: &mut HeaderMap) {
    let hop = hop_by_hop(upstream);
    let unwanted = |name: &HeaderName| hop(name) || is_plugboard_header(name);
    if !upstream.keys().any(&unwanted) {
        return;
    }
    let mut kept = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream.iter() {
        if !unwanted(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    *upstream = kept;
}

/// The `error` code of a `Bearer` challenge in the answer's `WWW-Authenticate` (RFC 6750 §3:
/// `Bearer realm="x", error="invalid_token", error_description="…"`), if the provider sent one.
/// `invalid_token` means the token is expired, revoked or otherwise dead (§3.1).
pub fn bearer_error(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).find_map(|challenge| {
        let (scheme, params) = challenge.trim().split_once(' ').unwrap_or((challenge.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        // auth-params are `name=token` or `name="quoted"`, separated by commas outside quotes (RFC 9110 §11.2).
        let (mut quoted, mut escaped, mut start, mut found) = (false, false, 0, None);
        for (i, c) in params.char_indices().chain(std::iter::once((params.len(), ','))) {
            match c {
                // A quoted-string's `\"` is a quote inside it (RFC 9110 §5.6.4).
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    if let Some((name, value)) = params[start..i].split_once('=') {
                        if name.trim().eq_ignore_ascii_case("error") {
                            found = Some(value.trim().trim_matches('"').to_owned());
                        }
                    }
                    start = (i + 1).min(params.len());
                }
                _ => {}
            }
        }
        found
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://api.example.com/v2";

    #[test]
    fn a_bearer_challenge_names_its_error() {
        let challenge = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::WWW_AUTHENTICATE, v.parse().unwrap());
            bearer_error(&h)
        };
        assert_eq!(challenge(r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#).as_deref(), Some("invalid_token"));
        assert_eq!(challenge(r#"bearer error=invalid_token"#).as_deref(), Some("invalid_token"));
        assert_eq!(challenge(r#"Bearer error_description="error=invalid_token, oh", error="insufficient_scope""#).as_deref(), Some("insufficient_scope"));
        assert_eq!(challenge(r#"Bearer error_description="a \"b, error=invalid_token", error="insufficient_scope""#).as_deref(), Some("insufficient_scope"));
        assert_eq!(challenge(r#"Bearer realm="example""#), None);
        assert_eq!(challenge(r#"Basic realm="error=invalid_token""#), None);
        assert_eq!(bearer_error(&HeaderMap::new()), None);
    }

    fn target(base: &str, raw_path: &str, raw_query: Option<&str>) -> Result<Url, String> {
        super::target(&Url::parse(base).unwrap(), raw_path, raw_query)
    }

    #[test]
    fn ordinary_paths_and_queries_reach_the_base() {
        assert_eq!(target(BASE, "users/me", None).unwrap().as_str(), "https://api.example.com/v2/users/me");
        assert_eq!(target(BASE, "", Some("a=1")).unwrap().as_str(), "https://api.example.com/v2?a=1");
        assert_eq!(target(BASE, "files/a%20b.txt", Some("q=x%26y")).unwrap().as_str(), "https://api.example.com/v2/files/a%20b.txt?q=x%26y");
        assert_eq!(target(BASE, "users/", None).unwrap().as_str(), "https://api.example.com/v2/users/");
        assert_eq!(target("https://api.example.com", "v1/x@y", None).unwrap().host_str(), Some("api.example.com"));
        for root in ["https://api.example.com", "https://api.example.com/"] {
            assert_eq!(target(root, "", None).unwrap().as_str(), "https://api.example.com/");
            assert_eq!(target(root, "users", Some("a=1")).unwrap().as_str(), "https://api.example.com/users?a=1");
        }
        assert_eq!(target("https://api.example.com/v2/", "", None).unwrap().as_str(), "https://api.example.com/v2");
    }

    #[test]
    fn tricks_that_would_leave_the_base_are_refused() {
        for path in [
            "/evil.com/x", "//evil.com", "../x", "a/../../x", "%2e%2e/x", "a/%2E%2E/x", ".%2e/x", "a/./b",
            "..;/x", "a/..;/..;/admin", "%2e%2e;jsessionid=1/x", ".;x=1/y",
            "a%2F..%2Fb", "a%2F..%2F..%2Fx", "a%252F..%252Fb", "%252e%252e/x", "a%2F.", "a\\b", "a%5cb", "a//b", "x\ny", "a%00b",
        ] {
            assert!(target(BASE, path, None).is_err(), "{path:?} must be refused");
        }
    }

    #[test]
    fn encoded_slashes_are_forwarded_verbatim() {
        let gitlab = target("https://gitlab.com/api/v4", "projects/group%2Fproject/issues", None).unwrap();
        assert_eq!(gitlab.as_str(), "https://gitlab.com/api/v4/projects/group%2Fproject/issues");
        let gcs = target("https://storage.googleapis.com/storage/v1", "b/bucket/o/folder%2fa%20b.txt", Some("alt=media")).unwrap();
        assert_eq!(gcs.as_str(), "https://storage.googleapis.com/storage/v1/b/bucket/o/folder%2fa%20b.txt?alt=media");
        assert_eq!(target(BASE, "%2Fevil.com", None).unwrap().host_str(), Some("api.example.com"));
        assert_eq!(target(BASE, "a%2F...%2Fb", None).unwrap().path(), "/v2/a%2F...%2Fb");
    }

    #[test]
    fn userinfo_in_the_path_stays_in_the_path() {
        let url = target(BASE, "@evil.com/x", None).unwrap();
        assert_eq!(url.host_str(), Some("api.example.com"));
        assert_eq!(url.path(), "/v2/@evil.com/x");
    }

    #[test]
    fn plugboard_and_hop_by_hop_headers_do_not_cross() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-one-secret", "sk_test_x"), ("x-one-connection-key", "k"), ("x-pica-secret", "s"),
            ("authorization", "Bearer sk_test_x"), ("connection", "close, x-custom-hop"), ("x-custom-hop", "1"),
            ("te", "trailers"), ("host", "plugboard"), ("cookie", "c=1"), ("x-forwarded-for", "10.0.0.1"),
            ("accept", "application/json"), ("x-app-header", "kept"),
        ] {
            h.insert(HeaderName::from_static(k), v.parse().unwrap());
        }
        let out = request_headers(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(out.contains_key("accept") && out.contains_key("x-app-header"));

        let mut up = HeaderMap::new();
        for (k, v) in [("content-type", "application/json"), ("transfer-encoding", "chunked"), ("x-request-id", "theirs"), ("x-rate-limit", "5")] {
            up.insert(HeaderName::from_static(k), v.parse().unwrap());
        }
        up.append("x-rate-limit", "6".parse().unwrap());
        up.insert("connection", "keep-alive, x-hop".parse().unwrap());
        up.insert("x-hop", "1".parse().unwrap());
        up.insert("x-last", "1".parse().unwrap());
        let mut back = up.clone();
        strip_response_headers(&mut back);
        let names: Vec<_> = back.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "x-rate-limit", "x-last"], "the provider's order, without the hop-by-hop ones");
        assert_eq!(back.get_all("x-rate-limit").iter().count(), 2, "every value of a kept header");

        let mut clean = HeaderMap::new();
        clean.insert("content-type", "application/json".parse().unwrap());
        let before = clean.clone();
        strip_response_headers(&mut clean);
        assert_eq!(clean, before);
    }
}
