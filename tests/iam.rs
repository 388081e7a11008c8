//! Least privilege, proven. Every AWS request a function sends — at cold start and in its
//! handler — is described as IAM actions on logical resources by the local IAM guard
//! (`keel_local::iam`) and checked against the policy `template.yaml` gives that function.
//!
//! - Cold starts run the real `Deps::cold_start` with each function's template environment,
//!   against Secrets Manager (moto's server) for the signing key.
//! - Handlers run through the local server for every endpoint and the stream function.
//!
//! The suite fails when a function sends something its policy does not allow, and when a
//! policy grants something no function was seen to send.

use std::collections::{BTreeMap, BTreeSet};

use keel::Deps;
use keel_local::engines::local_sdk_config;
use keel_local::iam::{Access, AccessLog, IamGuard, Policy, Resources};
use keel_local::registry;
use keel_local::template::{Function, Template};
use keel_tests::TestApp;
use keel_tests::uploads::{png, upload};
use serde_json::json;

fn template_path() -> std::path::PathBuf {
    keel_local::Options::default_template()
}

/// A Secrets Manager holding a JWT signing key, as the template's `JwtSecret` does, and the
/// Stripe keys, as its `StripeSecret` does once an operator filled it in.
struct SecretsManager {
    endpoint: String,
    arn: String,
    stripe_arn: String,
    _server: Option<keel_tests::moto::Moto>,
}

