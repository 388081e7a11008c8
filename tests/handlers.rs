//! Handler tests: each handler is called directly with a request parsed from a real API Gateway
//! HTTP API (payload 2.0) event, as the Lambda runtime would parse it, against real engines.

use keel_functions::{Endpoint, users};
use keel_tests::spawn_app;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture is JSON")
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("event parses as API Gateway v2")
}

/// Calls an endpoint as its Lambda binary does: handler, then the one error-to-response mapping.
async fn invoke(endpoint: &Endpoint, app: &keel_tests::TestApp, req: Request) -> Response<Body> {
    keel_functions::respond(endpoint, app.app.deps, req).await
}

fn json_of(body: &Body) -> Value {
    serde_json::from_slice(body.as_ref()).expect("JSON body")
}

#[tokio::test]
async fn a_base64_encoded_registration_event_creates_the_user() {
    let app = spawn_app().await;
    let response = invoke(
        &users::REGISTER,
        &app,
        request(&fixture("apigw-v2-register.json")),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body = json_of(response.body());
    assert_eq!(body["user"]["username"], "Jacob");
    assert_eq!(body["user"]["email"], "jake@jake.jake");
    assert!(
        body["user"]["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
}

#[tokio::test]
async fn a_get_user_event_with_a_valid_token_returns_that_user() {
    let app = spawn_app().await;
    let registered = invoke(
        &users::REGISTER,
        &app,
        request(&fixture("apigw-v2-register.json")),
    )
    .await;
    let token = json_of(registered.body())["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut event = fixture("apigw-v2-get-user.json");
    event["headers"]["authorization"] = Value::String(format!("Token {token}"));
    let response = invoke(&users::CURRENT, &app, request(&event)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response.body())["user"]["username"], "Jacob");
}

#[tokio::test]
async fn a_get_user_event_without_authorization_is_a_401_response_not_an_error() {
    let app = spawn_app().await;
    let mut event = fixture("apigw-v2-get-user.json");
    event["headers"].as_object_mut().unwrap().remove("authorization");
    let response = invoke(&users::CURRENT, &app, request(&event)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        json_of(response.body()),
        serde_json::json!({"errors": {"token": ["is missing"]}})
    );
}

#[tokio::test]
async fn a_login_event_for_the_fixture_user_succeeds_through_the_registry() {
    let app = spawn_app().await;
    invoke(
        &users::REGISTER,
        &app,
        request(&fixture("apigw-v2-register.json")),
    )
    .await;

    let mut event = fixture("apigw-v2-register.json");
    event["routeKey"] = "POST /api/users/login".into();
    event["rawPath"] = "/api/users/login".into();
    event["requestContext"]["http"]["path"] = "/api/users/login".into();
    event["body"] = r#"{"user":{"email":"JAKE@jake.jake","password":"jakejake"}}"#.into();
    event["isBase64Encoded"] = false.into();
    let login = keel_local::registry::endpoint("login").expect("login is registered");
    let response = invoke(login, &app, request(&event)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_lambda_stream_event_for_a_new_article_fills_the_followers_feeds() {
    // The test is the event source here: the local server does not process the stream.
    let dir = tempfile::tempdir().unwrap();
    let options = keel_local::Options {
        process_stream: false,
        ..keel_tests::test_options(dir.path(), false)
    };
    let app = keel_tests::TestApp::new(keel_local::spawn(options).await.unwrap(), dir);
    let (author, author_token) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    app.follow(&reader, &author.username).await;

    // Only the Lambda handler below can put it into the feed.
    let author_id = app
        .app
        .deps
        .tokens()
        .unwrap()
        .verify(&author_token)
        .unwrap()
        .user_id;
    let new = keel::domain::NewArticle::parse(
        Some("Written straight to the table"),
        Some("about it"),
        Some("the text"),
        None,
    )
    .unwrap();
    let article = app.app.deps.store.create_article(&author_id, new).await.unwrap();
    let empty = app.send("GET", "/articles/feed", None, Some(&reader)).await;
    assert_eq!(empty.body["articlesCount"], 0);

    let guard = app
        .app
        .deps
        .store
        .client()
        .get_item()
        .table_name(app.app.deps.store.table())
        .set_key(Some(keel::store::keys::slug_key(
            &keel::domain::Slug::from_trusted(article.slug.clone()),
        )))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let text = |name: &str| guard[name].as_s().unwrap().clone();
    let mut event = fixture("dynamodb-stream-article-insert.json");
    let record = &mut event["Records"][0]["dynamodb"];
    let article_pk =
        keel::store::keys::article_pk(&keel::domain::ArticleId::from_trusted(text("article_id")));
    record["Keys"]["pk"]["S"] = article_pk.clone().into();
    let image = &mut record["NewImage"];
    image["pk"]["S"] = article_pk.into();
    image["id"]["S"] = text("article_id").into();
    image["slug"]["S"] = article.slug.clone().into();
    image["author_id"]["S"] = text("author_id").into();
    image["created_at"]["S"] = text("created_at").into();
    image["updated_at"]["S"] = text("created_at").into();
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(event).expect("a DynamoDB stream event");

    keel_functions::streams::fanout(app.app.deps, event.clone())
        .await
        .expect("batch processed");
    keel_functions::streams::fanout(app.app.deps, event)
        .await
        .expect("redelivery is harmless");

    let feed = app.send("GET", "/articles/feed", None, Some(&reader)).await;
    assert_eq!(keel_tests::TestApp::slugs(&feed), [article.slug]);
    assert_eq!(
        feed.body["articlesCount"], 1,
        "a redelivered record does not count twice"
    );
}
