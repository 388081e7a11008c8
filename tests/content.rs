//! Conformance of the content API (profiles, articles, comments, favorites, tags, feed) with the
//! RealWorld spec, over HTTP against the local server and real engines.

use keel_tests::{TestApp, spawn_app};
use serde_json::{Value, json};

fn is_timestamp_with_millis(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    // 2026-11-21T12:19:36.511Z
    text.len() == 24
        && text.ends_with('Z')
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
        && chrono_like(&text[..19])
}

fn chrono_like(prefix: &str) -> bool {
    prefix.chars().enumerate().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == 'T',
        13 | 16 => c == ':',
        _ => c.is_ascii_digit(),
    })
}

fn without_secrets(body: &Value) {
    let text = body.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "secret in {text}"
    );
    assert!(!text.contains("\"email\""), "email in {text}");
}

#[tokio::test]
async fn a_profile_shows_following_relative_to_the_caller_and_never_the_email() {
    let app = spawn_app().await;
    let (author, _) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    let path = format!("/profiles/{}", author.username);

    let anonymous = app.send("GET", &path, None, None).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(
        anonymous.body,
        json!({"profile": {"username": author.username, "bio": null, "image": null, "following": false}})
    );
    without_secrets(&anonymous.body);

    let followed = app
        .send("POST", &format!("{path}/follow"), None, Some(&reader))
        .await;
    assert_eq!(followed.status, 200);
    assert_eq!(followed.body["profile"]["following"], true);
    assert_eq!(
        app.send("POST", &format!("{path}/follow"), None, Some(&reader))
            .await
            .status,
        200,
        "idempotent"
    );
    assert_eq!(
        app.send("GET", &path, None, Some(&reader)).await.body["profile"]["following"],
        true
    );
    assert_eq!(
        app.send("GET", &path, None, None).await.body["profile"]["following"],
        false
    );

    let unfollowed = app
        .send("DELETE", &format!("{path}/follow"), None, Some(&reader))
        .await;
    assert_eq!(unfollowed.status, 200);
    assert_eq!(unfollowed.body["profile"]["following"], false);
    assert_eq!(
        app.send("GET", &path, None, Some(&reader)).await.body["profile"]["following"],
        false
    );
}

#[tokio::test]
async fn profile_errors_follow_the_spec() {
    let app = spawn_app().await;
    let (me, token) = app.registered_user().await;

    let missing = app.send("GET", "/profiles/nobody-here", None, None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"errors": {"profile": ["not found"]}}));
    assert_eq!(
        app.send("POST", "/profiles/nobody-here/follow", None, Some(&token))
            .await
            .status,
        404
    );

    let anonymous = app
        .send("POST", &format!("/profiles/{}/follow", me.username), None, None)
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body, json!({"errors": {"token": ["is missing"]}}));

    let myself = app.follow(&token, &me.username).await;
    assert_eq!(myself.status, 422);

    let bad_token = app
        .send(
            "GET",
            &format!("/profiles/{}", me.username),
            None,
            Some("not.a.token"),
        )
        .await;
    assert_eq!(
        bad_token.status, 401,
        "an invalid token on an optional-auth route is not anonymous"
    );
}

#[tokio::test]
async fn creating_an_article_answers_201_with_the_full_article() {
    let app = spawn_app().await;
    let (author, token) = app.registered_user().await;
    let reply = app
        .create_article(
            &token,
            json!({"title": "How to train your dragon", "description": "Ever wonder how?",
                   "body": "Very carefully.", "tagList": ["training", "dragons", "training"]}),
        )
        .await;
    assert_eq!(reply.status, 201);
    let article = &reply.body["article"];
    assert_eq!(article["slug"], "how-to-train-your-dragon");
    assert_eq!(article["title"], "How to train your dragon");
    assert_eq!(article["description"], "Ever wonder how?");
    assert_eq!(article["body"], "Very carefully.");
    assert_eq!(
        article["tagList"],
        json!(["dragons", "training"]),
        "sorted, no duplicates"
    );
    assert!(
        is_timestamp_with_millis(&article["createdAt"]),
        "{}",
        article["createdAt"]
    );
    assert!(
        is_timestamp_with_millis(&article["updatedAt"]),
        "{}",
        article["updatedAt"]
    );
    assert_eq!(article["favorited"], false);
    assert_eq!(article["favoritesCount"], 0);
    assert_eq!(
        article["author"],
        json!({"username": author.username, "bio": null, "image": null, "following": false})
    );
    without_secrets(&reply.body);

    let fetched = app
        .send("GET", "/articles/how-to-train-your-dragon", None, None)
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, reply.body);
}

