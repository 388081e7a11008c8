//! Counters and membership under concurrent writes: no lost update, no double count.

use keel_tests::spawn_app;

#[tokio::test]
async fn fifty_users_favoriting_one_article_at_once_count_fifty() {
    let app = spawn_app().await;
    let (_, author) = app.registered_user().await;
    let slug = app.article_by(&author, "Everyone likes this", &[]).await;
    let mut fans = Vec::new();
    for _ in 0..50 {
        fans.push(app.registered_user().await.1);
    }
    let path = format!("/articles/{slug}/favorite");
    let replies =
        futures::future::join_all(fans.iter().map(|fan| app.send("POST", &path, None, Some(fan)))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let article = app.send("GET", &format!("/articles/{slug}"), None, None).await;
    assert_eq!(article.body["article"]["favoritesCount"], 50);
    assert_eq!(
        app.stored_favorites_count(&slug).await,
        Some(50),
        "stored counter"
    );
}

#[tokio::test]
async fn one_user_favoriting_in_parallel_counts_once() {
    let app = spawn_app().await;
    let (_, author) = app.registered_user().await;
    let (fan_user, fan) = app.registered_user().await;
    let slug = app.article_by(&author, "Click happy", &[]).await;
    let path = format!("/articles/{slug}/favorite");
    let replies = futures::future::join_all((0..20).map(|_| app.send("POST", &path, None, Some(&fan)))).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    assert_eq!(app.stored_favorites_count(&slug).await, Some(1));
    let favorited = app.list(&format!("?favorited={}", fan_user.username), None).await;
    assert_eq!(favorited.body["articlesCount"], 1);

    let undo = futures::future::join_all((0..20).map(|_| app.send("DELETE", &path, None, Some(&fan)))).await;
    assert!(undo.iter().all(|r| r.status == 200));
    assert_eq!(app.stored_favorites_count(&slug).await, Some(0));
    assert_eq!(
        app.list(&format!("?favorited={}", fan_user.username), None)
            .await
            .body["articlesCount"],
        0
    );
}
