//! The catalog and purchases, black-box over HTTP against the local API (embedded engines, or
//! DynamoDB Local when the test command points the suite at it).

use std::collections::BTreeSet;

use keel::domain::Role;
use keel_tests::{Reply, spawn_app};
use serde_json::{Value, json};

fn ledger_sum(entries: &[Value]) -> i64 {
    entries.iter().map(|e| e["delta"].as_i64().unwrap()).sum()
}

/// The ledger is a gap-free chain: newest first, each entry's stock is the previous one's plus
/// its delta, and the deltas sum to the product's stock.
fn assert_ledger_consistent(entries: &[Value], stock: i64) {
    assert_eq!(ledger_sum(entries), stock, "ledger sums to the stock");
    let mut oldest_first: Vec<&Value> = entries.iter().collect();
    oldest_first.reverse();
    let mut running = 0;
    for entry in oldest_first {
        running += entry["delta"].as_i64().unwrap();
        assert_eq!(entry["stock"].as_i64().unwrap(), running, "entry {entry}");
        assert!(running >= 0, "stock never below zero: {entry}");
    }
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_units_place_exactly_fifty() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let product = app.product(&admin, "Limited print", "art", 4_900, 50).await;
    let mut shoppers = Vec::new();
    for _ in 0..10 {
        shoppers.push(app.registered_user().await.1);
    }
    // Each buyer behaves as a client should: on a 503 (too many buyers at once) it retries
    // with the same key after the Retry-After, which cannot order twice.
    let orders = (0..200).map(|i| {
        let app = &app;
        let token = shoppers[i % shoppers.len()].clone();
        let product = product.clone();
        async move {
            loop {
                let reply = app.order(&token, &format!("order-{i}"), &[(&product, 1)]).await;
                if reply.status != 503 {
                    return reply;
                }
                assert_eq!(reply.headers["retry-after"], "1");
                tokio::time::sleep(std::time::Duration::from_millis(200 + (i as u64 % 7) * 100)).await;
            }
        }
    });
    let replies = futures::future::join_all(orders).await;
    let placed = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(placed, 50, "exactly the stock is sold");
    assert_eq!(refused.len(), 150, "every other order is refused");
    for reply in &refused {
        let message = reply.body["errors"]["lines[0].quantity"][0]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains(&product),
            "a refusal names the product: {:?}",
            reply.body
        );
    }
    assert_eq!(app.stock(&admin, &product).await, 0);
    let ledger = app.ledger(&admin, &product).await;
    assert_eq!(ledger.len(), 51, "the initial stock and one entry per order");
    assert_ledger_consistent(&ledger, 0);
    let order_ids: BTreeSet<&str> = ledger.iter().filter_map(|e| e["orderId"].as_str()).collect();
    assert_eq!(order_ids.len(), 50);
}

#[tokio::test]
async fn twenty_parallel_requests_with_one_key_place_one_order_and_answer_identically() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let product = app.product(&admin, "Lamp", "home", 3_000, 100).await;
    let (_, shopper) = app.registered_user().await;
    let lines = [(product.as_str(), 3)];
    let same = (0..20).map(|_| app.order(&shopper, "checkout-7f3a", &lines));
    let replies = futures::future::join_all(same).await;
    for reply in &replies {
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        assert_eq!(reply.body, replies[0].body, "every response is the first one");
    }
    let replayed = replies
        .iter()
        .filter(|r| r.headers.get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 19, "one placed, nineteen replayed");
    assert_eq!(app.stock(&admin, &product).await, 97);
    let history = app.send("GET", "/orders", None, Some(&shopper)).await;
    assert_eq!(history.body["orders"].as_array().unwrap().len(), 1);

    // The same key with other lines is refused; a new key places a new order.
    let other = app.order(&shopper, "checkout-7f3a", &[(&product, 4)]).await;
    assert_eq!(other.status, 422);
    assert!(other.body["errors"]["Idempotency-Key"].is_array());
    assert_eq!(
        app.order(&shopper, "checkout-8b1c", &[(&product, 3)])
            .await
            .status,
        201
    );
    // Keys are per user: another shopper's identical key is theirs alone.
    let (_, someone) = app.registered_user().await;
    let theirs = app.order(&someone, "checkout-7f3a", &[(&product, 1)]).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.body["order"]["id"], replies[0].body["order"]["id"]);
}

