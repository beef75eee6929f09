//! `trustmeter org init` and `trustmeter genesis assemble / check / hash`: the genesis ceremony
//! of a real consortium, each party on its own machine (see `trustmeter_chain::ceremony`).

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use trustmeter_chain::ceremony::{self, MIN_FAULT_TOLERANT_VALIDATORS, OrgFile};
use trustmeter_keystore::{KeyFile, KeyMeta, passphrase_from_env};
use trustmeter_types::{
    ChainId, ChainParams, Genesis, HashAlg, KeyScheme, OrgKind, Organisation, UnifiedSocialCreditCode,
};

/// `trustmeter org …`.
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Generate this organisation's keys here (account keys, validator keys; key files mode
    /// 0600, optionally encrypted) and write its public organisation file (`org.json`) for the
    /// genesis ceremony or for admission to a running chain. Only `org.json` leaves the machine.
    Init(OrgInitArgs),
}

/// Options of `org init`.
#[derive(Args)]
pub struct OrgInitArgs {
    /// Directory for the key files and `org.json` (created; existing key files are never
    /// overwritten).
    #[arg(long)]
    pub dir: PathBuf,
    /// The chain the keys are for (their proofs of possession name it).
    #[arg(long)]
    pub chain_id: String,
    /// Unified social credit code (统一社会信用代码), 18 characters with its check character.
    #[arg(long)]
    pub id: String,
    /// Registered name.
    #[arg(long)]
    pub name: String,
    /// Role: regulator, statistics_bureau, metrology_authority, enterprise,
    /// industry_association, verifier, data_consumer.
    #[arg(long)]
    pub kind: String,
    /// GB/T 2260 region code (six digits, e.g. 430000 for Hunan; 100000 national).
    #[arg(long)]
    pub region: u32,
    /// Number of account keys to generate.
    #[arg(long, default_value_t = 1)]
    pub accounts: usize,
    /// Scheme of the account keys: ed25519 or sm2 (国密). Validator keys are always Ed25519.
    #[arg(long, default_value = "ed25519")]
    pub key_scheme: KeyScheme,
    /// A validator this organisation runs, as NAME=HOST:PORT (its p2p address as peers reach
    /// it); repeat for several.
    #[arg(long, value_name = "NAME=HOST:PORT")]
    pub validator: Vec<String>,
    /// Encrypt every key file with the passphrase in this environment variable.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

/// `trustmeter genesis …`.
#[derive(Subcommand)]
pub enum GenesisCommand {
    /// Assemble a genesis from the founding organisations' files and check it (proofs of
    /// possession, credit codes, duplicates, a regulator, quorum size, no devnet keys); prints
    /// the genesis hash every party compares.
    Assemble(AssembleArgs),
    /// Check a genesis you received: the same rules as `assemble`; with `--org`, that your
    /// organisation file is in it unchanged; with `--expect-hash`, that it is the one agreed.
    Check(CheckArgs),
}

/// Options of `genesis assemble`.
#[derive(Args)]
pub struct AssembleArgs {
    /// The chain id (the one every organisation file was made for).
    #[arg(long)]
    pub chain_id: String,
    /// An organisation file (`org.json`); repeat for every founding organisation.
    #[arg(long = "org", value_name = "FILE", required = true)]
    pub orgs: Vec<PathBuf>,
    /// Genesis time, RFC 3339 (e.g. 2027-01-01T00:00:00+08:00). Default: now.
    #[arg(long)]
    pub genesis_time: Option<String>,
    /// Hash algorithm of the chain's data: sha256 or sm3 (国密).
    #[arg(long = "hash", default_value = "sha256")]
    pub hash: HashAlg,
    /// Chain parameters as a JSON file (`params` of a genesis, every field); default: the
    /// defaults of this version.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Accept fewer than 4 validators (a chain that stops if any validator fails: tests only).
    #[arg(long)]
    pub allow_no_fault_tolerance: bool,
    /// Where to write the genesis.
    #[arg(long, default_value = "genesis.json")]
    pub out: PathBuf,
}

/// Options of `genesis check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The genesis file.
    pub genesis: PathBuf,
    /// Your organisation file: checks that your record, keys and validators are in the genesis
    /// exactly as you published them.
    #[arg(long = "org", value_name = "FILE")]
    pub orgs: Vec<PathBuf>,
    /// The genesis hash agreed among the parties (hex).
    #[arg(long)]
    pub expect_hash: Option<String>,
    /// Accept fewer than 4 validators.
    #[arg(long)]
    pub allow_no_fault_tolerance: bool,
}