async fn secrets_manager() -> SecretsManager {
    let (endpoint, server) = match std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
        Ok(endpoint) => (endpoint, None),
        Err(_) => {
            let moto = keel_tests::moto::Moto::start().await;
            (moto.endpoint.clone(), Some(moto))
        }
    };
    let sdk = local_sdk_config().into_builder().endpoint_url(&endpoint).build();
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let created = client
        .create_secret()
        .name(format!("keel-jwt-{}", uuid::Uuid::new_v4().simple()))
        .secret_string("0123456789abcdef0123456789abcdef0123456789abcdef")
        .send()
        .await
        .expect("the secret is created");
    let stripe = client
        .create_secret()
        .name(format!("keel-stripe-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(r#"{"secretKey": "sk_test_cold_start", "webhookSecrets": ["whsec_cold_start"]}"#)
        .send()
        .await
        .expect("the Stripe secret is created");
    SecretsManager {
        endpoint,
        arn: created.arn.expect("an ARN"),
        stripe_arn: stripe.arn.expect("an ARN"),
        _server: server,
    }
}

/// A function's environment with `!Ref`s resolved to this run's resources, deployed with
/// `PaymentProvider=stripe` (so the payment functions' cold starts read the Stripe secret).
fn environment(function: &Function, table: &str, secrets: &SecretsManager) -> BTreeMap<String, String> {
    function
        .resolved_environment(&[
            ("Table", table),
            ("JwtSecret", &secrets.arn),
            ("StripeSecret", &secrets.stripe_arn),
            ("PaymentProvider", "stripe"),
            ("OrderPaymentWindowSeconds", "1800"),
            ("Bucket", "keel-cold-start-bucket"),
        ])
        .expect("the template's environment resolves")
}

/// SDK configuration for `function`'s cold start: requests go to `endpoint` through the IAM
/// guard, checked against the function's policy and recorded in `log`.
fn guarded_sdk(
    function: &Function,
    resources: &Resources,
    log: &AccessLog,
    endpoint: &str,
) -> aws_config::SdkConfig {
    local_sdk_config()
        .into_builder()
        .endpoint_url(endpoint)
        .http_client(IamGuard::new(
            keel::config::aws_https_client().expect("the HTTPS client builds"),
            &function.logical_id,
            function.policy.clone(),
            resources.clone(),
            log.clone(),
        ))
        .build()
}

/// Runs the real cold start of every function in `template`, with its template environment
/// and its policy enforced. Answers the functions whose cold start failed, with why.
async fn cold_starts(
    template: &Template,
    secrets: &SecretsManager,
    log: &AccessLog,
) -> Vec<(String, String)> {
    let table = "keel-cold-start";
    let resources = Resources {
        names: [
            (table.to_owned(), "Table".to_owned()),
            (secrets.arn.clone(), "JwtSecret".to_owned()),
            (secrets.stripe_arn.clone(), "StripeSecret".to_owned()),
        ]
        .into(),
    };
    let mut failed = Vec::new();
    for function in &template.functions {
        let binary = function.binary.as_deref().expect("every function names a binary");
        let needs = registry::needs(binary).expect("every binary is registered");
        let sdk = guarded_sdk(function, &resources, log, &secrets.endpoint);
        let env = environment(function, table, secrets);
        if let Err(error) = Deps::cold_start(needs, |name| env.get(name).cloned(), &sdk).await {
            failed.push((function.logical_id.clone(), format!("{error:#}")));
        }
    }
    failed
}

/// Every endpoint in the states that make it send each kind of request it can, and the
/// stream function on article and follow inserts and removes.
async fn exercise(app: &TestApp) {
    keel_tests::budgets::measure(app).await;
    let (author, a) = app.registered_user().await;
    let (reader, r) = app.registered_user().await;
    // Registration and profile changes that collide: the conditional writes that fail.
    assert_eq!(app.register(&reader).await.status, 409);
    let taken = app.update_user(&r, json!({"email": author.email})).await;
    assert_eq!(taken.status, 409);
    // A failed login counts against the email and the address; the next success clears it.
    assert_eq!(app.login(&author.email, "not the password").await.status, 401);
    assert_eq!(app.login(&author.email, &author.password).await.status, 200);
    // A new password ends the session: carry on with the token the change hands back.
    let changed = app.update_user(&r, json!({"password": "a new password"})).await;
    let r = changed.body["user"]["token"].as_str().unwrap().to_owned();
    // A follow before the author writes (fan-out on insert), articles with comments and
    // favorites, then deletion (the stream's clean-up), then an unfollow (feed sync).
    let profile = format!("/profiles/{}/follow", author.username);
    assert_eq!(app.send("POST", &profile, None, Some(&r)).await.status, 200);
    let slug = app.article_by(&a, "Least privilege", &["iam"]).await;
    let article = format!("/articles/{slug}");
    app.send(
        "POST",
        &format!("{article}/comments"),
        Some(json!({"comment": {"body": "hi"}})),
        Some(&r),
    )
    .await;
    app.send("POST", &format!("{article}/favorite"), None, Some(&r))
        .await;
    app.send(
        "PUT",
        &article,
        Some(json!({"article": {"title": "Least privilege, renamed"}})),
        Some(&a),
    )
    .await;
    let renamed = app.list(&format!("?author={}", author.username), None).await;
    let renamed = TestApp::slugs(&renamed)[0].clone();
    assert_eq!(
        app.send("DELETE", &format!("/articles/{renamed}"), None, Some(&a))
            .await
            .status,
        204
    );
    app.article_by(&a, "Still followed", &[]).await;
    assert_eq!(app.send("DELETE", &profile, None, Some(&r)).await.status, 200);
    assert_eq!(app.send("POST", &profile, None, Some(&r)).await.status, 200);
    exercise_uploads(app, &a).await;
    // Signing out everywhere, last: it ends the session.
    assert_eq!(app.send("POST", "/user/logout", None, Some(&r)).await.status, 204);
    // The stream function's requests are made in the background: wait for them.
    app.settled().await;
}

/// Every upload route, the presigned requests the functions sign (judged by the S3 engine as
/// the signer's), and the finaliser on a ready, a rejected and an unknown upload.
async fn exercise_uploads(app: &TestApp, token: &str) {
    let mut ids = Vec::new();
    for bytes in [png(4, 4), b"not a png".to_vec()] {
        let id = upload(app, token, "a.png", "image/png", &bytes, "avatar").await;
        let completed = app
            .send("POST", &format!("/uploads/{id}/complete"), None, Some(token))
            .await;
        assert!(matches!(completed.status, 200 | 422), "{}", completed.body);
        ids.push(id);
    }
    let ready = &ids[0];
    assert_eq!(app.send("GET", "/uploads", None, Some(token)).await.status, 200);
    assert_eq!(
        app.send("GET", &format!("/uploads/{ready}"), None, Some(token))
            .await
            .status,
        200
    );
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/uploads/{ready}/content", app.api))
        .header("authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let download = reqwest::get(redirect.headers()["location"].to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        download.status(),
        200,
        "the presigned download is allowed to its signer"
    );
    let url = format!("{}/uploads/{ready}/content", app.api);
    assert_eq!(app.update_user(token, json!({"image": url})).await.status, 200);
    assert_eq!(app.update_user(token, json!({"image": null})).await.status, 200);
    // A product photo: attached at creation, released by an update.
    let (_, admin) = app.admin().await;
    let photo = upload(app, &admin, "p.png", "image/png", &png(4, 4), "product").await;
    app.send("POST", &format!("/uploads/{photo}/complete"), None, Some(&admin))
        .await;
    let created = app
        .send(
            "POST",
            "/products",
            Some(json!({"product": {"name": "Photo", "category": "art", "price": {"amount": 1, "currency": "EUR"},
                "image": photo}})),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let product = created.body["product"]["id"].as_str().unwrap();
    let cleared = app
        .send(
            "PUT",
            &format!("/products/{product}"),
            Some(json!({"product": {"image": null}})),
            Some(&admin),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{photo}"), None, Some(&admin))
            .await
            .status,
        204
    );
    for id in &ids {
        assert_eq!(
            app.send("DELETE", &format!("/uploads/{id}"), None, Some(token))
                .await
                .status,
            204
        );
    }
    // Bytes for an upload that does not exist: the finaliser removes everything of it.
    let orphan = uuid::Uuid::new_v4();
    app.put_object(&format!("uploads/{orphan}"), vec![1u8]).await;
    let started = std::time::Instant::now();
    while !app.bucket_keys().await.is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the orphan stays"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// What one run saw.
struct Run {
    template: Template,
    log: AccessLog,
    /// Functions whose cold start failed, with why.
    failed: Vec<(String, String)>,
    /// Whether every step of the scenario got the answer it expects.
    scenario_passed: bool,
}

/// Runs the cold starts and the scenario against `template_file`.
async fn run(template_file: &std::path::Path) -> Run {
    let template = Template::load(template_file).expect("template parses");
    let log = AccessLog::default();
    let secrets = secrets_manager().await;
    let failed = cold_starts(&template, &secrets, &log).await;

    let dir = tempfile::tempdir().unwrap();
    let mut options = keel_tests::test_options(dir.path(), false);
    options.template = template_file.to_owned();
    options.access_log = log.clone();
    let app = keel_local::spawn(options).await.expect("local API starts");
    let app = TestApp::new(app, dir);
    // A refused request fails a step of the scenario; the run goes on being recorded.
    let scenario_passed = tokio::spawn(async move { exercise(&app).await }).await.is_ok();
    // The payment functions' gateway paths, on an API taking payments through localstripe,
    // checked against the same policies in the same log.
    let stripe = keel_tests::stripe::LocalStripe::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = keel_tests::test_options(dir.path(), false);
    options.template = template_file.to_owned();
    options.access_log = log.clone();
    options.payments = keel_tests::stripe_payments(&stripe, std::time::Duration::from_secs(1));
    let paying = TestApp::new(keel_local::spawn(options).await.expect("local API starts"), dir);
    let payments_passed = tokio::spawn(async move {
        keel_tests::budgets::measure_payments(&paying, &stripe).await;
    })
    .await
    .is_ok();
    let scenario_passed = scenario_passed && payments_passed;
    Run {
        template,
        log,
        failed,
        scenario_passed,
    }
}

/// Grants only a race can make a function use, each with the race. The scenario cannot force
/// it; everything else must be seen in use.
const RARE_PATH_GRANTS: &[(&str, &str, &str, &str)] = &[(
    "CompleteUploadFunction",
    "s3:DeleteObject",
    "Bucket/files/*",
    "the upload is deleted while this request is finalising it: the files it stored are removed",
)];

/// Local resource names differ per run; a policy names logical ones, and so does the log.
fn unused_grants(policy: &Policy, used: &BTreeSet<Access>) -> Vec<Access> {
    policy
        .grants()
        .into_iter()
        .filter(|grant| !used.iter().any(|access| Policy::grant_covers(grant, access)))
        .collect()
}

#[tokio::test]
async fn every_function_is_allowed_exactly_what_it_uses() {
    let Run {
        template,
        log,
        failed,
        scenario_passed,
    } = run(&template_path()).await;
    assert!(failed.is_empty(), "cold starts failed: {failed:#?}");
    assert!(scenario_passed, "the scenario failed");
    assert!(
        !log.is_empty(),
        "no request was recorded: the guard is not attached"
    );
    assert_eq!(log.denied(), vec![], "requests outside the functions' policies");

    let mut unused = Vec::new();
    for function in &template.functions {
        let used = log.accesses(&function.logical_id);
        assert!(!used.is_empty(), "{} sent nothing", function.logical_id);
        for grant in unused_grants(&function.policy, &used) {
            let rare = RARE_PATH_GRANTS
                .iter()
                .any(|(f, a, r, _)| *f == function.logical_id && *a == grant.action && *r == grant.resource);
            if !rare {
                unused.push(format!("{}: {grant}", function.logical_id));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "grants no test made the function use:\n{}",
        unused.join("\n")
    );
}

// Removing a grant makes its function fail: one grant per kind of request — cold start (the
// secret), a transaction item, a batch read, the stream function's query and batch delete,
// presigned requests, and the upload finaliser's write. One test each: every case is a whole
// run of the scenario, and apart they share the machine's cores instead of queueing in one test.

#[tokio::test]
async fn without_its_secret_grant_login_fails_at_cold_start() {
    removing_a_grant_fails_its_function("LoginFunction", "secretsmanager:GetSecretValue", "JwtSecret").await;
}

#[tokio::test]
async fn without_put_item_registration_is_refused() {
    removing_a_grant_fails_its_function("RegisterUserFunction", "dynamodb:PutItem", "Table").await;
}

#[tokio::test]
async fn without_batch_get_item_reading_an_article_is_refused() {
    removing_a_grant_fails_its_function("GetArticleFunction", "dynamodb:BatchGetItem", "Table").await;
}

#[tokio::test]
async fn without_query_the_feed_fanout_is_refused() {
    removing_a_grant_fails_its_function("FeedFanoutFunction", "dynamodb:Query", "Table").await;
}

#[tokio::test]
async fn without_batch_write_item_the_feed_fanout_is_refused() {
    removing_a_grant_fails_its_function("FeedFanoutFunction", "dynamodb:BatchWriteItem", "Table").await;
}

#[tokio::test]
async fn without_put_object_on_incoming_uploads_a_presigned_upload_is_refused_at_s3() {
    // A presigned URL is judged by its signer's permissions, at S3, not when it is signed.
    removing_a_grant_fails_its_function("CreateUploadFunction", "s3:PutObject", "Bucket/uploads/*").await;
}

#[tokio::test]
async fn without_get_object_on_files_a_presigned_download_is_refused_at_s3() {
    removing_a_grant_fails_its_function("UploadContentFunction", "s3:GetObject", "Bucket/files/*").await;
}

#[tokio::test]
async fn without_put_object_on_files_the_upload_finaliser_is_refused() {
    removing_a_grant_fails_its_function("UploadFinaliseFunction", "s3:PutObject", "Bucket/files/*").await;
}

/// Runs the whole scenario with `action` on `resource` taken out of `function`'s policy, and
/// asserts that the guard refused that function exactly such a request (and, for the secret,
/// that its cold start failed).
async fn removing_a_grant_fails_its_function(function: &str, action: &str, resource: &str) {
    let original = std::fs::read_to_string(template_path()).unwrap();
    let edited = remove_grant(&original, function, action, resource);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("template.yaml");
    std::fs::write(&file, edited).unwrap();
    let Run { log, failed, .. } = run(&file).await;
    let grant = Access {
        action: action.into(),
        resource: resource.into(),
    };
    let refused = log
        .denied()
        .into_iter()
        .any(|(f, access)| f == function && Policy::grant_covers(&grant, &access));
    assert!(
        refused,
        "{function} without {action} on {resource} was never refused"
    );
    if action.starts_with("secretsmanager") {
        assert!(
            failed
                .iter()
                .any(|(f, why)| f == function && why.contains("Secrets Manager")),
            "{function}'s cold start should fail without the secret: {failed:?}"
        );
    }
}

#[tokio::test]
async fn a_stream_function_that_loads_token_keys_is_refused_the_secret_at_cold_start() {
    // The bug this suite exists for: FeedFanoutFunction once received JWT_SECRET_ARN from
    // Globals and fetched it at cold start, which its policy does not allow, so in AWS its init
    // failed and no feed ever filled. Replay that cold start against today's policy.
    let template = Template::load(&template_path()).unwrap();
    let fanout = template
        .function("FeedFanoutFunction")
        .expect("the stream function");
    let secrets = secrets_manager().await;
    let log = AccessLog::default();
    let resources = Resources {
        names: [(secrets.arn.clone(), "JwtSecret".to_owned())].into(),
    };
    let sdk = guarded_sdk(fanout, &resources, &log, &secrets.endpoint);
    let mut env = environment(fanout, "keel", &secrets);
    env.insert("JWT_SECRET_ARN".into(), secrets.arn.clone());
    let cold_start =
        Deps::cold_start(keel::config::Needs::TableAndTokens, |n| env.get(n).cloned(), &sdk).await;
    assert!(cold_start.is_err(), "the cold start must fail as it did in AWS");
    assert_eq!(
        log.denied(),
        [(
            "FeedFanoutFunction".to_owned(),
            Access {
                action: "secretsmanager:GetSecretValue".into(),
                resource: "JwtSecret".into()
            }
        )]
    );
    // And as declared today, it never asks.
    let today = Deps::cold_start(
        registry::needs("feed-fanout").unwrap(),
        |n| env.get(n).cloned(),
        &sdk,
    )
    .await;
    assert!(today.is_ok());
    assert_eq!(log.len(), 1, "the stream function's cold start sends nothing");
}

/// `original` with `action` taken out of every statement of `function` that names `resource`.
/// Statements list actions inline (`Action: [a, b]`) above their `Resource`.
fn remove_grant(original: &str, function: &str, action: &str, resource: &str) -> String {
    let logical = |line: &str| {
        if line.contains("/index/gsi1") {
            "Table/index/gsi1"
        } else if line.contains("Table.Arn") {
            "Table"
        } else if line.contains("JwtSecret") {
            "JwtSecret"
        } else if line.contains("StripeSecret") {
            "StripeSecret"
        } else if line.contains("/index/gsi2") {
            "Table/index/gsi2"
        } else if line.contains("${Bucket.Arn}/uploads/*") {
            "Bucket/uploads/*"
        } else if line.contains("${Bucket.Arn}/files/*") {
            "Bucket/files/*"
        } else {
            "?"
        }
    };
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    let start = lines
        .iter()
        .position(|l| *l == format!("  {function}:"))
        .unwrap_or_else(|| panic!("{function} in template"));
    let end = (start + 1..lines.len())
        .find(|&i| lines[i].starts_with("  ") && !lines[i].starts_with("   "))
        .unwrap_or(lines.len());
    let mut removed = false;
    for i in start..end {
        let line = lines[i].clone();
        let Some((head, rest)) = line.split_once("Action: [") else {
            continue;
        };
        let resources: Vec<&str> = lines[i + 1..end]
            .iter()
            .take_while(|l| !l.trim_start().starts_with("- Effect") && !l.trim_start().starts_with("Action"))
            .map(|l| logical(l))
            .collect();
        let actions: Vec<&str> = rest.trim_end_matches(']').split(',').map(str::trim).collect();
        if resources.contains(&resource) && actions.contains(&action) {
            let kept: Vec<&str> = actions.into_iter().filter(|a| *a != action).collect();
            let kept = if kept.is_empty() {
                "none:None".to_owned()
            } else {
                kept.join(", ")
            };
            lines[i] = format!("{head}Action: [{kept}]");
            removed = true;
        }
    }
    assert!(removed, "{function}: no {action} on {resource} to remove");
    lines.join("\n")
}
