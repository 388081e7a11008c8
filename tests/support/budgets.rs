//! The request budget of every endpoint, and a scenario that measures each once.

use serde_json::json;

use crate::TestApp;

/// (endpoint, requests it may send, what is measured).
pub const BUDGETS: &[(&str, usize)] = &[
    ("POST /api/users", 1),
    ("POST /api/users/login", 2),
    ("GET /api/user", 1),
    ("PUT /api/user (bio)", 1),
    ("PUT /api/user (username)", 2),
    ("GET /api/profiles/{username}", 2),
    // The followee's newest page goes into the feed in the follow's own transaction.
    ("POST /api/profiles/{username}/follow", 4),
    ("DELETE /api/profiles/{username}/follow", 3),
    ("POST /api/articles", 2),
    ("GET /api/articles/{slug}", 2),
    ("PUT /api/articles/{slug}", 4),
    ("GET /api/articles", 2),
    ("GET /api/articles?tag=", 2),
    ("GET /api/articles?author=", 3),
    ("GET /api/articles?favorited=", 3),
    ("GET /api/articles/feed", 2),
    // A search: the page's Query and its count's (Select=COUNT) sent together, then the batch.
    ("GET /api/articles?title=", 3),
    ("GET /api/articles?title=&tag=", 3),
    ("GET /api/articles?title=&author=", 4),
    ("GET /api/articles?since=&until=", 3),
    ("GET /api/articles?tag=&since=", 3),
    ("GET /api/articles?author=&since=", 4),
    ("GET /api/articles?favorited=&since=", 4),
    ("GET /api/articles/feed?since=", 3),
    ("POST /api/articles/{slug}/favorite", 3),
    ("DELETE /api/articles/{slug}/favorite", 3),
    ("POST /api/articles/{slug}/comments", 4),
    ("GET /api/articles/{slug}/comments", 3),
    ("DELETE /api/articles/{slug}/comments/{id}", 2),
    ("GET /api/tags", 1),
    ("DELETE /api/articles/{slug}", 3),
    ("POST /api/products", 2),
    ("GET /api/products", 2),
    ("GET /api/products/{id}", 1),
    ("PUT /api/products/{id}", 3),
    ("POST /api/products/{id}/stock", 3),
    ("GET /api/products/{id}/stock-history", 2),
    ("POST /api/orders", 3),
    ("POST /api/orders (replay)", 1),
    ("GET /api/orders", 1),
    ("GET /api/orders/{id}", 1),
    ("POST /api/orders/{id}/mark-paid", 2),
    ("POST /api/orders/{id}/fulfil", 2),
    ("GET /api/admin/orders", 2),
    ("POST /api/orders/{id}/cancel", 3),
    ("DELETE /api/products/{id}", 3),
    ("POST /api/uploads", 2),
    ("GET /api/uploads", 1),
    ("GET /api/uploads/{id}", 1),
    ("GET /api/uploads/{id}/content", 1),
    // Of an upload the bucket's event settled already (the owner's read is the finaliser's).
    ("POST /api/uploads/{id}/complete", 1),
    ("DELETE /api/uploads/{id}", 3),
    ("POST /api/user/logout", 1),
];

/// The budgets of the routes and the sweep that talk to a payment gateway, measured against
/// localstripe by [`measure_payments`] (the gateway's own calls are not DynamoDB's; they are
/// listed in `docs/request-budgets.md`).
pub const PAYMENT_BUDGETS: &[(&str, usize)] = &[
    // Claim, products, the transaction, then the gateway's payment attached to the order.
    ("POST /api/orders (gateway)", 4),
    // Claim, then the order as it is now (its payment, created now if the first try could not).
    ("POST /api/orders (gateway, replay)", 2),
    // The order, then the event record and the order's change in one transaction.
    ("POST /api/payments/webhook", 2),
    // The order, its products, the transaction, then the refund recorded.
    ("POST /api/orders/{id}/cancel (paid: refunded)", 4),
    // The due orders (one query), then per due order its products and its transaction.
    ("expire-orders (one due order)", 3),
];

