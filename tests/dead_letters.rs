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

/// `original` with `grant` in `function`'s resource replaced by `instead`, and its event retried
/// once only where `retries` said more (so a failure is parked in a moment, not after the
/// template's back-offs).
fn weakened(original: &str, function: &str, grant: &str, instead: &str, retries: &str) -> String {
    let header = format!("  {function}:\n");
    let start = original
        .find(&header)
        .expect("the template declares the function");
    let body = start + header.len();
    // The resource ends where the next line at two spaces' indent (or none) begins.
    let mut end = body;
    for line in original[body..].split_inclusive('\n') {
        let next_resource = line.starts_with("  ") && !line.starts_with("   ") && !line.starts_with("  #");
        let next_section = !line.starts_with(' ') && !line.trim().is_empty();
        if next_resource || next_section {
            break;
        }
        end += line.len();
    }
    let section = &original[start..end];
    let edited = section
        .replacen(grant, instead, 1)
        .replacen(retries, "MaximumRetryAttempts: 1\n", 1);
    assert!(
        section.contains(grant) && section.contains(retries),
        "{function}'s grant and retries are where this test expects"
    );
    format!("{}{edited}{}", &original[..start], &original[end..])
}

/// The fan-out unable to write feed entries.
fn fanout_without_put_item(original: &str) -> String {
    weakened(
        original,
        "FeedFanoutFunction",
        "[dynamodb:PutItem, dynamodb:DeleteItem, dynamodb:UpdateItem, dynamodb:BatchWriteItem]",
        "[dynamodb:DeleteItem, dynamodb:UpdateItem, dynamodb:BatchWriteItem]",
        // The event source mapping's retries.
        "MaximumRetryAttempts: 20\n",
    )
}

/// The finaliser unable to store checked files.
fn finaliser_without_put_object(original: &str) -> String {
    weakened(
        original,
        "UploadFinaliseFunction",
        "            - Effect: Allow\n              Action: [s3:PutObject]\n              Resource:\n                - !Sub \"${Bucket.Arn}/files/*\"\n",
        "",
        // The asynchronous invocation's retries (EventInvokeConfig).
        "MaximumRetryAttempts: 2\n",
    )
}

/// A persistent data folder and options whose template is `break_it` of the real one; answers
/// the real template's path too, to restart with once the cause is removed.
fn with_broken_template(
    break_it: fn(&str) -> String,
) -> (tempfile::TempDir, keel_local::Options, std::path::PathBuf) {
    let data = tempfile::tempdir().unwrap();
    let mut options = test_options(data.path(), true);
    let original = std::fs::read_to_string(&options.template).unwrap();
    let broken = data.path().join("template-broken.yaml");
    std::fs::write(&broken, break_it(&original)).unwrap();
    let healthy = std::mem::replace(&mut options.template, broken);
    (data, options, healthy)
}

async fn feed(app: &TestApp, token: &str) -> serde_json::Value {
    app.send("GET", "/articles/feed", None, Some(token)).await.body
}

