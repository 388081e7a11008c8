//! Handler tests: each handler is called directly with a request parsed from a real API Gateway
//! HTTP API (payload 2.0) event, as the Lambda runtime would parse it, against real engines.

use keel_functions::users;
use keel_tests::spawn_app;
use lambda_http::{Body, Request};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture is JSON")
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("event parses as API Gateway v2")
}

fn json_of(body: &Body) -> Value {
    serde_json::from_slice(body.as_ref()).expect("JSON body")
}

#[tokio::test]
async fn a_base64_encoded_registration_event_creates_the_user() {
    let app = spawn_app().await;
    let response = users::register::handle(app.app.deps, request(&fixture("apigw-v2-register.json"))).await;
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
    let registered = users::register::handle(app.app.deps, request(&fixture("apigw-v2-register.json"))).await;
    let token = json_of(registered.body())["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut event = fixture("apigw-v2-get-user.json");
    event["headers"]["authorization"] = Value::String(format!("Token {token}"));
    let response = users::current::handle(app.app.deps, request(&event)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response.body())["user"]["username"], "Jacob");
}

#[tokio::test]
async fn a_get_user_event_without_authorization_is_a_401_response_not_an_error() {
    let app = spawn_app().await;
    let mut event = fixture("apigw-v2-get-user.json");
    event["headers"].as_object_mut().unwrap().remove("authorization");
    let response = users::current::handle(app.app.deps, request(&event)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        json_of(response.body()),
        serde_json::json!({"errors": {"token": ["is missing"]}})
    );
}

#[tokio::test]
async fn a_login_event_for_the_fixture_user_succeeds_through_the_registry() {
    let app = spawn_app().await;
    users::register::handle(app.app.deps, request(&fixture("apigw-v2-register.json"))).await;

    let mut event = fixture("apigw-v2-register.json");
    event["routeKey"] = "POST /api/users/login".into();
    event["rawPath"] = "/api/users/login".into();
    event["requestContext"]["http"]["path"] = "/api/users/login".into();
    event["body"] = r#"{"user":{"email":"JAKE@jake.jake","password":"jakejake"}}"#.into();
    event["isBase64Encoded"] = false.into();
    let login = keel_functions::handler("login").expect("login is registered");
    let response = login(app.app.deps, request(&event)).await;
    assert_eq!(response.status(), 200);
}
