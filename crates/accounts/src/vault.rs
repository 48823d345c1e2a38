//! Exchange secrets at rest: [`MasterKey`], the 256-bit key that encrypts every user's API secret
//! with AES-256-GCM, and where `spotbot run` gets it (the `SPOTBOT_MASTER_KEY` variable, or a key
//! file created with 0600 permissions on first run).
//!
//! A ciphertext is `version (1 byte) || nonce (12 bytes) || AES-GCM output (secret + 16-byte
//! tag)`. The nonce is random per encryption, so encrypting the same secret twice gives two
//! different ciphertexts. The owner's user id and the key's venue are the associated data: a
//! ciphertext copied into another user's row, or into the same user's row of another venue (a
//! testnet secret made to sign live orders), fails to decrypt instead of handing over the keys.
//! Version 1 ciphertexts, written before keys had venues, bind the user id only; they still
//! decrypt, and every key stored from now on is version 2.
//!
//! A decrypted secret comes back in [`Zeroizing`] memory, wiped when it is dropped.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use store::{Mode, UserId};
use zeroize::Zeroizing;

/// The environment variable that holds the master key: 64 hex characters or the base64 of 32
/// bytes.
pub const MASTER_KEY_ENV: &str = "SPOTBOT_MASTER_KEY";

/// The name of the key file in the data directory, used when [`MASTER_KEY_ENV`] is not set.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The length of a master key.
const KEY_BYTES: usize = 32;
/// The length of an AES-GCM nonce (96 bits, the size GCM is designed for).
const NONCE_BYTES: usize = 12;
/// The first byte of the ciphertexts written before keys had venues: bound to the user only.
const FORMAT_V1: u8 = 1;
/// The first byte of every ciphertext written now: bound to the user and the venue. A later
/// format (another cipher, a rotated key) gets another byte.
const FORMAT_V2: u8 = 2;

/// Why a master key cannot be had, or a secret cannot be encrypted or decrypted. No message ever
/// holds a key or a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key text is neither 64 hex characters nor the base64 of 32 bytes.
    #[error("{origin}: expected 64 hex characters or the base64 of 32 bytes")]
    BadKey {
        /// Where the text came from: the variable's name or the file's path.
        origin: String,
    },
    /// The key file exists but group or others may read or write it.
    #[error(
        "the master key file {} has permissions {mode:o}, open to other users: run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    LoosePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file cannot be read or created.
    #[error("cannot use the master key file {}: {source}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Neither the variable nor the key file holds a key, and this command does not create one.
    #[error(
        "no master key: set {MASTER_KEY_ENV} to the key the first `spotbot run` created (its file is \
         {MASTER_KEY_FILE} in that machine's data directory), or copy that file to {} with \
         permissions 0600; a new key here could not decrypt the secrets already stored",
        path.display()
    )]
    NoKey {
        /// Where the key file was looked for.
        path: PathBuf,
    },
    /// The system's random number generator failed.
    #[error("no random bytes from the system: {0}")]
    Random(getrandom::Error),
    /// The ciphertext was not made by this key for this user, or was changed.
    #[error("the ciphertext does not decrypt: another key, another user, or tampered with")]
    Decrypt,
    /// The cipher refused to encrypt (only for inputs of gigabytes).
    #[error("cannot encrypt the secret")]
    Encrypt,
}

