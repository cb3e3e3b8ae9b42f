//! House rules, enforced by a test rather than by review.

#[test]
fn sources_follow_house_rules() {
    let findings = xtask::tidy(&xtask::root());
    let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(list.is_empty(), "house rules broken:\n{}", list.join("\n"));
}

#[test]
fn error_code_catalogue_matches_the_code() {
    let problems = xtask::error_catalogue(&xtask::root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn tidy_sees_a_planted_unwrap() {
    let dir = std::env::temp_dir().join(format!("tidy-plant-{}", std::process::id()));
    let src = dir.join("crates/planted/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("lib.rs"), "fn f() { Some(1).unwrap(); }\n").unwrap();
    std::fs::write(dir.join("crates/planted/Cargo.toml"), "[package]\n").unwrap();
    let rules: Vec<&str> = xtask::tidy(&dir).iter().map(|f| f.rule).collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(rules.contains(&"no unwrap() outside tests"), "{rules:?}");
    assert!(
        rules.contains(&"crate must use [lints] workspace = true"),
        "{rules:?}"
    );
}

#[test]
fn scheme_docs_match_the_profiles() {
    let problems = xtask::scheme_docs(&xtask::root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn http_error_catalogue_matches_the_code() {
    let problems = xtask::http_catalogue(&xtask::root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn participant_docs_match_the_code() {
    let problems = xtask::participant_docs(&xtask::root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn result_catalogue_matches_the_code() {
    let problems = xtask::result_catalogue(&xtask::root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
