//! The operator's ledger calls on both stores: limits, top-ups and
//! withdrawals within them, balances now and at a time, the trial balance
//! and a reference's transfers.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::World;
use serde_json::json;

#[tokio::test]
async fn the_operator_funds_a_wallet_and_reads_the_books() {
    for st in store::testing::engines("ledger_api").await {
        let w = World::new(st).await;
        w.party("hipay", &["wallet"], "live").await;
        let r = w
            .admin(
                "PUT",
                "/v1/admin/ledger/limits",
                Some(json!({"participant": "hipay", "currency": "THB", "kind": "prefunded"})),
            )
            .await;
        assert_eq!(
            (r.status, r.json["debit_limit"].as_i64()),
            (StatusCode::OK, Some(0)),
            "{}",
            r.json
        );
        // Not a currency of the participant.
        let r = w
            .admin(
                "PUT",
                "/v1/admin/ledger/limits",
                Some(json!({"participant": "hipay", "currency": "USD", "kind": "prefunded"})),
            )
            .await;
        assert_eq!(r.json["field"], "currency");
        let r = w
            .admin("PUT", "/v1/admin/ledger/limits", Some(json!({"participant": "hipay", "currency": "THB", "kind": "net_debit_cap", "amount": "-5"})))
            .await;
        assert_eq!(r.json["field"], "amount");

        let fund = |path: &'static str, id: &'static str, value: &'static str| {
            let w = &w;
            async move {
                w.admin("POST", path, Some(json!({"request_id": id, "participant": "hipay", "amount": {"value": value, "currency": "THB"}})))
                    .await
            }
        };
        let r = fund("/v1/admin/ledger/top-ups", "t-1", "100000").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        assert_eq!(r.json["transfers"][0]["code"], "top_up");
        let at = r.json["transfers"][0]["created_at"]
            .as_str()
            .unwrap()
            .to_string();
        let r = fund("/v1/admin/ledger/top-ups", "t-1", "100000").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "TRANSFER_EXISTS")
        );
        // A prefunded wallet cannot be paid out beyond its top-ups.
        let r = fund("/v1/admin/ledger/withdrawals", "w-1", "100001").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "LIMIT_EXCEEDED"),
            "{}",
            r.json
        );
        let r = fund("/v1/admin/ledger/withdrawals", "w-2", "40000").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let r = fund("/v1/admin/ledger/top-ups", "t-0", "0").await;
        assert_eq!(r.json["field"], "amount.value");

        let acct = w
            .admin(
                "GET",
                "/v1/admin/ledger/accounts/hipay:settlement:THB",
                None,
            )
            .await;
        assert_eq!(acct.status, StatusCode::OK, "{}", acct.json);
        assert_eq!(
            (
                acct.json["net_posted"].as_str(),
                acct.json["headroom"].as_str()
            ),
            (Some("60000"), Some("60000"))
        );
        let then = w
            .admin(
                "GET",
                &format!("/v1/admin/ledger/accounts/hipay:settlement:THB?at={at}"),
                None,
            )
            .await;
        assert_eq!(then.json["credits_posted"], 100_000);
        assert_eq!(then.json["debits_posted"], 0, "{}", then.json);
        let all = w
            .admin("GET", "/v1/admin/ledger/accounts?owner=unigate", None)
            .await;
        assert_eq!(all.json["accounts"][0]["id"], "unigate:funding:THB");
        let tb = w.admin("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        let tr = w
            .admin(
                "GET",
                "/v1/admin/ledger/transfers?reference=withdrawal:w-2",
                None,
            )
            .await;
        assert_eq!(tr.json["transfers"][0]["amount"], 40_000);
        let none = w
            .admin(
                "GET",
                "/v1/admin/ledger/accounts/nobody:settlement:THB",
                None,
            )
            .await;
        assert_eq!(none.status, StatusCode::NOT_FOUND);
        let bad = w
            .admin("GET", "/v1/admin/ledger/accounts/garbage", None)
            .await;
        assert_eq!(bad.json["field"], "id");
    }
}
