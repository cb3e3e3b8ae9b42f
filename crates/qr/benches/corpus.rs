//! The benchmark corpus: every valid published payload of the fixtures
//! (MPM of every scheme, CPM, Chinese codes, UPI links), and its subsets.

#[derive(Debug, Default)]
pub struct Corpus {
    /// Everything valid, in fixture order.
    pub mixed: Vec<String>,
    /// The MPM payloads (what a generic EMVCo parser can read).
    pub mpm: Vec<String>,
    /// The Pix payloads.
    pub pix: Vec<String>,
}

pub fn options() -> qr::Options {
    // What the CLI passes: a clock, so expiry is computed too.
    qr::Options {
        context: qr::profile::Context {
            now_unix_ms: Some(1_763_683_200_000),
        },
        ..qr::Options::default()
    }
}

pub fn load() -> Corpus {
    let mut c = Corpus::default();
    for file in ["emvco-mpm.json", "schemes.json", "cpm-cn-upi.json"] {
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let list: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
        for f in list.as_array().expect("a list") {
            let Some(p) = f["payload"].as_str() else {
                continue;
            };
            let Ok(d) = qr::decode(p, &options()) else {
                continue;
            };
            c.mixed.push(p.to_string());
            if let qr::Decoded::Mpm(m) = &d {
                c.mpm.push(p.to_string());
                if m.scheme() == "pix" {
                    c.pix.push(p.to_string());
                }
            }
        }
    }
    c
}
