//! `pushgate rotate-master-key`: re-encrypt every stored secret under a new master key.

use anyhow::{Context, bail};

use crate::config::Config;
use crate::secrets::MasterKey;
use crate::store::Store;

/// Re-seals all secrets with the key in `$new_key_env`, in one transaction. When the current
/// key is the generated key file, the file is replaced too (written beside it first, renamed
/// after the commit).
pub(super) async fn rotate(
    store: &Store,
    old: &MasterKey,
    config: &Config,
    new_key_env: &str,
) -> anyhow::Result<()> {
    let encoded = std::env::var(new_key_env)
        .with_context(|| format!("environment variable {new_key_env} is not set"))?;
    let new = MasterKey::from_base64(&encoded)?;
    if new.to_base64() == old.to_base64() {
        bail!("the new master key is the current one");
    }
    let key_file = config
        .master_key
        .is_none()
        .then(|| config.data_dir.join("master.key"));
    let staged = match &key_file {
        Some(path) => {
            let staged = path.with_extension("key.new");
            write_private(&staged, &new.to_base64())?;
            Some(staged)
        }
        None => None,
    };
    let count = store
        .reseal_all(|sid, sealed| new.seal(&old.open(sealed, sid)?, sid))
        .await?;
    println!("re-encrypted {count} secret(s) under the new master key");
    match (key_file, staged) {
        (Some(path), Some(staged)) => {
            std::fs::rename(&staged, &path).with_context(|| {
                format!(
                    "secrets now use the new key, but {} could not replace {}: move it by hand",
                    staged.display(),
                    path.display()
                )
            })?;
            println!("{} now holds the new key", path.display());
        }
        _ => println!("now set PUSHGATE_MASTER_KEY to the new key on every instance"),
    }
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
