//! `cargo xtask new-connector NAME` makes a dialect that builds, registers
//! itself and passes its own test: shown on a throwaway dialect in a copy
//! of the workspace (the checkout itself is not touched).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn new_connector_writes_a_dialect_that_builds_and_registers() {
    let root = xtask::root();
    let copy = std::env::temp_dir().join(format!("unigate-new-connector-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    for part in ["Cargo.toml", "Cargo.lock"] {
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(root.join(part), copy.join(part)).unwrap();
    }
    for part in ["crates", "xtask", ".cargo"] {
        copy_tree(&root.join(part), &copy.join(part));
    }

    let written = xtask::new_connector::new_connector(&copy, "throwaway").unwrap();
    assert_eq!(written.len(), 2);
    // Refused: the same name again, and names that are not identifiers.
    assert!(xtask::new_connector::new_connector(&copy, "throwaway").is_err());
    for bad in ["", "Bad", "9lives", "has-dash", "mod"] {
        assert!(
            xtask::new_connector::new_connector(&copy, bad).is_err(),
            "{bad}"
        );
    }

    // Build the copy's connector crate and run the new dialect's own test
    // (sharing this workspace's target directory, so only our crates are
    // compiled again).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .args([
            "test",
            "--offline",
            "--quiet",
            "-p",
            "connector",
            "--lib",
            "--",
            "dialects::throwaway",
        ])
        .output()
        .expect("running cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the generated dialect does not build or pass:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout
            .contains("dialects::throwaway::tests::is_registered_and_translates_both_ways ... ok")
            || stdout.contains("1 passed"),
        "the generated dialect's test did not run:\n{stdout}"
    );
    let _ = std::fs::remove_dir_all(&copy);
}
