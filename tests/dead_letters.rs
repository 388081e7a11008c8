//! Nothing the asynchronous functions fail on is dropped: a stream batch that fails its last
//! retry is parked in the data folder's dead letters (the template's on-failure queue, locally),
//! survives a restart, and `keel-local ops replay-failures` (here [`keel_local::App::replay_failures`],
//! the code the command runs) puts it through `feed-fanout` again once the cause is gone —
//! exactly once, however often it is replayed.
//!
//! The failure is a real one: the fan-out's policy without `dynamodb:PutItem`, so the local IAM
//! check refuses its feed writes, as IAM would in AWS. Runs on the embedded engine and on
//! DynamoDB Local alike.

use keel_local::dead_letters::{DeadLetters, Failed};
use keel_local::ops::Replayed;
use keel_tests::{NewUser, TestApp, test_options};
use serde_json::json;

/// `template.yaml` with the fan-out unable to write feed entries, and one retry only (so the
/// batch is parked in a moment rather than after twenty back-offs).
fn fanout_without_put_item(original: &str) -> String {
    let function = original
        .find("  FeedFanoutFunction:")
        .expect("the template has a FeedFanoutFunction");
    let (before, after) = original.split_at(function);
    let edited = after
        .replacen(
            "[dynamodb:PutItem, dynamodb:DeleteItem, dynamodb:UpdateItem, dynamodb:BatchWriteItem]",
            "[dynamodb:DeleteItem, dynamodb:UpdateItem, dynamodb:BatchWriteItem]",
            1,
        )
        .replacen("MaximumRetryAttempts: 20", "MaximumRetryAttempts: 1", 1);
    assert_ne!(
        edited, after,
        "the fan-out's policy and retries are where this test expects"
    );
    format!("{before}{edited}")
}

async fn feed(app: &TestApp, token: &str) -> serde_json::Value {
    app.send("GET", "/articles/feed", None, Some(token)).await.body
}

#[tokio::test]
async fn a_stream_batch_that_fails_every_retry_is_parked_and_replayed_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let mut options = test_options(data.path(), true);
    let original = std::fs::read_to_string(&options.template).unwrap();
    let broken = data.path().join("template-broken.yaml");
    std::fs::write(&broken, fanout_without_put_item(&original)).unwrap();
    let healthy = std::mem::replace(&mut options.template, broken);

    let (author, reader) = (NewUser::random(), NewUser::random());
    let reader_token;
    {
        let app = TestApp::new(
            keel_local::spawn(options.clone()).await.unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let author_token = app.register(&author).await.body["user"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        reader_token = app.register(&reader).await.body["user"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(app.follow(&reader_token, &author.username).await.status, 200);
        app.settled().await;
        app.article_by(&author_token, "Parked, not lost", &[]).await;
        app.settled().await;
        assert_eq!(
            feed(&app, &reader_token).await["articlesCount"],
            0,
            "the fan-out was refused"
        );
    }

    let letters = DeadLetters::new(data.path()).parked().unwrap();
    assert_eq!(letters.len(), 1, "one parked batch: {letters:?}");
    let (path, letter) = &letters[0];
    assert_eq!(letter.attempts, 2, "the first try and the template's one retry");
    assert!(
        letter.error.contains("PutItem") || letter.error.contains("AccessDenied"),
        "{}",
        letter.error
    );
    let Failed::Stream { records } = &letter.failed else {
        panic!("a stream letter: {letter:?}")
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event_name, "INSERT");
    // A second copy of the same letter: replaying it must change nothing more.
    std::fs::copy(
        path,
        path.with_file_name(format!("z-copy-{}", path.file_name().unwrap().to_string_lossy())),
    )
    .unwrap();

    // The cause removed: the real template's policy, the same data folder.
    options.template = healthy;
    let app = TestApp::new(
        keel_local::spawn(options).await.unwrap(),
        tempfile::tempdir().unwrap(),
    );
    app.settled().await;
    assert_eq!(
        feed(&app, &reader_token).await["articlesCount"],
        0,
        "a restart does not redeliver it"
    );

    let replayed = app.app.replay_failures().await.unwrap();
    assert_eq!(
        replayed,
        Replayed {
            replayed: 2,
            still_failing: 0
        }
    );
    let shown = feed(&app, &reader_token).await;
    assert_eq!(shown["articlesCount"], 1, "{shown}");
    assert_eq!(shown["articles"][0]["title"], json!("Parked, not lost"));
    assert!(DeadLetters::new(data.path()).parked().unwrap().is_empty());

    assert_eq!(app.app.replay_failures().await.unwrap(), Replayed::default());
    assert_eq!(feed(&app, &reader_token).await["articlesCount"], 1);
}
