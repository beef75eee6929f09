//! What can go wrong with a key file, each with a sentence saying what to do.

use std::path::PathBuf;

/// Why a key file could not be written, read or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// A file-system operation failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done (e.g. "read key file").
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The target file exists and overwriting was not asked for.
    #[error(
        "{path} already exists; choose another path, or ask to overwrite it (e.g. --force) if you mean to replace that key"
    )]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The key file can be read by users other than its owner.
    #[error(
        "key file {path} is readable by other users (mode {mode:03o}); run `chmod 600 {path}` and consider the key exposed if others had access"
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The path is not a regular file, or the file is larger than any key file.
    #[error("{path} is not a key file: {reason}")]
    NotAKeyFile {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file does not parse or a field is invalid.
    #[error("key file {path} is malformed: {reason}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file names a format this build does not read.
    #[error("key file {path} has format {found:?}; this build reads {expected:?} only (upgrade trustmeter)")]
    UnsupportedFormat {
        /// The key file.
        path: PathBuf,
        /// The format it names.
        found: String,
        /// The format this build reads.
        expected: &'static str,
    },
    /// The file is encrypted and no passphrase was given.
    #[error(
        "key file {path} is encrypted; give its passphrase (e.g. --passphrase-env VAR with the passphrase in $VAR)"
    )]
    PassphraseRequired {
        /// The key file.
        path: PathBuf,
    },
    /// Decryption failed: the passphrase is wrong, or the file was modified.
    #[error(
        "cannot decrypt key file {path}: the passphrase is wrong, or the file was modified (ciphertext, nonce, salt, KDF parameters or public key); try the passphrase again or restore the file from its backup"
    )]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// The secret in the file does not produce the public key the file names.
    #[error(
        "the secret in key file {path} does not belong to its public key {public_key}; the file is corrupt or was tampered with: do not use it, restore it from its backup"
    )]
    KeyMismatch {
        /// The key file.
        path: PathBuf,
        /// The public key the file names.
        public_key: String,
    },
    /// The key scheme is refused by the crypto layer (e.g. not supported by this build).
    #[error("key file {path}: {source}")]
    Crypto {
        /// The key file.
        path: PathBuf,
        /// The crypto layer's reason.
        #[source]
        source: trustmeter_crypto::CryptoError,
    },
    /// A new key could not be made.
    #[error("cannot generate a {scheme} key: {reason}")]
    Generate {
        /// The scheme asked for.
        scheme: &'static str,
        /// Why.
        reason: String,
    },
    /// A label, passphrase or KDF parameter is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The passphrase environment variable is unusable.
    #[error("passphrase variable {var} {reason}; export the passphrase in it (e.g. `read -rs {var} && export {var}`)")]
    PassphraseEnv {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The operating system's randomness source failed.
    #[error("the operating system's random number source failed: {0}; retry, and check the machine's entropy source")]
    Randomness(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = KeystoreError> = std::result::Result<T, E>;