/// The key that encrypts every exchange secret. Its `Debug` shows nothing of it, and its bytes
/// are wiped when it is dropped.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_BYTES]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// The key made of `bytes`.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// A new random key.
    pub fn generate() -> Result<MasterKey, VaultError> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(bytes.as_mut_slice()).map_err(VaultError::Random)?;
        Ok(MasterKey(bytes))
    }

    /// The key written as `text`: 64 hex characters or the (standard, padded) base64 of 32
    /// bytes, surrounding whitespace ignored. `origin` names where the text came from, for the
    /// error.
    pub fn parse(text: &str, origin: &str) -> Result<MasterKey, VaultError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_BYTES {
            hex::decode(text).ok()
        } else {
            STANDARD.decode(text).ok()
        };
        bytes
            .and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
            .map(MasterKey::from_bytes)
            .ok_or_else(|| VaultError::BadKey {
                origin: origin.to_owned(),
            })
    }

    /// The key `spotbot run` uses: from `env_value` (the value of [`MASTER_KEY_ENV`], if set and
    /// not blank), else from the key file `<data_dir>/`[`MASTER_KEY_FILE`] (see
    /// [`MasterKey::from_file`]).
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<MasterKey, VaultError> {
        match env_value.filter(|value| !value.trim().is_empty()) {
            Some(value) => MasterKey::parse(value, MASTER_KEY_ENV),
            None => MasterKey::from_file(&data_dir.join(MASTER_KEY_FILE)),
        }
    }

    /// [`MasterKey::load`] for the commands that join an installation rather than start one
    /// (`spotbot worker`, `spotbot api`, often on another machine): the key must exist already
    /// ([`VaultError::NoKey`] otherwise), since a new one could not decrypt what is stored.
    pub fn load_existing(
        env_value: Option<&str>,
        data_dir: &Path,
    ) -> Result<MasterKey, VaultError> {
        match env_value.filter(|value| !value.trim().is_empty()) {
            Some(value) => MasterKey::parse(value, MASTER_KEY_ENV),
            None => {
                let path = data_dir.join(MASTER_KEY_FILE);
                if !path.exists() {
                    return Err(VaultError::NoKey { path });
                }
                read_key_file(&path)
            }
        }
    }

    /// The key in the file `path` (64 hex characters), created with a new random key and
    /// permissions 0600 when it does not exist. An existing file that group or others may access
    /// is refused: whoever reads it can decrypt every user's exchange secret.
    pub fn from_file(path: &Path) -> Result<MasterKey, VaultError> {
        let file_error = |source| VaultError::KeyFile {
            path: path.to_owned(),
            source,
        };
        match create_private(path) {
            Ok(mut file) => {
                let key = MasterKey::generate()?;
                let text = Zeroizing::new(format!("{}\n", hex::encode(*key.0)));
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(file_error)?;
                return Ok(key);
            }
            // Another process may have created it in the meantime: read theirs.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(file_error(error)),
        }
        read_key_file(path)
    }

    /// `secret` encrypted for `user`'s key on `venue` (see the module's documentation for the
    /// format).
    pub fn encrypt(&self, user: UserId, venue: Mode, secret: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.seal(&associated_data(FORMAT_V2, user, venue), secret)
    }

    /// `secret` (a webhook's signing key, a Telegram bot token) encrypted for one of `user`'s
    /// notification channels: bound to the user and to its purpose, so that it can never be
    /// decrypted as an exchange secret, nor as another user's.
    pub fn encrypt_channel_secret(
        &self,
        user: UserId,
        secret: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        self.seal(&channel_associated_data(user), secret)
    }

    /// The secret in `ciphertext`, which [`MasterKey::encrypt_channel_secret`] made for `user`
    /// with this key; [`VaultError::Decrypt`] otherwise.
    pub fn decrypt_channel_secret(
        &self,
        user: UserId,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        match ciphertext.split_first() {
            Some((&FORMAT_V2, _)) => self.open(&channel_associated_data(user), ciphertext),
            _ => Err(VaultError::Decrypt),
        }
    }

    /// `secret` sealed with `aad` in the current format.
    fn seal(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(VaultError::Random)?;
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad })
            .map_err(|_| VaultError::Encrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(FORMAT_V2);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The secret in `ciphertext`, which [`MasterKey::encrypt`] made for `user`'s key on `venue`
    /// with this key; [`VaultError::Decrypt`] otherwise.
    pub fn decrypt(
        &self,
        user: UserId,
        venue: Mode,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (&version, _) = ciphertext.split_first().ok_or(VaultError::Decrypt)?;
        if !matches!(version, FORMAT_V1 | FORMAT_V2) {
            return Err(VaultError::Decrypt);
        }
        self.open(&associated_data(version, user, venue), ciphertext)
    }

    /// The secret `ciphertext` (format byte, nonce, sealed text) holds under `aad`.
    fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let rest = ciphertext.get(1..).ok_or(VaultError::Decrypt)?;
        if rest.len() < NONCE_BYTES {
            return Err(VaultError::Decrypt);
        }
        let (nonce, sealed) = rest.split_at(NONCE_BYTES);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Decrypt)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&*self.0).into())
    }
}

