//! Server-side validation of connect-form fields against the catalog (the widget's checks are a courtesy).

use std::collections::BTreeMap;

use crate::{
    catalog::{origin_on_hosts, reads_as_ip_address, Integration},
    vault::SecretString,
};

pub const MAX_FIELD_LEN: usize = 4096;

/// A connect form's values, split: the non-secret config and the secrets, by field name.
pub type Split = (BTreeMap<String, String>, BTreeMap<String, SecretString>);

/// Splits submitted fields into non-secret config and secret values, refusing anything the catalog does not
/// describe or that does not match its pattern.
pub fn validate(entry: &Integration, submitted: &BTreeMap<String, String>) -> Result<Split, String> {
    if let Some(unknown) = submitted.keys().find(|k| !entry.fields.iter().any(|f| &f.name == *k)) {
        return Err(format!("{} has no field {unknown:?}", entry.name));
    }
    let mut config = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for f in &entry.fields {
        let typed = submitted.get(&f.name).map(|v| v.trim()).unwrap_or("");
        let value = if typed.is_empty() { f.default.as_deref().unwrap_or("") } else { typed };
        if value.is_empty() {
            if f.optional {
                continue;
            }
            return Err(format!("{} is required", f.label));
        }
        if value.len() > MAX_FIELD_LEN {
            return Err(format!("{} is too long", f.label));
        }
        let label;
        let value = if f.subdomain_of.is_empty() {
            value
        } else {
            label = subdomain_label(value, &f.subdomain_of).ok_or_else(|| {
                let example = f.placeholder.as_deref().filter(|p| is_host_label(p)).unwrap_or("acme");
                let domain = &f.subdomain_of[0];
                format!("{} must be your address on {} (like {example} or https://{example}.{domain}), and on no other site", f.label, f.subdomain_of.join(" or "))
            })?;
            label.as_str()
        };
        if let Some(pattern) = &f.pattern {
            // Patterns were compiled when the catalog loaded, so this cannot fail for catalog entries.
            let re = regex::Regex::new(pattern).map_err(|_| format!("{} cannot be checked", f.label))?;
            if !re.is_match(value) {
                return Err(format!("{} does not look right", f.label));
            }
        }
        let value = if !f.hosts.is_empty() {
            origin_on_hosts(value, &f.hosts).ok_or_else(|| format!("{} must be an https address on {}", f.label, f.hosts.join(", ")))?
        } else if url_template_uses(entry, &f.name, false) && !is_host_label(value) {
            return Err(format!("{} may only contain letters, digits and dashes", f.label));
        } else if url_template_uses(entry, &f.name, true) && reads_as_ip_address(value) {
            // `https://{x}.example.com` keeps the provider's domain whatever `x` is; a number is refused anyway.
            return Err(format!("{} must be a name, not a number", f.label));
        } else {
            value.to_owned()
        };
        if f.secret {
            secrets.insert(f.name.clone(), SecretString::new(value));
        } else {
            config.insert(f.name.clone(), value);
        }
    }
    Ok((config, secrets))
}

/// Whether `{name}` appears in one of the entry's URLs (so its value becomes part of one), or with `in_host`, in
/// the host part of one.
fn url_template_uses(entry: &Integration, name: &str, in_host: bool) -> bool {
    let needle = format!("{{{name}}}");
    let mut urls = vec![entry.api_base_url.as_str()];
    if let Some(o) = &entry.oauth {
        urls.extend([o.authorization_url.as_str(), o.token_url.as_str()]);
        urls.extend(o.revoke_url.as_deref());
    }
    urls.extend(entry.verify.as_ref().map(|v| v.url.as_str()));
    urls.extend(entry.metadata.iter().filter_map(|m| m.url.as_deref()));
    urls.iter().any(|u| if in_host { crate::catalog::template_host(u).is_some_and(|h| h.contains(&needle)) } else { u.contains(&needle) })
}