fn min_validators(allow: bool) -> usize {
    if allow { 1 } else { MIN_FAULT_TOLERANT_VALIDATORS }
}

/// Runs `org …`.
pub fn run_org(cmd: OrgCommand) -> Result<()> {
    match cmd {
        OrgCommand::Init(a) => {
            let path = org_init(&a)?;
            println!("{}", path.display());
            eprintln!(
                "send {} to the party assembling the genesis (or to your regulator, for admission); keep the key files here",
                path.display()
            );
            Ok(())
        }
    }
}

/// Generates an organisation's keys in `a.dir` and writes its `org.json`; returns its path.
pub fn org_init(a: &OrgInitArgs) -> Result<PathBuf> {
    let chain = ChainId::new(a.chain_id.clone()).context("--chain-id")?;
    let id = UnifiedSocialCreditCode::new(a.id.trim()).context("--id must be a unified social credit code")?;
    let kind: OrgKind = serde_json::from_value(serde_json::Value::String(a.kind.replace('-', "_")))
        .with_context(|| format!("--kind {:?} is not a role", a.kind))?;
    let organisation = Organisation { id: id.clone(), name: a.name.clone(), kind, region: a.region };
    organisation.check().map_err(|e| anyhow::anyhow!("organisation: {e}"))?;
    ensure!(
        (1..=trustmeter_types::limits::MAX_ACCOUNTS_PER_ORG).contains(&a.accounts),
        "--accounts must be 1..={}",
        trustmeter_types::limits::MAX_ACCOUNTS_PER_ORG
    );
    let validators: Vec<(String, String)> = a
        .validator
        .iter()
        .map(|v| {
            let (name, addr) = v.split_once('=').with_context(|| format!("--validator {v:?} is not NAME=HOST:PORT"))?;
            addr.parse::<std::net::SocketAddr>()
                .with_context(|| format!("--validator {v:?}: {addr} is not host:port"))?;
            Ok((name.to_string(), addr.to_string()))
        })
        .collect::<Result<_>>()?;
    let out = a.dir.join("org.json");
    ensure!(!out.exists(), "{} exists; this organisation's keys were made already", out.display());
    let pass = a.passphrase_env.as_deref().map(passphrase_from_env).transpose()?;
    let pass = pass.as_deref().map(String::as_str);
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let meta = KeyMeta { organisation: Some(id.clone()), device: None };
    let mut accounts = vec![];
    for i in 0..a.accounts {
        let path = a.dir.join(format!("account-{i}.json"));
        accounts.push(KeyFile::generate(&path, a.key_scheme, &format!("{} account {i}", a.name), &meta, pass)?);
    }
    let mut validator_keys = vec![];
    for (name, addr) in validators {
        let path = a.dir.join(format!("validator-{name}.key"));
        let key = KeyFile::generate(&path, KeyScheme::Ed25519, &format!("validator {name}"), &meta, pass)?;
        validator_keys.push((name, key, addr));
    }
    let file = OrgFile::build(&chain, organisation, &accounts, &validator_keys);
    let problems = file.problems(&chain);
    ensure!(problems.is_empty(), "the organisation file does not check: {}", problems.join("; "));
    write_new(&out, &serde_json::to_string_pretty(&file)?)?;
    Ok(out)
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, format!("{text}\n")).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Runs `genesis …`.
pub fn run_genesis(cmd: GenesisCommand) -> Result<()> {
    match cmd {
        GenesisCommand::Assemble(a) => {
            let (genesis, hash) = assemble(&a)?;
            println!("genesis hash {hash}");
            eprintln!(
                "wrote {} ({} organisations, {} accounts, {} validators); every party runs: trustmeter genesis check {} --org <its org.json> --expect-hash {hash}",
                a.out.display(),
                genesis.organisations.len(),
                genesis.accounts.len(),
                genesis.validators.len(),
                a.out.display()
            );
            Ok(())
        }
        GenesisCommand::Check(a) => {
            let hash = check(&a)?;
            println!("genesis hash {hash}: checked");
            Ok(())
        }
    }
}

