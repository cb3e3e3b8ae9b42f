use super::*;

const FILE: &str = r#"
version = "2026-11-22.1"
currency = "CNY"

[[rule]]
kind = "amount_limit"
id = "single-mn-cn"
action = "decline"
scope = "corridor"
corridor = "MN-CN"
period = "single"
max = "5000.00"

[[rule]]
kind = "amount_limit"
id = "payer-daily"
action = "decline"
scope = "payer"
period = "daily"
max = "10000.00"
release = "cancel_and_refund"

[[rule]]
kind = "velocity"
id = "payer-hourly"
action = "review"
subject = "payer"
window_s = 3600
max_count = 3

[[rule]]
kind = "velocity"
id = "merchant-burst"
action = "decline"
subject = "merchant"
window_s = 60
max_amount = "20000.00"

[[rule]]
kind = "block_list"
id = "blocked-countries"
action = "decline"
field = "payer_country"
values = ["KP"]

[[rule]]
kind = "allow_list"
id = "trusted-merchants"
field = "merchant_id"
values = ["gm-trusted"]

[[rule]]
kind = "mcc_restriction"
id = "no-gambling-mn-cn"
action = "decline"
corridor = "MN-CN"
mccs = ["7995"]

[[rule]]
kind = "anomaly"
id = "anomaly"
action = "review"
threshold = 60

[[rule]]
kind = "sanctions"
id = "sanctions"
action = "decline"
fields = ["payer_name", "merchant_name"]
threshold = 0.8
"#;

fn set() -> RuleSet {
    RuleSet::parse(FILE).unwrap()
}

fn facts() -> Facts<'static> {
    Facts {
        wallet: "mn-wallet",
        acquirer: "cn-acq",
        payer_id: Some("u-1"),
        payer_name: Some("Bat-Erdene Dorj"),
        payer_country: "MN",
        merchant_id: "gm-1",
        merchant_name: "ERLIAN HOTPOT",
        merchant_country: "CN",
        mcc: "5812",
        amount_minor: 10_000,
        merchant_local_hour: Some(12),
        history: Some(History {
            count: 10,
            total_minor: 100_000,
            corridors_24h: 1,
        }),
    }
}

fn screen() -> screen::Screen {
    screen::Screen::parse("id,name\nS1,Vladimir Sokolov\nS2,Li Xiaolong\n", 2).unwrap()
}

fn fired(d: &Decision) -> Vec<&str> {
    d.fired().map(|o| o.rule.as_str()).collect()
}

fn run(f: &Facts<'_>, c: &Counters) -> Decision {
    set().evaluate(f, c, Some(&screen()), false)
}

#[test]
fn a_plain_payment_is_approved_and_every_rule_is_traced() {
    let d = run(&facts(), &Counters::default());
    assert_eq!(d.action, Action::Approve, "{d:#?}");
    assert_eq!(d.outcomes.len(), 9);
    assert!(
        d.outcomes
            .iter()
            .all(|o| o.status == Status::Evaluated && !o.saw.is_empty())
    );
    assert_eq!(d.version, "2026-11-22.1");
}

#[test]
fn a_single_amount_limit_fires_above_its_max_only() {
    let mut f = facts();
    f.amount_minor = 500_000;
    assert!(!fired(&run(&f, &Counters::default())).contains(&"single-mn-cn"));
    f.amount_minor = 500_001;
    let d = run(&f, &Counters::default());
    assert!(fired(&d).contains(&"single-mn-cn"), "{d:#?}");
    assert_eq!(d.action, Action::Decline);
    // Another corridor: not this rule.
    f.payer_country = "TH";
    assert!(!fired(&run(&f, &Counters::default())).contains(&"single-mn-cn"));
}

