//! The store contract, run against SQLite always and PostgreSQL when
//! `TOLLGATE_TEST_DATABASE_URL` is set: every case below becomes `<case>::sqlite` and
//! `<case>::postgres` in the test output.

use chrono::{DateTime, Duration, Utc};
use tollgate_core::{
    CustomerId, KeyId, ListItemId, SubscriptionId, TenantId,
    audit::{Actor, AuditEntry, ChainBreak},
    customers::{CustomerStatus, ProductKind, SubscriptionStatus, Terms, TrustTier},
    signals::COUNT_CAP,
    tenancy::{Role, Tenant, hash_secret},
};
use tollgate_store::{
    AuditFilter, CustomerFilter, CustomerPatch, LINKED_IDS_PER_KEY, Linked, ListItem,
    ListItemFilter, Lookup, NewCustomer, NewKey, NewSubscription, Store, StoreError,
    StoredResponse, SubscriptionFilter, WindowCounts, conformance, page::PageRequest,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .unwrap()
        .to_utc()
}

async fn tenant(store: &Store, slug: &str) -> TenantId {
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: slug.into(),
        name: slug.to_uppercase(),
        time_zone: "Europe/Berlin".into(),
        created_at: t0(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    tx.commit().await.unwrap();
    tenant.id
}

fn new_customer(external_id: &str) -> NewCustomer {
    NewCustomer {
        id: CustomerId::generate(),
        external_id: external_id.into(),
        legal_name: format!("{external_id} GmbH"),
        company_domain: Some("example.de".into()),
        country: "DE".parse().unwrap(),
        email: Some("ops@example.de".into()),
        phone: Some("+4930123456".into()),
        billing_address: None,
        status: CustomerStatus::Active,
        trust_tier: TrustTier::New,
        terms: Terms::default(),
    }
}

async fn customer(store: &Store, tenant: TenantId, external_id: &str) -> CustomerId {
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .insert_customer(tenant, new_customer(external_id), t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c.id
}

async fn tenants_are_unique_by_slug(store: &Store) {
    tenant(store, "acme").await;
    let mut tx = store.begin().await.unwrap();
    let again = Tenant {
        id: TenantId::generate(),
        slug: "acme".into(),
        name: "Other".into(),
        time_zone: "UTC".into(),
        created_at: t0(),
    };
    let err = tx.insert_tenant(&again).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate { field: "slug" }),
        "{err:?}"
    );
    drop(tx);
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.tenant_by_slug("acme").await.unwrap().name, "ACME");
    assert_eq!(tx.all_tenants().await.unwrap().len(), 1);
}

