//! Status callback URLs: parsed and normalized once (WHATWG rules: lower-case host, IPv4
//! shorthand such as `2130706433` read as the address it is, tabs and line breaks dropped), and
//! checked against `status_callback_allowed_hosts` or, when the host is not on it, against the
//! public-unicast address policy. Only the normalized form is stored and logged.
//!
//! An IP literal is checked here; a DNS name can only be checked once resolved, which happens
//! at send time ([`super::callback_dns`]). A host on the allow-list is trusted as is, whatever
//! it resolves to.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;
use url::Host;

use super::address_policy;

/// Longest callback URL accepted.
const MAX_LEN: usize = 2048;

/// The hosts named by `status_callback_allowed_hosts`: exact names, `*.domain` suffixes, IP
/// addresses.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    names: Vec<String>,
    suffixes: Vec<String>,
    ips: Vec<IpAddr>,
}

impl AllowList {
    /// Reads the configured patterns (case and a trailing dot ignored).
    pub fn new(patterns: &[String]) -> Self {
        let mut list = AllowList::default();
        for pattern in patterns {
            let p = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
            let bare = p.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                list.ips.push(ip);
            } else if let Some(domain) = p.strip_prefix("*.") {
                list.suffixes.push(format!(".{domain}"));
            } else if !p.is_empty() {
                list.names.push(p);
            }
        }
        list
    }

    /// Whether no host is listed (then any public host may be called).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.suffixes.is_empty() && self.ips.is_empty()
    }

    /// Whether the DNS name `host` is listed.
    pub fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&host) || self.suffixes.iter().any(|s| host.ends_with(s))
    }

    /// Whether the address `ip` is listed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.ips.contains(&ip)
    }
}

/// A checked, normalized callback URL.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    /// Parses and checks `raw` against `allowed` (see the module doc).
    pub fn check(raw: &str, allowed: &AllowList) -> Result<Self, String> {
        if raw.len() > MAX_LEN {
            return Err("status_callback is longer than 2048 characters".into());
        }
        let url = Url::parse(raw).map_err(|_| "status_callback is not a URL".to_owned())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("status_callback must be an http:// or https:// URL".into());
        }
        let url = CallbackUrl(url);
        url.check_host(allowed)?;
        Ok(url)
    }

    /// Re-reads a URL stored by [`CallbackUrl::check`] (already normalized), checking it
    /// again against today's settings.
    pub fn stored(stored: &str, allowed: &AllowList) -> Result<Self, String> {
        Self::check(stored, allowed)
    }

    fn check_host(&self, allowed: &AllowList) -> Result<(), String> {
        match self.0.host() {
            None => Err("status_callback has no host".into()),
            Some(Host::Domain(name)) => {
                if allowed.allows_name(name) {
                    return Ok(());
                }
                if !allowed.is_empty() {
                    return Err(format!(
                        "status_callback host {name} is not on status_callback_allowed_hosts"
                    ));
                }
                let name = name.trim_end_matches('.');
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(format!(
                        "status_callback host {name} is an internal name; list it in \
                         status_callback_allowed_hosts to allow it"
                    ));
                }
                Ok(())
            }
            Some(Host::Ipv4(v4)) => check_ip(IpAddr::V4(v4), allowed),
            Some(Host::Ipv6(v6)) => check_ip(IpAddr::V6(v6), allowed),
        }
    }

    /// The URL, for the HTTP client.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The normalized URL as stored.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL without credentials, query or fragment: what log lines show.
    pub fn for_log(&self) -> String {
        let mut shown = self.0.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        shown.to_string()
    }
}

fn check_ip(ip: IpAddr, allowed: &AllowList) -> Result<(), String> {
    if allowed.allows_ip(ip) {
        return Ok(());
    }
    if !allowed.is_empty() {
        return Err(format!(
            "status_callback host {ip} is not on status_callback_allowed_hosts"
        ));
    }
    match address_policy::refusal(ip) {
        Some(why) => Err(format!(
            "status_callback host {ip} is {why}, not a public address; list it in \
             status_callback_allowed_hosts to allow it"
        )),
        None => Ok(()),
    }
}

impl fmt::Debug for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallbackUrl").field(&self.for_log()).finish()
    }
}

impl fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.for_log())
    }
}

#[cfg(test)]
#[path = "callback_url_tests.rs"]
mod tests;
