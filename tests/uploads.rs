//! Photo and file uploads, black-box over HTTP and the S3 protocol: the API announces, S3 (the
//! embedded `s3s` engine, signatures and the signer's permissions checked) receives the bytes
//! from the presigned request, the bucket's Object Created event finalises, and downloads are
//! presigned redirects. Runs on the embedded DynamoDB and on DynamoDB Local.

use std::time::{Duration, Instant};

use keel_tests::uploads::{announce, png, send_bytes, send_to, settled, upload};
use keel_tests::{TestApp, spawn_app};
use serde_json::{Value, json};

const GPS_JPEG: &[u8] = include_bytes!("fixtures/uploads/gps.jpg");

/// A 10000 × 10000 PNG that compresses to ~100 KB: 300 MB once decoded.
fn bomb() -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::NoFilter,
    );
    image::DynamicImage::new_luma8(10_000, 10_000)
        .write_with_encoder(encoder)
        .unwrap();
    out
}

fn bucket(app: &TestApp) -> String {
    app.app.bucket.clone()
}

/// Follows `/content` by hand: answers the redirect's target, or the status when there is none.
async fn content(app: &TestApp, id: &str, variant: &str, token: Option<&str>) -> Result<String, u16> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.get(format!("{}/uploads/{id}/content{variant}", app.api));
    if let Some(token) = token {
        request = request.header("authorization", format!("Token {token}"));
    }
    let response = request.send().await.unwrap();
    match response.status().as_u16() {
        302 => Ok(response.headers()["location"].to_str().unwrap().to_owned()),
        status => Err(status),
    }
}

fn has_exif(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == b"Exif\0\0")
}

#[tokio::test]
async fn a_photo_with_its_gps_location_is_served_without_it_with_a_thumbnail_and_becomes_the_avatar() {
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    assert!(has_exif(GPS_JPEG), "the fixture carries EXIF (GPS)");
    let id = upload(&app, &token, "holiday.jpg", "image/jpeg", GPS_JPEG, "avatar").await;
    let record = settled(&app, &token, &id).await;
    assert_eq!(record["status"], "ready", "{record}");
    assert_eq!(
        (record["width"].as_u64(), record["height"].as_u64()),
        (Some(800), Some(600))
    );

    let served_at = content(&app, &id, "", Some(&token)).await.expect("a redirect");
    let served = reqwest::get(&served_at).await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert!(
        served.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
    let served = served.bytes().await.unwrap();
    assert!(!has_exif(&served), "the served photo still carries EXIF");
    assert_eq!(image::load_from_memory(&served).unwrap().width(), 800);

    let thumbnail_at = content(&app, &id, "?variant=thumbnail", Some(&token))
        .await
        .expect("a thumbnail");
    let thumbnail = reqwest::get(&thumbnail_at).await.unwrap().bytes().await.unwrap();
    let thumbnail = image::load_from_memory(&thumbnail).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (256, 192));

    // Private until something public shows it.
    assert_eq!(content(&app, &id, "", None).await, Err(404));
    let url = record["url"].as_str().unwrap().to_owned();
    let updated = app.update_user(&token, json!({"image": url})).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let profile = app
        .send("GET", &format!("/profiles/{}", user.username), None, None)
        .await;
    assert_eq!(profile.body["profile"]["image"], url.as_str());
    let public = content(&app, &id, "", None).await.expect("an avatar is public");
    assert_eq!(reqwest::get(&public).await.unwrap().status(), 200);
    // In use: not deletable. Replaced: private again, and deletable with every object.
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{id}"), None, Some(&token))
            .await
            .status,
        409
    );
    app.update_user(&token, json!({"image": "https://example.com/me.png"}))
        .await;
    assert_eq!(content(&app, &id, "", None).await, Err(404));
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{id}"), None, Some(&token))
            .await
            .status,
        204
    );
    assert_eq!(
        app.bucket_keys().await,
        Vec::<String>::new(),
        "nothing left in the bucket"
    );
    assert_eq!(
        reqwest::get(&public).await.unwrap().status(),
        404,
        "the old link finds nothing"
    );
}

