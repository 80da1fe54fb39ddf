//! Key files and private files on disk: the generated `master.key`, the previous keys kept
//! beside it after a rotation (`master.key.previous`), a key staged by an interrupted rotation
//! (`master.key.new`), and the modes everything in the data directory is created with
//! (directories 0700, files 0600, whatever the umask).
//!
//! A key file readable or writable by group or others is refused, never silently used.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{MasterKey, SecretsError};

/// Appended to the key file's name for the file of previous keys (one base64 key a line).
pub const PREVIOUS_FILE_SUFFIX: &str = ".previous";
/// Appended to the key file's name for a new key while a rotation is under way.
const STAGED_FILE_SUFFIX: &str = ".new";

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> SecretsError + '_ {
    move |source| SecretsError::KeyFile {
        path: path.display().to_string(),
        source,
    }
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

impl MasterKey {
    /// Loads the key from `path`, or generates it there (mode 0600, its directory 0700) if
    /// the file is absent. A key file others can read or write is refused.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretsError> {
        let io = io_error(path);
        if let Some(text) = read_private(path)? {
            return Self::from_base64(&text);
        }
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(&io)?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(key.to_base64().as_bytes()).map_err(&io)?;
                file.sync_all().map_err(&io)?;
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::from_base64(&std::fs::read_to_string(path).map_err(&io)?)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The keyring of a file-based key: `path` (created if absent) as current, plus the keys
    /// of `<path>.previous` and of a `<path>.new` left by an interrupted rotation.
    ///
    /// The staged file is read first: a rotation renames it over `path` once it has re-sealed
    /// everything, so a rename between the two reads shows the new key as `path` instead of
    /// losing it (read the other way round, a server could miss the key every value now names).
    pub fn load_file_ring(path: &Path) -> Result<Self, SecretsError> {
        let staged = read_previous_keys(&sibling(path, STAGED_FILE_SUFFIX))?;
        let current = Self::load_or_create(path)?;
        let mut previous = read_previous_keys(&sibling(path, PREVIOUS_FILE_SUFFIX))?;
        previous.extend(staged);
        Ok(current.with_previous(previous))
    }

    /// The path a rotation stages the new key at before it becomes `path`.
    pub fn staged_path(path: &Path) -> PathBuf {
        sibling(path, STAGED_FILE_SUFFIX)
    }
}

/// The keys listed in `path` (one base64 key a line; blank lines and `#` comments skipped);
/// none if the file does not exist. The file must be private like the key file.
pub fn read_previous_keys(path: &Path) -> Result<Vec<MasterKey>, SecretsError> {
    let Some(text) = read_private(path)? else {
        return Ok(Vec::new());
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(MasterKey::from_base64)
        .collect()
}

/// The text of a private file, `None` if it does not exist. The mode is checked on the file
/// opened, not on the path again, so a rename over `path` in between can't fail the read.
fn read_private(path: &Path) -> Result<Option<String>, SecretsError> {
    use std::io::Read as _;
    let io = io_error(path);
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    check_private_metadata(path, &file.metadata().map_err(&io)?)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    Ok(Some(text))
}

/// Refuses a file whose mode lets group or others read or write it.
pub fn check_private_file(path: &Path) -> Result<(), SecretsError> {
    check_private_metadata(path, &std::fs::metadata(path).map_err(io_error(path))?)
}

fn check_private_metadata(path: &Path, metadata: &std::fs::Metadata) -> Result<(), SecretsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o066 != 0 {
            return Err(SecretsError::KeyFileMode {
                path: path.display().to_string(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}

/// Creates `dir` and any missing parents with mode 0700; an existing directory others can
/// enter or read is made 0700 (with a warning).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if dir.is_dir() {
        tighten(dir, 0o700);
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        // The umask could only have removed bits; set the mode exactly anyway.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Creates `path` empty with mode 0600 if it does not exist; an existing file others can
/// read or write is made 0600 (with a warning) — an install from before pushgate set modes.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tighten(path, 0o600);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Sets `path` to `mode` if group or others have any access to it; a failure (not the
/// owner, say) is logged, not fatal.
fn tighten(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let old = meta.permissions().mode() & 0o777;
        if old & 0o077 == 0 {
            return;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
            Ok(()) => tracing::warn!(path = %path.display(), old = format!("{old:o}"),
                new = format!("{mode:o}"), "others had access to a pushgate data path: made private"),
            Err(e) => tracing::warn!(path = %path.display(), old = format!("{old:o}"), error = %e,
                "others have access to a pushgate data path, and it could not be made private"),
        }
    }
}

/// Replaces `path` with `text` atomically: a 0600 temporary file in the same directory,
/// written and fsynced, renamed over `path`, then the directory fsynced.
pub fn write_private_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let suffix: [u8; 6] = crate::domain::random_bytes();
    let tmp = sibling(path, &format!(".tmp-{}", super::hex(&suffix)));
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
