//! A short simulation through the real API: every part is played and caught for its reasons.

use serde_json::Value;
use tollgate_core::TenantId;
use tollgate_demo::{Options, generate};
use tollgate_store::{AlertFilter, DecisionFilter, SubscriptionFilter, page::PageRequest, testing};

#[tokio::test]
async fn every_part_is_played_and_the_bad_actors_are_caught() {
    let db = testing::sqlite().await;
    let options = Options {
        seed: 11,
        ..Options::ending("2026-11-01T00:00:00Z".parse().unwrap(), 80, 20)
    };
    let mut days = Vec::new();
    let demo = generate(db.store.clone(), &options, |p| days.push(p.day))
        .await
        .unwrap();
    assert_eq!(days, (1..=80).collect::<Vec<_>>());
    let cast = &demo.cast;
    assert!(cast.honest.len() >= 16, "{cast:?}");
    assert_eq!(cast.ring.len(), 5);
    assert_eq!(cast.bots.len(), 12);
    assert_eq!(cast.prepaid.len(), 3);
    assert!(cast.card_tester.is_some() && cast.hijacked.is_some());
    assert!(cast.vendor_flagged.is_some());

    let verdicts = verdicts(&db.store, demo.tenant.id).await;
    let codes_of = |customer: &str| -> Vec<String> {
        verdicts
            .iter()
            .filter(|(c, _, _)| c == customer)
            .flat_map(|(_, _, codes)| codes.clone())
            .collect()
    };
    for honest in &cast.honest {
        let theirs: Vec<_> = verdicts.iter().filter(|(c, _, _)| c == honest).collect();
        assert!(
            theirs.iter().any(|(_, verdict, _)| verdict == "approve"),
            "{honest}: {theirs:?}"
        );
        assert!(
            theirs.iter().all(|(_, verdict, codes)| verdict != "decline"
                && codes
                    .iter()
                    .all(|c| c == "new_customer_terms" || c == "awaiting_first_payment")),
            "{honest}: {theirs:?}"
        );
    }
    assert!(codes_of(cast.ring.last().unwrap()).contains(&"card_shared".into()));
    assert!(codes_of(&cast.prepaid[0]).contains(&"prepaid_card".into()));
    assert!(
        codes_of(cast.card_tester.as_ref().unwrap()).contains(&"payment_method_velocity".into())
    );
    assert!(
        cast.bots
            .iter()
            .all(|b| codes_of(b).iter().any(|c| c.starts_with("bot_")))
    );

    let alerts = db
        .store
        .read()
        .await
        .unwrap()
        .list_alerts(demo.tenant.id, &AlertFilter::default(), &page(500))
        .await
        .unwrap();
    assert!(
        alerts
            .data
            .iter()
            .any(|a| a.kind == "usage_anomaly"
                && a.customer_id.map(|c| c.to_string()) == cast.hijacked),
        "{:?}",
        alerts.data
    );

    // Dunning suspended the customers who stopped paying; the late payer was reactivated when
    // its payment settled the account.
    let dunned =
        |(status, actor): &(String, String)| status == "suspended" && actor == "job:dunning";
    assert!(!cast.non_payers.is_empty());
    for customer in &cast.non_payers {
        let history = statuses(&db.store, demo.tenant.id, customer).await;
        assert!(history.iter().any(dunned), "{customer}: {history:?}");
    }
    let late = cast.late_payer.as_ref().unwrap();
    let history = statuses(&db.store, demo.tenant.id, late).await;
    assert!(history.iter().any(dunned), "{late}: {history:?}");
    assert_eq!(history.last().unwrap().0, "active", "{late}: {history:?}");
}

/// Every status the customer's subscriptions went through, by the dunning job or anybody.
async fn statuses(
    store: &tollgate_store::Store,
    tenant: TenantId,
    customer: &str,
) -> Vec<(String, String)> {
    let mut tx = store.read().await.unwrap();
    let filter = SubscriptionFilter {
        customer_id: Some(customer.parse().unwrap()),
        ..SubscriptionFilter::default()
    };
    let subscriptions = tx
        .list_subscriptions(tenant, &filter, &page(10))
        .await
        .unwrap();
    let mut out = Vec::new();
    for subscription in subscriptions.data {
        for change in tx
            .subscription_history(tenant, subscription.id)
            .await
            .unwrap()
        {
            out.push((change.status.as_str().to_owned(), change.actor));
        }
    }
    out
}

/// (customer, verdict, reason codes) of every decision.
async fn verdicts(
    store: &tollgate_store::Store,
    tenant: TenantId,
) -> Vec<(String, String, Vec<String>)> {
    let page = store
        .read()
        .await
        .unwrap()
        .list_decisions(tenant, &DecisionFilter::default(), &page(500))
        .await
        .unwrap();
    page.data
        .iter()
        .map(|d| {
            let decision: Value = serde_json::from_str(&d.decision).unwrap();
            let codes = decision["reasons"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|r| r["code"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (d.customer_id.to_string(), d.verdict.clone(), codes)
        })
        .collect()
}

fn page(limit: u32) -> PageRequest {
    PageRequest { after: None, limit }
}
