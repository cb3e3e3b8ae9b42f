//! `unigate qr ...`.

use std::io::{BufRead, Read, Write};

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Decode payloads and print one JSON object per payload (SPEC §5).
    Decode {
        /// The payload; read from standard input when absent.
        payload: Option<String>,
        /// Batch mode: one payload per standard-input line, one JSON object
        /// per line, in order; exits 0.
        #[arg(long, conflicts_with = "payload")]
        lines: bool,
        /// Validate under this scheme's profile instead of the one the code
        /// selects (`emvco` for strict generic EMVCo).
        #[arg(long, value_name = "SCHEME")]
        profile: Option<String>,
        /// Longest payload accepted, in bytes.
        #[arg(long, default_value_t = qr::Limits::default().payload_bytes_max)]
        payload_bytes_max: usize,
        /// Judge the codes' own expiry as of this time (RFC 3339) instead of
        /// now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Refuse codes whose own expiry has passed (error `expired`)
        /// instead of reporting `"expired": true`.
        #[arg(long)]
        refuse_expired: bool,
    },
    /// Encode a payload.
    Encode,
    /// Render a payload as PNG, SVG or text.
    Render,
}

pub fn run(command: QrCommand) -> anyhow::Result<ExitCode> {
    match command {
        QrCommand::Decode {
            payload,
            lines,
            profile,
            payload_bytes_max,
            at,
            refuse_expired,
        } => {
            let profile = match profile {
                None => None,
                Some(name) => Some(
                    qr::profile::by_name(&name)
                        .with_context(|| format!("unknown profile {name:?}"))?,
                ),
            };
            let at = match at {
                Some(text) => text
                    .parse::<jiff::Timestamp>()
                    .with_context(|| format!("--at {text:?} is not an RFC 3339 time"))?,
                None => jiff::Timestamp::now(),
            };
            let now_unix_ms = Some(at.as_millisecond());
            let options = qr::Options {
                limits: qr::Limits { payload_bytes_max },
                profile,
                context: qr::profile::Context { now_unix_ms },
                refuse_expired,
            };
            if lines {
                decode_lines(&options)
            } else {
                decode_one(payload, &options)
            }
        }
        QrCommand::Encode => {
            anyhow::bail!("`unigate qr encode` is not built yet; see the open issues")
        }
        QrCommand::Render => {
            anyhow::bail!("`unigate qr render` is not built yet; see the open issues")
        }
    }
}

fn decode_one(payload: Option<String>, options: &qr::Options) -> anyhow::Result<ExitCode> {
    let input = match payload {
        Some(p) => p.into_bytes(),
        None => {
            // Read at most one byte past the limit: enough to say it is over.
            let mut buf = Vec::new();
            let cap = u64::try_from(options.limits.payload_bytes_max.saturating_add(2))
                .unwrap_or(u64::MAX);
            std::io::stdin()
                .lock()
                .take(cap)
                .read_to_end(&mut buf)
                .context("reading standard input")?;
            buf
        }
    };
    let (json, ok) = decode_to_json(trim(&input), options);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}")?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn decode_lines(options: &qr::Options) -> anyhow::Result<ExitCode> {
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // A line is kept up to just past the limit, so an endless line costs
    // bounded memory and still reads as "over the limit".
    let cap = options.limits.payload_bytes_max.saturating_add(2);
    let mut line = Vec::new();
    while read_line_capped(&mut stdin, cap, &mut line).context("reading standard input")? {
        let (json, _) = decode_to_json(trim(&line), options);
        writeln!(out, "{json}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Read one `\n`-terminated line into `line`, keeping at most `cap` bytes of
/// it. Returns false at end of input.
fn read_line_capped(
    input: &mut impl BufRead,
    cap: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any);
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (chunk.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (chunk, None),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(part.get(..part.len().min(room)).unwrap_or_default());
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            return Ok(true);
        }
    }
}

fn decode_to_json(input: &[u8], options: &qr::Options) -> (String, bool) {
    match qr::decode_bytes(input, options) {
        Ok(decoded) => (decoded.to_json(), true),
        Err(e) => (e.to_json(), false),
    }
}

/// Surrounding ASCII white space (a pasted code, a CRLF line) is not part of
/// any payload.
fn trim(input: &[u8]) -> &[u8] {
    input.trim_ascii()
}
