//! What an attacker or a fuzzer found, each sent again over HTTP against the local server:
//! values that become DynamoDB keys, reserved words, odd header bytes, headers every response
//! carries, identities that cannot be addressed, and sessions that must end.

use std::time::{Duration, Instant};

use keel::domain::UserId;
use keel_tests::{NewUser, spawn_app};
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

#[tokio::test]
async fn values_no_key_could_hold_are_answered_without_reaching_the_table() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    for tag in [String::new(), "t".repeat(1025), "ä".repeat(600)] {
        let reply = app.list(&format!("?tag={tag}"), None).await;
        assert_eq!(reply.status, 200, "tag of {} bytes: {}", tag.len(), reply.body);
        assert_eq!(reply.body["articlesCount"], 0);
    }
    let slug = "s".repeat(2044);
    for (method, path) in [
        ("GET", format!("/articles/{slug}")),
        ("PUT", format!("/articles/{slug}")),
        ("DELETE", format!("/articles/{slug}")),
        ("POST", format!("/articles/{slug}/favorite")),
        ("DELETE", format!("/articles/{slug}/favorite")),
        ("GET", format!("/articles/{slug}/comments")),
        ("POST", format!("/articles/{slug}/comments")),
        ("DELETE", format!("/articles/{slug}/comments/1")),
    ] {
        let body = json!({"article": {"title": "t"}, "comment": {"body": "b"}});
        let reply = app.send(method, &path, Some(body), Some(&token)).await;
        assert_eq!(
            reply.status,
            404,
            "{method} …{}: {}",
            &path[path.len() - 20..],
            reply.body
        );
    }
    // A token whose subject is 50 KB, correctly signed: 401, not a 500 from the key's size.
    let huge = app
        .app
        .deps
        .tokens()
        .unwrap()
        .issue(&UserId::from_trusted("u".repeat(50_000)), 0)
        .unwrap();
    for path in ["/user", "/articles"] {
        let reply = app.send("GET", path, None, Some(&huge)).await;
        assert_eq!(reply.status, 401, "{path}: {}", reply.body);
    }
}

#[tokio::test]
async fn an_article_titled_feed_can_be_read_and_routes_list_each_method_once() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let created = app
        .create_article(&token, json!({"title": "Feed", "description": "d", "body": "b"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let slug = created.body["article"]["slug"].as_str().unwrap().to_owned();
    assert_ne!(slug, "feed");
    let read = app.send("GET", &format!("/articles/{slug}"), None, None).await;
    assert_eq!(read.status, 200, "{slug}: {}", read.body);
    assert_eq!(read.body["article"]["title"], "Feed");

    let options = app.send_raw(app.request(Method::OPTIONS, "/articles/feed")).await;
    assert_eq!(options.status, 405);
    let allow = options.headers["allow"].to_str().unwrap().to_owned();
    let methods: Vec<&str> = allow.split(", ").collect();
    let mut unique = methods.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(methods.len(), unique.len(), "Allow: {allow}");
    // The feed's own methods, not also those of `/api/articles/{slug}`.
    assert_eq!(allow, "GET");
}

/// What the OpenAPI document says a valid request is, the server holds to at the edges the
/// fuzzer found: values are taken as sent (limits count what was sent, identifiers are not
/// trimmed), `null` is refused where a field may only be left out, and `7.0` is the integer 7.
#[tokio::test]
async fn requests_are_judged_as_the_openapi_document_describes_them() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    for user in [
        json!({"username": " padded", "email": "p@example.com", "password": "password123"}),
        json!({"username": "padded", "email": " p@example.com", "password": "password123"}),
    ] {
        let reply = app
            .send("POST", "/users", Some(json!({"user": user})), None)
            .await;
        assert_eq!(reply.status, 422, "{user}: {}", reply.body);
    }
    for change in [json!({"password": null}), json!({"email": null, "bio": "x"})] {
        let reply = app
            .send("PUT", "/user", Some(json!({"user": change})), Some(&token))
            .await;
        assert_eq!(reply.status, 422, "{change}: {}", reply.body);
    }
    let cleared = app
        .send("PUT", "/user", Some(json!({"user": {"bio": null}})), Some(&token))
        .await;
    assert_eq!(cleared.status, 200, "null still clears a bio: {}", cleared.body);

    let article = |title: String, tags: Value| json!({"title": title, "description": "d", "body": "b", "tagList": tags});
    let eleven_repeats = Value::from(vec!["same"; 11]);
    let reply = app
        .create_article(&token, article("Repeats".into(), eleven_repeats))
        .await;
    assert_eq!(
        reply.status, 422,
        "11 tags as sent, even if repeats: {}",
        reply.body
    );
    let padded = format!(" {} ", "t".repeat(199));
    let reply = app.create_article(&token, article(padded, json!([]))).await;
    assert_eq!(reply.status, 422, "201 characters as sent: {}", reply.body);
    let reply = app
        .create_article(&token, article("\u{1c}\u{7}".into(), json!([])))
        .await;
    assert_eq!(
        reply.status, 422,
        "only control characters is blank: {}",
        reply.body
    );
}

#[tokio::test]
async fn an_authorization_header_with_bytes_outside_ascii_is_refused_not_ignored() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let mut bytes = format!("Token {token}").into_bytes();
    bytes.extend_from_slice(&[0xC3, 0xA9, 0xFF]);
    let value = HeaderValue::from_bytes(&bytes).unwrap();
    for path in ["/articles", "/tags", "/user"] {
        let reply = app
            .send_raw(
                app.request(Method::GET, path)
                    .header("authorization", value.clone()),
            )
            .await;
        let expected = if path == "/tags" { 200 } else { 401 };
        assert_eq!(reply.status, expected, "{path}: {}", reply.body);
    }
}