#[tokio::test]
async fn s3_itself_refuses_a_forged_an_expired_a_retargeted_and_a_longer_upload() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let bytes = png(8, 8);
    let reply = announce(&app, &token, "a.png", "image/png", bytes.len(), "avatar").await;
    let request = reply.body["uploadRequest"].clone();
    let url = request["url"].as_str().unwrap();

    let last = url.chars().last().unwrap();
    let forged = format!("{}{}", &url[..url.len() - 1], if last == '0' { '1' } else { '0' });
    assert_eq!(
        send_to(&forged, &request, bytes.clone()).await,
        403,
        "forged signature"
    );
    let id = reply.body["upload"]["id"].as_str().unwrap();
    let other = url.replace(id, &uuid::Uuid::new_v4().to_string());
    assert_eq!(send_to(&other, &request, bytes.clone()).await, 403, "another key");
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        send_bytes(&request, longer).await,
        403,
        "more bytes than declared"
    );
    let mut wrong_type = request.clone();
    wrong_type["headers"]["content-type"] = json!("text/html");
    assert_eq!(
        send_bytes(&wrong_type, bytes.clone()).await,
        403,
        "another content type"
    );

    // A request signed correctly, by the same signer, whose window has passed.
    let client = app.app.s3.clone().unwrap();
    let config = aws_sdk_s3::presigning::PresigningConfig::builder()
        .start_time(std::time::SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(600))
        .build()
        .unwrap();
    let expired = client
        .put_object()
        .bucket(bucket(&app))
        .key(format!("uploads/{id}"))
        .content_type("image/png")
        .content_length(bytes.len() as i64)
        .presigned(config)
        .await
        .unwrap();
    assert_eq!(
        send_to(expired.uri(), &request, bytes.clone()).await,
        403,
        "expired"
    );

    assert_eq!(
        app.bucket_keys().await,
        Vec::<String>::new(),
        "no refused request stored anything"
    );
    assert_eq!(
        send_bytes(&request, bytes).await,
        200,
        "the genuine request still works"
    );
    assert_eq!(settled(&app, &token, id).await["status"], "ready");
}

#[tokio::test]
async fn files_that_are_not_what_was_declared_are_rejected_with_a_reason_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>".to_vec();
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "photo.jpg",
            "image/jpeg",
            png(16, 16),
            "the file's content is image/png, but image/jpeg was declared",
        ),
        (
            "cat.jpg",
            "image/jpeg",
            html.clone(),
            "the file's content is text/html, but image/jpeg was declared",
        ),
        (
            "notes.txt",
            "text/plain",
            html,
            "the file's content is text/html, but text/plain was declared",
        ),
        (
            "huge.png",
            "image/png",
            bomb(),
            "the image is 10000 × 10000 pixels; the most accepted is 40 megapixels",
        ),
    ];
    for (name, content_type, bytes, reason) in cases {
        let purpose = if content_type == "text/plain" {
            "attachment"
        } else {
            "avatar"
        };
        let id = upload(&app, &token, name, content_type, &bytes, purpose).await;
        let record = settled(&app, &token, &id).await;
        assert_eq!(record["status"], "rejected", "{name}");
        assert_eq!(record["reason"], reason, "{name}");
        assert_eq!(record["url"], Value::Null);
        assert_eq!(content(&app, &id, "", Some(&token)).await, Err(404));
        let again = app
            .send("POST", &format!("/uploads/{id}/complete"), None, Some(&token))
            .await;
        assert_eq!(again.status, 422);
        assert_eq!(again.body["errors"]["file"][0], reason);
    }

    // Bytes that reach the bucket some other way than the signed request (a size mismatch, an
    // empty file) are judged the same way.
    for (declared, stored) in [(100usize, vec![1u8; 99]), (5, Vec::new())] {
        let reply = announce(&app, &token, "x.txt", "text/plain", declared, "attachment").await;
        let id = reply.body["upload"]["id"].as_str().unwrap().to_owned();
        app.put_object(&format!("uploads/{id}"), stored.clone()).await;
        let completed = app
            .send("POST", &format!("/uploads/{id}/complete"), None, Some(&token))
            .await;
        assert_eq!(completed.status, 422, "{}", completed.body);
        assert_eq!(
            completed.body["errors"]["file"][0],
            format!("the file is {} bytes, but {declared} were declared", stored.len())
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.bucket_keys().await,
        Vec::<String>::new(),
        "rejected files are removed"
    );
}