#[tokio::test]
async fn a_refusal_is_replayed_and_a_key_still_in_flight_is_a_409() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let product = app.product(&admin, "Rare", "art", 100, 1).await;
    let (shopper, token) = app.registered_user().await;
    let short = app.order(&token, "k-short", &[(&product, 2)]).await;
    assert_eq!(short.status, 409);
    app.send(
        "POST",
        &format!("/products/{product}/stock"),
        Some(json!({"stock": {"delta": 5, "reason": "restock"}})),
        Some(&admin),
    )
    .await;
    let again = app.order(&token, "k-short", &[(&product, 2)]).await;
    assert_eq!(
        (again.status, &again.body),
        (409, &short.body),
        "the key's first answer"
    );
    assert_eq!(again.headers["idempotent-replayed"], "true");

    // A request holding the key (claimed, not finished) makes a retry wait, then answer 409.
    let user = app
        .app
        .deps
        .store
        .find_user_id_by_username(&keel::domain::Username::parse(Some(&shopper.username)).unwrap())
        .await
        .unwrap()
        .unwrap();
    let key = keel::domain::IdempotencyKey::parse(b"k-busy").unwrap();
    let lines =
        keel::domain::OrderLines::parse(Some(&json!([{"productId": product, "quantity": 1}]))).unwrap();
    let claim = app
        .app
        .deps
        .store
        .claim_idempotency(&user, &key, &lines.fingerprint())
        .await
        .unwrap();
    assert!(matches!(claim, keel::store::Claim::Acquired(_)));
    let busy = app.order(&token, "k-busy", &[(&product, 1)]).await;
    assert_eq!(busy.status, 409, "{:?}", busy.body);
    assert!(busy.body["errors"]["Idempotency-Key"].is_array());
    assert_eq!(app.stock(&admin, &product).await, 6, "nothing was taken");

    let missing = app
        .send(
            "POST",
            "/orders",
            Some(json!({"order": {"lines": [{"productId": product, "quantity": 1}]}})),
            Some(&token),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.body["errors"]["Idempotency-Key"].is_array());
    let long = "k".repeat(256);
    assert_eq!(app.order(&token, &long, &[(&product, 1)]).await.status, 400);
}

#[tokio::test]
async fn orders_can_be_cancelled_once_and_fulfilled_only_once_paid() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let mug = app.product(&admin, "Mug", "kitchen", 1_200, 10).await;
    let pot = app.product(&admin, "Pot", "kitchen", 3_400, 5).await;
    let (_, shopper) = app.registered_user().await;
    let placed = app.order(&shopper, "o1", &[(&mug, 2), (&pot, 1)]).await;
    assert_eq!(placed.status, 201);
    let order = &placed.body["order"];
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(
        order["payment"],
        json!({"provider": "manual", "clientSecret": null, "refund": null})
    );
    assert!(order["expiresAt"].as_str().unwrap() > order["createdAt"].as_str().unwrap());
    assert_eq!(order["total"], json!({"amount": 5_800, "currency": "EUR"}));
    assert_eq!(order["lines"][0]["unitPrice"]["amount"], 1_200);
    let id = order["id"].as_str().unwrap().to_owned();

    let cancelled = app
        .send("POST", &format!("/orders/{id}/cancel"), None, Some(&shopper))
        .await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.body["order"]["status"], "cancelled");
    assert_eq!(app.stock(&admin, &mug).await, 10);
    assert_eq!(app.stock(&admin, &pot).await, 5);
    let twice = app
        .send("POST", &format!("/orders/{id}/cancel"), None, Some(&shopper))
        .await;
    assert_eq!(twice.status, 409);
    assert!(twice.body["errors"]["status"].is_array());
    let fulfil = app
        .send("POST", &format!("/orders/{id}/fulfil"), None, Some(&admin))
        .await;
    assert_eq!(fulfil.status, 409, "a cancelled order is not fulfilled");

    // Re-order after cancelling: unpaid it cannot ship; paid, it ships and can no longer be
    // cancelled.
    let again = app.order(&shopper, "o2", &[(&mug, 10)]).await;
    assert_eq!(again.status, 201, "the cancelled units are for sale again");
    let again = again.body["order"]["id"].as_str().unwrap().to_owned();
    let unpaid = app
        .send("POST", &format!("/orders/{again}/fulfil"), None, Some(&admin))
        .await;
    assert_eq!(unpaid.status, 409, "an unpaid order is not shipped");
    assert_eq!(
        app.mark_paid(&admin, &again).await.body["order"]["status"],
        "paid"
    );
    let shipped = app
        .send("POST", &format!("/orders/{again}/fulfil"), None, Some(&admin))
        .await;
    assert_eq!(shipped.body["order"]["status"], "fulfilled");
    let late = app
        .send("POST", &format!("/orders/{again}/cancel"), None, Some(&shopper))
        .await;
    assert_eq!(late.status, 409);
    let ledger = app.ledger(&admin, &mug).await;
    let reasons: Vec<&str> = ledger.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["order", "cancel", "order", "initial stock"]);
    assert_ledger_consistent(&ledger, 0);

    // Archived: out of the catalog and not for sale; old orders still show it.
    assert_eq!(
        app.send("DELETE", &format!("/products/{pot}"), None, Some(&admin))
            .await
            .status,
        204
    );
    let refused = app.order(&shopper, "o3", &[(&pot, 1)]).await;
    assert_eq!(refused.status, 409);
    assert!(refused.body["errors"]["lines[0].productId"].is_array());
    let old = app
        .send("GET", &format!("/orders/{id}"), None, Some(&shopper))
        .await;
    assert_eq!(old.body["order"]["lines"][1]["name"], "Pot");
    assert_eq!(
        app.send("GET", &format!("/products/{pot}"), None, None)
            .await
            .status,
        404
    );
    let seen = app
        .send("GET", &format!("/products/{pot}"), None, Some(&admin))
        .await;
    assert_eq!(seen.body["product"]["status"], "archived");
    let listed = app.send("GET", "/products?category=kitchen", None, None).await;
    let ids: Vec<&str> = listed.body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mug.as_str()]);
}

