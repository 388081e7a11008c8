//! Paying for orders, black-box: the manual provider on the default local API, and Stripe's
//! flow against localstripe (a real Stripe-compatible server that takes test cards and sends
//! signed webhooks), on whichever storage engine the test command points the suite at.

use std::time::Duration;

use keel_tests::budgets::{PAYMENT_BUDGETS, charged, intent_of, measure_payments, wait_until_due};
use keel_tests::stripe::{
    CARD_DECLINED, CARD_OK, LocalStripe, WEBHOOK_SECRET, intent_event, succeeded_event, unix_now,
};
use keel_tests::{Reply, TestApp, spawn_app, spawn_app_paying_with};
use serde_json::{Value, json};

/// A window long enough that nothing expires during a test that does not wait for it.
const LONG: Duration = Duration::from_secs(600);

fn notes(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|h| h["note"].as_str().unwrap().to_owned())
        .collect()
}

fn id_of(reply: &Reply) -> String {
    reply.body["order"]["id"]
        .as_str()
        .expect("an order id")
        .to_owned()
}

/// A shop with one product, an admin and a shopper.
async fn shop(app: &TestApp, stock: i64) -> (String, String, String) {
    let (_, admin) = app.admin().await;
    let (_, shopper) = app.registered_user().await;
    let product = app.product(&admin, "Teapot", "kitchen", 2_900, stock).await;
    (admin, shopper, product)
}

/// Places an order as a client should: a 503 (many buyers of one product at once, or a busy
/// store) is retried after its `Retry-After` with the same key, which cannot order twice.
async fn place(app: &TestApp, shopper: &str, product: &str, quantity: i64) -> Reply {
    let key = uuid::Uuid::new_v4().to_string();
    let mut placed = app.order(shopper, &key, &[(product, quantity)]).await;
    for _ in 0..10 {
        if placed.status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        placed = app.order(shopper, &key, &[(product, quantity)]).await;
    }
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    placed
}

/// Cancels an order as a client should: a 503 (the gateway did not confirm a refund, or a busy
/// store) is retried; cancelling again completes what the first left owed.
async fn cancel(app: &TestApp, shopper: &str, id: &str) -> Reply {
    let path = format!("/orders/{id}/cancel");
    let mut reply = app.send("POST", &path, None, Some(shopper)).await;
    for _ in 0..10 {
        if reply.status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        reply = app.send("POST", &path, None, Some(shopper)).await;
    }
    reply
}

/// A shop taking payments through a fresh localstripe, with one order of `quantity` teapots
/// (of 5) placed: what most Stripe tests start from.
struct Scene {
    stripe: LocalStripe,
    app: TestApp,
    admin: String,
    shopper: String,
    product: String,
    /// The order's id and its PaymentIntent's.
    id: String,
    intent: String,
}

async fn scene(quantity: i64) -> Scene {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, LONG).await;
    let (admin, shopper, product) = shop(&app, 5).await;
    let placed = place(&app, &shopper, &product, quantity).await;
    let (id, intent) = (id_of(&placed), intent_of(&placed.body["order"]));
    Scene {
        stripe,
        app,
        admin,
        shopper,
        product,
        id,
        intent,
    }
}

#[tokio::test]
async fn a_manual_payment_is_marked_by_an_admin_and_only_then_ships() {
    let app = spawn_app().await;
    let (admin, shopper, product) = shop(&app, 5).await;
    let placed = place(&app, &shopper, &product, 2).await;
    let order = &placed.body["order"];
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["payment"]["provider"], "manual");
    assert_eq!(order["payment"]["clientSecret"], Value::Null);
    assert_eq!(notes(order), ["placed"]);
    let id = id_of(&placed);

    let early = app
        .send("POST", &format!("/orders/{id}/fulfil"), None, Some(&admin))
        .await;
    assert_eq!(early.status, 409, "unpaid: not shipped");
    assert_eq!(
        app.mark_paid(&shopper, &id).await.status,
        403,
        "only admins mark payments"
    );
    let paid = app.mark_paid(&admin, &id).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(paid.body["order"]["status"], "paid");
    assert_eq!(paid.body["order"]["expiresAt"], Value::Null);
    assert!(notes(&paid.body["order"])[1].starts_with("marked paid by admin"));
    assert_eq!(app.mark_paid(&admin, &id).await.status, 409, "paid once");
    let listed = app.send("GET", "/admin/orders", None, Some(&admin)).await;
    assert_eq!(
        listed.body["orders"][0]["id"],
        id.as_str(),
        "the default list is what to ship"
    );
    let shipped = app
        .send("POST", &format!("/orders/{id}/fulfil"), None, Some(&admin))
        .await;
    assert_eq!(shipped.body["order"]["status"], "fulfilled");
    assert_eq!(app.stock(&admin, &product).await, 3);
    // No gateway is configured: the webhook route is not there to be fooled.
    let event = succeeded_event("pi_x", &id, 5_800, "eur");
    assert_eq!(app.webhook(&event, WEBHOOK_SECRET, unix_now()).await.status, 404);
}

