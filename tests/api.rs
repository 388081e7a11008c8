//! Black-box tests of the accounts API over HTTP, against the local server and real engines.

use keel_tests::{NewUser, spawn_app, test_options};
use serde_json::json;

#[tokio::test]
async fn a_new_user_can_register_log_in_read_and_update_their_account() {
    let app = spawn_app().await;
    let user = NewUser::random();

    let registered = app.register(&user).await;
    assert_eq!(registered.status, 201);
    assert_eq!(
        registered.headers["content-type"], "application/json; charset=utf-8",
        "RealWorld asks for an explicit charset"
    );
    let body = &registered.body["user"];
    assert_eq!(body["username"], user.username.as_str());
    assert_eq!(body["email"], user.email.as_str());
    assert_eq!(body["bio"], json!(null));
    assert_eq!(body["image"], json!(null));
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());

    let logged_in = app.login(&user.email, &user.password).await;
    assert_eq!(logged_in.status, 200);
    let token = logged_in.body["user"]["token"].as_str().unwrap().to_owned();

    let current = app.current_user(Some(&token)).await;
    assert_eq!(current.status, 200);
    assert_eq!(current.body["user"]["username"], user.username.as_str());
    assert_eq!(current.body["user"]["token"], token.as_str());

    let updated = app
        .update_user(
            &token,
            json!({"bio": "I like to skateboard", "image": "https://i.example/x.jpg"}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["user"]["bio"], "I like to skateboard");
    assert_eq!(updated.body["user"]["image"], "https://i.example/x.jpg");
    assert_eq!(
        app.current_user(Some(&token)).await.body["user"]["bio"],
        "I like to skateboard"
    );
}

#[tokio::test]
async fn an_email_or_username_taken_in_any_letter_case_is_a_409() {
    let app = spawn_app().await;
    let (first, _) = app.registered_user().await;

    let mut same_email = NewUser::random();
    same_email.email = first.email.to_uppercase();
    let reply = app.register(&same_email).await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.body,
        json!({"errors": {"email": ["has already been taken"]}})
    );

    let mut same_name = NewUser::random();
    same_name.username = first.username.to_uppercase();
    let reply = app.register(&same_name).await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.body,
        json!({"errors": {"username": ["has already been taken"]}})
    );
}

#[tokio::test]
async fn a_conflicting_registration_writes_nothing() {
    let app = spawn_app().await;
    let (first, _) = app.registered_user().await;
    let mut clash = NewUser::random();
    clash.email = first.email.clone();
    assert_eq!(app.register(&clash).await.status, 409);

    // The username the failed registration asked for was not claimed.
    let mut retry = NewUser::random();
    retry.username = clash.username.clone();
    assert_eq!(app.register(&retry).await.status, 201);
}

#[tokio::test]
async fn invalid_registrations_get_422_naming_each_bad_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"user": {}}),
            json!({"username": ["can't be blank"], "email": ["can't be blank"], "password": ["can't be blank"]}),
        ),
        (
            json!({"user": {"username": "ok", "email": "not-an-email", "password": "longenough"}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"username": "ok", "email": "a@b.co", "password": "short"}}),
            json!({"password": ["is too short (minimum is 8 characters)"]}),
        ),
        (
            json!({"username": "no-wrapper"}),
            json!({"user": ["can't be blank"]}),
        ),
        (json!({"user": null}), json!({"user": ["can't be blank"]})),
    ];
    for (body, errors) in cases {
        let reply = app.send("POST", "/users", Some(body.clone()), None).await;
        assert_eq!(reply.status, 422, "body {body}");
        assert_eq!(reply.body, json!({ "errors": errors }), "body {body}");
    }
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    let (user, _) = app.registered_user().await;

    let wrong_password = app.login(&user.email, "not-the-password").await;
    let unknown_email = app.login("nobody@example.com", &user.password).await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_email.status, 401);
    assert_eq!(
        wrong_password.body,
        json!({"errors": {"credentials": ["invalid"]}})
    );
    assert_eq!(wrong_password.body, unknown_email.body);
}

