//! `pushgate rotate-master-key`: re-encrypt every stored secret under a new master key, and
//! (for the generated key file) replace the file atomically, keeping the old key as previous.
//! The rolling procedure for several replicas is in the README ("Master key and rotation").

use anyhow::{Context, bail};

use crate::config::Config;
use crate::secrets::{MasterKey, PREVIOUS_FILE_SUFFIX, write_private_atomically};
use crate::store::Store;

/// Re-seals every secret not yet under the target key: the key in `$new_key_env` if given,
/// else the configured current key (`master_key`), else (key file) a newly generated key.
/// Values open under any key of `ring` (current + previous). One transaction, all or nothing.
pub(super) async fn rotate(
    store: &Store,
    ring: &MasterKey,
    config: &Config,
    new_key_env: Option<&str>,
) -> anyhow::Result<()> {
    let key_file = config
        .master_key
        .is_none()
        .then(|| config.master_key_file());
    let target = match new_key_env {
        Some(var) => {
            let encoded = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            MasterKey::from_base64(&encoded)?
        }
        None if key_file.is_some() => MasterKey::generate(),
        None => ring.clone(),
    };
    if key_file.is_some() && target.key_id() == ring.key_id() {
        bail!("the new master key is the current one");
    }
    // Opens with every key we know, seals with the target.
    let both = target.clone().with_previous([ring.clone()]);
    let staged = match &key_file {
        Some(path) => Some(stage_key_file(path, ring, &target)?),
        None => None,
    };
    let count = store
        .reseal_all(|sid, sealed| match both.is_current(sealed) {
            true => Ok(None),
            false => Ok(Some(both.seal(&both.open(sealed, sid)?, sid)?)),
        })
        .await?;
    println!(
        "re-encrypted {} secret(s) under master key {} ({} already were)",
        count.resealed,
        target.key_id(),
        count.unchanged
    );
    match (key_file, staged) {
        (Some(path), Some(staged)) => {
            std::fs::rename(&staged, &path)
                .and_then(|()| sync_dir(&path))
                .with_context(|| {
                    format!(
                        "secrets now use the new key, but {} could not replace {}: move it \
                         by hand (the server reads both meanwhile)",
                        staged.display(),
                        path.display()
                    )
                })?;
            println!(
                "{} now holds the new key; the old one is kept in {}{PREVIOUS_FILE_SUFFIX}",
                path.display(),
                path.display()
            );
            println!(
                "next: restart pushgate so it seals with the new key; once no old backup needs \
                 it, delete {}{PREVIOUS_FILE_SUFFIX}",
                path.display()
            );
        }
        _ if new_key_env.is_some() => println!(
            "next: on every replica set PUSHGATE_MASTER_KEY to the new key and \
             PUSHGATE_MASTER_KEY_PREVIOUS to the old one, roll them, run rotate-master-key \
             once more (it re-seals what was written meanwhile), then remove \
             PUSHGATE_MASTER_KEY_PREVIOUS and roll again"
        ),
        _ => println!(
            "next: once every replica runs with master key {} as PUSHGATE_MASTER_KEY, remove \
             PUSHGATE_MASTER_KEY_PREVIOUS from each and roll them again",
            target.key_id()
        ),
    }
    Ok(())
}

/// Before anything is re-sealed: every key of `ring` goes to `<key file>.previous`, and the
/// new key to `<key file>.new` (both read by servers starting meanwhile), so a crash at any
/// point leaves every value openable.
fn stage_key_file(
    path: &std::path::Path,
    ring: &MasterKey,
    target: &MasterKey,
) -> anyhow::Result<std::path::PathBuf> {
    let mut previous = path.as_os_str().to_owned();
    previous.push(PREVIOUS_FILE_SUFFIX);
    let previous = std::path::PathBuf::from(previous);
    let mut lines: Vec<String> = vec![format!(
        "# master keys before the rotation to {}",
        target.key_id()
    )];
    lines.extend(
        std::iter::once(ring.clone())
            .chain(ring.previous_keys())
            .map(|k| k.to_base64()),
    );
    write_private_atomically(&previous, &(lines.join("\n") + "\n"))
        .with_context(|| format!("cannot write {}", previous.display()))?;
    let staged = MasterKey::staged_path(path);
    write_private_atomically(&staged, &target.to_base64())
        .with_context(|| format!("cannot write {}", staged.display()))?;
    Ok(staged)
}

fn sync_dir(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}