/// An endpoint's calls split into (session checks, the calls its budget charges). A session
/// check is made at most once per user every few seconds per container, so it is counted apart,
/// never in the budget.
pub fn charged(
    calls: &[keel_local::meter::Call],
) -> (Vec<&keel_local::meter::Call>, Vec<&keel_local::meter::Call>) {
    calls.iter().partition(|c| c.session_check)
}

/// Runs every endpoint once in a realistic state and answers (endpoint, calls).
pub async fn measure(app: &TestApp) -> Vec<(&'static str, Vec<keel_local::meter::Call>)> {
    let mut measured = Vec::new();
    let (author, a) = app.registered_user().await;
    let reader = crate::NewUser::random();
    let (_, calls) = app.metered(app.register(&reader)).await;
    measured.push(("POST /api/users", calls));
    let (_, calls) = app.metered(app.login(&reader.email, &reader.password)).await;
    measured.push(("POST /api/users/login", calls));
    let r = app.login(&reader.email, &reader.password).await.body["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, calls) = app.metered(app.current_user(Some(&r))).await;
    measured.push(("GET /api/user", calls));
    let (_, calls) = app.metered(app.update_user(&r, json!({"bio": "reader"}))).await;
    measured.push(("PUT /api/user (bio)", calls));
    let (_, calls) = app
        .metered(app.update_user(&r, json!({"username": format!("{}-r", reader.username)})))
        .await;
    measured.push(("PUT /api/user (username)", calls));

    let profile = format!("/profiles/{}", author.username);
    let (_, calls) = app.metered(app.send("GET", &profile, None, Some(&r))).await;
    measured.push(("GET /api/profiles/{username}", calls));
    let (_, calls) = app
        .metered(app.send("POST", &format!("{profile}/follow"), None, Some(&r)))
        .await;
    measured.push(("POST /api/profiles/{username}/follow", calls));

    for i in 0..3 {
        app.article_by(&a, &format!("Warm-up {i}"), &["budget"]).await;
    }
    let (reply, calls) = app
        .metered(app.create_article(
            &a,
            json!({"title": "Budget", "description": "d", "body": "b", "tagList": ["budget", "x"]}),
        ))
        .await;
    measured.push(("POST /api/articles", calls));
    let slug = reply.body["article"]["slug"].as_str().unwrap().to_owned();
    let article = format!("/articles/{slug}");
    let (_, calls) = app.metered(app.send("GET", &article, None, Some(&r))).await;
    measured.push(("GET /api/articles/{slug}", calls));
    let (_, calls) = app
        .metered(app.send(
            "PUT",
            &article,
            Some(json!({"article": {"body": "new body", "tagList": ["y"]}})),
            Some(&a),
        ))
        .await;
    measured.push(("PUT /api/articles/{slug}", calls));
    let (_, calls) = app
        .metered(app.send("POST", &format!("{article}/favorite"), None, Some(&r)))
        .await;
    measured.push(("POST /api/articles/{slug}/favorite", calls));

    let (_, calls) = app.metered(app.list("", Some(&r))).await;
    measured.push(("GET /api/articles", calls));
    let (_, calls) = app.metered(app.list("?tag=budget", Some(&r))).await;
    measured.push(("GET /api/articles?tag=", calls));
    let (_, calls) = app
        .metered(app.list(&format!("?author={}", author.username), Some(&r)))
        .await;
    measured.push(("GET /api/articles?author=", calls));
    let reader_name = app.current_user(Some(&r)).await.body["user"]["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, calls) = app
        .metered(app.list(&format!("?favorited={reader_name}"), Some(&r)))
        .await;
    measured.push(("GET /api/articles?favorited=", calls));
    let (_, calls) = app
        .metered(app.send("GET", "/articles/feed", None, Some(&r)))
        .await;
    measured.push(("GET /api/articles/feed", calls));
    // The title index is the stream's: searched once it has caught up.
    app.settled().await;
    let since = "2000-01-01";
    for (endpoint, query) in [
        ("GET /api/articles?title=", "?title=warm%20up".to_owned()),
        (
            "GET /api/articles?title=&tag=",
            "?title=warm&tag=budget".to_owned(),
        ),
        (
            "GET /api/articles?title=&author=",
            format!("?title=warm&author={}", author.username),
        ),
        (
            "GET /api/articles?since=&until=",
            format!("?since={since}&until=9999-01-01"),
        ),
        (
            "GET /api/articles?tag=&since=",
            format!("?tag=budget&since={since}"),
        ),
        (
            "GET /api/articles?author=&since=",
            format!("?author={}&since={since}", author.username),
        ),
        (
            "GET /api/articles?favorited=&since=",
            format!("?favorited={reader_name}&since={since}"),
        ),
    ] {
        let (reply, calls) = app.metered(app.list(&query, Some(&r))).await;
        assert_eq!(reply.status, 200, "{endpoint}: {:?}", reply.body);
        assert!(
            reply.body["articlesCount"].as_u64() > Some(0),
            "{endpoint} finds something"
        );
        measured.push((endpoint, calls));
    }
    let (_, calls) = app
        .metered(app.send("GET", &format!("/articles/feed?since={since}"), None, Some(&r)))
        .await;
    measured.push(("GET /api/articles/feed?since=", calls));

    let (reply, calls) = app
        .metered(app.send(
            "POST",
            &format!("{article}/comments"),
            Some(json!({"comment": {"body": "hi"}})),
            Some(&r),
        ))
        .await;
    measured.push(("POST /api/articles/{slug}/comments", calls));
    let id = reply.body["comment"]["id"].as_u64().unwrap();
    let (_, calls) = app
        .metered(app.send("GET", &format!("{article}/comments"), None, Some(&r)))
        .await;
    measured.push(("GET /api/articles/{slug}/comments", calls));
    let (_, calls) = app
        .metered(app.send("DELETE", &format!("{article}/comments/{id}"), None, Some(&r)))
        .await;
    measured.push(("DELETE /api/articles/{slug}/comments/{id}", calls));
    let (_, calls) = app
        .metered(app.send("DELETE", &format!("{article}/favorite"), None, Some(&r)))
        .await;
    measured.push(("DELETE /api/articles/{slug}/favorite", calls));
    let (_, calls) = app.metered(app.send("GET", "/tags", None, None)).await;
    measured.push(("GET /api/tags", calls));
    let (_, calls) = app
        .metered(app.send("DELETE", &format!("{profile}/follow"), None, Some(&r)))
        .await;
    measured.push(("DELETE /api/profiles/{username}/follow", calls));
    let (_, calls) = app.metered(app.send("DELETE", &article, None, Some(&a))).await;
    measured.push(("DELETE /api/articles/{slug}", calls));
    measure_shop(app, &r, &mut measured).await;
    measure_uploads(app, &r, &mut measured).await;
    let (_, calls) = app
        .metered(app.send("POST", "/user/logout", None, Some(&r)))
        .await;
    measured.push(("POST /api/user/logout", calls));
    measured
}

/// An upload's life, by its owner (`owner`'s token): announce, list, read, download, complete
/// (once the bucket's event has settled it: its own finalising is not charged), delete.
async fn measure_uploads(
    app: &TestApp,
    owner: &str,
    measured: &mut Vec<(&'static str, Vec<keel_local::meter::Call>)>,
) {
    let bytes = crate::uploads::png(4, 4);
    let (announced, calls) = app
        .metered(crate::uploads::announce(
            app,
            owner,
            "b.png",
            "image/png",
            bytes.len(),
            "avatar",
        ))
        .await;
    measured.push(("POST /api/uploads", calls));
    assert_eq!(announced.status, 201, "{}", announced.body);
    let id = announced.body["upload"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        crate::uploads::send_bytes(&announced.body["uploadRequest"], bytes).await,
        200
    );
    crate::uploads::settled(app, owner, &id).await;
    let path = format!("/uploads/{id}");
    let (_, calls) = app.metered(app.send("GET", "/uploads", None, Some(owner))).await;
    measured.push(("GET /api/uploads", calls));
    let (_, calls) = app.metered(app.send("GET", &path, None, Some(owner))).await;
    measured.push(("GET /api/uploads/{id}", calls));
    let (_, calls) = app
        .metered(app.send("GET", &format!("{path}/content"), None, Some(owner)))
        .await;
    measured.push(("GET /api/uploads/{id}/content", calls));
    let (_, calls) = app
        .metered(app.send("POST", &format!("{path}/complete"), None, Some(owner)))
        .await;
    measured.push(("POST /api/uploads/{id}/complete", calls));
    let (deleted, calls) = app.metered(app.send("DELETE", &path, None, Some(owner))).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    measured.push(("DELETE /api/uploads/{id}", calls));
}

/// The catalog and orders, by an admin and a shopper (`shopper`'s token).
async fn measure_shop(
    app: &TestApp,
    shopper: &str,
    measured: &mut Vec<(&'static str, Vec<keel_local::meter::Call>)>,
) {
    let (_, admin) = app.admin().await;
    let other = app.product(&admin, "Teapot", "kitchen", 2500, 10).await;
    let (reply, calls) = app
        .metered(app.send(
            "POST",
            "/products",
            Some(json!({"product": {"name": "Mug", "category": "kitchen",
                "price": {"amount": 1200, "currency": "EUR"}, "stock": 20}})),
            Some(&admin),
        ))
        .await;
    measured.push(("POST /api/products", calls));
    let id = reply.body["product"]["id"].as_str().unwrap().to_owned();
    let product = format!("/products/{id}");
    let (_, calls) = app
        .metered(app.send("GET", "/products?category=kitchen&limit=5", None, None))
        .await;
    measured.push(("GET /api/products", calls));
    let (_, calls) = app.metered(app.send("GET", &product, None, None)).await;
    measured.push(("GET /api/products/{id}", calls));
    let (_, calls) = app
        .metered(app.send(
            "PUT",
            &product,
            Some(json!({"product": {"price": {"amount": 1300, "currency": "EUR"}, "category": "cups"}})),
            Some(&admin),
        ))
        .await;
    measured.push(("PUT /api/products/{id}", calls));
    let (_, calls) = app
        .metered(app.send(
            "POST",
            &format!("{product}/stock"),
            Some(json!({"stock": {"delta": 5, "reason": "delivery"}})),
            Some(&admin),
        ))
        .await;
    measured.push(("POST /api/products/{id}/stock", calls));
    let (_, calls) = app
        .metered(app.send("GET", &format!("{product}/stock-history"), None, Some(&admin)))
        .await;
    measured.push(("GET /api/products/{id}/stock-history", calls));
    let key = uuid::Uuid::new_v4().to_string();
    let (reply, calls) = app
        .metered(app.order(shopper, &key, &[(&id, 2), (&other, 1)]))
        .await;
    measured.push(("POST /api/orders", calls));
    let order = reply.body["order"]["id"].as_str().unwrap().to_owned();
    let (_, calls) = app
        .metered(app.order(shopper, &key, &[(&id, 2), (&other, 1)]))
        .await;
    measured.push(("POST /api/orders (replay)", calls));
    // A refused order records its answer for the key.
    app.order(shopper, &uuid::Uuid::new_v4().to_string(), &[(&id, 100)])
        .await;
    let (_, calls) = app.metered(app.send("GET", "/orders", None, Some(shopper))).await;
    measured.push(("GET /api/orders", calls));
    let (_, calls) = app
        .metered(app.send("GET", &format!("/orders/{order}"), None, Some(shopper)))
        .await;
    measured.push(("GET /api/orders/{id}", calls));
    let (_, calls) = app
        .metered(app.send("POST", &format!("/orders/{order}/mark-paid"), None, Some(&admin)))
        .await;
    measured.push(("POST /api/orders/{id}/mark-paid", calls));
    let (_, calls) = app
        .metered(app.send("POST", &format!("/orders/{order}/fulfil"), None, Some(&admin)))
        .await;
    measured.push(("POST /api/orders/{id}/fulfil", calls));
    let (_, calls) = app
        .metered(app.send("GET", "/admin/orders?status=fulfilled", None, Some(&admin)))
        .await;
    measured.push(("GET /api/admin/orders", calls));
    let second = app
        .order(shopper, &uuid::Uuid::new_v4().to_string(), &[(&id, 1)])
        .await;
    let second = second.body["order"]["id"].as_str().unwrap().to_owned();
    let (_, calls) = app
        .metered(app.send("POST", &format!("/orders/{second}/cancel"), None, Some(shopper)))
        .await;
    measured.push(("POST /api/orders/{id}/cancel", calls));
    let (_, calls) = app
        .metered(app.send("DELETE", &product, None, Some(&admin)))
        .await;
    measured.push(("DELETE /api/products/{id}", calls));
}

/// Runs every payment route and the expiry sweep once against `stripe` (an app made by
/// [`crate::spawn_app_paying_with`] with a short payment window) and answers (what, calls).
pub async fn measure_payments(
    app: &TestApp,
    stripe: &crate::stripe::LocalStripe,
) -> Vec<(&'static str, Vec<keel_local::meter::Call>)> {
    use crate::stripe::{CARD_OK, WEBHOOK_SECRET, succeeded_event, unix_now};
    let mut measured = Vec::new();
    let (_, admin) = app.admin().await;
    let (_, shopper) = app.registered_user().await;
    let product = app.product(&admin, "Budgeted lamp", "lighting", 4_500, 10).await;
    let key = uuid::Uuid::new_v4().to_string();
    let (reply, calls) = app.metered(app.order(&shopper, &key, &[(&product, 1)])).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    measured.push(("POST /api/orders (gateway)", calls));
    let (replayed, calls) = app.metered(app.order(&shopper, &key, &[(&product, 1)])).await;
    assert_eq!(replayed.body["order"]["payment"], reply.body["order"]["payment"]);
    measured.push(("POST /api/orders (gateway, replay)", calls));
    let order = reply.body["order"]["id"].as_str().unwrap().to_owned();
    let intent = intent_of(&reply.body["order"]);
    let event = succeeded_event(&intent, &order, 4_500, "eur");
    let (paid, calls) = app.metered(app.webhook(&event, WEBHOOK_SECRET, unix_now())).await;
    assert_eq!(paid.body["outcome"], "paid", "{:?}", paid.body);
    measured.push(("POST /api/payments/webhook", calls));
    // Paid at the gateway too, so that it can be refunded there.
    assert_eq!(stripe.pay(&intent, CARD_OK).await, 200);
    let (cancelled, calls) = app
        .metered(app.send("POST", &format!("/orders/{order}/cancel"), None, Some(&shopper)))
        .await;
    assert_eq!(
        cancelled.body["order"]["payment"]["refund"], "refunded",
        "{:?}",
        cancelled.body
    );
    measured.push(("POST /api/orders/{id}/cancel (paid: refunded)", calls));
    let due = app
        .order(&shopper, &uuid::Uuid::new_v4().to_string(), &[(&product, 1)])
        .await;
    assert_eq!(due.status, 201);
    wait_until_due(&due.body["order"]).await;
    let mark = app.app.schedule_meter.mark();
    let swept = app.app.expire_due_orders().await.expect("the sweep runs");
    assert_eq!(swept.expired, 1, "{swept:?}");
    measured.push((
        "expire-orders (one due order)",
        app.app.schedule_meter.calls_since(mark),
    ));
    measured
}

/// Sleeps until `order`'s payment window has closed.
pub async fn wait_until_due(order: &serde_json::Value) {
    let expires_at = order["expiresAt"].as_str().expect("an expiry").to_owned();
    while keel::domain::now_timestamp() <= expires_at {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The gateway payment id of an order as the API shows it: its client secret's prefix
/// (`pi_…_secret_…`).
pub fn intent_of(order: &serde_json::Value) -> String {
    let secret = order["payment"]["clientSecret"]
        .as_str()
        .expect("a client secret");
    secret.split("_secret_").next().expect("an intent id").to_owned()
}