#[tokio::test]
async fn login_is_case_insensitive_in_the_email_only() {
    let app = spawn_app().await;
    let (user, _) = app.registered_user().await;
    assert_eq!(
        app.login(&user.email.to_uppercase(), &user.password).await.status,
        200
    );
    assert_eq!(
        app.login(&user.email, &user.password.to_uppercase()).await.status,
        401
    );
}

#[tokio::test]
async fn login_without_fields_is_a_422() {
    let app = spawn_app().await;
    let reply = app
        .send("POST", "/users/login", Some(json!({"user": {"email": ""}})), None)
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.body,
        json!({"errors": {"email": ["can't be blank"], "password": ["can't be blank"]}})
    );
}

#[tokio::test]
async fn the_current_user_needs_a_valid_token() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;

    let missing = app.current_user(None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body, json!({"errors": {"token": ["is missing"]}}));

    let forged = app
        .current_user(Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"))
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.body, json!({"errors": {"token": ["is invalid"]}}));

    let bearer = app
        .send_raw(app.request(reqwest::Method::GET, "/user").bearer_auth(&token))
        .await;
    assert_eq!(bearer.status, 200, "Bearer is accepted as well as Token");
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_rejected() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let (_, foreign_token) = other.registered_user().await;
    assert_eq!(app.current_user(Some(&foreign_token)).await.status, 401);
}

#[tokio::test]
async fn renaming_frees_the_old_username_and_claims_the_new_one() {
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    let new_name = format!("{}-renamed", user.username);

    let renamed = app.update_user(&token, json!({"username": new_name})).await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["user"]["username"], new_name.as_str());

    let mut takes_old = NewUser::random();
    takes_old.username = user.username.clone();
    assert_eq!(
        app.register(&takes_old).await.status,
        201,
        "old name is free again"
    );

    let mut takes_new = NewUser::random();
    takes_new.username = new_name.to_uppercase();
    assert_eq!(app.register(&takes_new).await.status, 409, "new name is guarded");
}

#[tokio::test]
async fn changing_email_moves_login_to_the_new_address() {
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    let new_email = format!("new-{}", user.email);
    assert_eq!(
        app.update_user(&token, json!({"email": new_email})).await.status,
        200
    );
    assert_eq!(app.login(&new_email, &user.password).await.status, 200);
    assert_eq!(app.login(&user.email, &user.password).await.status, 401);
    let mut takes_old = NewUser::random();
    takes_old.email = user.email.clone();
    assert_eq!(
        app.register(&takes_old).await.status,
        201,
        "old email is free again"
    );
}

#[tokio::test]
async fn an_update_to_a_taken_name_is_a_409_and_changes_nothing() {
    let app = spawn_app().await;
    let (other, _) = app.registered_user().await;
    let (user, token) = app.registered_user().await;

    let reply = app
        .update_user(
            &token,
            json!({"username": other.username, "bio": "should not stick"}),
        )
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.body,
        json!({"errors": {"username": ["has already been taken"]}})
    );

    let current = app.current_user(Some(&token)).await;
    assert_eq!(current.body["user"]["username"], user.username.as_str());
    assert_eq!(current.body["user"]["bio"], json!(null));
}

#[tokio::test]
async fn a_new_password_replaces_the_old_one() {
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    assert_eq!(
        app.update_user(&token, json!({"password": "a-brand-new-secret"}))
            .await
            .status,
        200
    );
    assert_eq!(app.login(&user.email, "a-brand-new-secret").await.status, 200);
    assert_eq!(app.login(&user.email, &user.password).await.status, 401);
}

#[tokio::test]
async fn a_blank_or_null_bio_and_image_become_null() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    app.update_user(
        &token,
        json!({"bio": "something", "image": "https://i.example/a.png"}),
    )
    .await;

    let cleared = app.update_user(&token, json!({"bio": "  ", "image": null})).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["user"]["bio"], json!(null));
    assert_eq!(cleared.body["user"]["image"], json!(null));
}

