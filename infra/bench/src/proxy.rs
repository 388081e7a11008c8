//! A TCP relay on loopback that counts the connections it accepts, put in front of each AWS
//! endpoint a function is given, so the benchmark can tell which services its init calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// A counting relay to one upstream.
pub struct CountingProxy {
    /// The service it stands in front of (`dynamodb`, `secretsmanager`).
    pub service: String,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// Relays to `upstream`, counting every accepted connection.
    pub async fn start(service: &str, upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self {
            service: service.to_owned(),
            endpoint,
            count,
            task,
        })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The counter of accepted connections, to read at a moment of the caller's choosing.
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.count.clone()
    }
}
