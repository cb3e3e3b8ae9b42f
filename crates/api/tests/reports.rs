//! Statistics (SPEC §2.10) on both engines: grouped by any dimensions,
//! days in any time zone, cursor pages, the same figures from both stores;
//! every bad query refused with its field.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use money::{Currency, Money};
use payment::{Direction, Mode};
use serde_json::Value;
use store::{NewPayment, PaymentTerms, Store};
use tower::ServiceExt;

async fn get(state: &api::AppState, token: &str, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = router(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// 2026-12-05T23:30:00Z: 07:30 on the 6th in Shanghai, still the 5th in
/// UTC.
const LATE_UTC: i64 = 1_796_513_400_000;

struct P {
    id: &'static str,
    at: i64,
    direction: Direction,
    wallet: &'static str,
    acquirer: &'static str,
    amount: (i64, &'static str),
    reporting: Option<i64>,
    corridor: (&'static str, &'static str),
}

async fn insert(s: &Store, p: &P) {
    s.payment_create(
        NewPayment {
            id: p.id.into(),
            mode: Mode::Mpm,
            direction: p.direction,
            wallet: p.wallet.into(),
            acquirer: p.acquirer.into(),
            merchant_id: Some("m".into()),
            initiator: p.wallet.into(),
            request_id: format!("req-{}", p.id),
            order_id: None,
            merchant_amount: Money::new(p.amount.0, Currency::parse(p.amount.1).unwrap()),
            payer_amount: None,
            wallet_settlement_amount: None,
            acquirer_settlement_amount: None,
            reporting_amount: p
                .reporting
                .map(|r| Money::new(r, Currency::parse("CNY").unwrap())),
            quote_id: None,
            clearing_date: Some("2026-12-06".into()),
        },
        "node-a",
        p.at,
    )
    .await
    .unwrap();
    s.payment_terms_put(&PaymentTerms {
        payment_id: p.id.into(),
        merchant_name: "M".into(),
        acquirer_merchant_id: "m".into(),
        merchant_country: p.corridor.1.into(),
        mcc: "5812".into(),
        payer_country: p.corridor.0.into(),
        fx_provider: None,
        fx_rate: None,
        markup_bps: None,
        fx_provider_minor: 0,
        fx_markup_minor: 0,
        fx_rounding_minor: 0,
        fee_discount: 0,
        fee_acquirer: 0,
        fee_wallet: 0,
        fee_gateway: 0,
        fee_scheme: 0,
        created_at_ms: p.at,
        payer_residency: p.corridor.0.into(),
        merchant_residency: p.corridor.1.into(),
        purpose: "GDDS".into(),
    })
    .await
    .unwrap();
}

fn payments() -> Vec<P> {
    vec![
        P {
            id: "p1",
            at: LATE_UTC,
            direction: Direction::Inbound,
            wallet: "mn-wallet",
            acquirer: "cn-acq",
            amount: (10_000, "CNY"),
            reporting: Some(10_000),
            corridor: ("MN", "CN"),
        },
        P {
            id: "p2",
            at: LATE_UTC - 3_600_000,
            direction: Direction::Inbound,
            wallet: "mn-wallet",
            acquirer: "cn-acq",
            amount: (2_500, "CNY"),
            reporting: Some(2_500),
            corridor: ("MN", "CN"),
        },
        P {
            id: "p3",
            at: LATE_UTC + 60_000,
            direction: Direction::Transit,
            wallet: "mn-wallet",
            acquirer: "th-acq",
            amount: (50_000, "THB"),
            reporting: Some(10_215),
            corridor: ("MN", "TH"),
        },
        P {
            id: "p4",
            at: LATE_UTC + 120_000,
            direction: Direction::Outbound,
            wallet: "cn-wallet",
            acquirer: "th-acq",
            amount: (1, "THB"),
            reporting: None,
            corridor: ("CN", "TH"),
        },
        // 2026-11-01T04:30:00Z: 00:30 on the 1st in New York, still on
        // summer time (the clocks go back at 06:00 UTC).
        P {
            id: "p5",
            at: 1_793_507_400_000,
            direction: Direction::Inbound,
            wallet: "mn-wallet",
            acquirer: "cn-acq",
            amount: (100, "CNY"),
            reporting: Some(100),
            corridor: ("MN", "CN"),
        },
        // A day later, 23:30 on the 1st in New York, on winter time.
        P {
            id: "p6",
            at: 1_793_593_800_000,
            direction: Direction::Inbound,
            wallet: "mn-wallet",
            acquirer: "cn-acq",
            amount: (100, "CNY"),
            reporting: Some(100),
            corridor: ("MN", "CN"),
        },
    ]
}

const WINDOW: &str = "from=2026-12-05T00:00:00Z&to=2026-12-07T00:00:00Z";

#[tokio::test]
async fn statistics_group_by_any_dimensions_with_days_in_any_zone_on_both_stores() {
    let mut answers = Vec::new();
    for store in store::testing::engines("reports_stats").await {
        for p in payments() {
            insert(&store, &p).await;
        }
        let state = common::state(store.clone()).await;
        let (_, op) = store
            .token_create(store::Role::Operator, "ops", 1)
            .await
            .unwrap();
        let (_, reg) = store
            .token_create(store::Role::Regulator, "reg", 1)
            .await
            .unwrap();

        // By direction and day, in Shanghai: made 22:30 to 23:32 UTC on
        // the 5th, they are of the 6th there.
        let (status, body) = get(
            &state,
            &reg,
            &format!("/v1/reports/stats?{WINDOW}&group_by=direction,day&time_zone=Asia/Shanghai"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let keys: Vec<(String, String, i64)> = body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["key"]["direction"].as_str().unwrap().to_string(),
                    g["key"]["day"].as_str().unwrap().to_string(),
                    g["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                ("inbound".into(), "2026-12-06".into(), 2),
                ("outbound".into(), "2026-12-06".into(), 1),
                ("transit".into(), "2026-12-06".into(), 1),
            ]
        );
        // In UTC, of the 5th.
        let (_, body) = get(
            &state,
            &op,
            &format!("/v1/admin/stats?{WINDOW}&group_by=day&time_zone=UTC"),
        )
        .await;
        assert_eq!(body["groups"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["groups"][0]["key"]["day"], "2026-12-05");
        // Across a change of offset (New York's end of summer time), each
        // payment on its own local day.
        let (_, body) = get(
            &state,
            &op,
            "/v1/admin/stats?from=2026-10-30T00:00:00Z&to=2026-12-07T00:00:00Z&group_by=day&time_zone=America/New_York",
        )
        .await;
        let days: Vec<(String, i64)> = body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["key"]["day"].as_str().unwrap().to_string(),
                    g["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            days,
            vec![("2026-11-01".into(), 2), ("2026-12-05".into(), 4)],
            "{body}"
        );
        // One total: amounts per original currency, the reporting sum,
        // and the payment too small to show in it.
        let (_, body) = get(&state, &op, &format!("/v1/admin/stats?{WINDOW}")).await;
        let total = &body["groups"][0];
        assert_eq!(total["count"], 4);
        assert_eq!(total["reporting_minor"], 22_715);
        assert_eq!(total["reporting_missing"], 1);
        assert_eq!(
            total["amounts"],
            serde_json::json!([
                {"currency": "CNY", "count": 2, "minor": 12_500},
                {"currency": "THB", "count": 2, "minor": 50_001}
            ])
        );
        // Per participant: a payment counts for its wallet and its
        // acquirer; filtered to one participant, for it only.
        let (_, body) = get(
            &state,
            &op,
            &format!("/v1/admin/stats?{WINDOW}&group_by=participant"),
        )
        .await;
        let per: Vec<(String, i64)> = body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["key"]["participant"].as_str().unwrap().to_string(),
                    g["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            per,
            vec![
                ("cn-acq".into(), 2),
                ("cn-wallet".into(), 1),
                ("mn-wallet".into(), 3),
                ("th-acq".into(), 2)
            ]
        );
        let (_, body) = get(
            &state,
            &op,
            &format!("/v1/admin/stats?{WINDOW}&group_by=corridor&participant=th-acq"),
        )
        .await;
        assert_eq!(body["groups"].as_array().unwrap().len(), 2, "{body}");
        // Pages: one group a page, by the cursor, in order, complete.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) = get(
                &state,
                &reg,
                &format!("/v1/reports/stats?{WINDOW}&group_by=corridor,currency&limit=1{cursor}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["groups"].as_array().unwrap().len(), 1);
            seen.push(
                body["groups"][0]["key"]["corridor"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            match body["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, vec!["CN-TH", "MN-CN", "MN-TH"]);
        answers.push(
            get(
                &state,
                &reg,
                &format!("/v1/reports/stats?{WINDOW}&group_by=direction,corridor,wallet,acquirer,currency,mode,status,mcc,payer_residency,merchant_residency,purpose,day"),
            )
            .await
            .1,
        );
    }
    // The same figures from both engines.
    if answers.len() == 2 {
        assert_eq!(answers[0]["groups"], answers[1]["groups"]);
    }
}

#[tokio::test]
async fn bad_statistics_queries_are_refused_with_their_field() {
    let store = store::testing::engines("reports_bad").await.remove(0);
    let state = common::state(store.clone()).await;
    let (_, op) = store
        .token_create(store::Role::Operator, "ops", 1)
        .await
        .unwrap();
    for (query, field) in [
        ("group_by=colour", "group_by"),
        ("group_by=day,day", "group_by"),
        ("from=yesterday", "from"),
        ("from=2026-12-06T00:00:00Z&to=2026-12-05T00:00:00Z", "from"),
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("time_zone=Mars/Olympus", "time_zone"),
        ("status=happy", "status"),
        ("direction=sideways", "direction"),
        ("mode=nfc", "mode"),
        ("clearing_date=2026-13-01", "clearing_date"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=zz", "cursor"),
        ("cursor=7b7d", "cursor"),
    ] {
        let (status, body) = get(&state, &op, &format!("/v1/admin/stats?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "FIELD_INVALID", "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (status, body) = get(&state, &op, "/v1/admin/stats?flavour=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // No report yet, and a bad date.
    let (status, _) = get(&state, &op, "/v1/reports/daily/2026-12-06").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&state, &op, "/v1/reports/daily/someday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get(&state, &op, "/v1/reports/daily").await;
    assert_eq!(
        (status, body["reports"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (status, _) = get(&state, "not-a-token", "/v1/reports/stats").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_close_job_makes_each_closed_cycles_report_once() {
    for store in store::testing::engines("reports_job").await {
        let state = common::state(store.clone()).await;
        for p in payments() {
            insert(&store, &p).await;
            store
                .payment_transition(p.id, 1, &payment::Event::ReserveRefused, "", "node-a", p.at)
                .await
                .unwrap();
        }
        // Closed by hand (early), as a failed report would leave it: the
        // close job makes the missing report.
        api::clearing::close(&store, &state.payments, "node-a", "2026-12-06", true)
            .await
            .unwrap();
        assert_eq!(store.reports_missing().await.unwrap(), vec!["2026-12-06"]);
        api::clearing::close_due(&state).await.unwrap();
        assert!(store.reports_missing().await.unwrap().is_empty());
        let kept = store.report_get("2026-12-06").await.unwrap().unwrap();
        let report: api::reports::DailyReport = serde_json::from_str(&kept.json).unwrap();
        assert_eq!(report.by_status.iter().map(|g| g.count).sum::<i64>(), 6);
        assert!(report.tie_out.payments_match_cycle, "{report:?}");
        assert_eq!(report.largest.len(), 0, "none succeeded: {report:?}");
        // Made once: a second run keeps the first.
        api::clearing::close_due(&state).await.unwrap();
        assert_eq!(store.report_get("2026-12-06").await.unwrap().unwrap(), kept);
        let again =
            api::reports::make_daily(&store, &state.payments, "CNY", "node-b", "2026-12-06")
                .await
                .unwrap();
        assert_eq!(again, kept);
        // An open cycle has no report yet.
        let e = api::reports::build_daily(&store, &state.payments, "CNY", "2099-01-01")
            .await
            .unwrap_err();
        assert_eq!(e.code, "NOT_FOUND");
    }
}
