//! FX rates, markups, settings and quotes on both engines.

use store::{FxRateRow, MarkupRow, QuoteRow, QuoteUse, StoreError};

use crate::engines;

fn rate(provider: &str, bid: &str, at: i64) -> FxRateRow {
    FxRateRow {
        provider_id: provider.into(),
        base: "CNY".into(),
        quote: "THB".into(),
        bid: bid.into(),
        ask: "5.00".into(),
        source: "test".into(),
        at_ms: at,
    }
}

fn quote(id: &str) -> QuoteRow {
    QuoteRow {
        id: id.into(),
        participant_id: "hipay".into(),
        provider_id: "fx1".into(),
        provider_ref: String::new(),
        from_currency: "MNT".into(),
        to_currency: "CNY".into(),
        price_num: "1".into(),
        price_den: "484".into(),
        rate: "0.0020661157".into(),
        markup_bps: 30,
        pay_minor: 4_840_000,
        receive_minor: 10_000,
        payer_id: "payer-1".into(),
        merchant_ref: "gm-1".into(),
        created_at_ms: 100,
        expires_at_ms: 60_100,
        used_at_ms: None,
        used_by: None,
    }
}

#[tokio::test]
async fn rates_keep_history_and_the_newest_is_current() {
    for s in engines("fx_rates").await {
        s.fx_rates_put(vec![rate("fx1", "4.80", 10), rate("fx2", "4.70", 10)], 11)
            .await
            .unwrap();
        s.fx_rates_put(vec![rate("fx1", "4.85", 20)], 21)
            .await
            .unwrap();
        // An older rate arriving late joins the history but is not current.
        s.fx_rates_put(vec![rate("fx1", "4.10", 15)], 22)
            .await
            .unwrap();
        let current = s.fx_rates_current().await.unwrap();
        assert_eq!(current.len(), 2);
        assert_eq!(
            (current[0].provider_id.as_str(), current[0].bid.as_str()),
            ("fx1", "4.85")
        );
        let history = s.fx_rate_history("fx1", "CNY", "THB", 10).await.unwrap();
        let bids: Vec<&str> = history.iter().map(|r| r.bid.as_str()).collect();
        assert_eq!(bids, ["4.85", "4.10", "4.80"]);

        assert_eq!(s.fx_setting("pivot").await.unwrap(), None);
        s.fx_setting_set("pivot", "USD").await.unwrap();
        s.fx_setting_set("pivot", "CNY").await.unwrap();
        assert_eq!(s.fx_setting("pivot").await.unwrap().as_deref(), Some("CNY"));

        let rule = |p: &str, bps| MarkupRow {
            participant_id: p.into(),
            from_currency: "".into(),
            to_currency: "CNY".into(),
            bps,
        };
        s.fx_markups_replace(vec![rule("", 30), rule("hipay", 10)])
            .await
            .unwrap();
        assert_eq!(s.fx_markups().await.unwrap().len(), 2);
        // A duplicate rule is refused and the old rules stay.
        assert!(matches!(
            s.fx_markups_replace(vec![rule("x", 1), rule("x", 2)]).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.fx_markups().await.unwrap(),
            vec![rule("", 30), rule("hipay", 10)]
        );
    }
}

#[tokio::test]
async fn a_quote_is_used_once_and_only_as_bound() {
    for s in engines("fx_quotes").await {
        s.fx_quote_insert(&quote("q-1")).await.unwrap();
        let use_it = |payer: &'static str,
                      merchant: &'static str,
                      from: &'static str,
                      receive: i64,
                      who: &'static str,
                      now: i64| {
            let s = s.clone();
            async move {
                s.fx_quote_use(
                    "q-1", who, payer, merchant, from, "CNY", receive, "pay-1", now,
                )
                .await
                .unwrap()
            }
        };
        assert_eq!(
            use_it("payer-2", "gm-1", "MNT", 10_000, "hipay", 200).await,
            QuoteUse::Mismatch("payer")
        );
        assert_eq!(
            use_it("payer-1", "gm-2", "MNT", 10_000, "hipay", 200).await,
            QuoteUse::Mismatch("merchant")
        );
        assert_eq!(
            use_it("payer-1", "gm-1", "USD", 10_000, "hipay", 200).await,
            QuoteUse::Mismatch("pair")
        );
        assert_eq!(
            use_it("payer-1", "gm-1", "MNT", 10_001, "hipay", 200).await,
            QuoteUse::Mismatch("receive")
        );
        assert_eq!(
            use_it("payer-1", "gm-1", "MNT", 10_000, "other", 200).await,
            QuoteUse::NotFound
        );
        assert_eq!(
            use_it("payer-1", "gm-1", "MNT", 10_000, "hipay", 60_100).await,
            QuoteUse::Expired
        );
        match use_it("payer-1", "gm-1", "MNT", 10_000, "hipay", 200).await {
            QuoteUse::Used(q) => assert_eq!(
                (q.used_at_ms, q.used_by.as_deref()),
                (Some(200), Some("pay-1"))
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            use_it("payer-1", "gm-1", "MNT", 10_000, "hipay", 201).await,
            QuoteUse::AlreadyUsed
        );
        assert_eq!(
            s.fx_quote_use("nope", "hipay", "p", "m", "MNT", "CNY", 1, "x", 1)
                .await
                .unwrap(),
            QuoteUse::NotFound
        );
        s.fx_quote_insert(&quote("q-2")).await.unwrap();
        assert_eq!(s.fx_quotes_list(Some("hipay"), 10).await.unwrap().len(), 2);
        assert_eq!(s.fx_quotes_list(None, 1).await.unwrap().len(), 1);
        assert!(
            s.fx_quotes_list(Some("other"), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// Many callers race to use one quote: exactly one wins.
#[tokio::test]
async fn racing_callers_use_a_quote_once() {
    for s in engines("fx_quote_race").await {
        s.fx_quote_insert(&quote("q-race")).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.fx_quote_use(
                    "q-race",
                    "hipay",
                    "payer-1",
                    "gm-1",
                    "MNT",
                    "CNY",
                    10_000,
                    &format!("pay-{i}"),
                    500,
                )
                .await
                .unwrap()
            }));
        }
        let mut used = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), QuoteUse::Used(_)) {
                used += 1;
            }
        }
        assert_eq!(used, 1);
    }
}
