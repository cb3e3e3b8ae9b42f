//! `cargo xtask <task>`.

use std::process::ExitCode;

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "tidy" => {
            let root = xtask::root();
            let mut problems: Vec<String> =
                xtask::tidy(&root).iter().map(ToString::to_string).collect();
            problems.extend(xtask::error_catalogue(&root));
            problems.extend(xtask::scheme_docs(&root));
            problems.extend(xtask::http_catalogue(&root));
            problems.extend(xtask::participant_docs(&root));
            problems.extend(xtask::result_catalogue(&root));
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("tidy: clean");
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        "openapi" => {
            let path = xtask::root().join("docs/openapi.json");
            match std::fs::write(&path, api::openapi_json() + "\n") {
                Ok(()) => {
                    println!("wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("writing {}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        "new-connector" => {
            let Some(name) = std::env::args().nth(2) else {
                eprintln!("usage: cargo xtask new-connector NAME");
                return ExitCode::from(2);
            };
            match xtask::new_connector::new_connector(&xtask::root(), &name) {
                Ok(files) => {
                    for f in files {
                        println!("wrote {}", f.display());
                    }
                    println!("next: cargo nextest run -p connector {name}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("new-connector: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: cargo xtask tidy | openapi | new-connector NAME");
            ExitCode::from(2)
        }
    }
}
