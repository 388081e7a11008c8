//! Keel's Stripe client against Stripe's own answers (`tests/fixtures/stripe/`, in the shapes of
//! Stripe's API reference), served by a loopback responder that also keeps each request: what
//! localstripe does not check — the headers Keel sends and the error codes Stripe answers with.

use std::sync::{Arc, Mutex};

use keel::domain::{Currency, Order, OrderId, OrderPayment, OrderStatus, PaymentProvider, UserId};
use keel::payments::stripe::{API_VERSION, Stripe, StripeSecrets, Trust};
use keel::payments::{Cancelled, GatewayError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the responder read it: the head (request line and headers) and the body.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: String,
}

/// Answers every request with `status` and `body`, and keeps what it was sent.
async fn responder(status: u16, body: String) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, length) = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buffer).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_owned();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    break (head, end + 4 + length);
                }
            };
            while buffer.len() < length {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body_start = head.len() + 4;
            kept.lock().unwrap().push(Seen {
                head,
                body: String::from_utf8_lossy(&buffer[body_start..]).into_owned(),
            });
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (url, seen)
}

fn fixture(name: &str, order: &OrderId) -> String {
    let path = format!("{}/fixtures/stripe/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .expect("the fixture")
        .replace("ORDER_ID", order.as_str())
}

fn client(url: &str) -> Stripe {
    let secrets = StripeSecrets {
        secret_key: "sk_test_client_suite".into(),
        webhook_secrets: vec![],
    };
    Stripe::new(url, secrets, Trust::System).expect("the client builds")
}

fn order() -> Order {
    Order {
        id: OrderId::generate(),
        user_id: UserId::from_trusted("u".into()),
        status: OrderStatus::AwaitingPayment,
        lines: vec![],
        currency: Currency::from_trusted("EUR".into()),
        total_amount: 2_900,
        created_at: String::new(),
        updated_at: String::new(),
        expires_at: None,
        payment: OrderPayment::new(PaymentProvider::Stripe),
        history: vec![],
    }
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn a_payment_intent_is_created_for_the_exact_total_keyed_and_pinned_to_the_api_version() {
    let order = order();
    let (url, seen) = responder(200, fixture("payment-intent-created.json", &order.id)).await;
    let intent = client(&url).create_intent(&order).await.expect("created");
    assert_eq!(intent.id, "pi_3MtwBwLkdIwHu7ix28a3tqPa");
    assert!(
        intent
            .client_secret
            .starts_with("pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_")
    );
    let sent = seen.lock().unwrap()[0].clone();
    assert!(
        sent.head.starts_with("POST /v1/payment_intents HTTP/1.1"),
        "{}",
        sent.head
    );
    assert_eq!(
        header(&sent, "authorization"),
        Some("Bearer sk_test_client_suite")
    );
    assert_eq!(header(&sent, "stripe-version"), Some(API_VERSION));
    let key = format!("keel-order-{}", order.id);
    assert_eq!(header(&sent, "idempotency-key"), Some(key.as_str()));
    assert_eq!(
        header(&sent, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = form_pairs(&sent.body);
    assert!(form.contains(&("amount".into(), "2900".into())), "{form:?}");
    assert!(form.contains(&("currency".into(), "eur".into())), "{form:?}");
    assert!(form.contains(&("metadata[order_id]".into(), order.id.to_string())));
}

#[tokio::test]
async fn a_cancel_stripe_refuses_because_the_payment_succeeded_is_an_answer_not_a_failure() {
    let order = order();
    let (url, seen) = responder(400, fixture("cancel-succeeded-intent.json", &order.id)).await;
    let cancelled = client(&url).cancel_intent("pi_3MtwBwLkdIwHu7ix28a3tqPa").await;
    assert_eq!(cancelled.expect("an answer"), Cancelled::AlreadyFinal);
    let sent = seen.lock().unwrap()[0].clone();
    assert!(
        sent.head
            .starts_with("POST /v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa/cancel "),
        "{}",
        sent.head
    );
}

#[tokio::test]
async fn a_refund_is_keyed_by_the_order_so_a_retry_never_refunds_twice() {
    let order = order();
    let (url, seen) = responder(200, fixture("refund-created.json", &order.id)).await;
    let refund = client(&url)
        .refund(&order, "pi_3MtwBwLkdIwHu7ix28a3tqPa")
        .await
        .expect("refunded");
    assert_eq!(refund, "re_1Nispe2eZvKYlo2Cd31jOCgZ");
    let sent = seen.lock().unwrap()[0].clone();
    let key = format!("keel-refund-{}", order.id);
    assert_eq!(header(&sent, "idempotency-key"), Some(key.as_str()));
    assert!(
        form_pairs(&sent.body).contains(&("payment_intent".into(), "pi_3MtwBwLkdIwHu7ix28a3tqPa".into()))
    );
}

#[tokio::test]
async fn a_refused_key_is_keels_problem_and_a_failing_or_throttling_gateway_is_worth_a_retry() {
    let order = order();
    let (url, _) = responder(401, fixture("invalid-api-key.json", &order.id)).await;
    match client(&url).create_intent(&order).await {
        Err(GatewayError::Refused {
            status: 401, message, ..
        }) => {
            assert!(message.starts_with("Invalid API Key"), "{message}");
        }
        other => panic!("a refusal, not {other:?}"),
    }
    for status in [429, 500, 503] {
        let (url, _) = responder(status, "{}".into()).await;
        let answer = client(&url).create_intent(&order).await;
        assert!(
            matches!(answer, Err(GatewayError::Unavailable(_))),
            "{status}: {answer:?}"
        );
    }
    // Nothing listening at all.
    let answer = client("http://127.0.0.1:9").create_intent(&order).await;
    assert!(matches!(answer, Err(GatewayError::Unavailable(_))), "{answer:?}");
}

fn form_pairs(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}
