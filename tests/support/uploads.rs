//! Uploads as a client makes them: announce, then send the bytes with the presigned request.

use serde_json::{Value, json};

use crate::{Reply, TestApp};

/// A black PNG of `width` × `height`.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::new_rgb8(width, height)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// `POST /api/uploads`.
pub async fn announce(
    app: &TestApp,
    token: &str,
    filename: &str,
    content_type: &str,
    size: usize,
    purpose: &str,
) -> Reply {
    app.send(
        "POST",
        "/uploads",
        Some(json!({"upload": {"filename": filename, "contentType": content_type, "size": size, "purpose": purpose}})),
        Some(token),
    )
    .await
}

/// Sends `bytes` with the presigned request the API handed out; answers S3's status.
pub async fn send_bytes(request: &Value, bytes: Vec<u8>) -> u16 {
    send_to(request["url"].as_str().unwrap(), request, bytes).await
}

/// Sends `bytes` to `url` with the signed headers of `request` (not its length: the body sets
/// it); answers S3's status.
pub async fn send_to(url: &str, request: &Value, bytes: Vec<u8>) -> u16 {
    let mut put = reqwest::Client::new().put(url).body(bytes);
    for (name, value) in request["headers"].as_object().unwrap() {
        if name != "content-length" {
            put = put.header(name, value.as_str().unwrap());
        }
    }
    put.send().await.unwrap().status().as_u16()
}

/// Announces and sends a file; answers the upload id.
pub async fn upload(
    app: &TestApp,
    token: &str,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
    purpose: &str,
) -> String {
    let reply = announce(app, token, filename, content_type, bytes.len(), purpose).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        send_bytes(&reply.body["uploadRequest"], bytes.to_vec()).await,
        200
    );
    reply.body["upload"]["id"].as_str().unwrap().to_owned()
}

/// Waits until the bucket's event has finalised upload `id` (its owner's `token` reads it);
/// answers the record. Panics after 20 s.
pub async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let reply = app
            .send("GET", &format!("/uploads/{id}"), None, Some(token))
            .await;
        if reply.status == 200 && reply.body["upload"]["status"] != "pending" {
            return reply.body["upload"].clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{id} never settled: {}",
            reply.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// Every key in the bucket.
    pub async fn bucket_keys(&self) -> Vec<String> {
        let s3 = self.app.s3.as_ref().expect("local S3");
        let listed = s3
            .list_objects_v2()
            .bucket(&self.app.bucket)
            .send()
            .await
            .expect("the bucket lists");
        listed.contents().iter().filter_map(|o| o.key.clone()).collect()
    }

    /// Stores `bytes` at `key` with the operator's (unrestricted) credentials, as if they had
    /// reached the bucket some other way than a presigned request.
    pub async fn put_object(&self, key: &str, bytes: Vec<u8>) {
        self.app
            .s3
            .as_ref()
            .expect("local S3")
            .put_object()
            .bucket(&self.app.bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .expect("the object is stored");
    }
}
