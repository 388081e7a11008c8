//! Benchmark: does a login for an unknown email take as long as one with a wrong password?
//!
//! Runs the local API in-process (embedded engines, or `AWS_ENDPOINT_URL_DYNAMODB`), registers a
//! user, then times interleaved logins over HTTP: a correct password (the baseline), a wrong
//! password, and an unknown email. Reports medians and the ratios to the baseline measured in the
//! same run, so the figures compare across machines, and the ratio that matters: unknown email
//! to wrong password (both 401s; near 1.0 means timing does not reveal which emails exist).
//!
//!     cargo run -p keel-tests --example login_timing [-- ROUNDS]

use std::time::{Duration, Instant};

use keel_tests::{NewUser, spawn_app};

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(40);
    let app = spawn_app().await;
    let (user, _) = app.registered_user().await;
    let unknown = NewUser::random().email;

    let cases: [(&str, &str, &str, u16); 3] = [
        ("correct password (baseline)", &user.email, &user.password, 200),
        ("wrong password", &user.email, "not-the-password", 401),
        ("unknown email", &unknown, &user.password, 401),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); cases.len()];
    // Warm-up: connection pool, first-touch page faults in argon2's 19 MiB.
    for (_, email, password, _) in &cases {
        app.login(email, password).await;
    }
    for _ in 0..rounds {
        for (index, (name, email, password, status)) in cases.iter().enumerate() {
            let started = Instant::now();
            let reply = app.login(email, password).await;
            samples[index].push(started.elapsed());
            assert_eq!(reply.status, *status, "{name}");
        }
    }
    let medians: Vec<Duration> = samples
        .iter_mut()
        .map(|s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect();
    println!("login timing over HTTP, {rounds} interleaved rounds, median per case:");
    for ((name, ..), median) in cases.iter().zip(&medians) {
        println!(
            "  {name:<28} {:>7.2} ms  ratio to baseline {:.3}",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() / medians[0].as_secs_f64()
        );
    }
    // The pair an attacker would compare to learn whether an email is registered.
    println!(
        "unknown email / wrong password: {:.3}",
        medians[2].as_secs_f64() / medians[1].as_secs_f64()
    );
}