/// What a person pasted for a field whose value is the first label of a host on one of `domains` (see
/// `Field::subdomain_of`), cut down to that label: `Acme` → `acme`, `acme.myshopify.com` and
/// `https://ACME.myshopify.com/admin?x#y` → `acme`. `None` for anything that is not such a host: another domain
/// (`acme.evil.com`, `acme.myshopify.com.evil.com`, `https://evil.com/acme.myshopify.com`), a user name or
/// password (`https://acme.myshopify.com@evil.com`), a port, a scheme other than http(s), more than one label
/// before the domain, or any letter outside ASCII (a Cyrillic `а` looks like a Latin `a`; the `url` crate would
/// turn it into an `xn--` name silently).
pub fn subdomain_label(raw: &str, domains: &[String]) -> Option<String> {
    let v = raw.trim();
    if !v.is_ascii() || v.is_empty() {
        return None;
    }
    if !v.contains(['.', '/', ':', '@', '\\', '?', '#', '%']) {
        return Some(v.to_ascii_lowercase());
    }
    // An address: read as browsers do (WHATWG URL), with `https://` when no scheme was pasted.
    let url = if v.contains("://") { url::Url::parse(v) } else { url::Url::parse(&format!("https://{v}")) }.ok()?;
    let plain = matches!(url.scheme(), "https" | "http") && url.username().is_empty() && url.password().is_none() && url.port().is_none();
    let Some(url::Host::Domain(host)) = url.host().filter(|_| plain) else { return None };
    let label = domains.iter().find_map(|d| host.strip_suffix(d.as_str()).and_then(|rest| rest.strip_suffix('.')))?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

/// A single DNS label: keeps a templated host under the provider's own domain (no `evil.com/`, `@`, `..`).
fn is_host_label(v: &str) -> bool {
    !v.is_empty() && v.len() <= 63 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::template::render;
    use crate::catalog::Catalog;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn splits_secret_and_plain_fields() {
        let c = Catalog::builtin().unwrap();
        let (config, secrets) =
            validate(c.get("freshdesk").unwrap(), &fields(&[("domain", "acme"), ("api_key", "k-123")])).unwrap();
        assert_eq!(config["domain"], "acme");
        assert_eq!(secrets["api_key"].expose(), "k-123");
    }

    #[test]
    fn refuses_missing_unknown_malformed_and_host_escaping_values() {
        let c = Catalog::builtin().unwrap();
        let stripe = c.get("stripe").unwrap();
        assert!(validate(stripe, &fields(&[])).unwrap_err().contains("required"));
        assert!(validate(stripe, &fields(&[("api_key", "nope")])).unwrap_err().contains("does not look right"));
        assert!(validate(stripe, &fields(&[("api_key", "sk_test_abcdefghijkl"), ("x", "1")])).is_err());
        let fd = c.get("freshdesk").unwrap();
        for evil in ["evil.com/", "a@b", "..", "a.b"] {
            assert!(validate(fd, &fields(&[("domain", evil), ("api_key", "k")])).is_err(), "{evil}");
        }
    }

    #[test]
    fn what_people_paste_for_a_subdomain_is_cut_down_to_it_and_other_hosts_are_refused() {
        let c = Catalog::builtin().unwrap();
        let fd = c.get("freshdesk").unwrap();
        let domain = |v: &str| validate(fd, &fields(&[("domain", v), ("api_key", "k")])).map(|(config, _)| config["domain"].clone());
        for pasted in ["acme", " Acme ", "ACME", "acme.freshdesk.com", "Acme.Freshdesk.com", "https://acme.freshdesk.com", "https://acme.freshdesk.com/a/tickets/1?x=1#y", "http://acme.freshdesk.com/", "acme.freshdesk.com/helpdesk"] {
            assert_eq!(domain(pasted).as_deref(), Ok("acme"), "{pasted:?}");
        }
        for hostile in [
            "acme.evil.com",
            "https://evil.com/acme.freshdesk.com",
            "acme.freshdesk.com.evil.com",
            "https://acme.freshdesk.com@evil.com",
            "https://evil.com@acme.freshdesk.com",
            "https://user:pw@acme.freshdesk.com",
            "acme.freshdesk.com:8443",
            "evil.com\\@acme.freshdesk.com",
            "a.b.freshdesk.com",
            ".freshdesk.com",
            "freshdesk.com",
            "ftp://acme.freshdesk.com",
            "аcme.freshdesk.com",
            "acme.freshdеsk.com",
            "xn--cme-8cd.freshdesk.evil.com",
            "acme.freshdesk.com.",
            "acme freshdesk",
        ] {
            let err = domain(hostile).unwrap_err();
            assert!(err.contains("address on freshdesk.com") || err.contains("does not look right"), "{hostile:?}: {err}");
        }
    }

    #[test]
    fn every_field_that_is_the_first_label_of_a_host_says_on_which_domain() {
        // What people paste into such a field is an address as often as the label: each is declared.
        let c = Catalog::builtin().unwrap();
        for e in c.all() {
            let mut urls = vec![e.api_base_url.as_str()];
            if let Some(o) = &e.oauth {
                urls.extend([o.authorization_url.as_str(), o.token_url.as_str()]);
            }
            urls.extend(e.verify.as_ref().map(|v| v.url.as_str()));
            for f in &e.fields {
                let needle = format!("{{{}}}.", f.name);
                for host in urls.iter().filter_map(|u| crate::catalog::template_host(u)) {
                    if let Some(domain) = host.strip_prefix(&needle) {
                        assert!(f.subdomain_of.iter().any(|d| d == domain), "{}: field {} is the first label of {host}: subdomainOf = [\"{domain}\"]", e.platform, f.name);
                    }
                }
            }
        }
    }

    #[test]
    fn a_host_value_that_would_read_as_an_address_is_refused() {
        let c = Catalog::builtin().unwrap();
        let fd = c.get("freshdesk").unwrap();
        for number in ["2130706433", "0x7f000001", "0177", "127", "0x", "4294967295", "99999999999"] {
            let err = validate(fd, &fields(&[("domain", number), ("api_key", "k")])).unwrap_err();
            assert!(err.contains("not a number"), "{number}: {err}");
        }
        for name in ["acme", "acme-2", "7eleven", "0xcafe-shop", "x0"] {
            assert!(validate(fd, &fields(&[("domain", name), ("api_key", "k")])).is_ok(), "{name}");
        }
        // A value in a path may be a number (Ecwid's store id).
        let ecwid = c.get("ecwid").unwrap();
        let store = ecwid.fields.iter().map(|f| (f.name.as_str(), if f.name == "store_id" { "12345678" } else { "secret_token_12345" })).collect::<Vec<_>>();
        assert!(validate(ecwid, &fields(&store)).is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Any text, and text built from braces and placeholder names (what a naive renderer gets wrong).
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![".{0,40}", "(x|\\{|\\}|\\{a\\}|\\{b\\}|\\{secret\\}){0,6}"]
        }

        proptest! {
            #[test]
            fn values_are_inserted_as_given_exactly_once(a in value(), b in value()) {
                // Values may hold braces and other placeholders' names: they are never expanded again.
                let values = fields(&[("a", &a), ("b", &b), ("secret", "SECRET")]);
                prop_assert_eq!(render("x{a}y{b}z", &values), format!("x{a}y{b}z"));
            }

            #[test]
            fn a_template_naming_nothing_known_is_unchanged(t in ".{0,80}") {
                prop_assert_eq!(render(&t, &BTreeMap::new()), t);
            }

            #[test]
            fn whatever_is_typed_as_a_subdomain_stays_under_the_providers_domain(domain in ".{0,70}") {
                let c = Catalog::builtin().unwrap();
                let freshdesk = c.get("freshdesk").unwrap();
                if let Ok((config, _)) = validate(freshdesk, &fields(&[("domain", &domain), ("api_key", "k")])) {
                    let url = url::Url::parse(&render(&freshdesk.api_base_url, &config)).unwrap();
                    let host = url.host_str().unwrap();
                    prop_assert!(host.ends_with(".freshdesk.com") && host.matches('.').count() == 2, "{}", host);
                    prop_assert_eq!(url.path(), "/api/v2");
                }
            }

            #[test]
            fn a_subdomain_is_never_read_as_an_address(domain in "(0[xX])?[0-9a-fA-F]{0,12}|[0-9]{1,12}|[a-z0-9-]{1,20}") {
                let c = Catalog::builtin().unwrap();
                let freshdesk = c.get("freshdesk").unwrap();
                if let Ok((config, _)) = validate(freshdesk, &fields(&[("domain", &domain), ("api_key", "k")])) {
                    prop_assert!(!reads_as_ip_address(&config["domain"]), "{}", domain);
                    let url = url::Url::parse(&format!("https://{}/", config["domain"])).unwrap();
                    prop_assert!(matches!(url.host(), Some(url::Host::Domain(_))), "{}", url);
                }
            }

            #[test]
            fn plain_http_or_another_port_only_for_a_loopback_address(raw in "(https?://)?(127|2130706433|0x7f000001|[a-z]{1,5})(\\.[a-z0-9]{1,5}){0,3}(\\.my\\.salesforce\\.com)?(:[0-9]{1,5})?/?") {
                let hosts = vec!["*.my.salesforce.com".to_string(), "127.0.0.1".to_string()];
                if let Some(origin) = crate::catalog::origin_on_hosts(&raw, &hosts) {
                    let url = url::Url::parse(&origin).unwrap();
                    if url.scheme() == "http" || url.port().is_some() {
                        prop_assert_eq!(url.host(), Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST)), "{}", origin);
                    }
                }
            }

            #[test]
            fn an_address_on_an_allow_list_is_an_https_origin_on_that_list(raw in "(https?://)?[a-z.@:/?#%-]{0,40}(\\.my\\.salesforce\\.com)?[a-z/:@?#.-]{0,10}") {
                let hosts = vec!["*.my.salesforce.com".to_string(), "login.salesforce.com".to_string()];
                if let Some(origin) = crate::catalog::origin_on_hosts(&raw, &hosts) {
                    let url = url::Url::parse(&origin).unwrap();
                    let host = url.host_str().unwrap();
                    prop_assert_eq!(url.scheme(), "https");
                    prop_assert!(host.ends_with(".my.salesforce.com") || host == "login.salesforce.com", "{}", host);
                    prop_assert_eq!(origin, format!("https://{host}"));
                }
            }
        }
    }
}
