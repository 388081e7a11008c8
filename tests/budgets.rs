//! Every endpoint is held to a DynamoDB request budget, counted by an SDK interceptor on the
//! handlers' client (stream processing is not charged to the endpoint that caused it). The
//! figures are those in `docs/request-budgets.md`; `cargo run -p keel-tests --example
//! request_budgets` prints them again with capacity units.

use keel_tests::budgets::{BUDGETS, charged, measure};
use keel_tests::spawn_app;

#[test]
fn every_route_of_the_template_has_a_budget() {
    let template = keel_local::template::Template::load(&keel_local::Options::default_template())
        .expect("template.yaml reads");
    // "PUT /api/user (bio)" and "GET /api/articles?tag=" budget the routes "PUT /api/user" and
    // "GET /api/articles".
    let budgeted: std::collections::BTreeSet<String> = BUDGETS
        .iter()
        .chain(keel_tests::budgets::PAYMENT_BUDGETS)
        .map(|(endpoint, _)| {
            let mut words = endpoint.split(' ');
            let method = words.next().unwrap_or_default();
            let path = words
                .next()
                .unwrap_or_default()
                .split('?')
                .next()
                .unwrap_or_default();
            format!("{method} {path}")
        })
        .collect();
    let missing: Vec<String> = template
        .routes
        .iter()
        .map(keel_local::template::Route::key)
        .filter(|key| !budgeted.contains(key))
        .collect();
    assert!(missing.is_empty(), "routes with no request budget: {missing:?}");
}

#[tokio::test]
async fn every_endpoint_stays_within_its_dynamodb_request_budget() {
    let app = spawn_app().await;
    let measured = measure(&app).await;
    assert_eq!(
        measured.len(),
        BUDGETS.len(),
        "every budgeted endpoint is measured"
    );
    let mut over = Vec::new();
    for (endpoint, budget) in BUDGETS {
        let all = &measured
            .iter()
            .find(|(e, _)| e == endpoint)
            .unwrap_or_else(|| panic!("{endpoint} not measured"))
            .1;
        // At most one session check per request, never in the budget.
        let (checks, calls) = charged(all);
        assert!(checks.len() <= 1, "{endpoint}: {} session checks", checks.len());
        if calls.len() > *budget {
            over.push(format!(
                "{endpoint}: {} > {budget}: {:?}",
                calls.len(),
                calls.iter().map(|c| &c.operation).collect::<Vec<_>>()
            ));
        }
        assert!(
            !calls.is_empty(),
            "{endpoint}: no requests seen, so the meter is not attached"
        );
        assert!(calls.iter().all(|c| c.operation != "Scan"), "{endpoint} scans");
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));
}

#[tokio::test]
async fn a_list_page_costs_the_same_however_many_articles_and_follows_there_are() {
    let app = spawn_app().await;
    let (_, reader) = app.registered_user().await;
    let mut authors = Vec::new();
    for _ in 0..6 {
        authors.push(app.registered_user().await);
    }
    let (_, few) = app
        .metered(app.send("GET", "/articles/feed?limit=2", None, Some(&reader)))
        .await;
    for (author, token) in &authors {
        app.follow(&reader, &author.username).await;
        for i in 0..3 {
            app.article_by(token, &format!("{} {i}", author.username), &["scale"])
                .await;
        }
    }
    app.settled().await;
    let (reply, many) = app
        .metered(app.send("GET", "/articles/feed?limit=2", None, Some(&reader)))
        .await;
    assert_eq!(reply.body["articlesCount"], 18);
    let work = |calls: &[keel_local::meter::Call]| calls.iter().filter(|c| !c.session_check).count();
    assert_eq!(
        work(&few),
        work(&many),
        "feed requests do not grow with follows: {few:?} vs {many:?}"
    );
    let (_, listed) = app.metered(app.list("?tag=scale&limit=2", None)).await;
    assert_eq!(listed.len(), 2);
}