#[tokio::test]
async fn an_unpaid_order_expires_once_its_stock_returns_and_it_can_no_longer_be_paid() {
    let app = spawn_app().await;
    let (admin, shopper_of_first, product) = shop(&app, 5).await;
    // The default window is 30 minutes: nothing is due.
    let placed = place(&app, &shopper_of_first, &product, 2).await;
    let id = id_of(&placed);
    assert_eq!(
        app.app.expire_due_orders().await.unwrap().expired,
        0,
        "not due yet"
    );
    assert_eq!(app.stock(&admin, &product).await, 3);

    let dir = tempfile::tempdir().unwrap();
    let short = keel_local::Options {
        payments: keel::payments::Payments::manual(Duration::from_secs(1)),
        ..keel_tests::test_options(dir.path(), false)
    };
    let quick = TestApp::new(keel_local::spawn(short).await.unwrap(), dir);
    let (admin, shopper, product) = shop(&quick, 5).await;
    let placed = place(&quick, &shopper, &product, 2).await;
    let id_quick = id_of(&placed);
    wait_until_due(&placed.body["order"]).await;
    let swept = quick.app.expire_due_orders().await.unwrap();
    assert_eq!((swept.expired, swept.failed), (1, 0));
    let expired = quick.order_until(&shopper, &id_quick, |_| true).await;
    assert_eq!(expired["status"], "expired");
    assert_eq!(notes(&expired), ["placed", "not paid in time"]);
    assert_eq!(quick.stock(&admin, &product).await, 5);
    let ledger = quick.ledger(&admin, &product).await;
    assert_eq!(ledger[0]["reason"], "expired");
    assert_eq!(ledger[0]["orderId"], id_quick.as_str());
    assert_eq!(
        quick.app.expire_due_orders().await.unwrap().expired,
        0,
        "the stock returns once"
    );
    assert_eq!(quick.mark_paid(&admin, &id_quick).await.status, 409);
    let cancel = quick
        .send(
            "POST",
            &format!("/orders/{id_quick}/cancel"),
            None,
            Some(&shopper),
        )
        .await;
    assert_eq!(cancel.status, 409);
    let waiting = app.order_until(&shopper_of_first, &id, |_| true).await;
    assert_eq!(
        waiting["status"], "awaiting_payment",
        "within its window an order waits"
    );
}

#[tokio::test]
async fn a_card_payment_confirmed_at_the_gateway_pays_the_order_through_its_webhook() {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, LONG).await;
    let (admin, shopper, product) = shop(&app, 5).await;
    let placed = place(&app, &shopper, &product, 2).await;
    let order = &placed.body["order"];
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["payment"]["provider"], "stripe");
    let intent = intent_of(order);
    let at_gateway = stripe.intent(&intent).await;
    assert_eq!(
        at_gateway["amount"], 5_800,
        "the order's exact total, in minor units"
    );
    assert_eq!(at_gateway["currency"], "eur");
    assert_eq!(at_gateway["metadata"]["order_id"], order["id"]);
    let id = id_of(&placed);
    // Someone else sees no secret: the order is not theirs.
    let (_, other) = app.registered_user().await;
    assert_eq!(
        app.send("GET", &format!("/orders/{id}"), None, Some(&other))
            .await
            .status,
        404
    );

    assert_eq!(stripe.pay(&intent, CARD_OK).await, 200);
    let paid = app.order_until(&shopper, &id, |o| o["status"] == "paid").await;
    assert_eq!(paid["status"], "paid", "the webhook marked it paid");
    assert_eq!(
        paid["payment"]["clientSecret"],
        Value::Null,
        "nothing left to confirm"
    );
    assert_eq!(notes(&paid), ["placed", "paid"]);
    let shipped = app
        .send("POST", &format!("/orders/{id}/fulfil"), None, Some(&admin))
        .await;
    assert_eq!(shipped.body["order"]["status"], "fulfilled");
    assert_eq!(app.mark_paid(&admin, &id).await.status, 409);
}

