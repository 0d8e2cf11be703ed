//! Serving HTTP routes (`[[http]]` in the manifest, [`HttpRoute`] to an embedder): a
//! listener per address, each request routed by the longest matching path prefix to a
//! component (a pool's members round-robin), within the route's limits.
//!
//! A request is read whole before it goes to the component, up to the route's body limit
//! (past it: `413`), so that a slow client holds a connection, never an instance. It then
//! waits in the component's mailbox like a message, and is handled by one of its persistent
//! instances (`actor.rs`, `serve_http`). More concurrent requests than the route allows get
//! `503` at once; a request not answered within the route's time limit gets `503` (and the
//! instance handling it is stopped mid-call and restarted); a crash before the response is a
//! `500`. Listeners are on loopback unless the route says otherwise.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

use crate::envelope::{Delivery, Envelope};
use crate::envelope::{HttpExchange, HttpResponse, HttpStall};
use crate::error::HostError;
use crate::http_codec::text;
use crate::router::Router;

/// One HTTP route: requests to `listen` whose path starts with `path` go to `component`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// The address to listen on (default `127.0.0.1:8080`; port 0 picks a free port,
    /// [`Host::http_addresses`](crate::Host::http_addresses) tells which).
    pub listen: SocketAddr,
    /// The path prefix (`/` for every path): a request matches when its path is the prefix
    /// or goes on from it after a `/`. The longest matching prefix wins.
    pub path: String,
    /// The component (or pool, or native service) that handles the requests.
    pub component: String,
    /// Largest request body, in bytes (default 1 MiB): past it, `413`.
    pub max_body: usize,
    /// The time limit (default 30 s, at most 24 h): from a request's arrival to its
    /// response's head (past it, `503`); for the handler, from when it starts to the
    /// response's head (past it, the instance is stopped and restarted), then between two
    /// parts of the response body (past it, the response's connection is ended); and for a
    /// request's head and body to arrive (`408`).
    pub timeout: Duration,
    /// Requests the route handles at once (default 256): past it, `503` at once.
    pub concurrency: usize,
}

/// The longest time limit a route may have.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The address routes listen on unless they say otherwise.
pub const DEFAULT_HTTP_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

impl HttpRoute {
    /// A route of `path` on `listen` to `component`, with the default limits.
    pub fn new(listen: SocketAddr, path: impl Into<String>, component: impl Into<String>) -> Self {
        HttpRoute {
            listen,
            path: path.into(),
            component: component.into(),
            max_body: 1 << 20,
            timeout: Duration::from_secs(30),
            concurrency: 256,
        }
    }

