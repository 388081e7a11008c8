//! A stand-in for the Lambda Runtime API on loopback, for one cold start: it hands the process
//! one event on its first `GET /next`, takes the response, and notes when each happened; then,
//! when asked, the same event again a number of times (warm invocations of the same process).
//!
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// What the function answered.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST /invocation/{id}/response` with this body.
    Response(Bytes),
    /// `POST /invocation/{id}/error` or `/init/error`, with this body.
    Error(Bytes),
}

#[derive(Default)]
struct State {
    event: Bytes,
    /// Events still to hand out.
    left: usize,
    first_next: Option<Instant>,
    /// Connection counters read when the first `GET /next` arrives, and what they read then.
    counters: Vec<Arc<AtomicUsize>>,
    counted_at_first_next: Vec<usize>,
    outcome: Option<oneshot::Sender<(Instant, Outcome)>>,
    /// When each event was handed out, and when its answer came.
    handed: Vec<Instant>,
    answered: Vec<Instant>,
}

/// One invocation's Runtime API.
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`, for `AWS_LAMBDA_RUNTIME_API`.
    pub addr: SocketAddr,
    first_next: watch::Receiver<Option<Instant>>,
    outcome: Option<oneshot::Receiver<(Instant, Outcome)>>,
    answers: watch::Receiver<usize>,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

impl RuntimeApi {
    /// Serves `event` to the first `GET /next`, and to the `warm` after it. `counters` are read
    /// the moment the first `GET /next` arrives, before the event is handed out, so what the
    /// invocation then sends is not counted as init's.
    pub async fn start(
        event: serde_json::Value,
        warm: usize,
        counters: Vec<Arc<AtomicUsize>>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let state = Arc::new(Mutex::new(State {
            event: Bytes::from(event.to_string()),
            left: 1 + warm,
            counters,
            outcome: Some(outcome_tx),
            ..State::default()
        }));
        let (next_tx, next_rx) = watch::channel(None);
        let next_tx = Arc::new(next_tx);
        let (answers_tx, answers_rx) = watch::channel(0usize);
        let answers_tx = Arc::new(answers_tx);
        let served = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let state = served.clone();
                let next_tx = next_tx.clone();
                let answers_tx = answers_tx.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        let next_tx = next_tx.clone();
                        let answers_tx = answers_tx.clone();
                        async move { Ok::<_, Infallible>(handle(req, &state, &next_tx, &answers_tx).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            first_next: next_rx,
            outcome: Some(outcome_rx),
            answers: answers_rx,
            state,
            server,
        })
    }

    /// Waits for the answers to the warm invocations after the first, and answers how long
    /// each took (event handed out → answer).
    pub async fn warm(&mut self) -> anyhow::Result<Vec<std::time::Duration>> {
        let total = {
            let state = self.state.lock().expect("state");
            state.handed.len() + state.left
        };
        self.answers.wait_for(|n| *n >= total).await?;
        let state = self.state.lock().expect("state");
        Ok(state
            .handed
            .iter()
            .zip(&state.answered)
            .skip(1)
            .map(|(handed, answered)| *answered - *handed)
            .collect())
    }

    /// When the process first asked for work: the end of its init.
    pub async fn first_next(&mut self) -> anyhow::Result<Instant> {
        let at = self.first_next.wait_for(Option::is_some).await?;
        Ok(at.expect("BUG: waited for Some"))
    }

    /// What the counters given to [`RuntimeApi::start`] read when the process first asked for
    /// work (empty before then).
    pub fn counted_at_first_next(&self) -> Vec<usize> {
        self.state.lock().expect("state").counted_at_first_next.clone()
    }

    /// When the function answered the event, and what it said.
    pub async fn outcome(&mut self) -> anyhow::Result<(Instant, Outcome)> {
        let receiver = self
            .outcome
            .take()
            .ok_or_else(|| anyhow::anyhow!("outcome already taken"))?;
        Ok(receiver.await?)
    }
}

async fn handle(
    req: hyper::Request<Incoming>,
    state: &Mutex<State>,
    next_tx: &watch::Sender<Option<Instant>>,
    answers_tx: &watch::Sender<usize>,
) -> hyper::Response<Full<Bytes>> {
    let now = Instant::now();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method == hyper::Method::GET && path.ends_with("/runtime/invocation/next") {
        let event = {
            let mut state = state.lock().expect("state");
            if state.first_next.is_none() {
                state.counted_at_first_next =
                    state.counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
                state.first_next = Some(now);
                let _ = next_tx.send(Some(now));
            }
            (state.left > 0).then(|| {
                state.left -= 1;
                state.handed.push(Instant::now());
                state.event.clone()
            })
        };
        let Some(event) = event else {
            // The events all handed out: later polls wait until the process is stopped.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let deadline = chrono_free_deadline_ms();
        return hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", REQUEST_ID)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:keel-bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            )
            .header("content-type", "application/json")
            .body(Full::new(event))
            .expect("BUG: static response");
    }
    let outcome = if path.ends_with("/response") {
        Some(Outcome::Response(body))
    } else if path.ends_with("/error") {
        Some(Outcome::Error(body))
    } else {
        None
    };
    if let Some(outcome) = outcome {
        let mut state = state.lock().expect("state");
        state.answered.push(now);
        let answers = state.answered.len();
        if let Some(sender) = state.outcome.take() {
            let _ = sender.send((now, outcome));
        }
        let _ = answers_tx.send(answers);
    }
    hyper::Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))
        .expect("BUG: static response")
}

/// Now plus ten seconds, in Unix milliseconds.
fn chrono_free_deadline_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 10_000)
        .unwrap_or(0)
}
