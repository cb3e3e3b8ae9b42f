//! Every published code survives the trip through a PNG (and a JPEG), and
//! bad images get clear errors.

use std::io::Cursor;

use qrimage::{Error, ReadLimits, RenderOptions, read_image, render_png, render_svg, render_text};

fn payloads() -> Vec<String> {
    let mut out = Vec::new();
    for file in ["emvco-mpm.json", "schemes.json", "cpm-cn-upi.json"] {
        let path = format!("{}/../qr/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let list: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures")).expect("JSON");
        for f in list.as_array().expect("list") {
            out.push(f["payload"].as_str().expect("payload").to_string());
        }
    }
    out
}

#[test]
fn every_fixture_round_trips_through_png() {
    let all = payloads();
    assert!(all.len() > 200);
    for p in &all {
        let png = render_png(
            p,
            RenderOptions {
                module_px: 3,
                quiet_zone: true,
            },
        )
        .expect("renders");
        let back = read_image(&png, ReadLimits::default()).expect("reads");
        assert_eq!(back, vec![p.clone()], "{p}");
    }
}

#[test]
fn decoded_payload_is_the_same_code() {
    // The EMVCo example through the image, then through the codec.
    let p = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";
    let png = render_png(p, RenderOptions::default()).expect("renders");
    let back = read_image(&png, ReadLimits::default()).expect("reads");
    let decoded = qr::decode(&back[0], &qr::Options::default()).expect("decodes");
    assert!(decoded.to_json().contains("BEST TRANSPORT"));
}

#[test]
fn jpeg_round_trip() {
    let p =
        "000201010211021640001234567890125204525153038405802US5911ABC Hammers6008New York6304830B";
    let png = render_png(p, RenderOptions::default()).expect("renders");
    let img = image::load_from_memory(&png).expect("png").to_luma8();
    let mut jpeg = Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .expect("jpeg");
    assert_eq!(
        read_image(jpeg.get_ref(), ReadLimits::default()).expect("reads"),
        vec![p.to_string()]
    );
}

#[test]
fn svg_and_text() {
    let p =
        "000201010211021640001234567890125204525153038405802US5911ABC Hammers6008New York6304830B";
    let svg = render_svg(p, RenderOptions::default()).expect("svg");
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    let text = render_text(p).expect("text");
    assert!(text.lines().count() > 10);
    assert!(text.contains('▀') || text.contains('▄') || text.contains('█'));
}

#[test]
fn bad_images() {
    assert!(matches!(
        read_image(b"not an image", ReadLimits::default()),
        Err(Error::Image(_))
    ));
    let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
    let mut png = Cursor::new(Vec::new());
    blank
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    assert!(matches!(
        read_image(png.get_ref(), ReadLimits::default()),
        Err(Error::NoSymbol)
    ));
    let limits = ReadLimits {
        file_bytes_max: 10,
        ..ReadLimits::default()
    };
    assert!(matches!(
        read_image(png.get_ref(), limits),
        Err(Error::FileTooLarge(..))
    ));
    let limits = ReadLimits {
        dimension_px_max: 32,
        ..ReadLimits::default()
    };
    assert!(matches!(
        read_image(png.get_ref(), limits),
        Err(Error::Image(_))
    ));
    assert!(matches!(
        render_png(&"9".repeat(8000), RenderOptions::default()),
        Err(Error::TooLong(_))
    ));
}
