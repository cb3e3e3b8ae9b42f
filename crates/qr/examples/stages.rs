//! Instruction counts of decoding the corpus (run under `valgrind --tool=callgrind`).
// Benchmark and tool code: indexing and printing are its job.
#![allow(clippy::indexing_slicing, clippy::print_stdout, clippy::print_stderr)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    // Optional second argument: only the payloads of one scheme ("pix").
    let only = std::env::args().nth(2);
    let mut set = Vec::new();
    for file in ["emvco-mpm.json", "schemes.json", "cpm-cn-upi.json"] {
        let text =
            std::fs::read_to_string(format!("crates/qr/tests/fixtures/{file}")).expect("fixtures");
        let list: serde_json::Value = serde_json::from_str(&text).expect("fixtures");
        for f in list.as_array().expect("fixtures") {
            let p = f["payload"].as_str().expect("fixtures").to_string();
            let keep = match qr::decode(&p, &qr::Options::default()) {
                Ok(d) => only.as_deref().is_none_or(|s| d.scheme() == s),
                Err(_) => false,
            };
            if keep {
                set.push(p);
            }
        }
    }
    let opts = qr::Options::default();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let mut k = 0;
    for _ in 0..n {
        for p in &set {
            if qr::decode_bytes(std::hint::black_box(p.as_bytes()), &opts).is_ok() {
                k += 1;
            }
        }
    }
    println!("{} decodes of {} payloads", k, set.len());
}