async fn keys_are_found_by_hash_and_scoped(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let key = NewKey {
        id: KeyId::generate(),
        tenant_id: a,
        role: Role::Analyst,
        prefix: "tg_live_abcd".into(),
        secret_hash: hash_secret("tg_live_abcdef"),
        label: Some("ci".into()),
        created_at: t0(),
        expires_at: Some(t0() + Duration::days(1)),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_key(&key).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let found = tx
        .key_by_hash(&hash_secret("tg_live_abcdef"))
        .await
        .unwrap();
    assert_eq!(
        (found.id, found.tenant_id, found.role),
        (key.id, a, Role::Analyst)
    );
    assert!(found.is_usable_at(t0()));
    assert!(!found.is_usable_at(t0() + Duration::days(2)));
    assert!(matches!(tx.key(b, key.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        tx.revoke_key(b, key.id, t0()).await,
        Err(StoreError::NotFound)
    ));
    let revoked = tx.revoke_key(a, key.id, t0()).await.unwrap();
    assert!(!revoked.is_usable_at(t0()));
    let again = tx
        .revoke_key(a, key.id, t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(t0()));
    assert_eq!(
        tx.list_keys(
            a,
            &PageRequest {
                after: None,
                limit: 10
            }
        )
        .await
        .unwrap()
        .data
        .len(),
        1
    );
    assert!(
        tx.list_keys(
            b,
            &PageRequest {
                after: None,
                limit: 10
            }
        )
        .await
        .unwrap()
        .data
        .is_empty()
    );
    tx.commit().await.unwrap();
}

/// Many customers in one read, as a usage batch resolves its owners; another tenant's and
/// unknown ids are left out.
async fn customers_among_reads_only_the_tenants_own(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let first = customer(store, a, "ext-1").await;
    let second = customer(store, a, "ext-2").await;
    customer(store, a, "ext-3").await;
    let theirs = customer(store, b, "ext-1").await;
    let mut tx = store.read().await.unwrap();
    let mut found: Vec<CustomerId> = tx
        .customers_among(a, &[second, theirs, CustomerId::generate(), first])
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    found.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(found, expected);
    assert!(tx.customers_among(a, &[]).await.unwrap().is_empty());
}

/// A decision finds its list hits by exact lookups: the item added last among more than ten
/// thousand is found; removed, expired and another tenant's items are not.
async fn list_hits_are_found_however_long_the_lists(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let item = |kind: &str, value: &str, expires_at| ListItem {
        id: ListItemId::generate().to_string(),
        kind: kind.into(),
        action: "block".into(),
        value: value.into(),
        note: None,
        expires_at,
        created_at: t0(),
    };
    let removed = item("device", "dev-1", None);
    let mut items: Vec<ListItem> = (0..10_050)
        .map(|i| item("card", &format!("fp_{i:05}"), None))
        .collect();
    let expiring = item("email", "gone@example.de", Some(t0() + Duration::hours(1)));
    items.extend([
        expiring,
        removed.clone(),
        item("ip", "203.0.113.0/24", None),
    ]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_list_items(a, &items).await.unwrap();
    tx.insert_list_items(b, &[item("card", "fp_theirs", None)])
        .await
        .unwrap();
    tx.remove_list_item(a, &removed.id, t0()).await.unwrap();
    tx.commit().await.unwrap();

    let now = t0() + Duration::hours(2);
    let mut tx = store.read().await.unwrap();
    let candidates = [
        ("card", "fp_10049".to_owned()),
        ("card", "fp_10049".to_owned()),
        ("card", "fp_theirs".to_owned()),
        ("card", "FP_10048".to_owned()),
        ("email", "gone@example.de".to_owned()),
        ("device", "dev-1".to_owned()),
        ("ip", "203.0.113.0/24".to_owned()),
    ];
    let lookup = |list_candidates| Lookup {
        list_candidates,
        ..Lookup::default()
    };
    let hits = tx.look_up(a, &lookup(&candidates), now).await.unwrap();
    let mut found: Vec<_> = hits
        .list_hits
        .iter()
        .map(|i| (i.kind.as_str(), i.value.as_str()))
        .collect();
    found.sort_unstable();
    assert_eq!(found, [("card", "fp_10049"), ("ip", "203.0.113.0/24")]);
    assert!(
        tx.look_up(a, &lookup(&[]), now)
            .await
            .unwrap()
            .list_hits
            .is_empty()
    );

    let page = PageRequest {
        after: None,
        limit: 500,
    };
    let first = tx
        .list_items(a, &ListItemFilter::default(), &page, now)
        .await
        .unwrap();
    assert_eq!(first.data.len(), 500);
    let next = PageRequest {
        after: first.next_cursor.clone(),
        limit: 500,
    };
    let second = tx
        .list_items(a, &ListItemFilter::default(), &next, now)
        .await
        .unwrap();
    assert!(second.data[0].id > first.data[499].id);
}

/// One lookup answers a decision's questions together, each from the asking tenant's rows.
async fn one_lookup_answers_every_question_of_a_decision(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let (first, second, asking) = (
        customer(store, a, "ext-1").await,
        customer(store, a, "ext-2").await,
        customer(store, a, "ext-3").await,
    );
    let theirs = customer(store, b, "ext-1").await;
    let card = ("card", "fp_shared".to_owned());
    let mut tx = store.begin().await.unwrap();
    for (who, at) in [
        (second, t0()),
        (first, t0() - Duration::hours(1)),
        (asking, t0()),
    ] {
        tx.add_link_keys(a, who, std::slice::from_ref(&card), at)
            .await
            .unwrap();
    }
    tx.add_link_keys(b, theirs, std::slice::from_ref(&card), t0())
        .await
        .unwrap();
    for (minutes_ago, amount) in [(10, 500), (120, 700), (60 * 48, 900)] {
        let at = t0() - Duration::minutes(minutes_ago);
        tx.record_velocity(a, &[("order_customer", "c", amount)], at)
            .await
            .unwrap();
    }
    tx.record_velocity(b, &[("order_customer", "c", 1)], t0())
        .await
        .unwrap();
    tx.insert_signup(a, asking, r#"{"external_id":"ext-3"}"#, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    let link_keys = [card.clone(), ("device", "dev-none".to_owned())];
    let lookup = Lookup {
        link_keys: &link_keys,
        except: Some(asking),
        velocity: &[("order_customer", "c"), ("order_customer", "nobody")],
        list_candidates: &[("email", "x@example.de".to_owned())],
        history_of: Some(asking),
    };
    let found = tx.look_up(a, &lookup, t0()).await.unwrap();
    assert_eq!(
        found.linked,
        [
            Linked {
                count: 2,
                oldest: vec![first, second]
            },
            Linked::default()
        ],
        "oldest link first"
    );
    let counts = &found.velocity;
    assert_eq!(
        (counts[0].last_1h, counts[0].last_24h, counts[0].last_7d),
        (1, 2, 3)
    );
    assert_eq!(counts[0].amount_24h, 1200);
    assert_eq!(counts[1], WindowCounts::default());
    assert!(found.list_hits.is_empty());
    let history = found.history.unwrap();
    assert_eq!(
        history.signup_facts.as_deref(),
        Some(r#"{"external_id":"ext-3"}"#)
    );
    assert!(!history.has_cleared_payment);
    assert!(history.completed_steps.is_empty());

    let nothing = tx.look_up(a, &Lookup::default(), t0()).await.unwrap();
    assert!(nothing.linked.is_empty() && nothing.velocity.is_empty() && nothing.history.is_none());
}

/// A key shared by a whole network is counted up to the cap, and names only its oldest few
/// customers, whenever each of them used it.
async fn a_busy_link_key_is_counted_but_names_only_its_oldest(store: &Store) {
    let a = tenant(store, "a").await;
    let network = ("ip24", "81.0.1.0/24".to_owned());
    let sharing: Vec<CustomerId> = (0..=COUNT_CAP + 1)
        .map(|_| CustomerId::generate())
        .collect();
    let mut tx = store.begin().await.unwrap();
    for (i, who) in sharing.iter().enumerate() {
        let at = t0() - Duration::seconds(i64::try_from(i).unwrap());
        tx.add_link_keys(a, *who, std::slice::from_ref(&network), at)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    let link_keys = [network];
    let lookup = Lookup {
        link_keys: &link_keys,
        except: sharing.first().copied(),
        ..Lookup::default()
    };
    let found = tx.look_up(a, &lookup, t0()).await.unwrap();
    assert_eq!(found.linked[0].count, COUNT_CAP, "counted up to the cap");
    // The first is the one asking; the later a customer was made, the earlier it used the key.
    let oldest: Vec<CustomerId> = sharing
        .iter()
        .skip(1)
        .take(LINKED_IDS_PER_KEY)
        .copied()
        .collect();
    assert_eq!(found.linked[0].oldest, oldest);
}

/// A velocity key every sign-up shares is counted over its newest events only: the windows
/// inside the cap stay exact, the rest reads as the cap.
async fn a_busy_velocity_key_counts_its_newest_events_up_to_the_cap(store: &Store) {
    let a = tenant(store, "a").await;
    let cap = i64::from(COUNT_CAP);
    // Three events two days back, then `cap - 2` in the last hour: the newest `cap` events
    // take two of the old ones, so the week is cut while the hour and the day are whole.
    let mut events: Vec<(DateTime<Utc>, i64)> = (0..3)
        .map(|i| (t0() - Duration::hours(48) - Duration::seconds(i), 1_000))
        .collect();
    events.extend((0..cap - 2).map(|i| (t0() - Duration::seconds(i + 1), 1)));
    let mut tx = store.begin().await.unwrap();
    for (at, amount) in &events {
        tx.record_velocity(a, &[("signup_email_domain", "gmail.com", *amount)], *at)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    let lookup = Lookup {
        velocity: &[("signup_email_domain", "gmail.com")],
        ..Lookup::default()
    };
    let counts = tx.look_up(a, &lookup, t0()).await.unwrap().velocity[0];
    let cap = COUNT_CAP;
    assert_eq!(
        (counts.last_1h, counts.last_24h, counts.last_7d),
        (cap - 2, cap - 2, cap),
        "windows inside the cap are exact, the week stops at it"
    );
    assert_eq!(counts.amount_24h, i64::from(cap - 2));
}

async fn customers_page_filter_and_stay_in_their_tenant(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(customer(store, a, &format!("ext-{i}")).await);
    }
    customer(store, b, "ext-0").await; // the same external id in another tenant is fine

    // Refused at the insert (SQLite) or when the kept insert is sent, here with the commit
    // (PostgreSQL); either way the error names the field.
    let mut tx = store.begin().await.unwrap();
    let dup = match tx.insert_customer(a, new_customer("ext-1"), t0()).await {
        Ok(_) => tx.commit().await.unwrap_err(),
        Err(e) => {
            drop(tx);
            e
        }
    };
    assert!(
        matches!(
            dup,
            StoreError::Duplicate {
                field: "external_id"
            }
        ),
        "{dup:?}"
    );

    let mut tx = store.read().await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 2,
    };
    loop {
        let got = tx
            .list_customers(a, &CustomerFilter::default(), &page)
            .await
            .unwrap();
        seen.extend(got.data.iter().map(|c| c.id));
        match got.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        seen, ids,
        "pages return every customer once, in creation order"
    );

    let filter = CustomerFilter {
        external_id: Some("ext-3".into()),
        ..Default::default()
    };
    let got = tx
        .list_customers(
            a,
            &filter,
            &PageRequest {
                after: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    assert_eq!(got.data.len(), 1);
    assert_eq!(got.data[0].id, ids[3]);
    assert!(matches!(
        tx.customer(b, ids[0]).await,
        Err(StoreError::NotFound)
    ));
    drop(tx);

    let mut tx = store.begin().await.unwrap();
    let patch = CustomerPatch {
        status: Some(CustomerStatus::Suspended),
        trust_tier: Some(TrustTier::Verified),
        email: Some(None),
        ..Default::default()
    };
    let (before, after) = tx
        .update_customer(a, ids[2], patch.clone(), t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(before.status, CustomerStatus::Active);
    assert_eq!(
        (after.status, after.trust_tier, after.email),
        (CustomerStatus::Suspended, TrustTier::Verified, None)
    );
    assert!(matches!(
        tx.update_customer(b, ids[2], patch, t0()).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await.unwrap();
    let stored = store
        .read()
        .await
        .unwrap()
        .customer(a, ids[2])
        .await
        .unwrap();
    assert_eq!(stored.status, CustomerStatus::Suspended);
    assert_eq!(stored.updated_at, t0() + Duration::hours(1));
}

async fn subscription_status_changes_keep_their_history(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let cus = customer(store, a, "ext").await;
    let mut tx = store.begin().await.unwrap();
    let new = NewSubscription {
        id: SubscriptionId::generate(),
        customer_id: cus,
        vendor_subscription_id: "8c4b1d2e-vendor".into(),
        offer_id: Some("DZH318Z0BQ3Q".into()),
        product_kind: ProductKind::AzurePlan,
        quantity: 1,
    };
    // A customer of another tenant is as good as absent.
    let foreign = NewSubscription {
        customer_id: cus,
        ..new.clone()
    };
    assert!(matches!(
        tx.insert_subscription(b, foreign, "cli", t0()).await,
        Err(StoreError::NotFound)
    ));
    let sub = tx
        .insert_subscription(a, new.clone(), "cli", t0())
        .await
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Active);
    tx.commit().await.unwrap();
    // A failed statement ends a PostgreSQL transaction, so the duplicate gets its own.
    let mut tx = store.begin().await.unwrap();
    let dup = NewSubscription {
        id: SubscriptionId::generate(),
        ..new
    };
    assert!(matches!(
        tx.insert_subscription(a, dup, "cli", t0()).await,
        Err(StoreError::Duplicate {
            field: "vendor_subscription_id"
        })
    ));
    drop(tx);

    let mut tx = store.begin().await.unwrap();
    let (_, suspended) = tx
        .change_subscription_status(
            a,
            sub.id,
            SubscriptionStatus::Suspended,
            Some("unpaid".into()),
            "job:dunning",
            t0() + Duration::days(21),
        )
        .await
        .unwrap();
    assert_eq!(suspended.status_reason.as_deref(), Some("unpaid"));
    assert!(matches!(
        tx.change_subscription_status(a, sub.id, SubscriptionStatus::Suspended, None, "x", t0())
            .await,
        Err(StoreError::Conflict(_))
    ));
    tx.change_subscription_status(
        a,
        sub.id,
        SubscriptionStatus::Active,
        Some("paid".into()),
        "job:dunning",
        t0() + Duration::days(22),
    )
    .await
    .unwrap();
    tx.change_subscription_status(
        a,
        sub.id,
        SubscriptionStatus::Terminated,
        None,
        "key_x",
        t0() + Duration::days(23),
    )
    .await
    .unwrap();
    assert!(
        tx.change_subscription_status(
            a,
            sub.id,
            SubscriptionStatus::Active,
            None,
            "key_x",
            t0() + Duration::days(24)
        )
        .await
        .is_err()
    );
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    let history = tx.subscription_history(a, sub.id).await.unwrap();
    let statuses: Vec<_> = history.iter().map(|h| h.status).collect();
    use SubscriptionStatus::*;
    assert_eq!(statuses, [Active, Suspended, Active, Terminated]);
    assert_eq!(history[1].actor, "job:dunning");
    let filter = SubscriptionFilter {
        customer_id: Some(cus),
        ..Default::default()
    };
    assert_eq!(
        tx.list_subscriptions(
            a,
            &filter,
            &PageRequest {
                after: None,
                limit: 5
            }
        )
        .await
        .unwrap()
        .data
        .len(),
        1
    );
    assert!(
        tx.list_subscriptions(
            b,
            &filter,
            &PageRequest {
                after: None,
                limit: 5
            }
        )
        .await
        .unwrap()
        .data
        .is_empty()
    );
    assert!(tx.subscription_history(b, sub.id).await.unwrap().is_empty());
}

fn entry(n: usize) -> AuditEntry {
    AuditEntry {
        actor: Actor::Job {
            name: "test".into(),
        },
        action: "customer.updated".into(),
        object_id: format!("cus_{n}"),
        data: serde_json::json!({ "n": n }),
    }
}

async fn audit_chain_verifies_and_names_a_tampered_event(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    for n in 0..5 {
        let mut tx = store.begin().await.unwrap();
        tx.append_audit(a, t0(), entry(n)).await.unwrap();
        tx.append_audit(b, t0(), entry(n)).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(store.verify_audit(a).await.unwrap(), Ok(5));
    let listed = store
        .read()
        .await
        .unwrap()
        .list_audit(
            a,
            &AuditFilter {
                object_id: Some("cus_3".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].seq, 4);

    store
        .execute_raw(&format!(
            "UPDATE audit_events SET data = '{{\"n\":42}}' WHERE tenant_id = '{a}' AND seq = 3"
        ))
        .await
        .unwrap();
    match store.verify_audit(a).await.unwrap() {
        Err(ChainBreak::Altered { seq: 3, .. }) => {}
        other => panic!("expected the altered event 3 to be named, got {other:?}"),
    }
    assert_eq!(
        store.verify_audit(b).await.unwrap(),
        Ok(5),
        "other tenants' chains are independent"
    );
}

/// An import appends more events in one transaction than one statement carries; the chain
/// runs on unbroken across the statements, and the events come back sealed as stored.
async fn a_long_append_spans_statements_without_a_break(store: &Store) {
    let a = tenant(store, "a").await;
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(a, t0(), entry(0)).await.unwrap();
    let events = tx
        .append_audit_all(a, (1..=8_000).map(|n| (t0(), entry(n))).collect())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(events.first().map(|e| e.seq), Some(2));
    assert_eq!(events.last().map(|e| e.seq), Some(8_001));
    assert!(events.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert!(events.iter().all(|e| e.hash == e.compute_hash()));
    assert_eq!(store.verify_audit(a).await.unwrap(), Ok(8_001));
}

async fn concurrent_appenders_never_fork_the_chain(store: &Store) {
    let a = tenant(store, "a").await;
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..10 {
                    let mut tx = store.begin().await.unwrap();
                    tx.append_audit(a, t0(), entry(t * 100 + n)).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.verify_audit(a).await.unwrap(), Ok(40));
}

/// Entries deferred to commit land in order, interleaved tenants each on their own chain, even
/// when there are more than one statement can carry (an import audits every row).
async fn deferred_entries_are_appended_at_commit_in_order(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let mut tx = store.begin().await.unwrap();
    for n in 0..5_000 {
        tx.defer_audit(if n % 1_000 == 0 { b } else { a }, t0(), entry(n));
    }
    tx.commit().await.unwrap();
    assert_eq!(store.verify_audit(a).await.unwrap(), Ok(4_995));
    assert_eq!(store.verify_audit(b).await.unwrap(), Ok(5));
    let mut tx = store.begin().await.unwrap();
    tx.defer_audit(a, t0(), entry(9));
    drop(tx);
    assert_eq!(
        store.verify_audit(a).await.unwrap(),
        Ok(4_995),
        "rolled back"
    );

    // Appends at once and at commit in one transaction each see the head the one before
    // left, though the head's updates are kept writes.
    let mut tx = store.begin().await.unwrap();
    let first = tx.append_audit(a, t0(), entry(10)).await.unwrap();
    let second = tx.append_audit(a, t0(), entry(11)).await.unwrap();
    tx.defer_audit(a, t0(), entry(12));
    tx.commit().await.unwrap();
    assert_eq!((first.seq, second.seq), (4_996, 4_997));
    assert_eq!(store.verify_audit(a).await.unwrap(), Ok(4_998));
}

async fn a_rolled_back_transaction_leaves_nothing(store: &Store) {
    let a = tenant(store, "a").await;
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .insert_customer(a, new_customer("ghost"), t0())
        .await
        .unwrap();
    tx.append_audit(a, t0(), entry(1)).await.unwrap();
    let response = StoredResponse {
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
    };
    tx.save_idempotent_response(a, "key-1", &response, t0())
        .await
        .unwrap();
    drop(tx);
    let mut tx = store.read().await.unwrap();
    assert!(matches!(
        tx.customer(a, c.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(tx.idempotent_response(a, "key-1").await.unwrap(), None);
    drop(tx);
    assert_eq!(store.verify_audit(a).await.unwrap(), Ok(0));
}

async fn idempotency_keys_are_per_tenant_and_first_wins(store: &Store) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let first = StoredResponse {
        request_hash: "h1".into(),
        status: 201,
        body: "{\"id\":1}".into(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.save_idempotent_response(a, "k", &first, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Refused when the kept insert is sent, here with the commit.
    let mut tx = store.begin().await.unwrap();
    let err = match tx.save_idempotent_response(a, "k", &first, t0()).await {
        Ok(()) => tx.commit().await.unwrap_err(),
        Err(err) => err,
    };
    assert!(err.is_unique_violation());
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.idempotent_response(a, "k").await.unwrap(), Some(first));
    assert_eq!(tx.idempotent_response(b, "k").await.unwrap(), None);
}

conformance!(
    tenants_are_unique_by_slug,
    customers_among_reads_only_the_tenants_own,
    list_hits_are_found_however_long_the_lists,
    one_lookup_answers_every_question_of_a_decision,
    a_busy_link_key_is_counted_but_names_only_its_oldest,
    a_busy_velocity_key_counts_its_newest_events_up_to_the_cap,
    keys_are_found_by_hash_and_scoped,
    customers_page_filter_and_stay_in_their_tenant,
    subscription_status_changes_keep_their_history,
    audit_chain_verifies_and_names_a_tampered_event,
    a_long_append_spans_statements_without_a_break,
    concurrent_appenders_never_fork_the_chain,
    deferred_entries_are_appended_at_commit_in_order,
    a_rolled_back_transaction_leaves_nothing,
    idempotency_keys_are_per_tenant_and_first_wins,
);