#[tokio::test]
async fn every_shop_route_answers_each_kind_of_caller_as_it_should() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (_, owner) = app.registered_user().await;
    let (_, other) = app.registered_user().await;
    let product = app.product(&admin, "Chair", "home", 9_900, 100).await;
    let archived = app.product(&admin, "Old chair", "home", 100, 0).await;
    app.send("DELETE", &format!("/products/{archived}"), None, Some(&admin))
        .await;
    let order = app.order(&owner, "matrix", &[(&product, 1)]).await.body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_product =
        json!({"product": {"name": "X", "category": "home", "price": {"amount": 1, "currency": "EUR"}}});
    let stock = json!({"stock": {"delta": 1, "reason": "count"}});
    let rename = json!({"product": {"name": "Chair 2"}});
    // (method, path, body, [anonymous, user (the order's owner), other user, admin])
    let p = format!("/products/{product}");
    let a = format!("/products/{archived}");
    let o = format!("/orders/{order}");
    let cases: Vec<(&str, String, Option<Value>, [u16; 4])> = vec![
        ("GET", "/products".into(), None, [200, 200, 200, 200]),
        ("GET", p.clone(), None, [200, 200, 200, 200]),
        ("GET", a.clone(), None, [404, 404, 404, 200]),
        (
            "POST",
            "/products".into(),
            Some(new_product),
            [401, 403, 403, 201],
        ),
        ("PUT", p.clone(), Some(rename), [401, 403, 403, 200]),
        ("POST", format!("{p}/stock"), Some(stock), [401, 403, 403, 200]),
        ("GET", format!("{p}/stock-history"), None, [401, 403, 403, 200]),
        ("GET", "/orders".into(), None, [401, 200, 200, 200]),
        ("GET", o.clone(), None, [401, 200, 404, 200]),
        ("GET", "/admin/orders".into(), None, [401, 403, 403, 200]),
        ("POST", format!("{o}/mark-paid"), None, [401, 403, 403, 200]),
        ("POST", format!("{o}/fulfil"), None, [401, 403, 403, 200]),
        ("POST", format!("{o}/cancel"), None, [401, 409, 404, 404]),
        ("DELETE", a.clone(), None, [401, 403, 403, 204]),
    ];
    let callers = [
        None,
        Some(owner.as_str()),
        Some(other.as_str()),
        Some(admin.as_str()),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &cases {
        for (caller, want) in callers.iter().zip(expected) {
            let reply = app.send(method, path, body.clone(), *caller).await;
            if reply.status != *want {
                wrong.push(format!(
                    "{method} {path} as #{:?}: {} (want {want}) {:?}",
                    caller.map(|t| &t[..8]),
                    reply.status,
                    reply.body
                ));
            }
            if reply.status >= 400 {
                assert!(
                    reply.body["errors"].is_object(),
                    "{method} {path}: JSON error body"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let placed = app.order(&owner, "matrix-2", &[(&product, 1)]).await;
    assert_eq!(app.order("not-a-token", "m", &[(&product, 1)]).await.status, 401);
    assert_eq!(placed.status, 201);
}

#[tokio::test]
async fn a_revoked_admin_is_refused_on_the_next_request_with_the_same_token() {
    let app = spawn_app().await;
    let (user, token) = app.admin().await;
    let body =
        json!({"product": {"name": "Desk", "category": "home", "price": {"amount": 1, "currency": "EUR"}}});
    assert_eq!(
        app.send("POST", "/products", Some(body.clone()), Some(&token))
            .await
            .status,
        201
    );
    app.set_role(&user.username, Role::User).await;
    let refused = app.send("POST", "/products", Some(body), Some(&token)).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body, json!({"errors": {"admin": ["forbidden"]}}));
}

#[tokio::test]
async fn fields_a_body_may_not_set_are_ignored_or_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (_, token) = app.registered_user().await;
    // A role in a profile update is ignored.
    app.update_user(&token, json!({"bio": "hi", "role": "admin"}))
        .await;
    let attempt =
        json!({"product": {"name": "Hack", "category": "home", "price": {"amount": 1, "currency": "EUR"}}});
    assert_eq!(
        app.send("POST", "/products", Some(attempt), Some(&token))
            .await
            .status,
        403
    );

    // Stock and status are not fields of an update: refused by name, and nothing changes.
    let product = app.product(&admin, "Vase", "home", 2_000, 3).await;
    let path = format!("/products/{product}");
    let changed = app
        .send(
            "PUT",
            &path,
            Some(json!({"product": {"name": "Vase II", "stock": 999, "status": "archived"}})),
            Some(&admin),
        )
        .await;
    assert_eq!(changed.status, 422, "{:?}", changed.body);
    let errors = &changed.body["errors"];
    assert!(
        errors["stock"][0].as_str().is_some_and(|m| m.contains("/stock")),
        "{errors}"
    );
    assert_eq!(errors["status"][0], "is not a product field");
    let unchanged = app.send("GET", &path, None, Some(&admin)).await.body;
    assert_eq!(
        (
            &unchanged["product"]["name"],
            &unchanged["product"]["stock"],
            &unchanged["product"]["status"]
        ),
        (&json!("Vase"), &json!(3), &json!("active"))
    );
    // An order's prices and status come from the store, never the body.
    let order = app
        .send_with(
            "POST",
            "/orders",
            Some(json!({"order": {"status": "fulfilled", "total": {"amount": 1, "currency": "EUR"},
                "lines": [{"productId": product, "quantity": 1, "unitPrice": {"amount": 1, "currency": "EUR"}}]}})),
            Some(&token),
            &[("idempotency-key", "mass")],
        )
        .await;
    assert_eq!(order.status, 201);
    assert_eq!(order.body["order"]["status"], "awaiting_payment");
    assert_eq!(order.body["order"]["total"]["amount"], 2_000);
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (_, token) = app.registered_user().await;
    let product = app.product(&admin, "Pen", "office", 150, 10).await;
    let create = |price: Value| json!({"product": {"name": "P", "category": "office", "price": price}});
    let product_cases = [
        (create(json!({"amount": 1.5, "currency": "EUR"})), "price.amount"),
        (
            create(json!({"amount": "150", "currency": "EUR"})),
            "price.amount",
        ),
        (create(json!({"amount": -1, "currency": "EUR"})), "price.amount"),
        (
            create(json!({"amount": 150, "currency": "EURO"})),
            "price.currency",
        ),
        (
            create(json!({"amount": 150, "currency": "XYZ"})),
            "price.currency",
        ),
        (create(json!(1.5)), "price"),
        (
            json!({"product": {"name": "P", "category": "Office Supplies", "price": {"amount": 1, "currency": "EUR"}}}),
            "category",
        ),
        (
            json!({"product": {"category": "office", "price": {"amount": 1, "currency": "EUR"}}}),
            "name",
        ),
    ];
    for (body, field) in product_cases {
        let reply = app
            .send("POST", "/products", Some(body.clone()), Some(&admin))
            .await;
        assert_eq!(reply.status, 422, "{body}");
        assert!(reply.body["errors"][field].is_array(), "{body}: {:?}", reply.body);
    }
    let listed = app.send("GET", "/products?limit=100", None, None).await;
    assert_eq!(
        listed.body["products"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );

    let line = |q: Value| json!({"productId": product, "quantity": q});
    let many: Vec<Value> = (0..51)
        .map(|_| json!({"productId": uuid::Uuid::new_v4().to_string(), "quantity": 1}))
        .collect();
    let order_cases = [
        (json!([line(json!(-1))]), "lines[0].quantity"),
        (json!([line(json!(0))]), "lines[0].quantity"),
        (json!([line(json!(1.5))]), "lines[0].quantity"),
        (json!([line(json!("2"))]), "lines[0].quantity"),
        (json!([line(json!(1)), line(json!(2))]), "lines[1].productId"),
        (json!(many), "lines"),
        (json!([]), "lines"),
        (
            json!([{"productId": "not-a-uuid", "quantity": 1}]),
            "lines[0].productId",
        ),
        (
            json!([{"productId": uuid::Uuid::new_v4().to_string(), "quantity": 1}]),
            "lines[0].productId",
        ),
    ];
    for (i, (lines, field)) in order_cases.into_iter().enumerate() {
        let reply = app
            .send_with(
                "POST",
                "/orders",
                Some(json!({"order": {"lines": lines}})),
                Some(&token),
                &[("idempotency-key", &format!("bad-{i}"))],
            )
            .await;
        assert_eq!(reply.status, 422, "{lines}");
        assert!(
            reply.body["errors"][field].is_array(),
            "{lines}: {:?}",
            reply.body
        );
    }
    assert_eq!(app.stock(&admin, &product).await, 10, "no stock was taken");
    assert_eq!(app.ledger(&admin, &product).await.len(), 1);

    let queries = [
        ("/products?limit=0", 422, "limit"),
        ("/products?limit=101", 422, "limit"),
        ("/products?sort=cheapest", 422, "sort"),
        ("/products?minPrice=1.5", 422, "minPrice"),
        ("/products?category=A%20B", 422, "category"),
        ("/products?cursor=garbage", 400, "cursor"),
        ("/products/not-a-uuid", 404, "product"),
        ("/orders/12345", 404, "order"),
    ];
    for (path, status, field) in queries {
        let reply = app.send("GET", path, None, Some(&token)).await;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
        assert!(reply.body["errors"][field].is_array(), "{path}: {:?}", reply.body);
    }
    let stock = |delta: Value| json!({"stock": {"delta": delta, "reason": "count"}});
    let path = format!("/products/{product}/stock");
    for (body, status) in [
        (stock(json!(-11)), 409),
        (stock(json!(0)), 422),
        (stock(json!(2.5)), 422),
        (json!({"stock": {"delta": 1}}), 422),
    ] {
        assert_eq!(
            app.send("POST", &path, Some(body.clone()), Some(&admin))
                .await
                .status,
            status,
            "{body}"
        );
    }
    assert_eq!(app.stock(&admin, &product).await, 10);
}

#[tokio::test]
async fn the_catalog_pages_sorts_and_filters_with_cursors_it_alone_accepts() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let mut made = Vec::new();
    for (i, price) in [500, 100, 900, 300, 700].into_iter().enumerate() {
        let category = if i % 2 == 0 { "games" } else { "books" };
        made.push((
            app.product(&admin, &format!("Item {i}"), category, price, 1)
                .await,
            price,
        ));
    }
    let pages = |query: &'static str| {
        let app = &app;
        async move {
            let mut prices = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/products?{query}&limit=2&cursor={c}"),
                    None => format!("/products?{query}&limit=2"),
                };
                let reply = app.send("GET", &path, None, None).await;
                assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
                let page = reply.body["products"].as_array().unwrap();
                assert!(page.len() <= 2);
                prices.extend(page.iter().map(|p| p["price"]["amount"].as_i64().unwrap()));
                match reply.body["nextCursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => return prices,
                }
            }
        }
    };
    assert_eq!(pages("sort=newest").await, [700, 300, 900, 100, 500]);
    assert_eq!(pages("sort=price_asc").await, [100, 300, 500, 700, 900]);
    assert_eq!(pages("sort=price_desc").await, [900, 700, 500, 300, 100]);
    assert_eq!(pages("sort=price_asc&category=games").await, [500, 700, 900]);
    assert_eq!(
        pages("sort=price_desc&minPrice=300&maxPrice=700").await,
        [700, 500, 300]
    );
    assert_eq!(pages("minPrice=200&maxPrice=800").await, [700, 300, 500]);
    assert_eq!(pages("category=books&maxPrice=200").await, [100]);
    // An empty range is an empty list, not an error.
    assert!(pages("minPrice=9&maxPrice=1").await.is_empty());
    assert!(pages("sort=price_asc&minPrice=9&maxPrice=1").await.is_empty());

    // A price change moves the product in every list.
    let (cheapest, _) = &made[1];
    app.send(
        "PUT",
        &format!("/products/{cheapest}"),
        Some(json!({"product": {"price": {"amount": 1000, "currency": "EUR"}, "category": "games"}})),
        Some(&admin),
    )
    .await;
    assert_eq!(pages("sort=price_asc").await, [300, 500, 700, 900, 1000]);
    assert_eq!(pages("sort=price_asc&category=books").await, [300]);

    // Cursors: edited, from another list, or from another sort are refused with a 400.
    let first = app
        .send("GET", "/products?sort=price_asc&limit=2", None, None)
        .await;
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let mut edited = cursor.clone().into_bytes();
    edited[2] = if edited[2] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    for path in [
        format!("/products?sort=price_asc&cursor={edited}"),
        format!("/products?sort=newest&cursor={cursor}"),
        format!("/products?sort=price_asc&category=games&cursor={cursor}"),
        format!("/products?sort=price_asc&minPrice=800&cursor={cursor}"),
    ] {
        let reply = app.send("GET", &path, None, None).await;
        assert_eq!(reply.status, 400, "{path}: {:?}", reply.body);
        assert!(reply.body["errors"]["cursor"].is_array());
    }
    let (_, shopper) = app.registered_user().await;
    let orders_cursor = {
        for (i, (id, _)) in made.iter().enumerate().skip(2) {
            app.order(&shopper, &format!("q{i}"), &[(id, 1)]).await;
        }
        let reply = app.send("GET", "/orders?limit=1", None, Some(&shopper)).await;
        reply.body["nextCursor"].as_str().unwrap().to_owned()
    };
    let foreign = app
        .send("GET", &format!("/products?cursor={orders_cursor}"), None, None)
        .await;
    assert_eq!(foreign.status, 400);
    let (_, stranger) = app.registered_user().await;
    let not_theirs = app
        .send(
            "GET",
            &format!("/orders?cursor={orders_cursor}"),
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(not_theirs.status, 400, "another user's cursor");
    let next = app
        .send(
            "GET",
            &format!("/orders?limit=1&cursor={orders_cursor}"),
            None,
            Some(&shopper),
        )
        .await;
    assert_eq!(next.status, 200);
    assert_eq!(next.body["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_order_of_forty_nine_lines_fills_one_transaction_of_a_hundred_actions() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let mut products = Vec::new();
    for i in 0..49 {
        products.push(
            app.product(&admin, &format!("Part {i}"), "parts", 100 + i, 2)
                .await,
        );
    }
    let (_, shopper) = app.registered_user().await;
    let lines: Vec<(&str, i64)> = products.iter().map(|p| (p.as_str(), 2)).collect();
    let placed = app.order(&shopper, "big-order", &lines).await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(placed.body["order"]["lines"].as_array().unwrap().len(), 49);
    let total: i64 = (0..49).map(|i| (100 + i) * 2).sum();
    assert_eq!(placed.body["order"]["total"]["amount"], total);
    for product in [&products[0], &products[48]] {
        assert_eq!(app.stock(&admin, product).await, 0);
    }
    let id = placed.body["order"]["id"].as_str().unwrap();
    let cancelled = app
        .send("POST", &format!("/orders/{id}/cancel"), None, Some(&shopper))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(app.stock(&admin, &products[48]).await, 2);
}