#[tokio::test]
async fn a_declined_card_is_noted_and_the_order_stays_payable_until_a_card_pays() {
    let Scene {
        stripe,
        app,
        shopper,
        id,
        intent,
        ..
    } = scene(1).await;
    assert_eq!(stripe.pay(&intent, CARD_DECLINED).await, 402);
    let failed = app
        .order_until(&shopper, &id, |o| {
            notes(o).iter().any(|n| n.starts_with("payment failed"))
        })
        .await;
    assert_eq!(failed["status"], "awaiting_payment");
    assert_eq!(notes(&failed)[1], "payment failed: card_declined");
    assert!(failed["payment"]["clientSecret"].is_string(), "still payable");
    // Another card on the same intent: localstripe cannot confirm an intent whose charge
    // failed (Stripe can), so the gateway's success event is delivered as Stripe would send it.
    let success = succeeded_event(&intent, &id, 2_900, "eur");
    let reply = app.webhook(&success, WEBHOOK_SECRET, unix_now()).await;
    assert_eq!(reply.body["outcome"], "paid", "{:?}", reply.body);
    let paid = app.order_until(&shopper, &id, |_| true).await;
    assert_eq!(notes(&paid), ["placed", "payment failed: card_declined", "paid"]);
}

#[tokio::test]
async fn a_payment_of_another_amount_is_refused_and_never_marks_the_order_paid() {
    let Scene {
        stripe,
        app,
        shopper,
        id,
        intent,
        ..
    } = scene(1).await;
    // At the gateway: the intent's amount changed before it was paid.
    stripe.set_amount(&intent, 100).await;
    assert_eq!(stripe.pay(&intent, CARD_OK).await, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let order = app.order_until(&shopper, &id, |_| true).await;
    assert_eq!(order["status"], "awaiting_payment", "100 is not 2,900");
    // The same refusal, delivered by hand: another currency, another payment.
    for event in [
        succeeded_event(&intent, &id, 2_900, "usd"),
        succeeded_event("pi_someone_else", &id, 2_900, "eur"),
        succeeded_event(&intent, &id, 2_901, "eur"),
    ] {
        let reply = app.webhook(&event, WEBHOOK_SECRET, unix_now()).await;
        assert_eq!(
            (reply.status, reply.body["outcome"].clone()),
            (200, json!("refused"))
        );
    }
    let order = app.order_until(&shopper, &id, |_| true).await;
    assert_eq!(order["status"], "awaiting_payment");
}

#[tokio::test]
async fn forged_stale_and_altered_webhooks_are_refused_and_change_nothing() {
    let Scene {
        stripe: _stripe,
        app,
        shopper,
        id,
        intent,
        ..
    } = scene(1).await;
    let event = succeeded_event(&intent, &id, 2_900, "eur");

    let unsigned = app
        .send_raw(
            app.request(reqwest::Method::POST, "/payments/webhook")
                .body(event.to_string()),
        )
        .await;
    assert_eq!(unsigned.status, 400);
    assert!(unsigned.body["errors"]["Stripe-Signature"].is_array());
    let forged = app.webhook(&event, "whsec_guessed", unix_now()).await;
    assert_eq!(forged.status, 400);
    let stale = app.webhook(&event, WEBHOOK_SECRET, unix_now() - 301).await;
    assert_eq!(stale.status, 400);
    // Signed, then altered on the way.
    let signature = keel::payments::webhook::sign(event.to_string().as_bytes(), WEBHOOK_SECRET, unix_now());
    let mut altered = event.clone();
    altered["data"]["object"]["amount"] = json!(1);
    let tampered = app
        .send_raw(
            app.request(reqwest::Method::POST, "/payments/webhook")
                .header("stripe-signature", signature)
                .body(altered.to_string()),
        )
        .await;
    assert_eq!(tampered.status, 400);
    let order = app.order_until(&shopper, &id, |_| true).await;
    assert_eq!(order["status"], "awaiting_payment", "nothing changed");
    assert_eq!(notes(&order), ["placed"]);

    // The genuine event, then the same event again (a replay within the tolerance, or the
    // gateway redelivering): processed once.
    let first = app.webhook(&event, WEBHOOK_SECRET, unix_now()).await;
    assert_eq!(first.body["outcome"], "paid", "{:?}", first.body);
    let again = app.webhook(&event, WEBHOOK_SECRET, unix_now()).await;
    assert_eq!(
        (again.status, again.body["outcome"].clone()),
        (200, json!("duplicate"))
    );
    let order = app.order_until(&shopper, &id, |_| true).await;
    assert_eq!(
        notes(&order),
        ["placed", "paid"],
        "one history entry for one payment"
    );
}

#[tokio::test]
async fn events_out_of_order_and_for_orders_not_yet_readable_settle_in_one_state() {
    let Scene {
        stripe: _stripe,
        app,
        shopper,
        id,
        intent,
        ..
    } = scene(1).await;

    // An event naming an order this table cannot read yet is refused for redelivery, and not
    // remembered: the same event id is processed once the order is there.
    let mut early = succeeded_event(&intent, &uuid::Uuid::new_v4().to_string(), 2_900, "eur");
    let not_yet = app.webhook(&early, WEBHOOK_SECRET, unix_now()).await;
    assert_eq!(not_yet.status, 409, "{:?}", not_yet.body);
    early["data"]["object"]["metadata"]["order_id"] = json!(id);
    let redelivered = app.webhook(&early, WEBHOOK_SECRET, unix_now()).await;
    assert_eq!(redelivered.body["outcome"], "paid", "{:?}", redelivered.body);

    // A failure reported after the success (delivery out of order), and a second success
    // event for the same payment: nothing changes.
    let late_failure = intent_event("payment_intent.payment_failed", &intent, &id, 2_900, "eur");
    let reply = app.webhook(&late_failure, WEBHOOK_SECRET, unix_now()).await;
    assert_eq!(reply.body["outcome"], "nothing");
    let second = succeeded_event(&intent, &id, 2_900, "eur");
    assert_eq!(
        app.webhook(&second, WEBHOOK_SECRET, unix_now()).await.body["outcome"],
        "nothing"
    );
    let order = app.order_until(&shopper, &id, |_| true).await;
    assert_eq!(
        (order["status"].clone(), notes(&order)),
        (json!("paid"), vec!["placed".to_owned(), "paid".to_owned()])
    );
    // An event type Keel does not act on is acknowledged and ignored.
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {}}});
    assert_eq!(
        app.webhook(&other, WEBHOOK_SECRET, unix_now()).await.body["outcome"],
        "ignored"
    );
}

