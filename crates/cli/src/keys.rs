//! `trustmeter keys`: generate a key on this machine, show a key file's public part.

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use trustmeter_keystore::{KeyFile, KeyInfo, KeyMeta, Protection, passphrase_from_env};
use trustmeter_types::{DeviceId, KeyScheme, UnifiedSocialCreditCode};

/// Key commands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a key here and write it to a key file (mode 0600); prints the public key to
    /// register on chain. The secret never leaves this machine.
    Generate(GenerateArgs),
    /// Prove possession of an account key for an organisation on a chain: prints the JSON that
    /// `trustmeter tx register-account --account-proof` or `tx propose --action add-account`
    /// takes, so the key never leaves this machine.
    AccountProof {
        /// The new account's key file.
        #[arg(long)]
        key: PathBuf,
        /// The chain.
        #[arg(long)]
        chain_id: String,
        /// The organisation the key will belong to (credit code).
        #[arg(long)]
        organisation: String,
        /// The environment variable holding the key file's passphrase, if it is encrypted.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Show a key file's public part (no passphrase needed).
    Show {
        /// The key file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A signature scheme, as named on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemeArg {
    /// Ed25519.
    Ed25519,
    /// SM2 (国密); refused until this build supports it.
    Sm2,
}

impl From<SchemeArg> for KeyScheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::Ed25519 => KeyScheme::Ed25519,
            SchemeArg::Sm2 => KeyScheme::Sm2,
        }
    }
}

/// Options of `keys generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// The key file to write (refused if it exists, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Ed25519)]
    pub scheme: SchemeArg,
    /// What the key is for, for people (e.g. "gateway 1, workshop A").
    #[arg(long)]
    pub label: String,
    /// The organisation (unified social credit code) the key belongs to.
    #[arg(long)]
    pub organisation: Option<String>,
    /// The device id, for a gateway or meter key.
    #[arg(long)]
    pub device: Option<String>,
    /// Encrypt the key with the passphrase held in this environment variable.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Replace an existing file (its key is lost unless you kept a copy).
    #[arg(long)]
    pub force: bool,
}

/// Runs a key command.
pub fn run(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Generate(a) => generate(a),
        KeysCommand::AccountProof { key, chain_id, organisation, passphrase_env } => {
            let pass = passphrase_env.as_deref().map(passphrase_from_env).transpose()?;
            let (key, _) = KeyFile::load(&key, pass.as_deref().map(String::as_str))?;
            let chain = trustmeter_types::ChainId::new(chain_id).context("--chain-id")?;
            let org = UnifiedSocialCreditCode::new(organisation.trim()).context("--organisation")?;
            let proof = key.sign(&trustmeter_types::account_proof_payload(&chain, &org, &key.public_key()));
            let new = trustmeter_types::NewAccount { public_key: key.public_key(), proof };
            println!("{}", serde_json::to_string_pretty(&new)?);
            Ok(())
        }
        KeysCommand::Show { file, json } => {
            let info = KeyFile::info(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info_json(&info))?);
            } else {
                print_info(&info);
            }
            Ok(())
        }
    }
}

fn generate(a: GenerateArgs) -> Result<()> {
    let meta = KeyMeta {
        organisation: a
            .organisation
            .map(UnifiedSocialCreditCode::new)
            .transpose()
            .context("--organisation must be a unified social credit code (18 characters)")?,
        device: a.device.map(DeviceId::new).transpose().context("--device")?,
    };
    let pass = a.passphrase_env.as_deref().map(passphrase_from_env).transpose()?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let scheme = KeyScheme::from(a.scheme);
    let key = if a.force {
        let key = trustmeter_keystore::generate_key(scheme)?;
        KeyFile::write(&a.out, &key, &a.label, &meta, pass.as_deref().map(String::as_str), true)?;
        key
    } else {
        KeyFile::generate(&a.out, scheme, &a.label, &meta, pass.as_deref().map(String::as_str))?
    };
    println!("{}", key.public_key());
    eprintln!(
        "wrote {} ({} key, {}); register the public key above on chain, keep the file on this machine",
        a.out.display(),
        scheme.name(),
        if pass.is_some() { "encrypted" } else { "not encrypted: protect the disk" }
    );
    Ok(())
}

fn print_info(info: &KeyInfo) {
    println!("file          {}", info.path.display());
    println!("label         {}", info.label);
    println!("scheme        {}", info.scheme.name());
    println!("public key    {}", info.public_key);
    if let Some(o) = &info.meta.organisation {
        println!("organisation  {o}");
    }
    if let Some(d) = &info.meta.device {
        println!("device        {d}");
    }
    println!("created       {}", info.created_at.to_rfc3339());
    match info.protection {
        Protection::Plain => println!("secret        not encrypted"),
        Protection::Encrypted { kdf, cipher } => println!(
            "secret        encrypted ({}, argon2id m={} KiB t={} p={})",
            cipher.name(),
            kdf.m_kib,
            kdf.t,
            kdf.p
        ),
    }
}

/// The public part of a key file as JSON.
pub fn info_json(info: &KeyInfo) -> serde_json::Value {
    serde_json::json!({
        "file": info.path,
        "label": info.label,
        "scheme": info.scheme,
        "public_key": info.public_key,
        "organisation": info.meta.organisation,
        "device": info.meta.device,
        "created_at": info.created_at.to_rfc3339(),
        "encrypted": info.is_encrypted(),
    })
}
