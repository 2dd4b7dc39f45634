//! A TCP proxy between downwatch and the shared PostgreSQL that the test can cut or hang.
//!
//! It runs on a thread and runtime of its own, so it keeps forwarding whatever the test's own
//! runtime is doing. While cut, every connection is reset: those open are closed and new ones
//! are reset as soon as they are accepted, as when the server is down. While hung, connections
//! are taken and kept but nothing passes either way, as in a network partition; what was held
//! passes once it resumes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy's switch, shared with its thread.
struct Switch {
    up: AtomicBool,
    /// Bumped on every cut: open connections watch it and close.
    cuts: watch::Sender<u64>,
    /// False while hung.
    flowing: watch::Sender<bool>,
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
            flowing: watch::channel(true).0,
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

    /// PostgreSQL stops answering without closing anything.
    pub fn hang(&self) {
        self.switch.flowing.send_replace(false);
    }

    /// PostgreSQL is back (after a cut or a hang).
    pub fn resume(&self) {
        self.switch.up.store(true, Ordering::SeqCst);
        self.switch.flowing.send_replace(true);
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
        let flowing = switch.flowing.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                reset(client);
                return;
            };
            forward(client, server, cuts, flowing).await;
        });
    }
}

/// Copies both ways until either side closes or the proxy is cut.
async fn forward(
    client: TcpStream,
    server: TcpStream,
    mut cuts: watch::Receiver<u64>,
    flowing: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_in, mut client_out) = client.into_split();
    let (mut server_in, mut server_out) = server.into_split();
    let cut = tokio::select! {
        () = pump(&mut client_in, &mut server_out, flowing.clone()) => false,
        () = pump(&mut server_in, &mut client_out, flowing) => false,
        _ = cuts.changed() => true,
    };
    if cut {
        for (read, write) in [(client_in, client_out), (server_in, server_out)] {
            if let Ok(stream) = read.reunite(write) {
                reset(stream);
            }
        }
    }
}

/// Copies one way, holding what it reads while the proxy hangs.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if flowing.wait_for(|f| *f).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if flowing.wait_for(|f| *f).await.is_err() || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Closes with a reset rather than an orderly shutdown, as a dead peer's kernel would.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
