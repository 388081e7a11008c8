//! Finding articles by title words and creation dates (`GET /api/articles?title=&since=&until=`),
//! over HTTP against the local server, on whichever engine the suite runs (the embedded one, or
//! DynamoDB Local with `AWS_ENDPOINT_URL_DYNAMODB`). The title index is kept by the table
//! stream, so a test waits for it (`settled`) as a client of the deployed API would wait a
//! moment.

use keel_tests::{TestApp, spawn_app};
use serde_json::Value;

/// The titles of a list reply, in order.
fn titles(reply: &keel_tests::Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["articles"]
        .as_array()
        .expect("articles")
        .iter()
        .map(|a| a["title"].as_str().expect("title").to_owned())
        .collect()
}

/// Titles and `articlesCount` of `GET /api/articles{query}`.
async fn search(app: &TestApp, query: &str) -> (Vec<String>, u64) {
    let reply = app.list(query, None).await;
    let count = reply.body["articlesCount"].as_u64().unwrap_or(u64::MAX);
    (titles(&reply), count)
}

/// An article's `createdAt`.
async fn created_at(app: &TestApp, slug: &str) -> String {
    let reply = app.send("GET", &format!("/articles/{slug}"), None, None).await;
    reply.body["article"]["createdAt"]
        .as_str()
        .expect("createdAt")
        .to_owned()
}

/// Percent-encodes a query value (`+` and `:` in a date-time, accents in a word).
fn q(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn a_title_search_finds_articles_with_every_word_in_any_order_case_or_accent() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    for title in [
        "Crème brûlée for Rust programmers",
        "Rust: the Book",
        "Dragons and rust",
        "CREME BRULEE",
        "Rusty nails",
    ] {
        app.article_by(&token, title, &[]).await;
    }
    app.settled().await;

    let (found, count) = search(&app, "?title=rust").await;
    assert_eq!(
        found,
        [
            "Dragons and rust",
            "Rust: the Book",
            "Crème brûlée for Rust programmers"
        ]
    );
    assert_eq!(count, 3, "a whole word: not Rusty");
    let (found, count) = search(&app, &format!("?title={}", q("BRÛLÉE crème"))).await;
    assert_eq!(found, ["CREME BRULEE", "Crème brûlée for Rust programmers"]);
    assert_eq!(count, 2);
    let (found, _) = search(&app, &format!("?title={}", q("programmers, RUST!"))).await;
    assert_eq!(found, ["Crème brûlée for Rust programmers"]);
    let (found, _) = search(&app, &format!("?title={}", q("rust dragons"))).await;
    assert_eq!(found, ["Dragons and rust"]);
    let (found, count) = search(&app, "?title=unicorns").await;
    assert_eq!((found.len(), count), (0, 0), "an empty page, not an error");
    // Paged like any list, the count the search's total.
    let (found, count) = search(&app, "?title=rust&limit=1&offset=1").await;
    assert_eq!((found, count), (vec!["Rust: the Book".to_owned()], 3));
    let (found, count) = search(&app, "?title=rust&offset=3").await;
    assert_eq!((found.len(), count), (0, 3));
}

#[tokio::test]
async fn an_edited_title_moves_the_article_between_words_and_a_deleted_one_disappears() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let slug = app.article_by(&token, "Gardening in winter", &["garden"]).await;
    app.settled().await;
    assert_eq!(search(&app, "?title=winter").await.1, 1);

    let edited = app
        .send(
            "PUT",
            &format!("/articles/{slug}"),
            Some(serde_json::json!({"article": {"title": "Gardening in summer"}})),
            Some(&token),
        )
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let slug = edited.body["article"]["slug"].as_str().expect("slug").to_owned();
    app.settled().await;
    assert_eq!(search(&app, "?title=winter").await, (vec![], 0));
    assert_eq!(
        search(&app, "?title=summer").await,
        (vec!["Gardening in summer".to_owned()], 1)
    );
    assert_eq!(
        search(&app, "?title=gardening&tag=garden").await.1,
        1,
        "the kept word's entry was rewritten too"
    );
    // An edit that leaves title and tags alone (a favorite, a comment) keeps the entries.
    let (_, fan) = app.registered_user().await;
    app.send("POST", &format!("/articles/{slug}/favorite"), None, Some(&fan))
        .await;
    app.settled().await;
    assert_eq!(search(&app, "?title=summer").await.1, 1);

    let deleted = app
        .send("DELETE", &format!("/articles/{slug}"), None, Some(&token))
        .await;
    assert_eq!(deleted.status, 204);
    app.settled().await;
    assert_eq!(search(&app, "?title=gardening").await, (vec![], 0));
    assert_eq!(search(&app, "?title=summer").await, (vec![], 0));
}