#[tokio::test]
async fn announcements_with_bad_fields_are_refused_by_name_and_record_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let cases = [
        (
            json!({"filename": "a.png", "contentType": "image/png", "size": 0, "purpose": "avatar"}),
            "size",
        ),
        (
            json!({"filename": "a.png", "contentType": "image/png", "size": -1, "purpose": "avatar"}),
            "size",
        ),
        (
            json!({"filename": "a.png", "contentType": "image/png", "size": 1e30, "purpose": "avatar"}),
            "size",
        ),
        (
            json!({"filename": "a.png", "contentType": "image/png", "size": 3_000_000, "purpose": "avatar"}),
            "size",
        ),
        (
            json!({"filename": "a.png", "contentType": "image/png", "size": 10, "purpose": "backup"}),
            "purpose",
        ),
        (
            json!({"filename": "../../etc/passwd", "contentType": "text/plain", "size": 10, "purpose": "attachment"}),
            "filename",
        ),
        (
            json!({"filename": "a\\b.png", "contentType": "image/png", "size": 10, "purpose": "avatar"}),
            "filename",
        ),
        (
            json!({"filename": "photo.exe", "contentType": "image/png", "size": 10, "purpose": "avatar"}),
            "filename",
        ),
        (
            json!({"filename": "page.html", "contentType": "text/html", "size": 10, "purpose": "attachment"}),
            "contentType",
        ),
        (
            json!({"filename": "a.pdf", "contentType": "application/pdf", "size": 10, "purpose": "avatar"}),
            "contentType",
        ),
    ];
    for (fields, field) in cases {
        let reply = app
            .send(
                "POST",
                "/uploads",
                Some(json!({ "upload": fields })),
                Some(&token),
            )
            .await;
        assert_eq!(reply.status, 422, "{fields}: {}", reply.body);
        assert!(reply.body["errors"][field].is_array(), "{fields}: {}", reply.body);
    }
    let anonymous = app
        .send("POST", "/uploads", Some(json!({"upload": {}})), None)
        .await;
    assert_eq!(anonymous.status, 401);
    let listed = app.send("GET", "/uploads", None, Some(&token)).await;
    assert_eq!(listed.body["uploads"], json!([]));
    assert_eq!(app.bucket_keys().await, Vec::<String>::new());
}

#[tokio::test]
async fn another_users_private_upload_is_never_served_on_any_route() {
    let app = spawn_app().await;
    let (_, owner) = app.registered_user().await;
    let (_, other) = app.registered_user().await;
    let bytes = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let id = upload(
        &app,
        &owner,
        "contract.pdf",
        "application/pdf",
        &bytes,
        "attachment",
    )
    .await;
    assert_eq!(settled(&app, &owner, &id).await["status"], "ready");
    let photo = upload(&app, &owner, "p.png", "image/png", &png(4, 4), "avatar").await;
    settled(&app, &owner, &photo).await;

    for (who, token) in [("another user", Some(other.as_str())), ("anonymous", None)] {
        for (method, path) in [
            ("GET", format!("/uploads/{id}")),
            ("POST", format!("/uploads/{id}/complete")),
            ("DELETE", format!("/uploads/{id}")),
        ] {
            let status = app.send(method, &path, None, token).await.status;
            let expected = if token.is_none() && method != "GET" {
                401
            } else {
                404
            };
            assert_eq!(status, expected, "{who}: {method} {path}");
        }
        assert_eq!(content(&app, &id, "", token).await, Err(404), "{who}: content");
        assert_eq!(
            content(&app, &photo, "?variant=thumbnail", token).await,
            Err(404),
            "{who}: thumbnail"
        );
    }
    let theirs = app.send("GET", "/uploads", None, Some(&other)).await;
    assert_eq!(theirs.body["uploads"], json!([]));
    assert_eq!(app.send("GET", "/uploads", None, None).await.status, 401);
    // Someone else's upload cannot become your avatar.
    let url = format!("http://{}/api/uploads/{photo}/content", app.app.addr);
    let stolen = app.update_user(&other, json!({"image": url})).await;
    assert_eq!(stolen.status, 422, "{}", stolen.body);
    assert_eq!(content(&app, &photo, "", None).await, Err(404));

    // The owner gets the PDF as a download, never rendered.
    let link = content(&app, &id, "", Some(&owner)).await.unwrap();
    let served = reqwest::get(&link).await.unwrap();
    assert_eq!(served.headers()["content-type"], "application/pdf");
    assert_eq!(
        served.headers()["content-disposition"],
        "attachment; filename=\"contract.pdf\"; filename*=UTF-8''contract.pdf"
    );
    let mine = app.send("GET", "/uploads", None, Some(&owner)).await;
    assert_eq!(mine.body["uploads"].as_array().unwrap().len(), 2);
}

