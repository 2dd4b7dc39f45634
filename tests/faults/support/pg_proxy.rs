//! A TCP proxy between downwatch and the shared PostgreSQL that the test can cut.
//!
//! It runs on a thread and runtime of its own, so it keeps forwarding whatever the test's own
//! runtime is doing. While cut, every connection is reset: those open are closed and new ones
//! are reset as soon as they are accepted, as when the server is down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy's switch, shared with its thread.
struct Switch {
    up: AtomicBool,
    /// Bumped on every cut: open connections watch it and close.
    cuts: watch::Sender<u64>,
}

/// A running proxy; stops with its thread when dropped.
pub struct PgProxy {
    address: SocketAddr,
    switch: Arc<Switch>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PgProxy {
    /// A proxy on a free local port forwarding to `upstream` (`host:port`).
    pub fn start(upstream: String) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("proxy address");
        let switch = Arc::new(Switch {
            up: AtomicBool::new(true),
            cuts: watch::channel(0).0,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = switch.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    () = accept_loop(listener, upstream, shared) => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            address,
            switch,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `host:port` to put in a database URL.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// PostgreSQL "goes down": open connections are reset and new ones refused.
    pub fn cut(&self) {
        self.switch.up.store(false, Ordering::SeqCst);
        self.switch.cuts.send_modify(|n| *n += 1);
    }

    /// PostgreSQL is back.
    pub fn resume(&self) {
        self.switch.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, switch: Arc<Switch>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if !switch.up.load(Ordering::SeqCst) {
            reset(client);
            continue;
        }
        let upstream = upstream.clone();
        let cuts = switch.cuts.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                reset(client);
                return;
            };
            forward(client, server, cuts).await;
        });
    }
}

/// Copies both ways until either side closes or the proxy is cut.
async fn forward(mut client: TcpStream, mut server: TcpStream, mut cuts: watch::Receiver<u64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let cut = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        _ = cuts.changed() => true,
    };
    if cut {
        reset(client);
        reset(server);
    }
}

/// Closes with a reset rather than an orderly shutdown, as a dead peer's kernel would.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