#[tokio::test]
async fn a_stream_batch_that_fails_every_retry_is_parked_and_replayed_exactly_once() {
    let (data, mut options, healthy) = with_broken_template(fanout_without_put_item);

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
    let Failed::Stream { records, .. } = &letter.failed else {
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

#[tokio::test]
async fn an_upload_the_finaliser_fails_on_is_parked_and_replayed_until_ready() {
    use keel_tests::uploads::{png, settled, upload};
    let (data, mut options, healthy) = with_broken_template(finaliser_without_put_object);

    let user = NewUser::random();
    let (token, id);
    {
        let app = TestApp::new(
            keel_local::spawn(options.clone()).await.unwrap(),
            tempfile::tempdir().unwrap(),
        );
        token = app.register(&user).await.body["user"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        id = upload(&app, &token, "me.png", "image/png", &png(8, 8), "avatar").await;
        let started = std::time::Instant::now();
        while DeadLetters::new(data.path()).parked().unwrap().is_empty() {
            assert!(
                started.elapsed().as_secs() < 20,
                "the failed event was never parked"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let reply = app
            .send("GET", &format!("/uploads/{id}"), None, Some(&token))
            .await;
        assert_eq!(reply.body["upload"]["status"], "pending", "{}", reply.body);
    }
    let letters = DeadLetters::new(data.path()).parked().unwrap();
    assert_eq!(letters.len(), 1);
    let Failed::ObjectCreated { event } = &letters[0].1.failed else {
        panic!("an Object Created letter: {:?}", letters[0].1)
    };
    assert_eq!(event.detail.object.key, format!("uploads/{id}"));
    assert_eq!(letters[0].1.attempts, 2);

    options.template = healthy;
    let app = TestApp::new(
        keel_local::spawn(options).await.unwrap(),
        tempfile::tempdir().unwrap(),
    );
    assert_eq!(
        app.app.replay_failures().await.unwrap(),
        Replayed {
            replayed: 1,
            still_failing: 0
        }
    );
    assert_eq!(settled(&app, &token, &id).await["status"], "ready");
    assert_eq!(app.app.replay_failures().await.unwrap(), Replayed::default());
}

/// A queue on `sqs` holding `bodies`; answers its URL.
async fn queue_with(sqs: &aws_sdk_sqs::Client, name: &str, bodies: &[String]) -> String {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for body in bodies {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    url
}

/// How many messages `url` still holds, visible or not.
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
    };
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    attributes.values().map(|n| n.parse::<u64>().unwrap()).sum()
}

/// The deployed stack's replay, `keel-local ops replay-failures --aws`: the failure queues hold
/// what Lambda and EventBridge write there — Lambda's on-failure record naming a stream batch
/// by shard and sequence range, Lambda's record of an asynchronous invocation it gave up on,
/// and the bare event the rule could not deliver — and each runs through the same handler,
/// reading the batch back from the table's stream. SQS is moto's server; the table and its
/// stream are the suite's engine (embedded or DynamoDB Local).
#[tokio::test]
async fn the_deployed_failure_queues_are_replayed_through_the_same_handlers_and_emptied_once() {
    use keel_tests::uploads::{png, settled, upload};
    fn both_broken(original: &str) -> String {
        finaliser_without_put_object(&fanout_without_put_item(original))
    }
    let (data, mut options, healthy) = with_broken_template(both_broken);

    let (author, reader, owner) = (NewUser::random(), NewUser::random(), NewUser::random());
    let (reader_token, owner_token, upload_id);
    {
        let app = TestApp::new(
            keel_local::spawn(options.clone()).await.unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let token = |reply: keel_tests::Reply| reply.body["user"]["token"].as_str().unwrap().to_owned();
        let author_token = token(app.register(&author).await);
        reader_token = token(app.register(&reader).await);
        owner_token = token(app.register(&owner).await);
        assert_eq!(app.follow(&reader_token, &author.username).await.status, 200);
        app.settled().await;
        app.article_by(&author_token, "Parked in a queue", &[]).await;
        app.settled().await;
        upload_id = upload(&app, &owner_token, "me.png", "image/png", &png(8, 8), "avatar").await;
        let started = std::time::Instant::now();
        while DeadLetters::new(data.path()).parked().unwrap().len() < 2 {
            assert!(started.elapsed().as_secs() < 20, "both failures parked");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    // The failures as the deployed stack's queues would hold them.
    let letters = DeadLetters::new(data.path());
    let (mut stream_bodies, mut finalise_bodies) = (Vec::new(), Vec::new());
    for (path, letter) in letters.parked().unwrap() {
        match letter.failed {
            Failed::Stream { batch, .. } => {
                let batch = batch.expect("a parked batch says where it is in the stream");
                stream_bodies.push(
                    json!({
                        "requestContext": {
                            "requestId": "316aa6d0-8ee2-4a2b-a7f1-a8a1f8e6b0f1",
                            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:keel-FeedFanoutFunction",
                            "condition": "RetryAttemptsExhausted",
                            "approximateInvokeCount": letter.attempts,
                        },
                        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                        "version": "1.0",
                        "timestamp": letter.parked_at,
                        "DDBStreamBatchInfo": batch,
                    })
                    .to_string(),
                );
                // Not in the stream: a shard the stream never had. It cannot be replayed, and stays.
                let mut gone = serde_json::to_value(&batch).unwrap();
                gone["shardId"] = json!("shardId-00000000000000000000-00000000");
                stream_bodies.push(json!({ "version": "1.0", "DDBStreamBatchInfo": gone }).to_string());
            }
            Failed::ObjectCreated { event } => {
                finalise_bodies.push(
                    json!({
                        "version": "1.0",
                        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
                        "requestPayload": event,
                        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                        "responsePayload": {"errorMessage": letter.error},
                    })
                    .to_string(),
                );
                // The same event from the rule's dead-letter queue: replaying it again is harmless.
                finalise_bodies.push(serde_json::to_string(&event).unwrap());
            }
        }
        letters.remove(&path).unwrap();
    }
    assert_eq!((stream_bodies.len(), finalise_bodies.len()), (2, 2));

    let moto = keel_tests::moto::Moto::start().await;
    let sdk = keel_local::engines::local_sdk_config();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .endpoint_url(&moto.endpoint)
            .build(),
    );
    let stream_queue = queue_with(&sqs, "StreamFailureQueue", &stream_bodies).await;
    let finalise_queue = queue_with(&sqs, "FinaliseFailureQueue", &finalise_bodies).await;

    options.template = healthy;
    let app = TestApp::new(
        keel_local::spawn(options.clone()).await.unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let queues = keel_local::ops::queues::Queues::new(
        sqs.clone(),
        aws_sdk_dynamodbstreams::Client::from_conf(
            aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
                .endpoint_url(app.app.dynamodb_endpoint.as_deref().expect("a local engine"))
                .build(),
        ),
        vec![stream_queue.clone(), finalise_queue.clone()],
        &keel_local::template::Template::load(&options.template).unwrap(),
    );
    let replayed = app.app.replay_queues(&queues).await.unwrap();
    assert_eq!(
        replayed,
        Replayed {
            replayed: 3,
            still_failing: 1
        }
    );
    let shown = feed(&app, &reader_token).await;
    assert_eq!(shown["articlesCount"], 1, "{shown}");
    assert_eq!(shown["articles"][0]["title"], json!("Parked in a queue"));
    assert_eq!(settled(&app, &owner_token, &upload_id).await["status"], "ready");
    assert_eq!(depth(&sqs, &finalise_queue).await, 0);
    assert_eq!(
        depth(&sqs, &stream_queue).await,
        1,
        "the batch no stream holds stays, visible for the next replay"
    );

    let again = app.app.replay_queues(&queues).await.unwrap();
    assert_eq!(
        again,
        Replayed {
            replayed: 0,
            still_failing: 1
        }
    );
    assert_eq!(feed(&app, &reader_token).await["articlesCount"], 1);
}
