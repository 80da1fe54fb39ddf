//! Which account an operation acts for when the caller has no API key to say so (the CLI,
//! the quickstart endpoints, the demo): the account named, or else the only one. Several
//! accounts and no choice is an error, never a silent pick of the first.

use crate::domain::AccountSid;
use crate::store::{AccountRecord, Store, StoreError};

/// Why no single account could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum AccountChoice {
    /// No account exists yet.
    #[error("no account yet: run `pushgate init` first")]
    NoAccount,
    /// Several accounts exist and none was named.
    #[error("several accounts exist ({count}): name the one to use")]
    Several {
        /// How many accounts exist.
        count: usize,
    },
    /// The named account does not exist.
    #[error("account {0} does not exist")]
    NotFound(AccountSid),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account `given` names, or the only account when `given` is `None`.
pub async fn resolve(
    store: &Store,
    given: Option<&AccountSid>,
) -> Result<AccountRecord, AccountChoice> {
    match given {
        Some(sid) => store
            .account(sid)
            .await?
            .ok_or_else(|| AccountChoice::NotFound(sid.clone())),
        None => only(store.accounts().await?),
    }
}

/// The single account of `accounts`.
pub fn only(mut accounts: Vec<AccountRecord>) -> Result<AccountRecord, AccountChoice> {
    match accounts.len() {
        0 => Err(AccountChoice::NoAccount),
        1 => Ok(accounts.remove(0)),
        count => Err(AccountChoice::Several { count }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::api_keys;
    use crate::secrets::MasterKey;

    fn record(n: i64) -> AccountRecord {
        AccountRecord {
            sid: AccountSid::generate(),
            friendly_name: format!("account {n}"),
            date_created: n,
        }
    }

    #[test]
    fn only_one_account_is_chosen_without_a_name() {
        assert!(matches!(only(Vec::new()), Err(AccountChoice::NoAccount)));
        let one = record(1);
        assert_eq!(only(vec![one.clone()]).unwrap().sid, one.sid);
        let several = only(vec![record(1), record(2)]);
        assert!(matches!(several, Err(AccountChoice::Several { count: 2 })));
    }

    #[tokio::test]
    async fn resolve_names_or_refuses_to_guess() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let master = MasterKey::generate();
        assert!(matches!(
            resolve(&store, None).await,
            Err(AccountChoice::NoAccount)
        ));
        let (first, _) = api_keys::create_account(&store, &master, "a", "k")
            .await
            .unwrap();
        assert_eq!(resolve(&store, None).await.unwrap().sid, first.sid);
        let (second, _) = api_keys::create_account(&store, &master, "b", "k")
            .await
            .unwrap();
        let err = resolve(&store, None).await.unwrap_err();
        assert!(matches!(err, AccountChoice::Several { count: 2 }), "{err}");
        let named = resolve(&store, Some(&second.sid)).await.unwrap();
        assert_eq!(named.sid, second.sid);
        let stranger = AccountSid::generate();
        let err = resolve(&store, Some(&stranger)).await.unwrap_err();
        assert!(matches!(err, AccountChoice::NotFound(ref s) if *s == stranger));
        assert!(err.to_string().contains(stranger.as_str()));
    }
}
