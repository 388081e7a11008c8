//! Prints the DynamoDB cost of every endpoint as a Markdown table: requests sent, read and
//! write capacity units consumed, and the budget the tests hold it to. Runs against the
//! embedded engine, or DynamoDB Local when `AWS_ENDPOINT_URL_DYNAMODB` is set (which reports
//! capacity units as DynamoDB does).
//!
//!     cargo run -p keel-tests --example request_budgets

use keel_tests::budgets::{BUDGETS, charged, measure};

#[tokio::main]
async fn main() {
    let app = keel_tests::spawn_app().await;
    let measured = measure(&app).await;
    println!("| endpoint | budget | requests | operations | RCU | WCU |");
    println!("|---|---:|---:|---|---:|---:|");
    for (endpoint, budget) in BUDGETS {
        let all = &measured.iter().find(|(e, _)| e == endpoint).expect("measured").1;
        // Session checks are not part of an endpoint's own cost.
        let (_, calls) = charged(all);
        let operations: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
        let read: f64 = calls.iter().map(|c| c.read_units).sum();
        let write: f64 = calls.iter().map(|c| c.write_units).sum();
        println!(
            "| `{endpoint}` | {budget} | {} | {} | {read:.1} | {write:.1} |",
            calls.len(),
            operations.join(", ")
        );
    }
}