#[tokio::test]
async fn cancelling_a_paid_order_refunds_it_once_and_returns_its_stock() {
    let Scene {
        stripe,
        app,
        admin,
        shopper,
        product,
        id,
        intent,
        ..
    } = scene(2).await;
    assert_eq!(stripe.pay(&intent, CARD_OK).await, 200);
    app.order_until(&shopper, &id, |o| o["status"] == "paid").await;

    let cancelled = app
        .send("POST", &format!("/orders/{id}/cancel"), None, Some(&shopper))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["order"]["status"], "cancelled");
    assert_eq!(cancelled.body["order"]["payment"]["refund"], "refunded");
    assert_eq!(app.stock(&admin, &product).await, 5);
    let refunds = stripe.refunds(&intent).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 5_800);
    let twice = app
        .send("POST", &format!("/orders/{id}/cancel"), None, Some(&shopper))
        .await;
    assert_eq!(twice.status, 409, "refunded once");
    assert_eq!(stripe.refunds(&intent).await.len(), 1);

    // An unpaid order's cancel cancels its payment at the gateway: it can no longer be paid.
    let unpaid = place(&app, &shopper, &product, 1).await;
    let (unpaid_id, unpaid_intent) = (id_of(&unpaid), intent_of(&unpaid.body["order"]));
    let reply = app
        .send(
            "POST",
            &format!("/orders/{unpaid_id}/cancel"),
            None,
            Some(&shopper),
        )
        .await;
    assert_eq!(reply.body["order"]["status"], "cancelled");
    assert_eq!(stripe.intent(&unpaid_intent).await["status"], "canceled");
    assert_ne!(stripe.pay(&unpaid_intent, CARD_OK).await, 200);
}