#[test]
fn a_daily_limit_counts_what_came_before() {
    let f = facts();
    let mut c = Counters::default();
    c.set("payer-daily", "payer:mn-wallet:u-1", 5, 990_000);
    assert!(!fired(&run(&f, &c)).contains(&"payer-daily"));
    c.set("payer-daily", "payer:mn-wallet:u-1", 5, 990_001);
    assert!(fired(&run(&f, &c)).contains(&"payer-daily"));
    // The counters it reads are named for the store.
    let keys = set().counters(&f, false);
    assert!(keys.contains(&CounterKey {
        rule: "payer-daily".into(),
        key: "payer:mn-wallet:u-1".into(),
        window: Window::Period(Period::Daily),
        release: Release::CancelAndRefund,
    }));
    assert!(
        keys.iter().all(|k| k.rule != "single-mn-cn"),
        "single needs no counter"
    );
}

#[test]
fn velocity_fires_on_count_and_on_amount() {
    let f = facts();
    let mut c = Counters::default();
    c.set("payer-hourly", "payer:mn-wallet:u-1", 2, 0);
    assert!(!fired(&run(&f, &c)).contains(&"payer-hourly"));
    c.set("payer-hourly", "payer:mn-wallet:u-1", 3, 0);
    let d = run(&f, &c);
    assert!(fired(&d).contains(&"payer-hourly"));
    assert_eq!(d.action, Action::Review, "review only");
    c.set("merchant-burst", "merchant:cn-acq:gm-1", 1, 1_990_000);
    assert!(!fired(&run(&f, &c)).contains(&"merchant-burst"));
    c.set("merchant-burst", "merchant:cn-acq:gm-1", 1, 1_990_001);
    assert!(fired(&run(&f, &c)).contains(&"merchant-burst"));
}

#[test]
fn lists_mcc_and_allow() {
    let mut f = facts();
    f.payer_country = "KP";
    assert!(fired(&run(&f, &Counters::default())).contains(&"blocked-countries"));
    let mut f = facts();
    f.mcc = "7995";
    assert!(fired(&run(&f, &Counters::default())).contains(&"no-gambling-mn-cn"));
    f.merchant_country = "TH";
    assert!(!fired(&run(&f, &Counters::default())).contains(&"no-gambling-mn-cn"));
    // An allowed merchant skips the amount limits, not the block list.
    let mut f = facts();
    f.merchant_id = "gm-trusted";
    f.amount_minor = 9_000_000;
    let d = run(&f, &Counters::default());
    assert_eq!(d.allowed_by.as_deref(), Some("trusted-merchants"));
    assert_eq!(d.action, Action::Approve, "{d:#?}");
    f.payer_country = "KP";
    assert_eq!(run(&f, &Counters::default()).action, Action::Decline);
}

#[test]
fn the_anomaly_score_and_its_edge() {
    let mut f = facts();
    // Ten times the payer's average (10,000): 40; at night: +20 → 60.
    f.amount_minor = 100_000;
    assert_eq!(anomaly_score(&f), 40);
    f.merchant_local_hour = Some(4);
    assert_eq!(anomaly_score(&f), 60);
    assert!(fired(&run(&f, &Counters::default())).contains(&"anomaly"));
    f.merchant_local_hour = Some(5);
    assert!(!fired(&run(&f, &Counters::default())).contains(&"anomaly"));
    // A payer never seen, at night, switching corridors does not count
    // (no history to switch from): 40.
    f.history = None;
    f.merchant_local_hour = Some(1);
    assert_eq!(anomaly_score(&f), 40);
    f.history = Some(History {
        count: 3,
        total_minor: 3_000,
        corridors_24h: 3,
    });
    // 100,000 against an average of 1,000 (40), night (20), three
    // corridors (20).
    assert_eq!(anomaly_score(&f), 80);
}

#[test]
fn sanctions_hit_payer_or_merchant_in_any_script() {
    let mut f = facts();
    f.payer_name = Some("Соколов Владимир");
    let d = run(&f, &Counters::default());
    assert!(fired(&d).contains(&"sanctions"), "{d:#?}");
    assert!(d.outcomes.iter().any(|o| o.saw.contains("S1")));
    let mut f = facts();
    f.merchant_name = "李小龙";
    assert!(fired(&run(&f, &Counters::default())).contains(&"sanctions"));
    // No list loaded: nothing to hit, and the trace says so.
    let d = set().evaluate(&facts(), &Counters::default(), None, false);
    assert!(d.outcomes.iter().any(|o| o.saw == "no list loaded"));
}