/// The presigned request stays valid for a while after the upload settled, so a client's retry
/// (or a replay) can store the bytes again: the finaliser removes them, as it will never read
/// them, and what was served stays as it was.
#[tokio::test]
async fn bytes_sent_again_after_the_upload_settled_leave_nothing_at_the_incoming_key() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let bytes = png(8, 8);
    let reply = announce(&app, &token, "again.png", "image/png", bytes.len(), "avatar").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["upload"]["id"].as_str().unwrap().to_owned();
    let request = &reply.body["uploadRequest"];
    assert_eq!(send_bytes(request, bytes.clone()).await, 200);
    assert_eq!(settled(&app, &token, &id).await["status"], "ready");

    assert_eq!(send_bytes(request, bytes).await, 200, "the URL is still valid");
    let incoming = format!("uploads/{id}");
    let started = Instant::now();
    while app.bucket_keys().await.contains(&incoming) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{incoming} was left in the bucket"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut keys = app.bucket_keys().await;
    keys.sort();
    assert_eq!(
        keys,
        [format!("files/{id}/original"), format!("files/{id}/thumbnail")]
    );
    assert_eq!(settled(&app, &token, &id).await["status"], "ready");
}

#[tokio::test]
async fn finalising_by_the_event_and_by_complete_at_once_records_one_result() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let bytes = png(300, 200);
    let reply = announce(&app, &token, "race.png", "image/png", bytes.len(), "article").await;
    let id = reply.body["upload"]["id"].as_str().unwrap().to_owned();
    let path = format!("/uploads/{id}/complete");
    assert_eq!(
        app.send("POST", &path, None, Some(&token)).await.status,
        409,
        "nothing sent yet"
    );
    // The PUT fires the bucket event; five explicit completions race it.
    let sent = send_bytes(&reply.body["uploadRequest"], bytes);
    let completions = futures::future::join_all((0..5).map(|_| app.send("POST", &path, None, Some(&token))));
    let (sent, completions) = tokio::join!(sent, completions);
    assert_eq!(sent, 200);
    let record = settled(&app, &token, &id).await;
    assert_eq!(record["status"], "ready");
    for completion in completions {
        assert!(matches!(completion.status, 200 | 409), "{}", completion.body);
        if completion.status == 200 {
            assert_eq!(completion.body["upload"], record);
        }
    }
    let after = app.send("POST", &path, None, Some(&token)).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["upload"], record);
    let mut stored = app.bucket_keys().await;
    stored.sort();
    assert_eq!(
        stored,
        [format!("files/{id}/original"), format!("files/{id}/thumbnail")]
    );
}

