//! AWS Secrets Manager on loopback: moto's server, from PyPI (`./infra/test.sh` installs it
//! into `infra/.tools/venv`). Keel has no local Secrets Manager of its own, and the cold-start
//! tests must run the real `GetSecretValue` call, so they use this real protocol server.

/// A running moto server. Dropping it stops the server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    _child: tokio::process::Child,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let (port, child) = crate::start_tool("moto_server", |port| {
            vec!["-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()]
        })
        .await;
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}
