//! Configuration errors in the operator's words: the environment variable or file key they
//! wrote (`PUSHGATE_LISTEN`, or `listen` in `pushgate.toml`), what was wrong, and what a valid
//! value looks like. Values are never echoed for secret settings.

use figment::error::Kind;
use figment::value::Value;

use super::Config;

/// One line per problem in `error`.
pub fn describe(error: figment::Error) -> String {
    let defaults =
        figment::Figment::from(figment::providers::Serialized::defaults(Config::default()));
    error
        .into_iter()
        .map(|e| describe_one(&e, &defaults))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_one(e: &figment::Error, defaults: &figment::Figment) -> String {
    let mut path: &[String] = &e.path;
    // File errors carry the profile ("default") as the first path element.
    if let (Some(profile), Some(first)) = (&e.profile, path.first())
        && profile.as_str().as_str().eq_ignore_ascii_case(first)
        && path.len() > 1
    {
        path = &path[1..];
    }
    let key = path.join(".").to_ascii_lowercase();
    let from_env = e
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    let file = e.metadata.as_ref().and_then(|m| match &m.source {
        Some(figment::Source::File(p)) => Some(p.display().to_string()),
        _ => None,
    });
    let secret = key.contains("master_key");
    let what = match &e.kind {
        Kind::UnknownField(field, _) => {
            return match &file {
                Some(file) => format!("unknown setting `{field}` in {file}"),
                None => format!("unknown setting `{field}`"),
            };
        }
        _ if secret => "invalid value".to_owned(),
        kind => kind.to_string(),
    };
    let place = if key.is_empty() {
        "configuration".to_owned()
    } else if from_env {
        format!("PUSHGATE_{}", key.to_ascii_uppercase())
    } else if let Some(file) = &file {
        format!("`{key}` in {file}")
    } else {
        format!("`{key}`")
    };
    match example(&key, defaults) {
        Some(example) => format!("{place}: {what}; a valid value looks like {example}"),
        None => format!("{place}: {what}"),
    }
}

/// An example of a valid value: the setting's default, or a hint for settings without one.
fn example(key: &str, defaults: &figment::Figment) -> Option<String> {
    let hint = match key {
        "database_url" => "`sqlite://data/pushgate.db` or `postgres://user@host/db`",
        "master_key" => "base64 of 32 random bytes (`openssl rand -base64 32`)",
        "apns_ca_file" => "`/etc/pushgate/simulator-ca.pem`",
        "metrics_listen" => "`127.0.0.1:9090`",
        "redis_url" => "`redis://127.0.0.1:6379`",
        "public_url" => "`https://push.example.com`",
        "status_callback_allowed_hosts" => "`hooks.example.com,*.example.net,127.0.0.1`",
        _ => "",
    };
    if !hint.is_empty() {
        return Some(hint.to_owned());
    }
    match defaults.find_value(key).ok()? {
        Value::String(_, s) if !s.is_empty() => Some(format!("`{s}`")),
        Value::Num(_, n) => Some(format!("a number such as `{}`", num(n))),
        Value::Bool(_, b) => Some(format!("`true` or `false` (default `{b}`)")),
        _ => None,
    }
}

fn num(n: figment::value::Num) -> String {
    n.to_u128()
        .map(|v| v.to_string())
        .or_else(|| n.to_i128().map(|v| v.to_string()))
        .or_else(|| n.to_f64().map(|v| v.to_string()))
        .unwrap_or_default()
}