#[tokio::test]
async fn invalid_updates_are_422_and_an_empty_update_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let cases = [
        (json!({"email": "nope"}), json!({"email": ["is invalid"]})),
        (json!({"username": ""}), json!({"username": ["can't be blank"]})),
        (
            json!({"password": "short"}),
            json!({"password": ["is too short (minimum is 8 characters)"]}),
        ),
        (
            json!({"image": "javascript:alert(1)"}),
            json!({"image": ["is invalid (must be an http(s) URL)"]}),
        ),
        (
            json!({}),
            json!({"user": ["must include at least one field to change"]}),
        ),
    ];
    for (changes, errors) in cases {
        let reply = app.update_user(&token, changes.clone()).await;
        assert_eq!(reply.status, 422, "changes {changes}");
        assert_eq!(reply.body, json!({ "errors": errors }), "changes {changes}");
    }
    assert_eq!(
        app.send("PUT", "/user", Some(json!({"user": {"bio": "x"}})), None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_yield_exactly_one_account() {
    let app = spawn_app().await;
    let email = NewUser::random().email;
    let attempts = (0..24).map(|_| {
        let mut user = NewUser::random();
        user.email = email.clone();
        let app = &app;
        async move { app.register(&user).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        created,
        1,
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(conflicts, 23);
    for reply in replies.iter().filter(|r| r.status == 409) {
        assert_eq!(
            reply.body,
            json!({"errors": {"email": ["has already been taken"]}})
        );
    }
}

#[tokio::test]
async fn unreadable_bodies_get_a_json_error_never_a_500() {
    let app = spawn_app().await;
    let post = |body: Vec<u8>, content_type: &str| {
        app.request(reqwest::Method::POST, "/users")
            .header("content-type", content_type)
            .body(body)
    };
    let huge = format!(r#"{{"user":{{"bio":"{}"}}}}"#, "x".repeat(1024 * 1024 + 1)).into_bytes();
    let cases = [
        (post(br#"{"user": {"#.to_vec(), "application/json"), 400),
        (
            post(b"username=jake".to_vec(), "application/x-www-form-urlencoded"),
            415,
        ),
        (post(huge, "application/json"), 413),
        (post(Vec::new(), "application/json"), 422),
        (
            post(br#"{"user": {"username": 42}}"#.to_vec(), "application/json"),
            422,
        ),
        (post(vec![0xff, 0xfe, 0x00], "application/json"), 400),
    ];
    for (index, (request, status)) in cases.into_iter().enumerate() {
        let reply = app.send_raw(request).await;
        assert_eq!(reply.status, status, "case {index}: {:?}", reply.body);
        assert!(
            reply.body["errors"].is_object(),
            "case {index}: error body is JSON: {:?}",
            reply.body
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_404_and_405() {
    let app = spawn_app().await;
    let missing = app.send("GET", "/nothing-here", None, None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"errors": {"route": ["not found"]}}));

    let wrong_method = app.send("DELETE", "/user", None, None).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(
        wrong_method.body,
        json!({"errors": {"method": ["is not allowed"]}})
    );
    let allow = wrong_method.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("PUT"), "{allow}");
}

#[tokio::test]
async fn a_browser_on_another_origin_passes_the_cors_preflight() {
    let app = spawn_app().await;
    let preflight = app
        .send_raw(
            app.request(reqwest::Method::OPTIONS, "/user")
                .header("origin", "http://localhost:4200")
                .header("access-control-request-method", "PUT")
                .header("access-control-request-headers", "authorization,content-type"),
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");
    let methods = preflight.headers["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("PUT"), "{methods}");
    let headers = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    let actual = app
        .send_raw(
            app.request(reqwest::Method::POST, "/users/login")
                .header("origin", "http://localhost:4200")
                .json(&json!({"user": {"email": "a@b.co", "password": "whatever1"}})),
        )
        .await;
    assert_eq!(actual.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn accounts_survive_a_restart_of_the_local_server() {
    let dir = tempfile::tempdir().unwrap();
    let options = test_options(dir.path(), true);
    let user = NewUser::random();
    {
        let app = keel_tests::TestApp::new(
            keel_local::spawn(options.clone()).await.unwrap(),
            tempfile::tempdir().unwrap(),
        );
        assert_eq!(app.register(&user).await.status, 201);
    }
    let app = keel_tests::TestApp::new(
        keel_local::spawn(options).await.unwrap(),
        tempfile::tempdir().unwrap(),
    );
    assert_eq!(app.login(&user.email, &user.password).await.status, 200);
}
