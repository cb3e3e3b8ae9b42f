//! FX over the signed API, on both stores: providers push rates, three of
//! them compete (one only through the pivot), a stale rate and a suspended
//! provider are left out, ties are broken as documented, markups apply,
//! quotes are firm, bound and single use, and bad input changes nothing.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::{Party, World};
use serde_json::{Value, json};
use store::{FxRateRow, QuoteUse};

fn rate(base: &str, quote: &str, bid: &str, ask: &str) -> Value {
    json!({"base": base, "quote": quote, "bid": bid, "ask": ask, "source": "test"})
}

async fn push(w: &World, p: &Party, request_id: &str, rates: Vec<Value>) -> common::Reply {
    w.call(
        p,
        "POST",
        "/v1/fx/rates",
        Some(json!({"request_id": request_id, "rates": rates})),
    )
    .await
}

fn quote_body(request_id: &str, receive_minor: &str) -> Value {
    json!({
        "request_id": request_id,
        "payer": {"id": "payer-1", "name": "Bat-Erdene", "country": "MN"},
        "merchant_id": "gm-1",
        "pay_currency": "MNT",
        "receive": {"value": receive_minor, "currency": "CNY"}
    })
}

#[tokio::test]
async fn providers_compete_and_quotes_are_firm_bound_and_single_use() {
    for st in store::testing::engines("fx_api").await {
        let mut w = World::new(st.clone()).await;
        w.state.fx.house_book = false;
        let r = w
            .admin(
                "PUT",
                "/v1/admin/fx/settings",
                Some(json!({"pivot": "USD", "default_markup_bps": 0})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        let a = w.party("fx-a", &["fx_provider"], "live").await;
        let b = w.party("fx-b", &["fx_provider"], "live").await;
        let c = w.party("fx-c", &["fx_provider"], "live").await;
        let s = w.party("fx-s", &["fx_provider"], "live").await;
        let wallet = w.party("hipay", &["wallet"], "live").await;

        assert_eq!(
            push(&w, &a, "a-1", vec![rate("CNY", "MNT", "478", "485")])
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            push(&w, &b, "b-1", vec![rate("CNY", "MNT", "479", "483")])
                .await
                .status,
            StatusCode::OK
        );
        // Only through the pivot: MNT → USD → CNY = 7.1 / 3450 (worse).
        let r = push(
            &w,
            &c,
            "c-1",
            vec![
                rate("USD", "MNT", "3440", "3450"),
                rate("USD", "CNY", "7.1", "7.2"),
            ],
        )
        .await;
        assert_eq!(
            (r.status, r.json["accepted"].as_u64()),
            (StatusCode::OK, Some(2)),
            "{}",
            r.json
        );
        // The best rate of all, but its provider is then suspended.
        assert_eq!(
            push(&w, &s, "s-1", vec![rate("CNY", "MNT", "460", "470")])
                .await
                .status,
            StatusCode::OK
        );
        w.walk_back("fx-s", "suspended").await;
        // Also better, but stale: written straight to the store an hour ago.
        st.fx_rates_put(
            vec![FxRateRow {
                provider_id: "fx-c".into(),
                base: "CNY".into(),
                quote: "MNT".into(),
                bid: "400".into(),
                ask: "401".into(),
                source: "old".into(),
                at_ms: api::now_ms() - 3_600_000,
            }],
            api::now_ms(),
        )
        .await
        .unwrap();

        let q = w
            .call(
                &wallet,
                "POST",
                "/v1/quotes",
                Some(quote_body("q-1", "10000")),
            )
            .await;
        assert_eq!(q.status, StatusCode::OK, "{}", q.json);
        assert_eq!(q.json["result"]["status"], "S");
        assert_eq!(q.json["provider"], "fx-b", "{}", q.json);
        // 100.00 CNY at 483 MNT per CNY, rounded up: 48,300.00 MNT.
        assert_eq!(
            q.json["pay"],
            json!({"value": "4830000", "currency": "MNT"})
        );
        assert_eq!(
            q.json["receive"],
            json!({"value": "10000", "currency": "CNY"})
        );
        assert_eq!(q.json["markup_bps"], 0);
        let quote_id = q.json["quote_id"].as_str().unwrap().to_string();
        // The same request again: the same quote.
        let again = w
            .call(
                &wallet,
                "POST",
                "/v1/quotes",
                Some(quote_body("q-1", "10000")),
            )
            .await;
        assert_eq!(again.json["quote_id"].as_str(), Some(quote_id.as_str()));

        // A markup for this wallet: the payer pays 1% more of the price.
        let r = w
            .admin("PUT", "/v1/admin/fx/markups", Some(json!({"rules": [{"participant": "hipay", "bps": 100}, {"to": "CNY", "bps": 50}]})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        let q2 = w
            .call(
                &wallet,
                "POST",
                "/v1/quotes",
                Some(quote_body("q-2", "10000")),
            )
            .await;
        assert_eq!(q2.json["markup_bps"], 100);
        // 48,300 / 0.99 = 48,787.8787… → 48,787.88 MNT.
        assert_eq!(q2.json["pay"]["value"], "4878788", "{}", q2.json);

        // A tie: fx-a matches fx-b's ask later, so fx-a's rate is the fresher.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        push(&w, &a, "a-2", vec![rate("CNY", "MNT", "479", "483")]).await;
        let tie = w
            .call(
                &wallet,
                "POST",
                "/v1/quotes",
                Some(quote_body("q-3", "10000")),
            )
            .await;
        assert_eq!(tie.json["provider"], "fx-a", "{}", tie.json);

        // The quote is used once, only as bound.
        let use_it = |payer: &'static str, receive: i64| {
            let st = st.clone();
            let id = quote_id.clone();
            async move {
                st.fx_quote_use(
                    &id,
                    "hipay",
                    payer,
                    "merchant:gm-1",
                    "MNT",
                    "CNY",
                    receive,
                    "pay-1",
                    api::now_ms(),
                )
                .await
                .unwrap()
            }
        };
        assert_eq!(use_it("payer-2", 10_000).await, QuoteUse::Mismatch("payer"));
        assert_eq!(
            use_it("payer-1", 9_999).await,
            QuoteUse::Mismatch("receive")
        );
        assert!(matches!(use_it("payer-1", 10_000).await, QuoteUse::Used(_)));
        assert_eq!(use_it("payer-1", 10_000).await, QuoteUse::AlreadyUsed);

        // Indicative: no lock, nothing kept.
        let before = w
            .admin("GET", "/v1/admin/fx/quotes?participant=hipay", None)
            .await;
        let n = before.json.as_array().unwrap().len();
        assert_eq!(n, 3);
        let ind = w
            .call(
                &wallet,
                "GET",
                "/v1/fx/indicative?from=MNT&to=CNY&receive=10000",
                None,
            )
            .await;
        assert_eq!(
            (ind.status, ind.json["result"]["status"].as_str()),
            (StatusCode::OK, Some("S")),
            "{}",
            ind.json
        );
        assert_eq!(ind.json["pay"]["value"], "4878788");
        let none = w
            .call(&wallet, "GET", "/v1/fx/indicative?from=MNT&to=THB", None)
            .await;
        assert_eq!(none.json["result"]["code"], "FX_RATE_UNAVAILABLE");
        // No rate: a business outcome, not a fault.
        let mut body = quote_body("q-4", "10000");
        body["receive"]["currency"] = json!("THB");
        let f = w.call(&wallet, "POST", "/v1/quotes", Some(body)).await;
        assert_eq!(
            (
                f.status,
                f.json["result"]["status"].as_str(),
                f.json["result"]["code"].as_str()
            ),
            (StatusCode::OK, Some("F"), Some("FX_RATE_UNAVAILABLE"))
        );

        // The house book competes when enabled, as provider `unigate`.
        let r = w
            .admin(
                "PUT",
                "/v1/admin/fx/rates",
                Some(json!({"rates": [rate("CNY", "MNT", "480", "481")]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        w.state.fx.house_book = true;
        let h = w
            .call(
                &wallet,
                "POST",
                "/v1/quotes",
                Some(quote_body("q-5", "10000")),
            )
            .await;
        assert_eq!(h.json["provider"], "unigate", "{}", h.json);
        let listed = w.admin("GET", "/v1/admin/fx/rates", None).await;
        assert!(
            listed.json["rates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["provider"] == "unigate" && r["fresh"] == true)
        );
        let hist = w
            .admin(
                "GET",
                "/v1/admin/fx/rates?provider=fx-a&base=CNY&quote=MNT",
                None,
            )
            .await;
        assert_eq!(
            hist.json["rates"].as_array().unwrap().len(),
            2,
            "{}",
            hist.json
        );
    }
}

#[tokio::test]
async fn bad_fx_input_is_refused_and_changes_nothing() {
    for st in store::testing::engines("fx_bad").await {
        let w = World::new(st.clone()).await;
        let a = w.party("fx-a", &["fx_provider"], "live").await;
        let wallet = w.party("hipay", &["wallet"], "live").await;
        push(&w, &a, "a-1", vec![rate("CNY", "MNT", "478", "485")]).await;
        let cases: Vec<(Value, &str)> = vec![
            (rate("CNY", "MNT", "490", "485"), "rates[0].bid"),
            (rate("CNY", "CNY", "1", "1"), "rates[0].bid"),
            (rate("CNX", "MNT", "1", "2"), "rates[0].base"),
            (rate("CNY", "MNT", "0", "2"), "rates[0].bid"),
            (rate("CNY", "MNT", "-1", "2"), "rates[0].bid"),
            (rate("CNY", "MNT", "1e3", "2"), "rates[0].bid"),
            (
                json!({"base": "CNY", "quote": "MNT", "bid": "1", "ask": "2", "at": "2001-01-01T00:00:00Z"}),
                "rates[0].at",
            ),
        ];
        for (i, (bad, field)) in cases.into_iter().enumerate() {
            let r = push(
                &w,
                &a,
                &format!("bad-{i}"),
                vec![rate("CNY", "MNT", "478", "485"), bad],
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
            assert_eq!(
                r.json["field"].as_str(),
                Some(field.replace("[0]", "[1]").as_str()),
                "{}",
                r.json
            );
        }
        let r = push(&w, &a, "empty", vec![]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // A wallet does not push rates.
        let r = push(&w, &wallet, "w-1", vec![rate("CNY", "MNT", "478", "485")]).await;
        assert_eq!(r.code(), "ROLE_FORBIDS");
        let hist = w
            .admin(
                "GET",
                "/v1/admin/fx/rates?provider=fx-a&base=CNY&quote=MNT",
                None,
            )
            .await;
        assert_eq!(
            hist.json["rates"].as_array().unwrap().len(),
            1,
            "nothing more was kept: {}",
            hist.json
        );

        let mut cases: Vec<(Value, &str)> = Vec::new();
        let mut b = quote_body("x", "0");
        cases.push((b.clone(), "receive.value"));
        b = quote_body("x", "999999999999999999");
        cases.push((b.clone(), "receive.value"));
        b = quote_body("x", "100");
        b["pay_currency"] = json!("MNX");
        cases.push((b.clone(), "pay_currency"));
        b = quote_body("x", "100");
        b["order_id"] = json!("o-1");
        cases.push((b.clone(), "merchant_id"));
        b = quote_body("x", "100");
        b["payer"]["country"] = json!("XX");
        cases.push((b.clone(), "payer.country"));
        for (i, (mut body, field)) in cases.into_iter().enumerate() {
            body["request_id"] = json!(format!("bad-q-{i}"));
            let r = w.call(&wallet, "POST", "/v1/quotes", Some(body)).await;
            assert_eq!(
                (r.status, r.json["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{}",
                r.json
            );
        }
        for bad in [r#""1.5""#, r#""-1""#, "100"] {
            let mut body = quote_body("y", "1");
            body["receive"]["value"] = serde_json::from_str(bad).unwrap();
            let r = w.call(&wallet, "POST", "/v1/quotes", Some(body)).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
        }
        let quotes = w.admin("GET", "/v1/admin/fx/quotes", None).await;
        assert_eq!(quotes.json, json!([]), "no quote was kept");
        // The operator's settings are checked too.
        let r = w
            .admin(
                "PUT",
                "/v1/admin/fx/settings",
                Some(json!({"pivot": "XYZ", "default_markup_bps": 0})),
            )
            .await;
        assert_eq!(r.json["field"], "pivot");
        let r = w
            .admin(
                "PUT",
                "/v1/admin/fx/markups",
                Some(json!({"rules": [{"bps": 5000}]})),
            )
            .await;
        assert_eq!(r.json["field"], "rules[0].bps");
        let r = w
            .admin(
                "PUT",
                "/v1/admin/fx/markups",
                Some(json!({"rules": [{"from": "MNT", "bps": 1}, {"to": "CNY", "bps": 2}]})),
            )
            .await;
        assert_eq!(r.json["field"], "rules[1]", "{}", r.json);
    }
}

#[tokio::test]
async fn the_stage_policy_caps_quotes_in_production_verification() {
    for st in store::testing::engines("fx_stage").await {
        let mut w = World::new(st).await;
        w.state.fx.house_book = true;
        w.admin(
            "PUT",
            "/v1/admin/fx/rates",
            Some(json!({"rates": [rate("CNY", "MNT", "480", "481")]})),
        )
        .await;
        let verifying = w
            .party("hipay", &["wallet"], "production_verification")
            .await;
        // Under the cap (100.00 CNY by default): quoted.
        let ok = w
            .call(
                &verifying,
                "POST",
                "/v1/quotes",
                Some(quote_body("v-1", "10000")),
            )
            .await;
        assert_eq!(ok.json["result"]["status"], "S", "{}", ok.json);
        let over = w
            .call(
                &verifying,
                "POST",
                "/v1/quotes",
                Some(quote_body("v-2", "10001")),
            )
            .await;
        assert_eq!(
            (over.status, over.code()),
            (StatusCode::FORBIDDEN, "STAGE_FORBIDS"),
            "{}",
            over.json
        );
        let testing = w.party("testpay", &["wallet"], "joint_testing").await;
        let r = w
            .call(
                &testing,
                "POST",
                "/v1/quotes",
                Some(quote_body("t-1", "100")),
            )
            .await;
        assert_eq!(r.code(), "STAGE_FORBIDS");
    }
}
