//! The command line as a user runs it: exit codes, one JSON object per
//! payload, `--lines` order and limits.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const ABC: &str =
    "000201010211021640001234567890125204525153038405802US5911ABC Hammers6008New York6304830B";

fn unigate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unigate runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("unigate exits")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn decode_one_valid_payload() {
    let out = unigate(&["qr", "decode", ABC], b"");
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["merchant"]["name"], "ABC Hammers");
    assert_eq!(lines[0]["tags"]["02"], "4000123456789012");
}

#[test]
fn decode_invalid_payload_exits_non_zero_with_json() {
    let bad = ABC.replace("830B", "830C");
    let out = unigate(&["qr", "decode", &bad], b"");
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(lines[0]["error"]["code"], "crc_mismatch");
}

#[test]
fn decode_reads_stdin_when_no_payload() {
    let out = unigate(&["qr", "decode"], format!("{ABC}\n").as_bytes());
    assert!(out.status.success());
    assert_eq!(json_lines(&out)[0]["valid"], true);
}

#[test]
fn lines_mode_answers_every_line_in_order_and_exits_zero() {
    let long = "0".repeat(10_000);
    let input = format!("{ABC}\r\nnot a code\n\n{long}\n\u{00ff}\n{ABC}");
    let mut bytes = input.into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\n");
    let out = unigate(&["qr", "decode", "--lines"], &bytes);
    assert!(out.status.success());
    let lines = json_lines(&out);
    let codes: Vec<String> = lines
        .iter()
        .map(|l| match l["valid"].as_bool() {
            Some(true) => "valid".to_string(),
            _ => l["error"]["code"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "valid",
            "bad_format_indicator",
            "truncated",
            "payload_too_large",
            "bad_format_indicator",
            "valid",
            "bad_value"
        ]
    );
}

#[test]
fn payload_limit_is_configurable() {
    let out = unigate(&["qr", "decode", "--payload-bytes-max", "20", ABC], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["error"]["code"], "payload_too_large");
}

#[test]
fn unknown_profile_is_a_one_line_error() {
    let out = unigate(&["qr", "decode", "--profile", "nope", ABC], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown profile"), "{err}");
}

#[test]
fn commands_not_built_yet_say_so() {
    for args in [
        &["serve"][..],
        &["demo"],
        &["loadgen"],
        &["qr", "encode"],
        &["qr", "render"],
    ] {
        let out = unigate(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).expect("UTF-8");
        assert!(err.contains("not built yet"), "{args:?}: {err}");
    }
}
