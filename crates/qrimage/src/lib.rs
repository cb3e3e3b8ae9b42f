//! QR symbols, not payloads: draw a payload as a PNG, an SVG or terminal
//! text, and find the payloads in a PNG or JPEG. The symbol work is the
//! `qrcode` crate's (encoding) and `rqrr`'s (detection and decoding); this
//! crate chooses sizes and limits and maps errors. It knows nothing of
//! payment formats: `qr` decodes what it finds.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Luma};
use qrcode::{EcLevel, QrCode};

/// Limits on images read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest image file accepted, in bytes.
    pub file_bytes_max: usize,
    /// Largest width or height, in pixels (a decompression bomb stops here).
    pub dimension_px_max: u32,
    /// Most QR symbols reported from one image.
    pub symbols_max: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            file_bytes_max: 20 << 20,
            dimension_px_max: 8000,
            symbols_max: 16,
        }
    }
}

/// How to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Pixels per module in a PNG.
    pub module_px: u32,
    /// Quiet zone, in modules (the QR standard asks for 4).
    pub quiet_zone: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            module_px: 8,
            quiet_zone: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the payload does not fit in a QR symbol: {0}")]
    TooLong(String),
    #[error("the image is {0} bytes; the limit is {1}")]
    FileTooLarge(usize, usize),
    #[error("the image cannot be read: {0}")]
    Image(String),
    #[error("no QR symbol was found in the image")]
    NoSymbol,
    #[error("a QR symbol was found but could not be decoded: {0}")]
    Symbol(String),
}

fn symbol(payload: &str) -> Result<QrCode, Error> {
    // Level M: what payment schemes print (EMVCo leaves the level to the
    // scheme; M survives a worn sticker and keeps symbols small).
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| Error::TooLong(e.to_string()))
}

/// The payload as a PNG image.
pub fn render_png(payload: &str, options: RenderOptions) -> Result<Vec<u8>, Error> {
    let code = symbol(payload)?;
    let img = code
        .render::<Luma<u8>>()
        .quiet_zone(options.quiet_zone)
        .module_dimensions(options.module_px, options.module_px)
        .build();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok(out.into_inner())
}

/// The payload as an SVG document.
pub fn render_svg(payload: &str, options: RenderOptions) -> Result<String, Error> {
    let code = symbol(payload)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(options.quiet_zone)
        .min_dimensions(200, 200)
        .build())
}

/// The payload as text for a terminal: two modules per character cell,
/// drawn with Unicode half blocks (dark on light).
pub fn render_text(payload: &str) -> Result<String, Error> {
    let code = symbol(payload)?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Every QR payload found in a PNG or JPEG image, in the order found.
pub fn read_image(bytes: &[u8], limits: ReadLimits) -> Result<Vec<String>, Error> {
    if bytes.len() > limits.file_bytes_max {
        return Err(Error::FileTooLarge(bytes.len(), limits.file_bytes_max));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.dimension_px_max);
    image_limits.max_image_height = Some(limits.dimension_px_max);
    reader.limits(image_limits);
    let img = reader
        .decode()
        .map_err(|e| Error::Image(e.to_string()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(Error::NoSymbol);
    }
    let mut out = Vec::new();
    let mut last_error = None;
    for grid in grids.into_iter().take(limits.symbols_max) {
        match grid.decode() {
            Ok((_, content)) => out.push(content),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    match (out.is_empty(), last_error) {
        (true, Some(e)) => Err(Error::Symbol(e)),
        (true, None) => Err(Error::NoSymbol),
        _ => Ok(out),
    }
}