#[tokio::test]
async fn a_cancel_racing_the_payments_webhook_ends_cancelled_and_refunded_exactly_once() {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, LONG).await;
    let (admin, shopper, product) = shop(&app, 10).await;
    let mut orders = Vec::new();
    for _ in 0..5 {
        let placed = place(&app, &shopper, &product, 1).await;
        orders.push((id_of(&placed), intent_of(&placed.body["order"])));
    }
    // Each order is paid at the gateway and cancelled by its owner at about the same moment:
    // the webhook (a second later) finds it cancelled and refunds it, or the cancel finds it
    // paid and refunds it — or the cancel stops the payment first.
    let races = orders.iter().map(|(id, intent)| {
        let (app, stripe, shopper) = (&app, &stripe, &shopper);
        async move {
            let (paid, cancelled) = tokio::join!(stripe.pay(intent, CARD_OK), async {
                tokio::time::sleep(Duration::from_millis(rand::random_range(0..1_500))).await;
                cancel(app, shopper, id).await
            });
            assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
            paid
        }
    });
    let paid = futures::future::join_all(races).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // the last webhooks
    for ((id, intent), paid) in orders.iter().zip(paid) {
        let order = app.order_until(&shopper, id, |_| true).await;
        assert_eq!(order["status"], "cancelled", "{id}: {order}");
        let refunds = stripe.refunds(intent).await.len();
        if paid == 200 {
            assert_eq!(order["payment"]["refund"], "refunded", "{id}: {order}");
            assert_eq!(refunds, 1, "{id}: refunded exactly once");
        } else {
            assert_eq!(refunds, 0, "{id}: never charged");
        }
    }
    assert_eq!(app.stock(&admin, &product).await, 10, "every unit back, once");
}

#[tokio::test]
async fn expiry_racing_payments_returns_each_orders_stock_at_most_once_and_refunds_late_money() {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, Duration::from_secs(1)).await;
    let (admin, shopper, product) = shop(&app, 20).await;
    let mut orders = Vec::new();
    for _ in 0..6 {
        let placed = place(&app, &shopper, &product, 1).await;
        orders.push((id_of(&placed), intent_of(&placed.body["order"])));
    }
    // Each order is paid right at its deadline while sweeps run: some payments land first,
    // some after the order expired (then the webhook refunds them).
    let payments = futures::future::join_all(orders.iter().map(|(_, intent)| async {
        tokio::time::sleep(Duration::from_millis(rand::random_range(700..1_300))).await;
        stripe.pay(intent, CARD_OK).await
    }));
    let sweeps = async {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            app.app.expire_due_orders().await.expect("a sweep");
        }
    };
    let (paid_at_gateway, ()) = tokio::join!(payments, sweeps);
    tokio::time::sleep(Duration::from_secs(3)).await; // the webhooks of the last payments
    let mut kept = 0;
    for ((id, intent), confirmed) in orders.iter().zip(paid_at_gateway) {
        let order = app
            .order_until(&shopper, id, |o| {
                o["status"] == "paid"
                    || (o["status"] == "expired"
                        && (confirmed != 200 || o["payment"]["refund"] == "refunded"))
            })
            .await;
        let refunds = stripe.refunds(intent).await;
        match order["status"].as_str().unwrap() {
            "paid" => {
                assert_eq!(confirmed, 200);
                assert!(refunds.is_empty(), "{id}: paid and kept");
                kept += 1;
            }
            "expired" if confirmed == 200 => {
                assert_eq!(order["payment"]["refund"], "refunded", "{id}: {order}");
                assert_eq!(refunds.len(), 1, "{id}: refunded once");
            }
            "expired" => assert!(refunds.is_empty()),
            other => panic!("{id}: {other}"),
        }
    }
    assert_eq!(
        app.stock(&admin, &product).await,
        20 - kept,
        "each unpaid order's stock back once"
    );
    let ledger = app.ledger(&admin, &product).await;
    let sum: i64 = ledger.iter().map(|e| e["delta"].as_i64().unwrap()).sum();
    assert_eq!(sum, 20 - kept, "the ledger agrees");
}