    /// Whether a request path falls under this route's prefix.
    fn matches(&self, path: &str) -> bool {
        let prefix = self.path.trim_end_matches('/');
        match path.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    fn shown(&self) -> String {
        format!("{}{}", self.listen, self.path)
    }
}

/// A route being served: its settings and its free slots.
struct Served {
    route: HttpRoute,
    slots: Arc<tokio::sync::Semaphore>,
}

/// The host's HTTP listeners: stopped when the host shuts down (or this is dropped).
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    addresses: Vec<SocketAddr>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Listeners {
    pub(crate) fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    pub(crate) fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bind every route's listener and serve them. `exists` says whether a name is a
/// component, pool or service of the host.
pub(crate) async fn serve(
    routes: &[HttpRoute],
    router: &Router,
    exists: impl Fn(&str) -> bool,
) -> Result<Listeners, HostError> {
    let mut by_listen: Vec<(SocketAddr, Vec<Served>)> = Vec::new();
    for route in routes {
        let refuse = |reason: String| HostError::Http { route: route.shown(), reason };
        if !route.path.starts_with('/') {
            return Err(refuse("its path must start with `/`".into()));
        }
        if !exists(&route.component) {
            return Err(refuse(format!("no component is named {:?}", route.component)));
        }
        if route.concurrency == 0 || route.max_body == 0 || route.timeout.is_zero() {
            return Err(refuse(
                "its concurrency, body limit and timeout must be above zero".into(),
            ));
        }
        if route.timeout > MAX_TIMEOUT {
            return Err(refuse(format!("its timeout is over the most allowed, {MAX_TIMEOUT:?}")));
        }
        let served = Served {
            route: route.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(route.concurrency)),
        };
        match by_listen.iter_mut().find(|(listen, _)| *listen == route.listen) {
            Some((_, served_here)) => {
                if served_here.iter().any(|s| s.route.path == route.path) {
                    return Err(refuse("another route has the same address and path".into()));
                }
                served_here.push(served)
            }
            None => by_listen.push((route.listen, vec![served])),
        }
    }
    let mut listeners = Listeners::default();
    for (listen, served) in by_listen {
        let listener = TcpListener::bind(listen).await.map_err(|e| HostError::Http {
            route: format!("{listen}"),
            reason: format!("cannot listen: {e}"),
        })?;
        let local = listener.local_addr().unwrap_or(listen);
        if !local.ip().is_loopback() {
            tracing::warn!(address = %local, "HTTP routes are served beyond this machine (not on loopback)");
        }
        tracing::info!(address = %local, routes = served.len(), "serving HTTP");
        listeners.addresses.push(local);
        let task = tokio::spawn(accept(listener, local, Arc::from(served), router.clone()));
        listeners.tasks.push(task.abort_handle());
    }
    Ok(listeners)
}

/// Connections one listener serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;

/// Accept connections, each served in a task of its own (ended with this one).
async fn accept(listener: TcpListener, local: SocketAddr, routes: Arc<[Served]>, router: Router) {
    let mut connections = tokio::task::JoinSet::new();
    // A connection's request head must arrive within the shortest route timeout.
    let head_timeout =
        routes.iter().map(|s| s.route.timeout).min().unwrap_or(Duration::from_secs(30));
    loop {
        tokio::select! {
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let (routes, router) = (Arc::clone(&routes), router.clone());
                    connections.spawn(async move {
                        // Ended by a handler whose response stalled (`HttpStall`).
                        let abort = Arc::new(tokio::sync::Notify::new());
                        let ender = Arc::clone(&abort);
                        let service = hyper::service::service_fn(move |request| {
                            let (routes, router) = (Arc::clone(&routes), router.clone());
                            let abort = Arc::clone(&abort);
                            async move {
                                Ok::<_, std::convert::Infallible>(
                                    handle(request, local, &routes, &router, abort).await,
                                )
                            }
                        });
                        let served = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(head_timeout)
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            served = served => if let Err(e) = served {
                                tracing::debug!(error = %e, "HTTP connection ended with an error");
                            },
                            () = ender.notified() => {
                                tracing::debug!("HTTP connection ended: its response stalled");
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors, most often: wait a little instead of spinning.
                    tracing::warn!(address = %local, error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One request: route it, bound it, hand it to the component, wait for its response.
async fn handle(
    request: hyper::Request<hyper::body::Incoming>,
    local: SocketAddr,
    routes: &[Served],
    router: &Router,
    abort: Arc<tokio::sync::Notify>,
) -> HttpResponse {
    let path = request.uri().path();
    let Some(served) =
        routes.iter().filter(|s| s.route.matches(path)).max_by_key(|s| s.route.path.len())
    else {
        return text(404, "no route for this path");
    };
    let route = &served.route;
    let deadline = tokio::time::Instant::now() + route.timeout;
    let too_large = || {
        text(
            413,
            format!("the request body is over this route's limit of {} bytes", route.max_body),
        )
    };
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > route.max_body as u64) {
        return too_large();
    }
    let (mut parts, body) = request.into_parts();
    match parts.headers.get(http::header::HOST).map(|h| h.to_str()) {
        Some(Ok(_)) => {}
        Some(Err(_)) => return text(400, "the Host header is not text"),
        None => {
            // HTTP/1.0 has no `Host`; a handler needs an authority.
            if let Ok(host) = http::HeaderValue::try_from(local.to_string()) {
                parts.headers.insert(http::header::HOST, host);
            }
        }
    }
    let read = http_body_util::Limited::new(body, route.max_body).collect();
    let body: Bytes = match tokio::time::timeout_at(deadline, read).await {
        Err(_) => return text(408, "the request body did not arrive within the time limit"),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return too_large();
        }
        Ok(Err(e)) => return text(400, format!("the request body cannot be read: {e}")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    // The route's slots count requests being handled, not bodies being read.
    let Ok(_slot) = Arc::clone(&served.slots).try_acquire_owned() else {
        return text(503, "too many requests on this route at once; try again");
    };
    let admitted = match router.admit_http(&route.component, body.len()) {
        Ok(admitted) => admitted,
        Err(e) => return text(503, format!("{} cannot take the request: {e}", route.component)),
    };
    let (respond, response) = tokio::sync::oneshot::channel();
    let stall = Arc::new(HttpStall::new(abort));
    let exchange = HttpExchange {
        request: http::Request::from_parts(parts, body),
        respond,
        limit: route.timeout,
        stall: Arc::clone(&stall),
        queued: admitted.queued,
    };
    if admitted.actor.try_tell(Envelope(Delivery::Http(exchange))).is_err() {
        return text(
            503,
            format!("{} cannot take the request now: its mailbox is full", route.component),
        );
    }
    let late =
        || text(503, format!("no response within the route's time limit of {:?}", route.timeout));
    match tokio::time::timeout_at(deadline, response).await {
        Ok(Ok(Ok(response))) => {
            stall.moved();
            response.map(|body| Watched { body, stall }.boxed_unsync())
        }
        Ok(Ok(Err(code))) => text(500, format!("the component failed the request: {code:?}")),
        // The instance handling it was stopped at its time limit (it was mid-call).
        Ok(Err(_)) if tokio::time::Instant::now() >= deadline => late(),
        Ok(Err(_)) => text(500, "the component crashed before it responded"),
        Err(_) => late(),
    }
}

pin_project_lite::pin_project! {
    /// A response body on its way out: each part it yields is progress (`HttpStall::moved`).
    struct Watched {
        #[pin]
        body: wasmtime_wasi_http::p2::body::HyperOutgoingBody,
        stall: Arc<HttpStall>,
    }
}

impl hyper::body::Body for Watched {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if polled.is_ready() {
            this.stall.moved();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        let route = |p: &str| HttpRoute::new(DEFAULT_HTTP_LISTEN, p, "c");
        assert!(route("/").matches("/"));
        assert!(route("/").matches("/anything/at/all"));
        assert!(route("/api").matches("/api"));
        assert!(route("/api").matches("/api/x"));
        assert!(route("/api/").matches("/api/x"));
        assert!(!route("/api").matches("/apis"));
        assert!(!route("/api").matches("/"));
    }
}
