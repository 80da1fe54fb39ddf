//! Serde helpers for secret settings: serialized, a secret is always the string
//! `"<redacted>"` (never its value), so a config dumped for display, a log line or a support
//! bundle cannot leak a key. Nothing round-trips a config through its serialized form: the
//! defaults figment starts from have no secrets set.

use secrecy::SecretString;
use serde::{Deserializer, Serializer};

/// What every secret serializes as.
pub const REDACTED: &str = "<redacted>";

/// Serializes a set secret as [`REDACTED`], an unset one as none.
pub fn serialize_option<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some(REDACTED),
        None => s.serialize_none(),
    }
}

/// Serializes a list of secrets as one [`REDACTED`] per entry.
pub fn serialize_list<S: Serializer>(v: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|_| REDACTED))
}

/// A list of secrets given as a list, or as one string of comma-separated values
/// (how an environment variable carries it).
pub fn deserialize_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    let items = crate::config::lists::comma_separated(d)?;
    Ok(items.into_iter().map(SecretString::from).collect())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::Config;
    use crate::secrets::MasterKey;

    fn config_with_keys() -> (Config, String, String) {
        let (current, previous) = (MasterKey::generate(), MasterKey::generate());
        let config = Config {
            master_key: Some(current.to_base64().into()),
            master_key_previous: vec![previous.to_base64().into()],
            ..Config::default()
        };
        (config, current.to_base64(), previous.to_base64())
    }

    #[test]
    fn serialized_config_never_contains_a_key() {
        let (config, current, previous) = config_with_keys();
        let json = serde_json::to_string(&config).unwrap();
        let figment = figment::Figment::from(figment::providers::Serialized::defaults(&config));
        let dict = format!("{:?}", figment.extract::<figment::value::Value>().unwrap());
        for text in [json, dict] {
            assert!(
                !text.contains(&current) && !text.contains(&previous),
                "{text}"
            );
            assert!(!text.contains(&current[..12]) && !text.contains(&previous[..12]));
            assert!(text.contains(super::REDACTED), "{text}");
        }
    }

    #[test]
    fn debug_of_config_never_contains_a_key() {
        let (config, current, previous) = config_with_keys();
        let text = format!("{config:?} {config:#?}");
        assert!(!text.contains(&current[..12]) && !text.contains(&previous[..12]));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
    fn previous_keys_load_from_a_list_or_a_string() {
        figment::Jail::expect_with(|jail| {
            let (a, b) = (MasterKey::generate(), MasterKey::generate());
            jail.set_env("PUSHGATE_DATABASE_URL", "sqlite::memory:");
            jail.set_env("PUSHGATE_MASTER_KEY", a.to_base64());
            jail.set_env(
                "PUSHGATE_MASTER_KEY_PREVIOUS",
                format!("{}, {}", b.to_base64(), a.to_base64()),
            );
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.master_key_previous.len(), 2);
            assert_eq!(c.master_key_previous[0].expose_secret(), b.to_base64());
            let ring = c.master_key().map_err(|e| e.to_string())?;
            let sealed = b.seal(b"x", "SK1").unwrap();
            assert_eq!(ring.open(&sealed, "SK1").unwrap(), b"x");
            jail.set_env("PUSHGATE_MASTER_KEY_PREVIOUS", "bm90IGEga2V5");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(
                e.contains("master_key_previous") && !e.contains("bm90"),
                "{e}"
            );
            Ok(())
        });
    }
}
