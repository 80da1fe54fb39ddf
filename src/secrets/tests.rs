//! The sealed formats, the keyring and the key files.

use openssl::symm::{Cipher, encrypt_aead};

use super::*;

/// A value in the old v1 format, as servers before the key id wrote it.
fn seal_v1(key: &MasterKey, plaintext: &[u8], owner: &str) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let mut tag = [0u8; TAG_LEN];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        key.current.bytes.as_slice(),
        Some(&nonce),
        owner.as_bytes(),
        plaintext,
        &mut tag,
    )
    .unwrap();
    [&[V1][..], &nonce, &ct, &tag].concat()
}

#[test]
fn seal_and_open_round_trip_bound_to_owner() {
    let key = MasterKey::generate();
    let sealed = key.seal(b"top secret", "SK1").unwrap();
    assert_eq!(sealed[0], 2, "new values are v2");
    assert!(!sealed.windows(10).any(|w| w == b"top secret"));
    assert_eq!(key.open(&sealed, "SK1").unwrap(), b"top secret");
    assert!(key.open(&sealed, "SK2").is_err(), "owner is bound");
    assert!(MasterKey::generate().open(&sealed, "SK1").is_err());
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(key.open(&tampered, "SK1").is_err());
}

#[test]
fn v2_names_its_key_and_never_contains_it() {
    let key = MasterKey::generate();
    let sealed = key.seal(b"x", "SK1").unwrap();
    assert_eq!(hex(&sealed[1..9]), key.key_id());
    let raw = key.current.bytes.as_slice();
    assert!(!sealed.windows(8).any(|w| raw.windows(8).any(|k| k == w)));
    assert!(!key.key_id().contains(&hex(&raw[..4])));
}

#[test]
fn v1_values_still_open_with_any_key_of_the_ring() {
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let v1 = seal_v1(&old, b"legacy", "CR1");
    assert_eq!(old.open(&v1, "CR1").unwrap(), b"legacy");
    let ring = new.clone().with_previous([old.clone()]);
    assert_eq!(ring.open(&v1, "CR1").unwrap(), b"legacy");
    assert!(new.open(&v1, "CR1").is_err());
    assert!(ring.open(&v1, "CR2").is_err(), "owner still bound");
    assert!(!ring.is_current(&v1), "a rotation re-seals v1 values");
}

#[test]
fn v2_key_id_mismatch_and_tampering_fail() {
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let sealed = old.seal(b"s", "SK1").unwrap();
    assert!(matches!(new.open(&sealed, "SK1"), Err(SecretsError::Open)));
    // The ring opens it under the previous key, and seals new values under the current one.
    let ring = new.clone().with_previous([old.clone()]);
    assert_eq!(ring.open(&sealed, "SK1").unwrap(), b"s");
    assert!(!ring.is_current(&sealed));
    let fresh = ring.seal(b"s", "SK1").unwrap();
    assert!(ring.is_current(&fresh) && new.open(&fresh, "SK1").is_ok());
    assert!(old.open(&fresh, "SK1").is_err());
    // A key id swapped for another key's: that key can't open it (the header is bound too).
    let mut swapped = sealed.clone();
    swapped[1..9].copy_from_slice(&fresh[1..9]);
    assert!(ring.open(&swapped, "SK1").is_err());
    for i in [0, 1, 9, 21, sealed.len() - 1] {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x40;
        assert!(ring.open(&tampered, "SK1").is_err(), "byte {i}");
    }
    for len in [0, 1, 9, 20, 36] {
        assert!(
            ring.open(&sealed[..len], "SK1").is_err(),
            "truncated to {len}"
        );
    }
}

#[test]
fn derived_keys_of_previous_keys_are_kept() {
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let ring = new
        .clone()
        .with_previous([old.clone(), new.clone(), old.clone()]);
    let all = ring.derive_all("p");
    assert_eq!(
        all,
        [new.derive("p"), old.derive("p")],
        "current first, no duplicates"
    );
    assert_eq!(ring.previous_keys().len(), 1);
    assert!(!format!("{ring:?}").contains(&new.to_base64()));
}

#[test]
fn key_file_is_created_once_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/master.key");
    let a = MasterKey::load_or_create(&path).unwrap();
    let b = MasterKey::load_or_create(&path).unwrap();
    assert_eq!(a.to_base64(), b.to_base64());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
    }
    assert!(!format!("{a:?}").contains(&a.to_base64()));
}

#[cfg(unix)]
#[test]
fn key_files_others_can_read_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    MasterKey::load_or_create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = MasterKey::load_or_create(&path).unwrap_err().to_string();
    assert!(e.contains("chmod 600") && e.contains("master.key"), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let previous = key_file::sibling(&path, PREVIOUS_FILE_SUFFIX);
    std::fs::write(&previous, MasterKey::generate().to_base64()).unwrap();
    std::fs::set_permissions(&previous, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = MasterKey::load_file_ring(&path).unwrap_err().to_string();
    assert!(
        e.contains("master.key.previous") && e.contains("chmod 600"),
        "{e}"
    );
}

#[test]
fn file_ring_reads_previous_and_staged_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let current = MasterKey::load_or_create(&path).unwrap();
    let (old, staged) = (MasterKey::generate(), MasterKey::generate());
    let previous = key_file::sibling(&path, PREVIOUS_FILE_SUFFIX);
    write_private_atomically(&previous, &format!("# old\n{}\n\n", old.to_base64())).unwrap();
    write_private_atomically(&MasterKey::staged_path(&path), &staged.to_base64()).unwrap();
    let ring = MasterKey::load_file_ring(&path).unwrap();
    assert_eq!(ring.key_id(), current.key_id());
    for key in [&old, &staged] {
        let sealed = key.seal(b"v", "SK1").unwrap();
        assert_eq!(ring.open(&sealed, "SK1").unwrap(), b"v");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn rejects_short_keys() {
    assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    assert!(MasterKey::from_base64("not base64!").is_err());
}

#[test]
fn file_ring_read_during_the_rotations_rename_always_holds_the_new_key() {
    // A rotation renames `<path>.new` over `path` after re-sealing; a server reading the
    // files at that moment must see the new key in one of the two places.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    for _ in 0..200 {
        std::fs::remove_file(&path).ok();
        MasterKey::load_or_create(&path).unwrap();
        let new = MasterKey::generate();
        let staged = MasterKey::staged_path(&path);
        write_private_atomically(&staged, &new.to_base64()).unwrap();
        let sealed = new.seal(b"v", "SK1").unwrap();
        let rename = {
            let (staged, path) = (staged.clone(), path.clone());
            std::thread::spawn(move || std::fs::rename(staged, path).unwrap())
        };
        while !rename.is_finished() {
            let ring = MasterKey::load_file_ring(&path).unwrap();
            assert!(ring.open(&sealed, "SK1").is_ok(), "the new key was missed");
        }
        rename.join().unwrap();
    }
}