#[tokio::test]
async fn unfinished_uploads_count_against_a_quota_and_expire_leaving_nothing_in_the_bucket() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let mut pending = Vec::new();
    for i in 0..10 {
        let reply = announce(&app, &token, &format!("{i}.png"), "image/png", 100, "avatar").await;
        assert_eq!(reply.status, 201);
        pending.push(reply.body["upload"]["id"].as_str().unwrap().to_owned());
    }
    let eleventh = announce(&app, &token, "11.png", "image/png", 100, "avatar").await;
    assert_eq!(eleventh.status, 409, "{}", eleventh.body);
    assert!(eleventh.body["errors"]["uploads"].is_array());

    // Time passes for the first one: its record expires (DynamoDB's TTL) and its reservation
    // with it, so a new upload fits again.
    let first = &pending[0];
    app.app
        .deps
        .store
        .client()
        .update_item()
        .table_name(app.app.deps.store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("UPLOAD#{first}")),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("UPLOAD".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.send("GET", &format!("/uploads/{first}"), None, Some(&token))
            .await
            .status,
        404
    );
    // Its reservation still has an hour, as far as the quota item knows: deleting another
    // pending upload is what frees a place here.
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{}", pending[1]), None, Some(&token))
            .await
            .status,
        204
    );
    assert_eq!(
        announce(&app, &token, "ok.png", "image/png", 100, "avatar")
            .await
            .status,
        201
    );

    // Bytes that arrive for an upload that no longer exists are removed by the event…
    let s3 = app.app.s3.clone().unwrap();
    app.put_object(&format!("uploads/{first}"), vec![7u8; 100]).await;
    let started = Instant::now();
    while !app.bucket_keys().await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "orphan never removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …and whatever is left under uploads/ a day later goes by the bucket's lifecycle rule,
    // which never touches stored files.
    let template = keel_local::template::Template::load(&keel_local::Options::default_template()).unwrap();
    assert_eq!(template.bucket.expiry[0].prefix, keel::files::INCOMING_PREFIX);
    app.send("DELETE", &format!("/uploads/{}", pending[2]), None, Some(&token))
        .await;
    let kept = upload(&app, &token, "kept.png", "image/png", &png(4, 4), "avatar").await;
    settled(&app, &token, &kept).await;
    // A key that names no upload: the event leaves it alone, the lifecycle does not.
    app.put_object("uploads/not-an-upload", vec![1u8]).await;
    let removed = keel_local::s3::expire(
        &s3,
        &bucket(&app),
        &template.bucket.expiry,
        std::time::SystemTime::now() + Duration::from_secs(2 * 24 * 3600),
    )
    .await
    .unwrap();
    assert_eq!(removed, ["uploads/not-an-upload"]);
    let mut stored = app.bucket_keys().await;
    stored.sort();
    assert_eq!(
        stored,
        [
            format!("files/{kept}/original"),
            format!("files/{kept}/thumbnail")
        ]
    );
}

