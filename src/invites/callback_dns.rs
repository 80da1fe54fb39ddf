//! Name resolution for status callbacks, checked: the HTTP client resolves callback hosts only
//! through [`GuardedResolver`], which resolves once, checks every address against the address
//! policy (unless the name is on `status_callback_allowed_hosts`) and hands the client only the
//! addresses it checked — so the connection goes to a checked address and a second lookup (DNS
//! rebinding) never happens. A name with any non-public address is refused as a whole.
//!
//! Where names are looked up is a [`Lookup`]: the system resolver in production, a fixed table
//! ([`StaticLookup`]) for tests and embedding, injected through
//! [`Config::callback_lookup`](crate::config::Config::callback_lookup).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address_policy;
use super::callback_url::AllowList;

/// The future a [`Lookup`] returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves a host name to its addresses.
pub trait Lookup: Send + Sync {
    /// Every address of `host`.
    fn lookup(&self, host: String) -> LookupFuture;
}

/// The system resolver (`getaddrinfo`, through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> LookupFuture {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names: anything else does not resolve.
#[derive(Default)]
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl Lookup for StaticLookup {
    fn lookup(&self, host: String) -> LookupFuture {
        let found = self.0.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown host"))
        })
    }
}

/// The [`Lookup`] status callbacks use; the system resolver unless one is injected.
#[derive(Clone, Default)]
pub struct CallbackLookup(pub Option<Arc<dyn Lookup>>);

impl CallbackLookup {
    /// The injected lookup, or the system resolver.
    pub fn get(&self) -> Arc<dyn Lookup> {
        self.0.clone().unwrap_or_else(|| Arc::new(SystemLookup))
    }
}

impl fmt::Debug for CallbackLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "CallbackLookup(injected)"
        } else {
            "CallbackLookup(system)"
        })
    }
}

/// A callback host resolved to an address the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, {why}, not a public address")]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub why: &'static str,
}

/// Whether `error` (from the HTTP client) was a [`Refused`] target.
pub fn refused<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        cause = e.source();
    }
    None
}

/// The resolver of the callback HTTP client (see the module doc).
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    allowed: AllowList,
}

impl GuardedResolver {
    /// Resolves through `lookup`, trusting the names on `allowed`.
    pub fn new(lookup: Arc<dyn Lookup>, allowed: AllowList) -> Self {
        Self { lookup, allowed }
    }

    async fn checked(
        lookup: Arc<dyn Lookup>,
        trusted: bool,
        host: String,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs = lookup.lookup(host.clone()).await?;
        if !trusted {
            for ip in &addrs {
                if let Some(why) = address_policy::refusal(*ip) {
                    return Err(Box::new(Refused { host, ip: *ip, why }));
                }
            }
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = self.allowed.allows_name(&host);
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let addrs = Self::checked(lookup, trusted, host).await?;
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<dyn Lookup> {
        let mut t = HashMap::new();
        t.insert("evil.test".to_owned(), vec!["127.0.0.1".parse().unwrap()]);
        t.insert(
            "mixed.test".to_owned(),
            vec![
                "93.184.216.34".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
            ],
        );
        t.insert(
            "good.test".to_owned(),
            vec!["93.184.216.34".parse().unwrap()],
        );
        Arc::new(StaticLookup(t))
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_unless_listed() {
        let r = GuardedResolver::new(table(), AllowList::default());
        for bad in ["evil.test", "mixed.test"] {
            let err = r.resolve(bad.parse().unwrap()).await.err().unwrap();
            assert!(refused(err.as_ref()).is_some(), "{bad}: {err}");
        }
        let ok: Vec<_> = r
            .resolve("good.test".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(ok, vec!["93.184.216.34:0".parse().unwrap()]);
        let listed = GuardedResolver::new(table(), AllowList::new(&["evil.test".into()]));
        assert!(listed.resolve("evil.test".parse().unwrap()).await.is_ok());
    }
}
