#![allow(clippy::indexing_slicing, clippy::expect_used)]
//! The rule evaluation alone (counters given, no store): 50+ rules and a
//! 10,000-name sanctions list, screening payer and merchant names. Issue
//! 14's target: at most 50 µs median per payment on one core.

use criterion::{Criterion, criterion_group, criterion_main};
use risk::{Counters, Facts, History, RuleSet, screen::Screen};

fn rules() -> String {
    let mut s = String::from("version = \"bench\"\ncurrency = \"CNY\"\n");
    let corridors = [
        "MN-CN", "CN-TH", "MN-TH", "CN-SG", "HK-CN", "VN-CN", "MY-CN", "CN-MY", "SG-CN", "TH-CN",
    ];
    for (i, c) in corridors.iter().enumerate() {
        s.push_str(&format!(
            "[[rule]]\nkind = \"amount_limit\"\nid = \"single-{i}\"\naction = \"decline\"\nscope = \"corridor\"\ncorridor = \"{c}\"\nperiod = \"single\"\nmax = \"50000\"\n\
             [[rule]]\nkind = \"amount_limit\"\nid = \"daily-{i}\"\naction = \"review\"\nscope = \"corridor\"\ncorridor = \"{c}\"\nperiod = \"daily\"\nmax = \"9000000\"\n\
             [[rule]]\nkind = \"mcc_restriction\"\nid = \"mcc-{i}\"\naction = \"decline\"\ncorridor = \"{c}\"\nmccs = [\"7995\", \"6051\", \"4829\"]\n"
        ));
    }
    for (i, p) in ["daily", "monthly", "annual"].iter().enumerate() {
        s.push_str(&format!(
            "[[rule]]\nkind = \"amount_limit\"\nid = \"payer-{i}\"\naction = \"decline\"\nscope = \"payer\"\nperiod = \"{p}\"\nmax = \"{}\"\n",
            50_000 * (i + 1)
        ));
    }
    for i in 0..10 {
        s.push_str(&format!(
            "[[rule]]\nkind = \"velocity\"\nid = \"vel-{i}\"\naction = \"review\"\nsubject = \"{}\"\nwindow_s = {}\nmax_count = {}\n",
            if i % 2 == 0 { "payer" } else { "merchant" },
            60 * (i + 1),
            5 + i
        ));
    }
    for (i, f) in [
        "payer_country",
        "merchant_country",
        "mcc",
        "payer_id",
        "merchant_id",
    ]
    .iter()
    .enumerate()
    {
        let values = match *f {
            "payer_country" | "merchant_country" => "[\"KP\", \"IR\", \"SY\"]".to_string(),
            "mcc" => "[\"7273\", \"5993\"]".to_string(),
            _ => format!(
                "[{}]",
                (0..200)
                    .map(|n| format!("\"blocked-{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        s.push_str(&format!("[[rule]]\nkind = \"block_list\"\nid = \"block-{i}\"\naction = \"decline\"\nfield = \"{f}\"\nvalues = {values}\n"));
    }
    s.push_str(
        "[[rule]]\nkind = \"anomaly\"\nid = \"anomaly\"\naction = \"review\"\nthreshold = 60\n",
    );
    s.push_str("[[rule]]\nkind = \"sanctions\"\nid = \"sanctions\"\naction = \"decline\"\nfields = [\"payer_name\", \"merchant_name\"]\nthreshold = 0.85\n");
    s
}

/// 10,000 synthetic names in several scripts' romanisations.
fn list() -> Screen {
    let given = [
        "Vladimir", "Batbayar", "Xiaolong", "Somchai", "Nguyen", "Ahmad", "Olga", "Tumen", "Wei",
        "Hans",
    ];
    let family = [
        "Sokolov", "Ganbold", "Li", "Chaidi", "Van Duc", "Rahman", "Ivanova", "Dorj", "Zhang",
        "Muller",
    ];
    let mut text = String::from("id,name\n");
    for n in 0..10_000 {
        text.push_str(&format!(
            "E{n},{} {}{}\n",
            given[n % 10],
            family[(n / 10) % 10],
            if n >= 100 {
                format!(" {}", n / 100)
            } else {
                String::new()
            }
        ));
    }
    // Numbers are tokens too: make them letters so the names stay names.
    let text = text
        .lines()
        .map(|l| {
            let (id, name) = l.split_once(',').unwrap_or((l, ""));
            let name: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        char::from(b'a' + (c as u8 - b'0'))
                    } else {
                        c
                    }
                })
                .collect();
            format!("{id},{name}")
        })
        .collect::<Vec<_>>()
        .join("\n");
    Screen::parse(&text, 2).expect("the list")
}

fn bench(c: &mut Criterion) {
    let set = RuleSet::parse(&rules()).expect("the rules");
    assert!(set.rules.len() >= 50, "{} rules", set.rules.len());
    let screen = list();
    assert_eq!(screen.len(), 10_000);
    let facts = Facts {
        wallet: "mn-wallet",
        acquirer: "cn-acq",
        payer_id: Some("u-12345"),
        payer_name: Some("Бат-Эрдэнэ Дорж"),
        payer_country: "MN",
        merchant_id: "gm-42",
        merchant_name: "ERLIAN HOTPOT RESTAURANT",
        merchant_country: "CN",
        mcc: "5812",
        amount_minor: 123_456,
        merchant_local_hour: Some(13),
        history: Some(History {
            count: 12,
            total_minor: 900_000,
            corridors_24h: 1,
        }),
    };
    let counters = Counters::default();
    c.bench_function(
        "evaluate 53 rules + screening of 2 names against 10,000",
        |b| {
            b.iter(|| {
                set.evaluate(
                    std::hint::black_box(&facts),
                    &counters,
                    Some(&screen),
                    false,
                )
            })
        },
    );
    c.bench_function("screen one name against 10,000", |b| {
        b.iter(|| screen.check(std::hint::black_box("Vladimyr Sokolof"), 0.85))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
