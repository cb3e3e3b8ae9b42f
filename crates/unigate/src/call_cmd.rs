//! `unigate keygen`, `unigate sign` and `unigate call`: a participant's
//! side of SPEC §4.1 from the command line, on the same signing client the
//! simulators and tests use.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Who signs.
#[derive(Debug, Args)]
pub struct Signer {
    /// The participant id to sign as.
    #[arg(long, env = "UNIGATE_CLIENT_ID")]
    pub client_id: String,
    /// The private key (PEM PKCS#8, Ed25519 or RSA).
    #[arg(long, env = "UNIGATE_KEY_FILE")]
    pub key: String,
    /// The version the gateway registered the key under.
    #[arg(long, env = "UNIGATE_KEY_VERSION")]
    pub key_version: u32,
}

/// What `unigate sign` signs.
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub signer: Signer,
    /// The request's method.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// The request target exactly as it will be sent: path with query.
    #[arg(long)]
    pub path: String,
    /// The body's file (`-` for stdin); none for an empty body.
    #[arg(long)]
    pub body: Option<String>,
}

/// What `unigate call` sends.
#[derive(Debug, Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub signer: Signer,
    /// The gateway's base URL.
    #[arg(long, env = "UNIGATE_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,
    /// Verify answers with this gateway public key (PEM) of --gateway-key-version
    /// instead of fetching GET /v1/keys.
    #[arg(long)]
    pub gateway_key: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub gateway_key_version: u32,
    /// The body, inline (JSON).
    #[arg(long, conflicts_with = "body")]
    pub data: Option<String>,
    /// The body's file (`-` for stdin).
    #[arg(long)]
    pub body: Option<String>,
    /// The body's content type.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 30)]
    pub timeout_s: u64,
    /// GET, POST, PATCH, ...
    pub method: String,
    /// Path with query, e.g. /v1/me or /v1/merchants?limit=10.
    pub path: String,
}

/// Where `unigate keygen` writes.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The private key's file (PEM PKCS#8, created owner-only).
    #[arg(long)]
    pub private: String,
    /// The public key's file (PEM SubjectPublicKeyInfo, to register).
    #[arg(long)]
    pub public: String,
}

/// Longest body read from a file or stdin.
const BODY_BYTES_MAX: u64 = 16 * 1024 * 1024;

fn read_body(source: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    match source {
        None => {}
        Some("-") => {
            std::io::stdin()
                .take(BODY_BYTES_MAX)
                .read_to_end(&mut out)
                .context("reading the body from stdin")?;
        }
        Some(path) => {
            std::fs::File::open(path)
                .with_context(|| format!("reading the body {path}"))?
                .take(BODY_BYTES_MAX)
                .read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

/// The signing key named on the command line.
pub fn key_signer(s: &Signer) -> anyhow::Result<sign::KeySigner> {
    let pem =
        std::fs::read_to_string(&s.key).with_context(|| format!("reading the key {}", s.key))?;
    let key = sign::PrivateKey::from_pem(&pem).with_context(|| format!("the key {}", s.key))?;
    Ok(sign::KeySigner {
        client_id: s.client_id.clone(),
        key,
        key_version: s.key_version,
    })
}

#[allow(clippy::print_stdout)]
pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let (key, der) = sign::PrivateKey::generate_ed25519()?;
    let mut private = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.private)
        .with_context(|| format!("creating {} (it must not exist)", args.private))?;
    private.write_all(sign::pkcs8_pem(&der)?.as_bytes())?;
    std::fs::write(&args.public, key.public_key().to_pem()?)
        .with_context(|| format!("writing {}", args.public))?;
    println!(
        "Ed25519 key: private {} (owner-only), public {}",
        args.private, args.public
    );
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let id = key_signer(&args.signer)?;
    let body = read_body(args.body.as_deref())?;
    let headers = sign::sign_message(
        &id.key,
        id.key_version,
        &id.client_id,
        &args.method,
        &args.path,
        &sign::now_rfc3339(),
        &body,
    )?;
    println!("Client-Id: {}", headers.client_id);
    println!("Request-Time: {}", headers.time);
    println!("Signature: {}", headers.signature);
    Ok(ExitCode::SUCCESS)
}

/// Exit status of `call` when the answer's signature does not verify.
const UNVERIFIED: u8 = 3;

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let id = key_signer(&args.signer)?;
    let body = match &args.data {
        Some(d) => d.clone().into_bytes(),
        None => read_body(args.body.as_deref())?,
    };
    let limits = client::ClientLimits {
        timeout: std::time::Duration::from_secs(args.timeout_s.max(1)),
        ..client::ClientLimits::default()
    };
    let mut c = client::SignedClient::new(&args.gateway, std::sync::Arc::new(id), limits)?;
    if let Some(path) = &args.gateway_key {
        let pem = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        c = c.pin_peer_keys(vec![(
            args.gateway_key_version,
            sign::PublicKey::from_pem(&pem).with_context(|| format!("the gateway key {path}"))?,
        )]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let method = args.method.to_ascii_uppercase();
    let content_type = (!body.is_empty()).then_some(args.content_type.as_str());
    let answer = runtime
        .block_on(c.call(&method, &args.path, content_type, body))
        .with_context(|| format!("{method} {}", args.path))?;
    let shown = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
    println!("{shown}");
    match &answer.verified {
        Ok(version) => eprintln!(
            "HTTP {} · answer signed by unigate key {version} · verified",
            answer.status
        ),
        Err(why) => {
            eprintln!(
                "HTTP {} · answer signature NOT verified: {why}",
                answer.status
            );
            return Ok(ExitCode::from(UNVERIFIED));
        }
    }
    Ok(if (200..300).contains(&answer.status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