/// Assembles and writes the genesis; returns it with its hash (hex).
pub fn assemble(a: &AssembleArgs) -> Result<(Genesis, String)> {
    let chain = ChainId::new(a.chain_id.clone()).context("--chain-id")?;
    let files = a.orgs.iter().map(|p| crate::tx::read_org_file(p)).collect::<Result<Vec<_>>>()?;
    let mut params = match &a.params {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<ChainParams>(&text)
                .with_context(|| format!("{} is not chain parameters", p.display()))?
        }
        None => ChainParams::default(),
    };
    params.hash = a.hash;
    let time_ms = match &a.genesis_time {
        Some(t) => {
            chrono::DateTime::parse_from_rfc3339(t).context("--genesis-time must be RFC 3339")?.timestamp_millis()
        }
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64,
    };
    let genesis = ceremony::assemble(&chain, time_ms, params, &files, min_validators(a.allow_no_fault_tolerance))
        .map_err(|e| anyhow::anyhow!("the genesis does not check:\n{e}"))?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&genesis)? + "\n")
        .with_context(|| format!("writing {}", a.out.display()))?;
    let hash = trustmeter_crypto::genesis_hash(&genesis).to_hex();
    Ok((genesis, hash))
}

/// Checks a received genesis; returns its hash (hex).
pub fn check(a: &CheckArgs) -> Result<String> {
    let genesis = trustmeter_node::config::load_genesis(&a.genesis)?;
    let hash = trustmeter_crypto::genesis_hash(&genesis).to_hex();
    let mut problems = match ceremony::check_genesis(&genesis, min_validators(a.allow_no_fault_tolerance)) {
        Ok(()) => vec![],
        Err(e) => e.problems,
    };
    for path in &a.orgs {
        let file = crate::tx::read_org_file(path)?;
        problems.extend(file.problems(&genesis.chain_id));
        problems.extend(missing_from(&genesis, &file).into_iter().map(|p| format!("{}: {p}", path.display())));
    }
    if let Some(expected) = &a.expect_hash
        && !expected.trim().eq_ignore_ascii_case(&hash)
    {
        problems.push(format!("the genesis hash is {hash}, not the agreed {}", expected.trim()));
    }
    if !problems.is_empty() {
        bail!("{} does not check:\n{}", a.genesis.display(), problems.join("\n"));
    }
    Ok(hash)
}

/// What of `file` the genesis lacks or changed.
fn missing_from(genesis: &Genesis, file: &OrgFile) -> Vec<String> {
    let id = &file.organisation.id;
    let mut out = vec![];
    match genesis.organisations.iter().find(|o| &o.id == id) {
        None => out.push(format!("organisation {id} is not in the genesis")),
        Some(o) if o != &file.organisation => out.push(format!("organisation {id}'s record differs from the file")),
        Some(_) => {}
    }
    let in_genesis: Vec<_> = genesis.accounts.iter().filter(|a| &a.org == id).map(|a| &a.public_key).collect();
    for a in &file.accounts {
        if !in_genesis.contains(&&a.public_key) {
            out.push(format!("account {} is not in the genesis under {id}", a.public_key));
        }
    }
    if in_genesis.len() != file.accounts.len() {
        out.push(format!("the genesis gives {id} {} accounts; the file has {}", in_genesis.len(), file.accounts.len()));
    }
    for v in &file.validators {
        let found = genesis.validators.iter().any(|g| {
            &g.org == id
                && g.name == v.name
                && g.consensus_key.eq_ignore_ascii_case(&v.consensus_key)
                && g.p2p_address == v.p2p_address
        });
        if !found {
            out.push(format!("validator {} is not in the genesis as published", v.name));
        }
    }
    out
}
