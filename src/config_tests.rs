//! Unit tests of the configuration loader.
#![allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error

use super::*;

#[test]
fn defaults_then_file_then_env() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("p.toml", "listen = \"127.0.0.1:9000\"\nlog = \"debug\"\n")?;
        jail.set_env("PUSHGATE_LOG", "warn");
        jail.set_env("PUSHGATE_TEST_POSTGRES_URL", "postgres://ignored");
        let c = Config::load(Some(Path::new("p.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.log, "warn");
        assert_eq!(c.max_registrations_per_identity, 20);
        assert_eq!(c.store_kind(), StoreKind::Sqlite);
        Ok(())
    });
}

#[test]
fn rejects_bad_values_with_clear_messages() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("PUSHGATE_DATABASE_URL", "mysql://x");
        let e = Config::load(None).unwrap_err().to_string();
        assert!(e.contains("database_url"), "{e}");
        jail.set_env("PUSHGATE_DATABASE_URL", "sqlite::memory:");
        jail.set_env("PUSHGATE_MASTER_KEY", "dG9vc2hvcnQ=");
        let e = Config::load(None).unwrap_err().to_string();
        assert!(e.contains("32 bytes"), "{e}");
        jail.create_file("bad.toml", "lisen = \"x\"\n")?;
        let e = Config::load(Some(Path::new("bad.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
        Ok(())
    });
}

#[test]
fn debug_does_not_print_the_master_key() {
    let c = Config {
        master_key: Some(SecretString::from(
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
        )),
        ..Config::default()
    };
    assert!(!format!("{c:?}").contains("c2VjcmV0"));
}
