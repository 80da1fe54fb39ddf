//! Loading, layering and validation of [`Config`](super::Config): defaults, file and
//! environment, comma-separated lists, and errors named as the operator wrote them.

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

fn load_error() -> String {
    Config::load(None).unwrap_err().to_string()
}

#[test]
fn lists_from_the_environment_are_comma_separated() {
    figment::Jail::expect_with(|jail| {
        jail.set_env(
            "PUSHGATE_STATUS_CALLBACK_ALLOWED_HOSTS",
            "a.example, *.b.example,127.0.0.1,",
        );
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(
            c.status_callback_allowed_hosts,
            ["a.example", "*.b.example", "127.0.0.1"]
        );
        jail.set_env("PUSHGATE_STATUS_CALLBACK_ALLOWED_HOSTS", "127.0.0.1");
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(c.status_callback_allowed_hosts, ["127.0.0.1"]);
        // The TOML array form still works, in the environment and in a file.
        jail.set_env("PUSHGATE_STATUS_CALLBACK_ALLOWED_HOSTS", "[\"x.example\"]");
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(c.status_callback_allowed_hosts, ["x.example"]);
        jail.clear_env();
        jail.create_file(
            "p.toml",
            "status_callback_allowed_hosts = [\"c.example\", \"::1\"]\n",
        )?;
        let c = Config::load(Some(Path::new("p.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.status_callback_allowed_hosts, ["c.example", "::1"]);
        Ok(())
    });
}

#[test]
fn errors_name_the_variable_or_file_key_the_operator_wrote() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("PUSHGATE_LISTEN", "nonsense");
        let e = load_error();
        assert!(e.contains("PUSHGATE_LISTEN"), "{e}");
        assert!(e.contains("127.0.0.1:8080"), "{e}");
        assert!(!e.contains("\"LISTEN\""), "{e}");
        jail.clear_env();

        jail.set_env("PUSHGATE_MAX_BODY_BYTES", "lots");
        let e = load_error();
        assert!(e.contains("PUSHGATE_MAX_BODY_BYTES"), "{e}");
        assert!(e.contains("262144"), "{e}");
        jail.clear_env();

        jail.create_file("p.toml", "listen = \"bad\"\n")?;
        let e = Config::load(Some(Path::new("p.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen` in "), "{e}");
        assert!(e.contains("p.toml"), "{e}");
        assert!(!e.contains("default.listen"), "{e}");
        Ok(())
    });
}

#[test]
fn errors_never_echo_a_secret_value() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("PUSHGATE_MASTER_KEY", "[\"not-a-key-but-secret\"]");
        let e = load_error();
        assert!(e.contains("PUSHGATE_MASTER_KEY"), "{e}");
        assert!(!e.contains("not-a-key-but-secret"), "{e}");
        Ok(())
    });
}

#[test]
fn quickstart_account_is_an_account_sid() {
    figment::Jail::expect_with(|jail| {
        assert_eq!(
            Config::load(None)
                .map_err(|e| e.to_string())?
                .quickstart_account,
            None
        );
        let sid = crate::domain::AccountSid::generate();
        jail.set_env("PUSHGATE_QUICKSTART_ACCOUNT", sid.as_str());
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(c.quickstart_account, Some(sid));
        jail.set_env("PUSHGATE_QUICKSTART_ACCOUNT", "SK123");
        let e = load_error();
        assert!(e.contains("PUSHGATE_QUICKSTART_ACCOUNT"), "{e}");
        Ok(())
    });
}

#[test]
fn invite_retention_is_hours_and_zero_keeps_forever() {
    figment::Jail::expect_with(|jail| {
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(c.invite_retention_hours, 168);
        assert_eq!(
            c.invite_retention(),
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        jail.set_env("PUSHGATE_INVITE_RETENTION_HOURS", "0");
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(c.invite_retention(), None);
        jail.set_env("PUSHGATE_INVITE_RETENTION_HOURS", "24");
        let c = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(
            c.invite_retention(),
            Some(std::time::Duration::from_secs(86_400))
        );
        jail.set_env("PUSHGATE_INVITE_RETENTION_HOURS", "23");
        let e = load_error();
        assert!(e.contains("invite_retention_hours"), "{e}");
        jail.set_env("PUSHGATE_INVITE_RETENTION_HOURS", "a week");
        let e = load_error();
        assert!(e.contains("PUSHGATE_INVITE_RETENTION_HOURS"), "{e}");
        assert!(e.contains("168"), "{e}");
        jail.clear_env();
        jail.create_file("p.toml", "invite_retention_hours = 720\n")?;
        let c = Config::load(Some(Path::new("p.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.invite_retention_hours, 720);
        Ok(())
    });
}
