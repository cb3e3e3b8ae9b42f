//! `cargo xtask new-connector NAME`: a new dialect is one module under
//! `crates/connector/src/dialects/` plus one registration in its
//! `mod.rs`; this writes both.

use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../templates/connector.rs.txt");
const MODULES: &str = "// new-connector: modules";
const REGISTRATIONS: &str = "    // new-connector: registrations";

/// Write the dialect `name` into the workspace at `root`; returns the
/// files written.
pub fn new_connector(root: &Path, name: &str) -> Result<Vec<PathBuf>, String> {
    let valid = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?} is not a dialect name: lower-case letters, digits and _, starting with a letter, at most 32"
        ));
    }
    let dir = root.join("crates/connector/src/dialects");
    let module = dir.join(format!("{name}.rs"));
    if module.exists() || name == "mod" {
        return Err(format!("the dialect {name} exists already"));
    }
    let registry = dir.join("mod.rs");
    let text = std::fs::read_to_string(&registry)
        .map_err(|e| format!("reading {}: {e}", registry.display()))?;
    if !text.contains(MODULES) || !text.contains(REGISTRATIONS) {
        return Err(format!(
            "{} has lost its `new-connector` markers",
            registry.display()
        ));
    }
    let text = text
        .replacen(MODULES, &format!("pub mod {name};\n{MODULES}"), 1)
        .replacen(
            REGISTRATIONS,
            &format!(
                "    Dialect {{\n        name: {name}::NAME,\n        build: {name}::build,\n    }},\n{REGISTRATIONS}"
            ),
            1,
        );
    std::fs::write(&module, TEMPLATE.replace("__NAME__", name))
        .map_err(|e| format!("writing {}: {e}", module.display()))?;
    std::fs::write(&registry, text).map_err(|e| format!("writing {}: {e}", registry.display()))?;
    Ok(vec![module, registry])
}