#[tokio::test]
async fn an_article_without_tags_has_an_empty_tag_list_and_blank_fields_are_422() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let plain = app
        .create_article(&token, json!({"title": "t", "description": "d", "body": "b"}))
        .await;
    assert_eq!(plain.body["article"]["tagList"], json!([]));

    let blank = app
        .create_article(&token, json!({"title": " ", "body": ""}))
        .await;
    assert_eq!(blank.status, 422);
    assert_eq!(
        blank.body,
        json!({"errors": {"title": ["can't be blank"], "description": ["can't be blank"], "body": ["can't be blank"]}})
    );
    let anonymous = app
        .send(
            "POST",
            "/articles",
            Some(json!({"article": {"title": "x"}})),
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_duplicate_title_still_gets_a_unique_slug() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let first = app.article_by(&token, "Same Title", &[]).await;
    let second = app.article_by(&token, "Same Title", &[]).await;
    assert_eq!(first, "same-title");
    assert_ne!(first, second);
    assert!(second.starts_with("same-title-"), "{second}");
    assert_eq!(
        app.send("GET", &format!("/articles/{second}"), None, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_unknown_article_is_a_404_naming_the_article() {
    let app = spawn_app().await;
    let reply = app.send("GET", "/articles/no-such-article", None, None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, json!({"errors": {"article": ["not found"]}}));
    assert_eq!(
        app.send("GET", "/articles/no-such-article/comments", None, None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn updating_the_title_moves_the_slug_and_omitted_tags_are_kept() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let slug = app.article_by(&token, "Old title", &["b", "a"]).await;

    let body_only = app
        .send(
            "PUT",
            &format!("/articles/{slug}"),
            Some(json!({"article": {"body": "With two hands"}})),
            Some(&token),
        )
        .await;
    assert_eq!(body_only.status, 200);
    assert_eq!(body_only.body["article"]["slug"], slug.as_str());
    assert_eq!(body_only.body["article"]["body"], "With two hands");
    assert_eq!(
        body_only.body["article"]["tagList"],
        json!(["a", "b"]),
        "tags kept when omitted"
    );

    let renamed = app
        .send(
            "PUT",
            &format!("/articles/{slug}"),
            Some(json!({"article": {"title": "New title"}})),
            Some(&token),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["article"]["slug"], "new-title");
    assert_eq!(renamed.body["article"]["body"], "With two hands");
    assert_eq!(
        app.send("GET", "/articles/old-title", None, None).await.status,
        404
    );
    assert_eq!(
        app.send("GET", "/articles/new-title", None, None).await.status,
        200
    );

    let null_tags = app
        .send(
            "PUT",
            "/articles/new-title",
            Some(json!({"article": {"tagList": null}})),
            Some(&token),
        )
        .await;
    assert_eq!(null_tags.status, 422, "{:?}", null_tags.body);

    let retagged = app
        .send(
            "PUT",
            "/articles/new-title",
            Some(json!({"article": {"tagList": ["c"]}})),
            Some(&token),
        )
        .await;
    assert_eq!(retagged.body["article"]["tagList"], json!(["c"]));
    assert_eq!(
        TestApp::slugs(&app.list("?tag=a", None).await),
        Vec::<String>::new()
    );
    assert_eq!(TestApp::slugs(&app.list("?tag=c", None).await), ["new-title"]);
}

#[tokio::test]
async fn only_the_author_may_update_or_delete_an_article() {
    let app = spawn_app().await;
    let (_, author) = app.registered_user().await;
    let (_, other) = app.registered_user().await;
    let slug = app.article_by(&author, "Mine", &[]).await;
    let path = format!("/articles/{slug}");
    let change = json!({"article": {"body": "hijacked"}});

    let update = app.send("PUT", &path, Some(change.clone()), Some(&other)).await;
    assert_eq!(update.status, 403);
    assert_eq!(update.body, json!({"errors": {"article": ["forbidden"]}}));
    let delete = app.send("DELETE", &path, None, Some(&other)).await;
    assert_eq!(delete.status, 403);
    assert_eq!(
        app.send("PUT", &path, Some(change.clone()), None).await.status,
        401
    );
    assert_eq!(app.send("DELETE", &path, None, None).await.status, 401);
    assert_eq!(
        app.send("GET", &path, None, None).await.body["article"]["body"],
        "the text",
        "unchanged"
    );

    assert_eq!(
        app.send("PUT", "/articles/missing", Some(change), Some(&author))
            .await
            .status,
        404
    );
    assert_eq!(
        app.send("DELETE", "/articles/missing", None, Some(&author))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn deleting_an_article_removes_it_from_every_list_and_count() {
    let app = spawn_app().await;
    let (author, token) = app.registered_user().await;
    let (_, fan) = app.registered_user().await;
    let tag = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let slug = app.article_by(&token, "Short lived", &[&tag]).await;
    app.follow(&fan, &author.username).await;
    app.send("POST", &format!("/articles/{slug}/favorite"), None, Some(&fan))
        .await;
    app.send(
        "POST",
        &format!("/articles/{slug}/comments"),
        Some(json!({"comment": {"body": "hi"}})),
        Some(&fan),
    )
    .await;

    let deleted = app
        .send("DELETE", &format!("/articles/{slug}"), None, Some(&token))
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null, "204 has no body");
    assert_eq!(
        app.send("GET", &format!("/articles/{slug}"), None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.send("GET", &format!("/articles/{slug}/comments"), None, None)
            .await
            .status,
        404
    );
    // Favorites, comments and feed entries are cleaned up by the table stream.
    app.settled().await;
    for query in [
        "".to_owned(),
        format!("?tag={tag}"),
        format!("?author={}", author.username),
    ] {
        let reply = app.list(&query, None).await;
        assert!(!TestApp::slugs(&reply).contains(&slug), "{query}");
    }
    let favorited = app
        .list(&format!("?favorited={}", fan_name(&app, &fan).await), None)
        .await;
    assert_eq!(favorited.body["articlesCount"], 0);
    assert_eq!(
        app.list(&format!("?tag={tag}"), None).await.body["articlesCount"],
        0
    );
    assert_eq!(
        app.list(&format!("?author={}", author.username), None).await.body["articlesCount"],
        0
    );
    let feed = app.send("GET", "/articles/feed", None, Some(&fan)).await;
    assert_eq!(feed.body, json!({"articles": [], "articlesCount": 0}));
    let tags = app.send("GET", "/tags", None, None).await;
    assert!(!tags.body["tags"].as_array().unwrap().contains(&json!(tag)));
}

async fn fan_name(app: &TestApp, token: &str) -> String {
    app.current_user(Some(token)).await.body["user"]["username"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn lists_are_newest_first_paged_counted_and_without_bodies() {
    let app = spawn_app().await;
    let (author, token) = app.registered_user().await;
    let mut slugs = Vec::new();
    for i in 0..5 {
        slugs.push(app.article_by(&token, &format!("Article {i}"), &["paging"]).await);
    }
    slugs.reverse();

    let all = app.list(&format!("?author={}", author.username), None).await;
    assert_eq!(all.status, 200);
    assert_eq!(TestApp::slugs(&all), slugs);
    assert_eq!(all.body["articlesCount"], 5);
    assert!(
        all.body["articles"][0].get("body").is_none(),
        "lists leave out body"
    );

    let page = app
        .list(&format!("?author={}&limit=2&offset=1", author.username), None)
        .await;
    assert_eq!(TestApp::slugs(&page), slugs[1..3]);
    assert_eq!(page.body["articlesCount"], 5, "the total, not the page size");

    let past_the_end = app
        .list(&format!("?author={}&offset=10", author.username), None)
        .await;
    assert_eq!(TestApp::slugs(&past_the_end), Vec::<String>::new());
    assert_eq!(past_the_end.body["articlesCount"], 5);

    let global = app.list("?limit=3", None).await;
    assert_eq!(TestApp::slugs(&global), slugs[..3]);
    assert_eq!(global.body["articlesCount"], 5);
}

#[tokio::test]
async fn bad_paging_and_combined_filters_are_422() {
    let app = spawn_app().await;
    for query in [
        "?limit=0",
        "?limit=abc",
        "?offset=-1",
        "?limit=1000",
        "?tag=a&author=b",
    ] {
        let reply = app.list(query, None).await;
        assert_eq!(reply.status, 422, "{query}: {:?}", reply.body);
        assert!(reply.body["errors"].is_object());
    }
}

#[tokio::test]
async fn filters_by_tag_author_and_favorited_use_their_own_counts() {
    let app = spawn_app().await;
    let (alice, a) = app.registered_user().await;
    let (bob, b) = app.registered_user().await;
    let a1 = app.article_by(&a, "Alice one", &["rust"]).await;
    let a2 = app.article_by(&a, "Alice two", &["go"]).await;
    let b1 = app.article_by(&b, "Bob one", &["rust"]).await;
    app.send("POST", &format!("/articles/{a1}/favorite"), None, Some(&b))
        .await;

    let rust = app.list("?tag=rust", None).await;
    assert_eq!(TestApp::slugs(&rust), [b1.clone(), a1.clone()]);
    assert_eq!(rust.body["articlesCount"], 2);
    let by_alice = app.list(&format!("?author={}", alice.username), None).await;
    assert_eq!(TestApp::slugs(&by_alice), [a2, a1.clone()]);
    let favorited_by_bob = app.list(&format!("?favorited={}", bob.username), Some(&b)).await;
    assert_eq!(TestApp::slugs(&favorited_by_bob), [a1]);
    assert_eq!(favorited_by_bob.body["articlesCount"], 1);
    assert_eq!(favorited_by_bob.body["articles"][0]["favorited"], true);
    assert_eq!(favorited_by_bob.body["articles"][0]["favoritesCount"], 1);

    let unknown = app.list("?author=no-such-user", None).await;
    assert_eq!(unknown.body, json!({"articles": [], "articlesCount": 0}));
    assert_eq!(
        app.list("?tag=never-used", None).await.body,
        json!({"articles": [], "articlesCount": 0})
    );
}

#[tokio::test]
async fn favorited_and_following_reflect_the_caller_only() {
    let app = spawn_app().await;
    let (author, a) = app.registered_user().await;
    let (_, fan) = app.registered_user().await;
    let (_, stranger) = app.registered_user().await;
    let slug = app.article_by(&a, "Liked", &[]).await;
    app.follow(&fan, &author.username).await;
    app.send("POST", &format!("/articles/{slug}/favorite"), None, Some(&fan))
        .await;

    let path = format!("/articles/{slug}");
    let as_fan = app.send("GET", &path, None, Some(&fan)).await.body;
    assert_eq!(
        (
            as_fan["article"]["favorited"].clone(),
            as_fan["article"]["author"]["following"].clone()
        ),
        (json!(true), json!(true))
    );
    for viewer in [Some(stranger.as_str()), None] {
        let seen = app.send("GET", &path, None, viewer).await.body;
        assert_eq!(seen["article"]["favorited"], false);
        assert_eq!(seen["article"]["author"]["following"], false);
        assert_eq!(seen["article"]["favoritesCount"], 1);
    }
    let listed = app.list("", Some(&fan)).await;
    assert_eq!(listed.body["articles"][0]["favorited"], true);
    assert_eq!(listed.body["articles"][0]["author"]["following"], true);
    assert_eq!(
        app.send("GET", &path, None, Some("bad.token.here")).await.status,
        401
    );
}

#[tokio::test]
async fn favoriting_twice_counts_once_and_unfavoriting_undoes_it() {
    let app = spawn_app().await;
    let (_, a) = app.registered_user().await;
    let (_, fan) = app.registered_user().await;
    let slug = app.article_by(&a, "Popular", &[]).await;
    let path = format!("/articles/{slug}/favorite");

    for _ in 0..2 {
        let reply = app.send("POST", &path, None, Some(&fan)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["article"]["favorited"], true);
        assert_eq!(reply.body["article"]["favoritesCount"], 1);
    }
    for _ in 0..2 {
        let reply = app.send("DELETE", &path, None, Some(&fan)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["article"]["favorited"], false);
        assert_eq!(reply.body["article"]["favoritesCount"], 0);
    }
    assert_eq!(
        app.send("POST", "/articles/missing/favorite", None, Some(&fan))
            .await
            .status,
        404
    );
    assert_eq!(app.send("POST", &path, None, None).await.status, 401);
}

#[tokio::test]
async fn comments_have_integer_ids_and_only_their_author_may_delete_them() {
    let app = spawn_app().await;
    let (_, a) = app.registered_user().await;
    let (commenter, c) = app.registered_user().await;
    let (_, other) = app.registered_user().await;
    let slug = app.article_by(&a, "Discuss", &[]).await;
    let path = format!("/articles/{slug}/comments");

    let first = app
        .send(
            "POST",
            &path,
            Some(json!({"comment": {"body": "First!"}})),
            Some(&c),
        )
        .await;
    assert_eq!(first.status, 201);
    let comment = &first.body["comment"];
    assert!(comment["id"].is_u64(), "{comment}");
    assert!(is_timestamp_with_millis(&comment["createdAt"]));
    assert_eq!(comment["body"], "First!");
    assert_eq!(comment["author"]["username"], commenter.username.as_str());
    without_secrets(&first.body);
    let second = app
        .send(
            "POST",
            &path,
            Some(json!({"comment": {"body": "Second"}})),
            Some(&c),
        )
        .await;
    assert_ne!(second.body["comment"]["id"], comment["id"]);

    let listed = app.send("GET", &path, None, None).await;
    assert_eq!(listed.status, 200);
    let bodies: Vec<&str> = listed.body["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Second", "First!"]);

    let id = comment["id"].as_u64().unwrap();
    let forbidden = app
        .send("DELETE", &format!("{path}/{id}"), None, Some(&other))
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.body, json!({"errors": {"comment": ["forbidden"]}}));
    assert_eq!(
        app.send("DELETE", &format!("{path}/{id}"), None, Some(&a))
            .await
            .status,
        403,
        "not the article author either"
    );
    assert_eq!(
        app.send("DELETE", &format!("{path}/{id}"), None, None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.send("DELETE", &format!("{path}/{id}"), None, Some(&c))
            .await
            .status,
        204
    );
    let gone = app.send("DELETE", &format!("{path}/{id}"), None, Some(&c)).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body, json!({"errors": {"comment": ["not found"]}}));
    assert_eq!(
        app.send("DELETE", &format!("{path}/abc"), None, Some(&c))
            .await
            .status,
        404
    );
    assert_eq!(
        app.send("GET", &path, None, None).await.body["comments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let blank = app
        .send("POST", &path, Some(json!({"comment": {"body": "  "}})), Some(&c))
        .await;
    assert_eq!(blank.status, 422);
    assert_eq!(blank.body, json!({"errors": {"body": ["can't be blank"]}}));
    assert_eq!(
        app.send("POST", &path, Some(json!({"comment": {"body": "x"}})), None)
            .await
            .status,
        401
    );
    let on_missing = app
        .send(
            "POST",
            "/articles/missing/comments",
            Some(json!({"comment": {"body": "x"}})),
            Some(&c),
        )
        .await;
    assert_eq!(on_missing.status, 404);
}

#[tokio::test]
async fn comment_authors_show_following_for_the_caller() {
    let app = spawn_app().await;
    let (_, a) = app.registered_user().await;
    let (commenter, c) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    let slug = app.article_by(&a, "Thread", &[]).await;
    app.send(
        "POST",
        &format!("/articles/{slug}/comments"),
        Some(json!({"comment": {"body": "hey"}})),
        Some(&c),
    )
    .await;
    app.follow(&reader, &commenter.username).await;
    let seen = app
        .send("GET", &format!("/articles/{slug}/comments"), None, Some(&reader))
        .await;
    assert_eq!(seen.body["comments"][0]["author"]["following"], true);
    let anonymous = app
        .send("GET", &format!("/articles/{slug}/comments"), None, None)
        .await;
    assert_eq!(anonymous.body["comments"][0]["author"]["following"], false);
}

#[tokio::test]
async fn the_feed_shows_followed_authors_only_and_follows_changes() {
    let app = spawn_app().await;
    let (followed, f) = app.registered_user().await;
    let (_, other) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    let old = app.article_by(&f, "Before the follow", &[]).await;
    app.article_by(&other, "Not followed", &[]).await;

    let empty = app.send("GET", "/articles/feed", None, Some(&reader)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"articles": [], "articlesCount": 0}));

    app.follow(&reader, &followed.username).await;
    let new = app.article_by(&f, "After the follow", &[]).await;
    // A new article reaches followers' feeds through the table stream.
    app.settled().await;
    let feed = app.send("GET", "/articles/feed", None, Some(&reader)).await;
    assert_eq!(TestApp::slugs(&feed), [new.clone(), old]);
    assert_eq!(feed.body["articlesCount"], 2);
    assert_eq!(feed.body["articles"][0]["author"]["following"], true);
    assert!(feed.body["articles"][0].get("body").is_none());
    let paged = app
        .send("GET", "/articles/feed?limit=1&offset=1", None, Some(&reader))
        .await;
    assert_eq!(paged.body["articles"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["articlesCount"], 2);

    app.unfollow(&reader, &followed.username).await;
    app.settled().await;
    let after = app.send("GET", "/articles/feed", None, Some(&reader)).await;
    assert_eq!(after.body, json!({"articles": [], "articlesCount": 0}));

    assert_eq!(app.send("GET", "/articles/feed", None, None).await.status, 401);
}

#[tokio::test]
async fn tags_list_what_articles_use() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    app.article_by(&token, "One", &["rust", "lambda"]).await;
    app.article_by(&token, "Two", &["rust"]).await;
    let reply = app.send("GET", "/tags", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"tags": ["rust", "lambda"]}), "most used first");
}

#[tokio::test]
async fn the_content_api_answers_a_cors_preflight() {
    let app = spawn_app().await;
    let reply = app
        .send_raw(
            app.request(reqwest::Method::OPTIONS, "/articles/some-slug/favorite")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "DELETE"),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert!(
        reply.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("DELETE")
    );
}

#[tokio::test]
async fn following_an_author_shows_their_newest_articles_in_the_feed_at_once() {
    let app = spawn_app().await;
    let (author, token) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    for i in 0..25 {
        app.article_by(&token, &format!("Piece {i:02}"), &[]).await;
    }
    let newest = app
        .list(&format!("?author={}&limit=20", author.username), None)
        .await;

    let followed = app.follow(&reader, &author.username).await;
    assert_eq!(followed.status, 200);
    // No waiting for the table stream: the follow itself wrote the first page.
    let feed = app.send("GET", "/articles/feed", None, Some(&reader)).await;
    assert_eq!(TestApp::slugs(&feed), TestApp::slugs(&newest));
    assert!(feed.body["articles"][0]["author"]["following"].as_bool().unwrap());

    // The stream adds the rest, each article once.
    app.settled().await;
    let all = app
        .send("GET", "/articles/feed?limit=100", None, Some(&reader))
        .await;
    assert_eq!(all.body["articlesCount"], 25);
    assert_eq!(all.body["articles"].as_array().unwrap().len(), 25);
    // Following again changes nothing.
    app.follow(&reader, &author.username).await;
    app.settled().await;
    let again = app
        .send("GET", "/articles/feed?limit=100", None, Some(&reader))
        .await;
    assert_eq!(again.body["articlesCount"], 25);
}
