//! `unigate qr decode | encode | render`.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Decode payloads and print one JSON object per payload (SPEC §5).
    Decode {
        /// The payload; read from standard input when absent.
        payload: Option<String>,
        /// Batch mode: one payload per standard-input line, one JSON object
        /// per line, in order; exits 0.
        #[arg(long, conflicts_with_all = ["payload", "image"])]
        lines: bool,
        /// Read the payloads from the QR symbols in a PNG or JPEG image: one
        /// JSON object per symbol found.
        #[arg(long, value_name = "FILE", conflicts_with = "payload")]
        image: Option<String>,
        #[command(flatten)]
        check: CheckArgs,
    },
    /// Encode a merchant-presented (or, from a tags tree, consumer-presented)
    /// code and print its payload.
    Encode(Box<EncodeArgs>),
    /// Draw a payload as a QR symbol: terminal text, or a PNG / SVG file.
    Render {
        /// The payload; read from standard input when absent.
        payload: Option<String>,
        #[command(flatten)]
        output: RenderArgs,
    },
}

/// How decoded codes are judged.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Validate under this scheme's profile instead of the one the code
    /// selects (`emvco` for strict generic EMVCo).
    #[arg(long, value_name = "SCHEME")]
    profile: Option<String>,
    /// Longest payload accepted, in bytes.
    #[arg(long, default_value_t = qr::Limits::default().payload_bytes_max)]
    payload_bytes_max: usize,
    /// Judge the codes' own expiry as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Refuse codes whose own expiry has passed (error `expired`) instead of
    /// reporting `"expired": true`.
    #[arg(long)]
    refuse_expired: bool,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// The code's fields as JSON (`{"initiation": "dynamic", "accounts":
    /// {...}, "currency": "THB", ...}`; see docs/schemes.md), or @FILE, or -
    /// for standard input.
    #[arg(long, value_name = "JSON")]
    json: Option<String>,
    /// A raw tags tree as `qr decode` prints it (two-digit keys for MPM; hex
    /// keys with 85 for CPM), or @FILE, or -.
    #[arg(long, value_name = "JSON", conflicts_with = "json")]
    tags: Option<String>,
    /// Point of initiation: static (11) or dynamic (12).
    #[arg(long, value_parser = ["static", "dynamic"])]
    initiation: Option<String>,
    /// Merchant category code (tag 52).
    #[arg(long)]
    mcc: Option<String>,
    /// Currency, ISO 4217 alphabetic or numeric (tag 53).
    #[arg(long)]
    currency: Option<String>,
    /// Amount as decimal text (tag 54).
    #[arg(long)]
    amount: Option<String>,
    /// Country, ISO 3166 alpha-2 (tag 58).
    #[arg(long)]
    country: Option<String>,
    /// Merchant name (tag 59).
    #[arg(long)]
    name: Option<String>,
    /// Merchant city (tag 60).
    #[arg(long)]
    city: Option<String>,
    /// Postal code (tag 61).
    #[arg(long)]
    postal_code: Option<String>,
    /// Any data object by its path, e.g. `--tag 29.00=A000000677010111
    /// --tag 29.01=0066812345678 --tag 62.05=INV-1`; repeatable.
    #[arg(long = "tag", value_name = "PATH=VALUE")]
    tags_set: Vec<String>,
    #[command(flatten)]
    output: RenderArgs,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write the symbol as a PNG image to FILE.
    #[arg(long, value_name = "FILE")]
    png: Option<String>,
    /// Write the symbol as an SVG image to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<String>,
    /// Pixels per module in a PNG.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    module_px: u32,
}