/// What binds a ciphertext of format `version` to its owner (and, from version 2, its venue).
/// The prefix keeps it from meaning anything in another context that might one day use the same
/// key.
fn associated_data(version: u8, user: UserId, venue: Mode) -> Vec<u8> {
    if version == FORMAT_V1 {
        format!("spotbot exchange secret v1 user {user}").into_bytes()
    } else {
        format!("spotbot exchange secret v2 user {user} venue {venue}").into_bytes()
    }
}

/// The associated data of a notification channel's secret of `user`.
fn channel_associated_data(user: UserId) -> Vec<u8> {
    format!("spotbot notification channel secret v2 user {user}").into_bytes()
}

/// Creates `path` for writing, failing if it exists; readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The key in the existing file `path`, refused when others may read it. At most
/// [`MAX_KEY_FILE_BYTES`] are read: a key is 65, and a path pointing at something huge must not
/// be read whole.
fn read_key_file(path: &Path) -> Result<MasterKey, VaultError> {
    use std::io::Read;
    let file_error = |source| VaultError::KeyFile {
        path: path.to_owned(),
        source,
    };
    check_private(path)?;
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
        .map_err(file_error)?;
    MasterKey::parse(&text, &path.display().to_string())
}

/// The most of a key file read (see [`read_key_file`]).
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Refuses `path` when group or others have any permission on it.
fn check_private(path: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| VaultError::KeyFile {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::LoosePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; KEY_BYTES])
    }

    #[test]
    fn a_secret_round_trips_and_each_encryption_differs() {
        let key = key(7);
        let a = key.encrypt(UserId(1), Mode::Testnet, SECRET).unwrap();
        let b = key.encrypt(UserId(1), Mode::Testnet, SECRET).unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        assert_eq!(a.len(), 1 + NONCE_BYTES + SECRET.len() + 16);
        assert!(!a.windows(SECRET.len()).any(|w| w == SECRET));
        assert_eq!(
            key.decrypt(UserId(1), Mode::Testnet, &a).unwrap()[..],
            *SECRET
        );
        assert_eq!(
            key.decrypt(UserId(1), Mode::Testnet, &b).unwrap()[..],
            *SECRET
        );
    }

    #[test]
    fn another_key_another_user_another_venue_or_a_changed_byte_fails() {
        let sealed = key(7).encrypt(UserId(1), Mode::Testnet, SECRET).unwrap();
        assert!(matches!(
            key(8).decrypt(UserId(1), Mode::Testnet, &sealed),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            key(7).decrypt(UserId(2), Mode::Testnet, &sealed),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            key(7).decrypt(UserId(1), Mode::Live, &sealed),
            Err(VaultError::Decrypt)
        ));
        for index in [0, 1, NONCE_BYTES + 1, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[index] ^= 1;
            assert!(
                key(7).decrypt(UserId(1), Mode::Testnet, &tampered).is_err(),
                "byte {index}"
            );
        }
        for short in [&[][..], &sealed[..5], &sealed[..NONCE_BYTES + 1]] {
            assert!(key(7).decrypt(UserId(1), Mode::Testnet, short).is_err());
        }
    }

    #[test]
    fn a_channel_secret_opens_for_its_user_only_and_never_as_an_exchange_secret() {
        let key = key(7);
        let sealed = key.encrypt_channel_secret(UserId(1), SECRET).unwrap();
        assert_eq!(
            &key.decrypt_channel_secret(UserId(1), &sealed).unwrap()[..],
            SECRET
        );
        assert!(key.decrypt_channel_secret(UserId(2), &sealed).is_err());
        for venue in Mode::ALL {
            assert!(key.decrypt(UserId(1), *venue, &sealed).is_err());
        }
        let exchange = key.encrypt(UserId(1), Mode::Testnet, SECRET).unwrap();
        assert!(key.decrypt_channel_secret(UserId(1), &exchange).is_err());
        assert!(key.decrypt_channel_secret(UserId(1), &[]).is_err());
    }

    #[test]
    fn a_version_1_ciphertext_still_decrypts_for_its_user_on_any_venue() {
        // Made as the version before venues did: the user's id alone is the associated data.
        let key = key(7);
        let nonce = [3u8; NONCE_BYTES];
        let sealed = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: SECRET,
                    aad: b"spotbot exchange secret v1 user 4",
                },
            )
            .unwrap();
        let mut v1 = vec![FORMAT_V1];
        v1.extend_from_slice(&nonce);
        v1.extend_from_slice(&sealed);
        assert_eq!(
            key.decrypt(UserId(4), Mode::Testnet, &v1).unwrap()[..],
            *SECRET
        );
        assert!(key.decrypt(UserId(5), Mode::Testnet, &v1).is_err());
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_errors_name_the_origin() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let from_hex = MasterKey::parse(&hex::encode(bytes), MASTER_KEY_ENV).unwrap();
        let from_base64 = MasterKey::parse(&format!(" {}\n", STANDARD.encode(bytes)), "f").unwrap();
        assert_eq!(*from_hex.0, bytes);
        assert_eq!(*from_base64.0, bytes);
        for bad in ["", "abc", &"zz".repeat(32), &STANDARD.encode([0u8; 31])] {
            let error = MasterKey::parse(bad, MASTER_KEY_ENV).unwrap_err();
            assert!(error.to_string().starts_with(MASTER_KEY_ENV), "{error}");
        }
        assert_eq!(format!("{from_hex:?}"), "MasterKey(<redacted>)");
    }

    #[test]
    fn the_environment_wins_over_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let from_env = MasterKey::load(Some(&"ab".repeat(32)), dir.path()).unwrap();
        assert_eq!(*from_env.0, [0xab; KEY_BYTES]);
        assert!(!dir.path().join(MASTER_KEY_FILE).exists());
        let error = MasterKey::load(Some("nope"), dir.path()).unwrap_err();
        assert!(error.to_string().contains(MASTER_KEY_ENV), "{error}");
        MasterKey::load(Some("  "), dir.path()).unwrap();
        assert!(
            dir.path().join(MASTER_KEY_FILE).exists(),
            "blank means unset"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        let first = MasterKey::from_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = MasterKey::from_file(&path).unwrap();
        assert_eq!(*first.0, *again.0, "the same key on the next run");
        let sealed = first.encrypt(UserId(3), Mode::Paper, SECRET).unwrap();
        assert_eq!(
            again.decrypt(UserId(3), Mode::Paper, &sealed).unwrap()[..],
            *SECRET
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        MasterKey::from_file(&path).unwrap();
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = MasterKey::from_file(&path).unwrap_err();
            assert!(
                matches!(error, VaultError::LoosePermissions { .. }),
                "{error}"
            );
            assert!(error.to_string().contains("chmod 600"), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn joining_commands_need_an_existing_key_and_never_create_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        let error = MasterKey::load_existing(None, dir.path()).unwrap_err();
        assert!(matches!(error, VaultError::NoKey { .. }), "{error}");
        assert!(error.to_string().contains(MASTER_KEY_ENV), "{error}");
        assert!(!path.exists(), "no key file created");
        let from_env = MasterKey::load_existing(Some(&"cd".repeat(32)), dir.path()).unwrap();
        assert_eq!(*from_env.0, [0xcd; KEY_BYTES]);
        let created = MasterKey::load(None, dir.path()).unwrap();
        let joined = MasterKey::load_existing(Some(" "), dir.path()).unwrap();
        assert_eq!(*created.0, *joined.0);
        // A huge file is not read whole: only its first kilobyte, which is no key.
        std::fs::write(&path, "0".repeat(10 << 20)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let error = MasterKey::load_existing(None, dir.path()).unwrap_err();
        assert!(matches!(error, VaultError::BadKey { .. }), "{error}");
    }
}
