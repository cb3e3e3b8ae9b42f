//! House rules checked by a test (`tests/tidy.rs`) and by `cargo xtask tidy`.

pub mod new_connector;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every `.rs` file below `dir`, skipping build output.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != ".git" && name != "corpus" && name != "artifacts" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The part of a source file that is not test code: everything before its
/// first `#[cfg(test)]` (our test modules come last in a file).
pub fn non_test_part(source: &str) -> &str {
    match source.find("#[cfg(test)]") {
        Some(i) => source.get(..i).unwrap_or(source),
        None => source,
    }
}

/// One broken house rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub rule: &'static str,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.rule)
    }
}

/// Scan the workspace's sources for broken house rules.
pub fn tidy(root: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut dirs = vec![root.join("crates"), root.join("xtask"), root.join("fuzz")];
    dirs.retain(|d| d.is_dir());
    for dir in dirs {
        for file in rust_files(&dir) {
            let Ok(source) = std::fs::read_to_string(&file) else {
                continue;
            };
            let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
            let in_tests_dir = rel
                .components()
                .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "benches");
            for (n, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains(concat!("dbg", "!(")) {
                    findings.push(Finding {
                        file: rel.clone(),
                        line: n + 1,
                        rule: "no dbg! macro",
                    });
                }
                if line.contains(concat!("TO", "DO")) || line.contains(concat!("FIX", "ME")) {
                    findings.push(Finding {
                        file: rel.clone(),
                        line: n + 1,
                        rule: "no unfinished-work markers: file an issue instead",
                    });
                }
                if line.contains(concat!("#[", "ignore")) {
                    findings.push(Finding {
                        file: rel.clone(),
                        line: n + 1,
                        rule: "no ignored tests",
                    });
                }
            }
            if !in_tests_dir {
                for (n, line) in non_test_part(&source).lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if code.contains(concat!(".unw", "rap()")) {
                        findings.push(Finding {
                            file: rel.clone(),
                            line: n + 1,
                            rule: "no unwrap() outside tests",
                        });
                    }
                }
            }
        }
    }
    findings.extend(manifests_use_workspace_lints(root));
    findings
}

/// Every crate manifest opts into `[workspace.lints]`.
fn manifests_use_workspace_lints(root: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut manifests = vec![root.join("xtask/Cargo.toml")];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        for e in entries.flatten() {
            manifests.push(e.path().join("Cargo.toml"));
        }
    }
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap_or_default();
        if !text.contains("[lints]\nworkspace = true") {
            findings.push(Finding {
                file: m.strip_prefix(root).unwrap_or(&m).to_path_buf(),
                line: 1,
                rule: "crate must use [lints] workspace = true",
            });
        }
    }
    findings
}

/// The documented error-code catalogue: every codec code is listed, and the
/// list names no code the codec lacks.
pub fn error_catalogue(root: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(root.join("docs/error-codes.md")).unwrap_or_default();
    let mut problems = Vec::new();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("QR codec"))
        .unwrap_or_default();
    let documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    for code in qr::ErrorCode::ALL {
        if !documented.contains(&code.as_str()) {
            problems.push(format!("docs/error-codes.md does not list `{code}`"));
        }
    }
    for d in &documented {
        if !qr::ErrorCode::ALL.iter().any(|c| c.as_str() == *d) {
            problems.push(format!(
                "docs/error-codes.md lists `{d}`, which the code does not have"
            ));
        }
    }
    problems
}

/// The HTTP error catalogue (`api::problem::CATALOGUE`) and the "HTTP API"
/// section of `docs/error-codes.md` list the same codes with the same
/// statuses.
pub fn http_catalogue(root: &Path) -> Vec<String> {
    let documented = documented_codes(root, "HTTP API");
    let mut problems = Vec::new();
    for (code, status, _) in api::problem::CATALOGUE {
        if !documented
            .iter()
            .any(|(c, s)| c == code && *s == status.to_string())
        {
            problems.push(format!(
                "docs/error-codes.md does not list `{code}` with status {status}"
            ));
        }
    }
    for (c, _) in &documented {
        if !api::problem::CATALOGUE.iter().any(|(code, _, _)| code == c) {
            problems.push(format!(
                "docs/error-codes.md lists HTTP code `{c}`, which the API does not have"
            ));
        }
    }
    problems
}

/// `docs/schemes.md` names every scheme profile and every deviation each
/// one tolerates.
pub fn scheme_docs(root: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(root.join("docs/schemes.md")).unwrap_or_default();
    let mut problems = Vec::new();
    for p in qr::profile::PROFILES {
        let Some(row) = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}`", p.scheme())))
        else {
            problems.push(format!("docs/schemes.md has no row for `{}`", p.scheme()));
            continue;
        };
        for t in p.tolerances() {
            if !row.contains(t.rule.id()) {
                problems.push(format!(
                    "docs/schemes.md does not say that `{}` tolerates `{}`",
                    p.scheme(),
                    t.rule.id()
                ));
            }
        }
    }
    problems
}

/// `docs/participants.md` lists every merchant identifier kind and every
/// column of the merchants' CSV file.
pub fn participant_docs(root: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(root.join("docs/participants.md")).unwrap_or_default();
    let mut problems = Vec::new();
    for (kind, _) in participant::merchant::IDENTIFIER_KINDS {
        if !doc.lines().any(|l| l.starts_with(&format!("| `{kind}` |"))) {
            problems.push(format!(
                "docs/participants.md has no row for identifier kind `{kind}`"
            ));
        }
    }
    let header = api::merchants::CSV_COLUMNS.join(",");
    if !doc.lines().any(|l| l == header) {
        problems.push(format!(
            "docs/participants.md does not show the CSV header `{header}`"
        ));
    }
    problems
}

/// `docs/error-codes.md` lists every business result code with its status.
pub fn result_catalogue(root: &Path) -> Vec<String> {
    let documented = documented_codes(root, "Business results");
    let mut problems = Vec::new();
    for (code, status, _) in api::result::RESULTS {
        if !documented.iter().any(|(c, s)| c == code && s == status) {
            problems.push(format!(
                "docs/error-codes.md does not list result `{code}` with status {status}"
            ));
        }
    }
    for (c, _) in &documented {
        if !api::result::RESULTS.iter().any(|(code, _, _)| code == c) {
            problems.push(format!(
                "docs/error-codes.md lists result `{c}`, which the API does not have"
            ));
        }
    }
    problems
}

/// The `(code, status)` rows of a section of `docs/error-codes.md`.
fn documented_codes(root: &Path, section: &str) -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(root.join("docs/error-codes.md")).unwrap_or_default();
    doc.split("\n## ")
        .find(|s| s.starts_with(section))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (code, rest) = l.split_once('`')?;
            Some((code.to_string(), rest.split('|').nth(1)?.trim().to_string()))
        })
        .collect()
}