#[tokio::test]
async fn fifty_concurrent_orders_with_random_outcomes_leave_stock_ledger_orders_and_payments_consistent() {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, Duration::from_secs(4)).await;
    let (admin, _, product) = shop(&app, 200).await;
    let mut shoppers = Vec::new();
    for _ in 0..5 {
        shoppers.push(app.registered_user().await.1);
    }
    // 0: pay, 1: decline then leave, 2: cancel unpaid, 3: pay then cancel, 4: leave to expire.
    let runs = (0..50).map(|i| {
        let (app, stripe, product) = (&app, &stripe, &product);
        let shopper = shoppers[i % shoppers.len()].clone();
        async move {
            let quantity = rand::random_range(1..=3);
            let placed = place(app, &shopper, product, quantity).await;
            let (id, intent) = (id_of(&placed), intent_of(&placed.body["order"]));
            let outcome = rand::random_range(0..5);
            match outcome {
                0 => assert_eq!(stripe.pay(&intent, CARD_OK).await, 200),
                1 => assert_eq!(stripe.pay(&intent, CARD_DECLINED).await, 402),
                2 => {
                    let reply = cancel(app, &shopper, &id).await;
                    assert_eq!(reply.status, 200, "{:?}", reply.body);
                }
                3 => {
                    assert_eq!(stripe.pay(&intent, CARD_OK).await, 200);
                    app.order_until(&shopper, &id, |o| o["status"] == "paid").await;
                    let reply = cancel(app, &shopper, &id).await;
                    assert_eq!(
                        reply.body["order"]["payment"]["refund"], "refunded",
                        "{:?}",
                        reply.body
                    );
                }
                _ => {}
            }
            (shopper, id, intent, quantity, outcome)
        }
    });
    let placed = futures::future::join_all(runs).await;
    // Everything left unpaid expires.
    tokio::time::sleep(Duration::from_secs(5)).await;
    app.app.expire_due_orders().await.expect("the sweep");
    let mut sold = 0;
    for (shopper, id, intent, quantity, outcome) in &placed {
        let order = app
            .order_until(shopper, id, |o| o["status"] != "awaiting_payment")
            .await;
        let status = order["status"].as_str().unwrap();
        let at_gateway = stripe.intent(intent).await;
        let refunds = stripe.refunds(intent).await.len();
        let expected = match outcome {
            0 => "paid",
            2 | 3 => "cancelled",
            _ => "expired",
        };
        assert_eq!(status, expected, "{id} (outcome {outcome}): {order}");
        match status {
            "paid" => {
                sold += quantity;
                assert_eq!(at_gateway["status"], "succeeded");
                assert_eq!(refunds, 0);
            }
            "cancelled" if *outcome == 3 => assert_eq!(refunds, 1, "{id}"),
            _ => {
                assert_eq!(refunds, 0, "{id}");
                assert_eq!(
                    at_gateway["status"], "canceled",
                    "{id}: its payment can no longer take money"
                );
            }
        }
    }
    assert_eq!(app.stock(&admin, &product).await, 200 - sold);
    let ledger = app.ledger(&admin, &product).await;
    assert_eq!(
        ledger.iter().map(|e| e["delta"].as_i64().unwrap()).sum::<i64>(),
        200 - sold
    );
    let paid = app
        .send("GET", "/admin/orders?status=paid&limit=100", None, Some(&admin))
        .await;
    let paid_ids = paid.body["orders"].as_array().unwrap().len();
    assert_eq!(paid_ids, placed.iter().filter(|p| p.4 == 0).count());
}

#[tokio::test]
async fn a_retried_order_gets_its_gateway_payment_back_not_a_second_one() {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, LONG).await;
    let (_, shopper, product) = shop(&app, 5).await;
    let key = uuid::Uuid::new_v4().to_string();
    let first = app.order(&shopper, &key, &[(&product, 1)]).await;
    let retry = app.order(&shopper, &key, &[(&product, 1)]).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body["order"]["id"], first.body["order"]["id"]);
    assert_eq!(retry.body["order"]["payment"], first.body["order"]["payment"]);
}

#[tokio::test]
async fn payment_routes_and_the_expiry_sweep_stay_within_their_request_budgets() {
    let stripe = LocalStripe::start().await;
    let app = spawn_app_paying_with(&stripe, Duration::from_secs(1)).await;
    let measured = measure_payments(&app, &stripe).await;
    assert_eq!(measured.len(), PAYMENT_BUDGETS.len());
    let mut over = Vec::new();
    for (what, budget) in PAYMENT_BUDGETS {
        let all = &measured.iter().find(|(w, _)| w == what).expect("measured").1;
        let (_, calls) = charged(all);
        assert!(!calls.is_empty(), "{what}: nothing seen");
        assert!(calls.iter().all(|c| c.operation != "Scan"), "{what} scans");
        if calls.len() > *budget {
            over.push(format!(
                "{what}: {} > {budget}: {:?}",
                calls.len(),
                calls.iter().map(|c| &c.operation).collect::<Vec<_>>()
            ));
        }
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));
}
