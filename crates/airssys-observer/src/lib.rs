//! A live view of a running AirsSys host, served by the host itself: a web page that shows
//! the supervision tree, each component's vital signs, who talks to whom, dead letters and
//! the audit stream as they change (server-sent events), with actions (stop, restart,
//! upgrade, send a test message); and Prometheus metrics at `/metrics` on the same listener.
//!
//! Every request needs the observer's token (`Authorization: Bearer TOKEN`, or
//! `?token=TOKEN` for the page and its event stream); without it the answer is 401. The
//! listener is on loopback unless [`Observer::allow_remote`] says otherwise.
//!
//! ```no_run
//! # async fn run(host: airssys_wasm::Host) -> Result<(), airssys_observer::ObserverError> {
//! let observer = airssys_observer::Observer::new(host).start().await?;
//! println!("open {}", observer.url());
//! # Ok(()) }
//! ```
//!
//! What it reads is copied out of counters the message path keeps anyway
//! (`airssys_wasm::vitals`): an open page does not slow the components it shows.
//! `docs/observability.md` lists every metric and span; [`otel`] exports the spans as
//! OpenTelemetry traces over OTLP.

mod actions;
mod error;
mod metrics;
pub mod otel;
mod server;
mod snapshot;
mod token;

use std::net::SocketAddr;
use std::time::Duration;

use airssys_wasm::Host;

pub use error::ObserverError;
pub use metrics::render as render_metrics;
pub use snapshot::Snapshot;

/// The default address: loopback, a port of the system's choosing.
pub const DEFAULT_ADDR: &str = "127.0.0.1:0";

/// How often an open page gets a new snapshot by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_millis(1000);

/// An observer of a host, not started yet.
#[derive(Debug)]
pub struct Observer {
    host: Host,
    addr: SocketAddr,
    token: Option<String>,
    allow_remote: bool,
    refresh: Duration,
}

impl Observer {
    /// An observer of `host`, on loopback at a port of the system's choosing, with a random
    /// token.
    pub fn new(host: Host) -> Self {
        Observer {
            host,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            allow_remote: false,
            refresh: DEFAULT_REFRESH,
        }
    }

    /// Listen on `addr` (port 0: one of the system's choosing).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Use this token instead of a random one: at least 16 characters, each a letter, a
    /// digit, `-` or `_` (it goes into the page's address as it is).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Allow an address that is not loopback (anyone who can reach it and has the token
    /// can stop and upgrade components).
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// How often an open page gets a new snapshot (at least 100 ms).
    pub fn refresh(mut self, every: Duration) -> Self {
        self.refresh = every.max(Duration::from_millis(100));
        self
    }

    /// Bind the listener and serve, in a task of the current runtime.
    ///
    /// # Errors
    ///
    /// A non-loopback address not allowed, a token too short or with other characters, or
    /// a listener that cannot be bound.
    pub async fn start(self) -> Result<RunningObserver, ObserverError> {
        if !self.addr.ip().is_loopback() && !self.allow_remote {
            return Err(ObserverError::NotLoopback(self.addr));
        }
        let token = match self.token {
            Some(t) if !token::acceptable(&t) => return Err(ObserverError::BadToken),
            Some(t) => t,
            None => token::random()?,
        };
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|source| ObserverError::Bind { addr: self.addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ObserverError::Bind { addr: self.addr, source })?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let app = server::router(self.host, token.clone().into(), self.refresh, stopped.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the observer stopped serving");
            }
        });
        tracing::info!(%addr, "observer listening");
        Ok(RunningObserver { addr, token, stop: Some(stop), task })
    }
}

/// A started observer. Dropping it stops it too.
#[derive(Debug)]
pub struct RunningObserver {
    addr: SocketAddr,
    token: String,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

/// How long [`RunningObserver::stop`] waits for requests under way to finish.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl RunningObserver {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The page's address, token included: what to open in a browser.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }

    /// Stop serving: open pages lose their stream; an action under way gets 2 s to finish,
    /// then its connection is dropped. Nothing else changes.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

impl Drop for RunningObserver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}
