//! The registration-token registry: which tokens exist, for which project, and which were
//! unregistered. A token registered to one project and sent to from another is
//! SENDER_ID_MISMATCH; an unregistered one is UNREGISTERED; an unknown one is UNREGISTERED
//! only where strict mode is on (`--strict-tokens`, or per project).

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::config::{Error, valid_project_id};
use super::errors::FcmErrorCode;

/// Most registration tokens the registry holds.
const MAX_TOKENS: usize = 1_000_000;
/// Longest registration token accepted.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// `POST /tokens`: a registration token and the project whose app obtained it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRegistration {
    /// The FCM registration token.
    pub token: String,
    /// The Firebase project (sender) the token belongs to.
    pub project_id: String,
}

/// `POST /strict`: turn strict mode on or off for one project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StrictMode {
    /// The project.
    pub project_id: String,
    /// Whether unknown tokens of this project are UNREGISTERED.
    pub strict: bool,
}

/// Whether `token` is made of the characters FCM registration tokens use.
pub(crate) fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
}

#[derive(Debug, Clone)]
struct Entry {
    /// `None` for a token unregistered without ever being registered.
    project_id: Option<String>,
    unregistered: bool,
}

/// The registry.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    strict_all: bool,
    tokens: RwLock<HashMap<String, Entry>>,
    strict_projects: RwLock<HashSet<String>>,
}

impl Registry {
    /// An empty registry; `strict_all` makes every project strict.
    pub fn new(strict_all: bool) -> Registry {
        Registry {
            strict_all,
            ..Registry::default()
        }
    }

    /// Registers `reg.token` for `reg.project_id` (again active if it was unregistered).
    pub fn register(&self, reg: &TokenRegistration) -> Result<(), Error> {
        if !valid_token(&reg.token) {
            return Err(Error::InvalidInput(
                "token must be 1-4096 of A-Z a-z 0-9 - _ :".into(),
            ));
        }
        if !valid_project_id(&reg.project_id) {
            return Err(Error::InvalidInput(format!(
                "project_id {:?} is not a project id",
                reg.project_id
            )));
        }
        let mut map = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&reg.token) && map.len() >= MAX_TOKENS {
            return Err(Error::InvalidInput("too many registered tokens".into()));
        }
        map.insert(
            reg.token.clone(),
            Entry {
                project_id: Some(reg.project_id.clone()),
                unregistered: false,
            },
        );
        Ok(())
    }

    /// Makes `token` UNREGISTERED from now on.
    pub fn unregister(&self, token: &str) -> Result<(), Error> {
        if !valid_token(token) {
            return Err(Error::InvalidInput("not a registration token".into()));
        }
        let mut map = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(token) {
            e.unregistered = true;
            return Ok(());
        }
        if map.len() >= MAX_TOKENS {
            return Err(Error::InvalidInput("too many registered tokens".into()));
        }
        let entry = Entry {
            project_id: None,
            unregistered: true,
        };
        map.insert(token.to_string(), entry);
        Ok(())
    }

    /// Turns strict mode on or off for one project.
    pub fn set_strict(&self, mode: &StrictMode) -> Result<(), Error> {
        if !valid_project_id(&mode.project_id) {
            return Err(Error::InvalidInput("not a project id".into()));
        }
        let mut set = self
            .strict_projects
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if mode.strict {
            if set.len() >= 10_000 {
                return Err(Error::InvalidInput("too many strict projects".into()));
            }
            set.insert(mode.project_id.clone());
        } else {
            set.remove(&mode.project_id);
        }
        Ok(())
    }

    fn strict(&self, project_id: &str) -> bool {
        self.strict_all
            || self
                .strict_projects
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(project_id)
    }

    /// What FCM would say about sending to `token` from `project_id` (`None`: deliverable).
    pub fn judge(&self, token: &str, project_id: &str) -> Option<FcmErrorCode> {
        let map = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        match map.get(token) {
            Some(e) if e.unregistered => Some(FcmErrorCode::Unregistered),
            Some(e) if e.project_id.as_deref() != Some(project_id) => {
                Some(FcmErrorCode::SenderIdMismatch)
            }
            Some(_) => None,
            None => self
                .strict(project_id)
                .then_some(FcmErrorCode::Unregistered),
        }
    }

    /// Forgets tokens and per-project strictness.
    pub fn reset(&self) {
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.strict_projects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
