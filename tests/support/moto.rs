//! AWS Secrets Manager on loopback: moto's server, from PyPI (`./infra/test.sh` installs it
//! into `infra/.tools/venv`). Keel has no local Secrets Manager of its own, and the cold-start
//! tests must run the real `GetSecretValue` call, so they use this real protocol server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A running moto server. Dropping it stops the server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    _child: tokio::process::Child,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/.tools/venv/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: run ./infra/test.sh once, which installs it",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server starts");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not listen"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}