pub fn run(command: QrCommand) -> anyhow::Result<ExitCode> {
    match command {
        QrCommand::Decode {
            payload,
            lines,
            image,
            check,
        } => {
            let options = options(&check)?;
            match (lines, image) {
                (true, _) => decode_lines(&options),
                (false, Some(file)) => decode_image(&file, &options),
                (false, None) => decode_one(payload, &options),
            }
        }
        QrCommand::Encode(args) => encode(*args),
        QrCommand::Render { payload, output } => {
            let payload = match payload {
                Some(p) => p,
                None => read_stdin_text()?,
            };
            render(&payload, &output, true)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn options(check: &CheckArgs) -> anyhow::Result<qr::Options> {
    let profile = match &check.profile {
        None => None,
        Some(name) => {
            Some(qr::profile::by_name(name).with_context(|| format!("unknown profile {name:?}"))?)
        }
    };
    let at = match &check.at {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .with_context(|| format!("--at {text:?} is not an RFC 3339 time"))?,
        None => jiff::Timestamp::now(),
    };
    Ok(qr::Options {
        limits: qr::Limits {
            payload_bytes_max: check.payload_bytes_max,
        },
        profile,
        context: qr::profile::Context {
            now_unix_ms: Some(at.as_millisecond()),
        },
        refuse_expired: check.refuse_expired,
    })
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
    let (json, ok) = decode_to_json(input.trim_ascii(), options);
    writeln!(std::io::stdout().lock(), "{json}")?;
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
        let (json, _) = decode_to_json(line.trim_ascii(), options);
        writeln!(out, "{json}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn decode_image(file: &str, options: &qr::Options) -> anyhow::Result<ExitCode> {
    let limits = qrimage::ReadLimits::default();
    let bytes = read_file_capped(file, limits.file_bytes_max)?;
    let mut out = std::io::stdout().lock();
    match qrimage::read_image(&bytes, limits) {
        Ok(payloads) => {
            let mut all_ok = true;
            for p in payloads {
                let (json, ok) = decode_to_json(p.as_bytes(), options);
                all_ok &= ok;
                writeln!(out, "{json}")?;
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            let json = serde_json::json!({"valid": false, "error": {"code": "unreadable_image", "message": e.to_string()}});
            writeln!(out, "{json}")?;
            Ok(ExitCode::FAILURE)
        }
    }
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

/// The decode JSON and whether the payload was valid. Callers trim
/// surrounding ASCII white space (a pasted code, a CRLF line) first: it is
/// not part of any payload.
fn decode_to_json(input: &[u8], options: &qr::Options) -> (String, bool) {
    match qr::decode_bytes(input, options) {
        Ok(decoded) => (decoded.to_json(), true),
        Err(e) => (e.to_json(), false),
    }
}

fn encode(args: EncodeArgs) -> anyhow::Result<ExitCode> {
    let options = qr::Options::default();
    let payload = if let Some(tags) = &args.tags {
        let tree: serde_json::Value =
            serde_json::from_str(&read_arg(tags)?).context("--tags is not JSON")?;
        if tree.get("85").is_some() {
            let objects =
                qr::cpm::objects_from_json(&tree).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            qr::cpm::encode(&objects)
                .map_err(|e| anyhow::anyhow!("the code does not decode: {}", e.message))?
        } else {
            let mut objects = qr::encode::objects_from_json(&tree)?;
            apply_flags(&args, &mut objects)?;
            qr::encode::encode(&objects, &options)?
        }
    } else {
        let spec: qr::encode::MpmSpec = match &args.json {
            Some(j) => {
                serde_json::from_str(&read_arg(j)?).context("--json is not a code description")?
            }
            None => qr::encode::MpmSpec::default(),
        };
        let mut objects = spec.to_objects()?;
        apply_flags(&args, &mut objects)?;
        // Built from fields: the conventional ascending order.
        objects.sort_by_key(|o| o.id);
        qr::encode::encode(&objects, &options)?
    };
    writeln!(std::io::stdout().lock(), "{payload}")?;
    render(&payload, &args.output, false)?;
    Ok(ExitCode::SUCCESS)
}

/// The field flags and `--tag PATH=VALUE` on top of the objects.
fn apply_flags(args: &EncodeArgs, objects: &mut Vec<qr::encode::Object>) -> anyhow::Result<()> {
    use qr::encode::{MpmSpec, Object};
    let fields = MpmSpec {
        initiation: match args.initiation.as_deref() {
            Some("static") => Some(qr::mpm::Initiation::Static),
            Some("dynamic") => Some(qr::mpm::Initiation::Dynamic),
            _ => None,
        },
        mcc: args.mcc.clone(),
        currency: args.currency.clone(),
        amount: args.amount.clone(),
        country: args.country.clone(),
        merchant_name: args.name.clone(),
        merchant_city: args.city.clone(),
        postal_code: args.postal_code.clone(),
        ..MpmSpec::default()
    };
    for o in fields.to_objects()? {
        set(objects, &[o.id], Some(o.value));
    }
    for t in &args.tags_set {
        let (path, value) = t
            .split_once('=')
            .with_context(|| format!("--tag {t:?} is not PATH=VALUE"))?;
        let ids = path
            .split('.')
            .map(|p| match p.as_bytes() {
                [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Ok((a - b'0') * 10 + (b - b'0')),
                _ => bail!("--tag {t:?}: {p:?} is not a two-digit id"),
            })
            .collect::<anyhow::Result<Vec<u8>>>()?;
        let value = (!value.is_empty()).then(|| qr::encode::Value::Text(value.to_string()));
        set(objects, &ids, value);
    }
    // Keep the format indicator first; the encoder adds the CRC.
    objects.sort_by_key(|o: &Object| o.id != 0);
    Ok(())
}

/// Set (or, for `None`, remove) the object at `path`, creating templates on
/// the way.
fn set(objects: &mut Vec<qr::encode::Object>, path: &[u8], value: Option<qr::encode::Value>) {
    use qr::encode::{Object, Value};
    let [first, rest @ ..] = path else { return };
    let at = objects.iter().position(|o| o.id == *first);
    if rest.is_empty() {
        match (at, value) {
            (Some(i), Some(v)) => {
                if let Some(o) = objects.get_mut(i) {
                    o.value = v;
                }
            }
            (Some(i), None) => {
                objects.remove(i);
            }
            (None, Some(v)) => objects.push(Object {
                id: *first,
                value: v,
            }),
            (None, None) => {}
        }
        return;
    }
    let i = at.unwrap_or_else(|| {
        objects.push(Object::template(*first, Vec::new()));
        objects.len() - 1
    });
    if let Some(o) = objects.get_mut(i) {
        if !matches!(o.value, Value::Template(_)) {
            o.value = Value::Template(Vec::new());
        }
        if let Value::Template(children) = &mut o.value {
            set(children, rest, value);
        }
    }
}

/// Draw the payload: to the files asked for, else (when `text_default`) as
/// text on standard output.
fn render(payload: &str, output: &RenderArgs, text_default: bool) -> anyhow::Result<()> {
    let options = qrimage::RenderOptions {
        module_px: output.module_px,
        ..qrimage::RenderOptions::default()
    };
    if let Some(file) = &output.png {
        let png = qrimage::render_png(payload, options)?;
        std::fs::write(file, png).with_context(|| format!("writing {file}"))?;
    }
    if let Some(file) = &output.svg {
        let svg = qrimage::render_svg(payload, options)?;
        std::fs::write(file, svg).with_context(|| format!("writing {file}"))?;
    }
    if text_default && output.png.is_none() && output.svg.is_none() {
        let text = qrimage::render_text(payload)?;
        write!(std::io::stdout().lock(), "{text}")?;
        writeln!(std::io::stdout().lock())?;
    }
    Ok(())
}

/// A JSON argument: inline, `@FILE`, or `-` for standard input.
fn read_arg(arg: &str) -> anyhow::Result<String> {
    const JSON_BYTES_MAX: usize = 1 << 20;
    if arg == "-" {
        return read_stdin_text();
    }
    if let Some(file) = arg.strip_prefix('@') {
        let bytes = read_file_capped(file, JSON_BYTES_MAX)?;
        return String::from_utf8(bytes).with_context(|| format!("{file} is not UTF-8"));
    }
    Ok(arg.to_string())
}

fn read_stdin_text() -> anyhow::Result<String> {
    const STDIN_BYTES_MAX: u64 = 1 << 20;
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(STDIN_BYTES_MAX)
        .read_to_string(&mut text)
        .context("reading standard input")?;
    Ok(text.trim().to_string())
}

fn read_file_capped(file: &str, max: usize) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {file}"))?;
    let mut bytes = Vec::new();
    f.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {file}"))?;
    if bytes.len() > max {
        bail!("{file} is larger than {max} bytes");
    }
    Ok(bytes)
}
