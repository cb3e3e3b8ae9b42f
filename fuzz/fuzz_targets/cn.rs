//! Any text as a UPI link, a merchant URL code or a payment code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let options = qr::Options::default();
    for prefix in ["upi://pay?", "https://qr.alipay.com/", "wxp://", "weixin://wxpay/bizpayurl?", "62", ""] {
        if let Ok(decoded) = qr::decode(&format!("{prefix}{text}"), &options) {
            let _ = decoded.to_json();
        }
    }
});