#[tokio::test]
async fn a_product_photo_is_attached_by_an_admin_and_public_while_the_product_shows_it() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (_, shopper) = app.registered_user().await;
    let first = upload(&app, &admin, "mug.png", "image/png", &png(64, 64), "product").await;
    let second = upload(&app, &admin, "mug2.png", "image/png", &png(32, 32), "product").await;
    let avatar = upload(&app, &admin, "me.png", "image/png", &png(8, 8), "avatar").await;
    let theirs = upload(&app, &shopper, "x.png", "image/png", &png(8, 8), "product").await;
    for id in [&first, &second, &avatar, &theirs] {
        settled(&app, if *id == theirs { &shopper } else { &admin }, id).await;
    }
    // A product's `image` is the id of an upload.
    let url = |id: &str| id.to_owned();
    let created = app
        .send(
            "POST",
            "/products",
            Some(json!({"product": {"name": "Mug", "category": "kitchen", "price": {"amount": 900, "currency": "EUR"}, "image": url(&first)}})),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let product = created.body["product"]["id"].as_str().unwrap().to_owned();
    assert!(
        content(&app, &first, "", None).await.is_ok(),
        "a product photo is public"
    );

    // Another purpose, or someone else's upload, cannot be a product's image.
    for id in [&avatar, &theirs] {
        let refused = app
            .send(
                "PUT",
                &format!("/products/{product}"),
                Some(json!({"product": {"image": url(id)}})),
                Some(&admin),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body["errors"]["image"].is_array());
    }
    let replaced = app
        .send(
            "PUT",
            &format!("/products/{product}"),
            Some(json!({"product": {"image": url(&second)}})),
            Some(&admin),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        content(&app, &first, "", None).await,
        Err(404),
        "the old photo is private again"
    );
    assert!(content(&app, &second, "", None).await.is_ok());
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{second}"), None, Some(&admin))
            .await
            .status,
        409
    );
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{first}"), None, Some(&admin))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn an_articles_images_are_its_authors_own_uploads_public_while_the_article_links_them() {
    let app = spawn_app().await;
    let (_, author) = app.registered_user().await;
    let (_, other) = app.registered_user().await;
    let first = upload(&app, &author, "a.png", "image/png", &png(40, 30), "article").await;
    let second = upload(&app, &author, "b.png", "image/png", &png(30, 40), "article").await;
    let avatar = upload(&app, &author, "me.png", "image/png", &png(8, 8), "avatar").await;
    let theirs = upload(&app, &other, "x.png", "image/png", &png(8, 8), "article").await;
    let mut urls = std::collections::HashMap::new();
    for id in [&first, &second, &avatar, &theirs] {
        let owner = if *id == theirs { &other } else { &author };
        let record = settled(&app, owner, id).await;
        assert_eq!(record["status"], "ready", "{record}");
        urls.insert(id.clone(), record["url"].as_str().unwrap().to_owned());
    }
    let body = |ids: &[&String]| {
        ids.iter()
            .map(|id| format!("![photo]({})", urls[*id]))
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    let article = |body: String| json!({"article": {"title": "Photos", "description": "d", "body": body}});

    // Someone else's upload, another purpose, or a link that names no upload the author may
    // show: refused, nothing created.
    let unknown = format!("![x](/api/uploads/{}/content)", uuid::Uuid::new_v4());
    for text in [body(&[&first, &theirs]), body(&[&avatar]), unknown] {
        let refused = app
            .send("POST", "/articles", Some(article(text)), Some(&author))
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body["errors"]["body"].is_array(), "{}", refused.body);
    }
    assert_eq!(
        content(&app, &first, "", None).await,
        Err(404),
        "a refused article attached nothing"
    );
    let eleven: String = (0..11)
        .map(|_| format!("![x](/api/uploads/{}/content)", uuid::Uuid::new_v4()))
        .collect();
    let too_many = app
        .send("POST", "/articles", Some(article(eleven)), Some(&author))
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.body);

    let created = app
        .send("POST", "/articles", Some(article(body(&[&first]))), Some(&author))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let slug = created.body["article"]["slug"].as_str().unwrap().to_owned();
    assert!(
        content(&app, &first, "", None).await.is_ok(),
        "an article's image is public"
    );
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{first}"), None, Some(&author))
            .await
            .status,
        409,
        "an image in use cannot be deleted"
    );
    let stolen = app
        .send("POST", "/articles", Some(article(body(&[&first]))), Some(&other))
        .await;
    assert_eq!(
        stolen.status, 422,
        "another author cannot show it: {}",
        stolen.body
    );

    // An edit that swaps the image attaches the new one and releases the old.
    let edited = app
        .send(
            "PUT",
            &format!("/articles/{slug}"),
            Some(json!({"article": {"body": body(&[&second])}})),
            Some(&author),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(
        content(&app, &first, "", None).await,
        Err(404),
        "the old image is private again"
    );
    assert!(content(&app, &second, "", None).await.is_ok());
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{first}"), None, Some(&author))
            .await
            .status,
        204
    );

    // Deleting the article releases its images.
    assert_eq!(
        app.send("DELETE", &format!("/articles/{slug}"), None, Some(&author))
            .await
            .status,
        204
    );
    assert_eq!(content(&app, &second, "", None).await, Err(404));
    assert_eq!(
        app.send("DELETE", &format!("/uploads/{second}"), None, Some(&author))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn a_browser_may_send_the_presigned_upload_from_another_origin_as_the_buckets_cors_rule_says() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    let bytes = png(4, 4);
    let reply = announce(&app, &token, "a.png", "image/png", bytes.len(), "avatar").await;
    let url = reply.body["uploadRequest"]["url"].as_str().unwrap();
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    let refused = client
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "DELETE is not in the rule");
    let sent = client
        .put(url)
        .header("origin", "http://localhost:5173")
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert_eq!(sent.headers()["access-control-allow-origin"], "*");
    assert_eq!(sent.headers()["access-control-expose-headers"], "ETag");
}