/// The local gateway answers some requests itself, before any function runs: they carry the
/// same `nosniff` and a `Cache-Control` as every function's answer.
#[tokio::test]
async fn the_local_gateways_own_answers_carry_the_same_security_headers() {
    let app = spawn_app().await;
    let unknown = app.send("GET", "/no-such-route", None, None).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let wrong_method = app.send("DELETE", "/tags", None, None).await;
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    let document = app.send("GET", "/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    let preflight = app
        .send_raw(
            app.request(Method::OPTIONS, "/articles")
                .header("origin", "https://front.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(preflight.status, 204);
    for (name, reply) in [
        ("404", &unknown),
        ("405", &wrong_method),
        ("openapi.json", &document),
        ("preflight", &preflight),
    ] {
        assert_eq!(
            reply.headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{name}"
        );
        assert!(reply.headers.contains_key("cache-control"), "{name}");
    }
    assert_eq!(unknown.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn every_response_says_nosniff_and_how_it_may_be_cached() {
    let app = spawn_app().await;
    let user = NewUser::random();
    let registered = app.register(&user).await;
    let token = registered.body["user"]["token"].as_str().unwrap().to_owned();
    let login = app.login(&user.email, &user.password).await;
    let current = app.current_user(Some(&token)).await;
    let missing = app.send("GET", "/articles/no-such-article", None, None).await;
    let refused = app.current_user(None).await;
    let mine = app.list("", Some(&token)).await;
    let anonymous = app.list("", None).await;
    for (name, reply) in [
        ("register", &registered),
        ("login", &login),
        ("current", &current),
        ("404", &missing),
        ("401", &refused),
        ("list as user", &mine),
        ("list anonymously", &anonymous),
    ] {
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{name}");
        assert!(reply.headers.contains_key("cache-control"), "{name}");
    }
    for reply in [&registered, &login, &current] {
        assert_eq!(
            reply.headers["cache-control"], "no-store",
            "a token is in the body"
        );
    }
    let cache = mine.headers["cache-control"].to_str().unwrap();
    assert!(cache.contains("private"), "{cache}");
    assert!(
        mine.headers["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization"),
        "the answer depends on who asks"
    );
    let tags = app.send("GET", "/tags", None, None).await;
    assert_eq!(tags.headers["cache-control"], "public, no-cache");
}

/// A browser keeps the public lists (tags, the catalog) but asks again before each use, so the
/// RealWorld front end that posts an article tagged `popular` and goes home finds the tag in
/// "Popular Tags", and an admin who adds a product and reloads sees it: its conditional GET
/// gets the new body, and a body-less 304 only while nothing changed.
#[tokio::test]
async fn a_browser_sees_its_own_write_in_the_public_lists_at_once() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let (_, admin) = app.admin().await;
    let conditional = |path: &'static str, etag: HeaderValue| {
        app.send_raw(app.request(Method::GET, path).header("if-none-match", etag))
    };
    let seen = |reply: &keel_tests::Reply| -> HeaderValue {
        assert_eq!(reply.status, 200, "{}", reply.body);
        let cache = reply.headers["cache-control"].to_str().unwrap();
        assert_eq!(
            cache, "public, no-cache",
            "revalidated on every use, never served stale"
        );
        reply.headers["etag"].clone()
    };

    let before = seen(&app.send("GET", "/tags", None, None).await);
    assert_eq!(conditional("/tags", before.clone()).await.status, 304);
    let posted = app
        .create_article(
            &token,
            json!({"title": "Popular", "description": "d", "body": "b", "tagList": ["popular"]}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let after = conditional("/tags", before.clone()).await;
    let now = seen(&after);
    assert_eq!(after.body["tags"], json!(["popular"]));
    assert_ne!(now, before);
    assert_eq!(conditional("/tags", now).await.status, 304);

    let path = "/products?category=lamps";
    let before = seen(&app.send("GET", path, None, None).await);
    assert_eq!(conditional(path, before.clone()).await.status, 304);
    let product = app.product(&admin, "Desk lamp", "lamps", 2_500, 3).await;
    let after = conditional(path, before).await;
    seen(&after);
    assert_eq!(after.body["products"][0]["id"], product.as_str());
}

#[tokio::test]
async fn emails_with_control_characters_and_usernames_that_are_path_tricks_are_refused() {
    let app = spawn_app().await;
    for (username, email) in [
        ("ctrl", "a\u{0}\u{7}x@example.com"),
        ("ctrl2", "a@exa\u{1b}mple.com"),
        (".", "dot@example.com"),
        ("..", "dots@example.com"),
    ] {
        let reply = app
            .send(
                "POST",
                "/users",
                Some(json!({"user": {"username": username, "email": email, "password": "long enough password"}})),
                None,
            )
            .await;
        assert_eq!(reply.status, 422, "{username:?} {email:?}: {}", reply.body);
    }
}

/// Polls `GET /api{path}` with `token` until it is refused; answers how long that took.
async fn until_refused(app: &keel_tests::TestApp, token: &str, path: &str) -> Duration {
    let started = Instant::now();
    loop {
        let reply = app.send("GET", path, None, Some(token)).await;
        if reply.status == 401 {
            return started.elapsed();
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            started.elapsed() < Duration::from_secs(65),
            "the token still works after 65 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn signing_out_everywhere_or_changing_the_password_ends_every_earlier_session() {
    let app = spawn_app().await;
    let user = NewUser::random();
    let first = app.register(&user).await.body["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.login(&user.email, &user.password).await.body["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Both sessions are in use (and so in any cache) before they are ended.
    for token in [&first, &second] {
        for path in ["/user", "/articles", "/articles/feed"] {
            assert_eq!(app.send("GET", path, None, Some(token)).await.status, 200);
        }
    }
    let out = app.send("POST", "/user/logout", None, Some(&second)).await;
    assert_eq!(out.status, 204, "{}", out.body);
    // Each function checks a session again at most every few seconds.
    for (token, path) in [
        (&first, "/user"),
        (&second, "/user"),
        (&first, "/articles"),
        (&second, "/articles/feed"),
    ] {
        let took = until_refused(&app, token, path).await;
        assert!(took < Duration::from_secs(60), "{path}: {took:?}");
    }

    // A password change: the client gets a new token that works; the old ones do not.
    let third = app.login(&user.email, &user.password).await.body["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = app
        .update_user(&third, json!({"password": "another long password"}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let fresh = changed.body["user"]["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, third);
    for path in ["/user", "/articles"] {
        let took = until_refused(&app, &third, path).await;
        assert!(took < Duration::from_secs(60), "{path}: {took:?}");
    }
    assert_eq!(app.current_user(Some(&fresh)).await.status, 200);
    assert_eq!(app.login(&user.email, "another long password").await.status, 200);
}

#[tokio::test]
async fn a_get_carries_a_strong_etag_that_answers_304_until_the_resource_changes() {
    let app = spawn_app().await;
    let (_, author) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    let slug = app.article_by(&author, "Cached", &["c"]).await;
    let path = format!("/articles/{slug}");
    let get = |etag: Option<String>| {
        let mut request = app
            .request(Method::GET, &path)
            .header("authorization", format!("Token {reader}"));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        app.send_raw(request)
    };
    let first = get(None).await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    let again = get(Some(etag.clone())).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, serde_json::Value::Null, "a 304 has no body");
    assert_eq!(again.headers["etag"], etag.as_str());

    app.send("POST", &format!("{path}/favorite"), None, Some(&reader))
        .await;
    let favorited = get(Some(etag.clone())).await;
    assert_eq!(favorited.status, 200, "a new favorite changes the ETag");
    let etag = favorited.headers["etag"].to_str().unwrap().to_owned();
    app.send(
        "PUT",
        &path,
        Some(json!({"article": {"body": "edited"}})),
        Some(&author),
    )
    .await;
    assert_eq!(get(Some(etag)).await.status, 200, "an edit changes the ETag");

    // Stock changes the product's ETag.
    let (_, admin) = app.admin().await;
    let product = app.product(&admin, "Mug", "kitchen", 900, 5).await;
    let product_path = format!("/products/{product}");
    let before = app.send("GET", &product_path, None, None).await;
    let etag = before.headers["etag"].to_str().unwrap().to_owned();
    let cached = app
        .send_raw(
            app.request(Method::GET, &product_path)
                .header("if-none-match", etag.clone()),
        )
        .await;
    assert_eq!(cached.status, 304);
    let ordered = app.order(&reader, "etag-order", &[(&product, 1)]).await;
    assert_eq!(ordered.status, 201, "{}", ordered.body);
    let after = app
        .send_raw(
            app.request(Method::GET, &product_path)
                .header("if-none-match", etag),
        )
        .await;
    assert_eq!(after.status, 200, "a stock change changes the ETag");
}

fn address(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, last])
}

fn retry_after(reply: &keel_tests::Reply) -> u64 {
    assert_eq!(reply.status, 429, "{}", reply.body);
    reply.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

/// Five wrong passwords for an email stop the address that sent them, not the email: its owner,
/// elsewhere, logs in at once. (Before, the same five requests locked the owner out of every
/// address for 15 minutes.)
#[tokio::test]
async fn a_guesser_is_stopped_at_its_own_address_while_the_owner_elsewhere_logs_in() {
    let app = spawn_app().await;
    let (owner, _) = app.registered_user().await;
    let guesser = address(2);
    for _ in 0..keel::store::MAX_PAIR_FAILURES {
        let reply = app.login_from(guesser, &owner.email, "wrong password!").await;
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    let stopped = app.login_from(guesser, &owner.email, &owner.password).await;
    let wait = retry_after(&stopped);
    assert!(wait <= keel::store::LOGIN_WINDOW.as_secs(), "{wait}");
    let owner_login = app.login_from(address(1), &owner.email, &owner.password).await;
    assert_eq!(owner_login.status, 200, "{}", owner_login.body);
    // The owner's success does not free the guesser's address.
    let still = app.login_from(guesser, &owner.email, "wrong password!").await;
    retry_after(&still);
}

/// Many addresses guessing one email slow it down — past a threshold every attempt waits its
/// turn, a parallel burst gets one guess, the wait doubles — but the owner is never locked out:
/// they wait at most a minute, and their success resets the email.
#[tokio::test]
async fn guesses_from_many_addresses_slow_one_email_down_but_never_lock_its_owner_out() {
    let app = spawn_app().await;
    let (owner, _) = app.registered_user().await;
    let per_address = keel::store::MAX_PAIR_FAILURES;
    let threshold = keel::store::EMAIL_DELAY_AFTER;
    let mut guesses = 0;
    let mut next_address = 10u8;
    while guesses < threshold {
        for _ in 0..per_address.min(threshold - guesses) {
            let reply = app
                .login_from(address(next_address), &owner.email, "wrong password!")
                .await;
            assert_eq!(reply.status, 401, "guess {guesses}: {}", reply.body);
            guesses += 1;
        }
        next_address += 1;
    }

    // A burst from five fresh addresses at once: one of them gets the turn.
    let burst = futures::future::join_all(
        (0..5).map(|i| app.login_from(address(100 + i), &owner.email, "wrong password!")),
    )
    .await;
    let mut statuses: Vec<u16> = burst.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [401, 429, 429, 429, 429], "one guess per turn");
    for refused in burst.iter().filter(|r| r.status == 429) {
        assert_eq!(
            retry_after(refused),
            1,
            "the first turn after the threshold is 1 s away"
        );
    }

    // The owner may have to wait for the email's turn (never more than a minute), then gets in.
    let mut attempts = 0;
    loop {
        let reply = app.login_from(address(1), &owner.email, &owner.password).await;
        if reply.status == 200 {
            break;
        }
        let wait = retry_after(&reply);
        assert!(wait <= keel::store::MAX_EMAIL_DELAY.as_secs(), "{wait}");
        attempts += 1;
        assert!(attempts < 3, "the owner's own turn came and went");
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }

    // Which resets the email: a fresh address is answered at once again.
    let fresh = app
        .login_from(address(200), &owner.email, "wrong password!")
        .await;
    assert_eq!(fresh.status, 401, "{}", fresh.body);
}

#[tokio::test]
async fn repeated_failed_logins_are_refused_for_a_while_alike_for_known_and_unknown_emails() {
    let app = spawn_app().await;
    let user = NewUser::random();
    assert_eq!(app.register(&user).await.status, 201);
    let unknown = NewUser::random();
    let limit = keel::store::MAX_PAIR_FAILURES;

    // Failures below the limit, then a success, forget the failures.
    for _ in 1..limit {
        assert_eq!(app.login(&user.email, "wrong password!").await.status, 401);
    }
    assert_eq!(app.login(&user.email, &user.password).await.status, 200);
    for _ in 1..limit {
        assert_eq!(app.login(&user.email, "wrong password!").await.status, 401);
    }
    assert_eq!(app.login(&user.email, "wrong password!").await.status, 401);

    // At the limit, even the right password waits; an unknown email answers the same.
    let mut answers = Vec::new();
    for email in [&user.email, &unknown.email] {
        if email == &unknown.email {
            for _ in 0..limit {
                assert_eq!(app.login(email, "wrong password!").await.status, 401);
            }
        }
        let refused = app.login(email, &user.password).await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait > 0 && wait <= keel::store::LOGIN_WINDOW.as_secs(), "{wait}");
        let fields: Vec<String> = refused.body["errors"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        answers.push(fields);
    }
    assert_eq!(
        answers[0], answers[1],
        "known and unknown emails are throttled alike"
    );
    // Other accounts are not locked out by it.
    let (other, _) = app.registered_user().await;
    assert_eq!(app.login(&other.email, &other.password).await.status, 200);
}

#[test]
fn the_local_servers_options_can_be_logged_without_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let options = keel_tests::test_options(dir.path(), false);
    let shown = format!("{options:?}");
    assert!(shown.contains(&options.table), "{shown}");
    assert!(!shown.contains(&options.jwt_secret), "{shown}");
}