#[test]
fn payer_rules_wait_for_the_payer() {
    // CPM before authorisation: no payer yet.
    let mut f = facts();
    f.payer_id = None;
    f.payer_name = None;
    f.history = None;
    let d = run(&f, &Counters::default());
    let deferred: Vec<&str> = d
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Deferred)
        .map(|o| o.rule.as_str())
        .collect();
    assert_eq!(
        deferred,
        vec!["payer-daily", "payer-hourly", "anomaly", "sanctions"]
    );
    // At authorisation: only those run.
    let mut f = facts();
    f.payer_name = Some("Vladimir Sokolov");
    let d = set().evaluate(&f, &Counters::default(), Some(&screen()), true);
    assert!(
        d.outcomes
            .iter()
            .filter(|o| o.status == Status::Evaluated)
            .all(|o| ["payer-daily", "payer-hourly", "anomaly", "sanctions"]
                .contains(&o.rule.as_str()))
    );
    assert_eq!(d.action, Action::Decline);
}

#[test]
fn bad_files_are_refused_with_their_line() {
    let refuse = |text: &str, line: usize, why: &str| {
        let e = RuleSet::parse(text).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.reason.contains(why), "{e}");
    };
    let head = "version = \"1\"\ncurrency = \"CNY\"\n";
    refuse("version = \"1\"\ncurrency = ", 2, "");
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"anomaly\"\nid = \"a\"\naction = \"review\"\nthreshold = 50\ncolour = \"red\"\n"
        ),
        3,
        "colour",
    );
    refuse(
        &format!("{head}[[rule]]\nkind = \"teleport\"\nid = \"a\"\n"),
        4,
        "teleport",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"mcc_restriction\"\nid = \"m\"\naction = \"decline\"\ncorridor = \"MN-XX\"\nmccs = [\"7995\"]\n"
        ),
        3,
        "corridor",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"mcc_restriction\"\nid = \"m\"\naction = \"decline\"\ncorridor = \"MN-CN\"\nmccs = [\"79\"]\n"
        ),
        3,
        "MCC",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"amount_limit\"\nid = \"x\"\naction = \"decline\"\nscope = \"payer\"\nperiod = \"daily\"\nmax = \"-5\"\n"
        ),
        3,
        "max",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"amount_limit\"\nid = \"x\"\naction = \"decline\"\nscope = \"payer\"\nperiod = \"single\"\nmax = \"5\"\nrelease = \"cancel\"\n"
        ),
        3,
        "release needs a period",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"velocity\"\nid = \"v\"\naction = \"review\"\nsubject = \"payer\"\nwindow_s = 60\nrelease = \"sometimes\"\nmax_count = 2\n"
        ),
        3,
        "sometimes",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"velocity\"\nid = \"v\"\naction = \"review\"\nsubject = \"payer\"\nwindow_s = 60\n"
        ),
        3,
        "max_count or max_amount",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"anomaly\"\nid = \"a\"\naction = \"review\"\nthreshold = 0\n"
        ),
        3,
        "threshold",
    );
    refuse(
        &format!(
            "{head}\n[[rule]]\nkind = \"block_list\"\nid = \"b\"\naction = \"decline\"\nfield = \"mcc\"\nvalues = [\"7995\"]\n\n[[rule]]\nkind = \"allow_list\"\nid = \"w\"\nfield = \"mcc\"\nvalues = [\"7995\"]\n"
        ),
        11,
        "both allowed and blocked",
    );
    refuse(
        &format!(
            "{head}[[rule]]\nkind = \"anomaly\"\nid = \"a\"\naction = \"review\"\nthreshold = 5\n[[rule]]\nkind = \"anomaly\"\nid = \"a\"\naction = \"review\"\nthreshold = 5\n"
        ),
        8,
        "twice",
    );
    refuse("version = \"1\"\ncurrency = \"XYZ1\"\n", 1, "currency");
}