#[tokio::test]
async fn a_date_range_includes_since_excludes_until_and_narrows_every_list() {
    let app = spawn_app().await;
    let (writer, token) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    let mut slugs = Vec::new();
    for title in ["First light", "Second wind", "Third time"] {
        slugs.push(app.article_by(&token, title, &["dated"]).await);
        // Creation times have millisecond resolution: keep them apart.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    app.follow(&reader, &writer.username).await;
    for slug in &slugs {
        app.send("POST", &format!("/articles/{slug}/favorite"), None, Some(&reader))
            .await;
    }
    app.settled().await;
    let second = q(&created_at(&app, &slugs[1]).await);
    let third = q(&created_at(&app, &slugs[2]).await);
    let author = &writer.username;
    let reader_name = app.current_user(Some(&reader)).await.body["user"]["username"]
        .as_str()
        .expect("username")
        .to_owned();

    for list in [
        String::new(),
        "tag=dated&".to_owned(),
        format!("author={author}&"),
        format!("favorited={reader_name}&"),
    ] {
        let from_second = search(&app, &format!("?{list}since={second}")).await;
        assert_eq!(
            from_second,
            (vec!["Third time".to_owned(), "Second wind".to_owned()], 2),
            "{list}"
        );
        let before_second = search(&app, &format!("?{list}until={second}")).await;
        assert_eq!(before_second, (vec!["First light".to_owned()], 1), "{list}");
        let between = search(&app, &format!("?{list}since={second}&until={third}")).await;
        assert_eq!(between, (vec!["Second wind".to_owned()], 1), "{list}");
        let empty = search(&app, &format!("?{list}since={second}&until={second}")).await;
        assert_eq!(empty, (vec![], 0), "{list}: an empty range is an empty page");
    }
    // The feed takes the same range.
    let feed = app
        .send(
            "GET",
            &format!("/articles/feed?since={second}"),
            None,
            Some(&reader),
        )
        .await;
    assert_eq!(titles(&feed), ["Third time", "Second wind"]);
    assert_eq!(feed.body["articlesCount"], 2);
    // Dates alone, and a title with dates.
    assert_eq!(
        search(&app, "?since=2000-01-01&until=2000-01-02").await,
        (vec![], 0)
    );
    assert_eq!(search(&app, "?since=2000-01-01").await.1, 3);
    let searched = search(&app, &format!("?title=wind&until={second}")).await;
    assert_eq!(searched, (vec![], 0));
    let searched = search(&app, &format!("?title=wind&since={second}&until={third}")).await;
    assert_eq!(searched, (vec!["Second wind".to_owned()], 1));
}

#[tokio::test]
async fn a_title_search_narrows_a_tag_or_an_author_and_refuses_favorited() {
    let app = spawn_app().await;
    let (alice, a) = app.registered_user().await;
    let (_, b) = app.registered_user().await;
    app.article_by(&a, "Bread at home", &["baking"]).await;
    app.article_by(&a, "Bread and politics", &["essays"]).await;
    app.article_by(&b, "Bread for beginners", &["baking"]).await;
    app.settled().await;

    let (found, count) = search(&app, "?title=bread&tag=baking").await;
    assert_eq!(
        (found, count),
        (
            vec!["Bread for beginners".to_owned(), "Bread at home".to_owned()],
            2
        )
    );
    let (found, count) = search(&app, &format!("?title=bread&author={}", alice.username)).await;
    assert_eq!(
        (found, count),
        (
            vec!["Bread and politics".to_owned(), "Bread at home".to_owned()],
            2
        )
    );
    let both = app
        .list(
            &format!("?title=bread&author={}&tag=baking", alice.username),
            None,
        )
        .await;
    assert_eq!(both.status, 422, "still at most one of tag, author and favorited");
    assert_eq!(search(&app, "?title=bread&author=nobody").await, (vec![], 0));

    let refused = app
        .list(&format!("?title=bread&favorited={}", alice.username), None)
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body["errors"]["title"][0].is_string(),
        "{:?}",
        refused.body
    );
}

#[tokio::test]
async fn search_input_that_cannot_be_a_search_is_a_422_naming_its_field() {
    let app = spawn_app().await;
    let long = "a".repeat(41);
    for (query, field) in [
        ("?title=%20,.", "title"),
        ("?title=a%20b%20c%20d%20e%20f", "title"),
        (&format!("?title={long}") as &str, "title"),
        ("?since=yesterday", "since"),
        ("?until=2026-13-01", "until"),
        ("?since=2026-12-02&until=2026-12-01", "until"),
        ("?since=2026-12-01T08:00:00", "since"),
    ] {
        let reply = app.list(query, None).await;
        assert_eq!(reply.status, 422, "{query}: {:?}", reply.body);
        let errors: &Value = &reply.body["errors"];
        assert!(errors[field][0].is_string(), "{query}: {errors}");
    }
    let (_, token) = app.registered_user().await;
    let feed = app
        .send("GET", "/articles/feed?until=soon", None, Some(&token))
        .await;
    assert_eq!(feed.status, 422);
    // Words of at most 40 characters are searched (and find nothing here).
    let (found, count) = search(&app, &format!("?title={}", "a".repeat(40))).await;
    assert_eq!((found.len(), count), (0, 0));
}

#[tokio::test]
async fn articles_older_than_the_title_index_are_found_once_reindexed() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    app.article_by(&token, "Old story", &[]).await;
    app.article_by(&token, "Older story", &[]).await;
    app.settled().await;
    let store = &app.app.deps.store;
    // As a table written before the index existed: no `WORD#story` entries.
    let words = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("WORD#story".into()))
        .send()
        .await
        .expect("query");
    assert_eq!(words.count, 2, "one entry per article with the word");
    for item in words.items() {
        store
            .client()
            .delete_item()
            .table_name(store.table())
            .set_key(Some(
                [("pk", &item["pk"]), ("sk", &item["sk"])]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect(),
            ))
            .send()
            .await
            .expect("delete");
    }
    assert_eq!(search(&app, "?title=story").await.1, 0);

    assert_eq!(store.reindex_titles().await.expect("reindex"), 2);
    assert_eq!(search(&app, "?title=story").await.1, 2);
    assert_eq!(
        store.reindex_titles().await.expect("again"),
        2,
        "safe to run twice"
    );
    assert_eq!(search(&app, "?title=story").await.1, 2);
}
