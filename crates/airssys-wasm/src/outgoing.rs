//! Outgoing HTTP (`wasi:http/outgoing-handler`): the host's connector for a component's
//! requests, behind its network grants.
//!
//! The name in a request's URL is resolved by the host, and every resolved address is checked
//! against the component's `connect` grants (the `allow-host` patterns, `ip:port`); the
//! connection goes to an address that passed, so what was checked is what is reached (no
//! second lookup, no DNS rebinding between check and connect). A grant may also name the
//! host (`api.example.com:443`): it admits the name's public addresses only (not loopback,
//! private, link-local or unspecified ones, which need a grant of their own). A refusal is
//! `http-request-denied` to the guest and a record in the audit log. Connections are bounded
//! in time (connect, first byte, between bytes) and responses in size.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::capability::Addresses;

/// Limits on a component's outgoing HTTP requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClientLimits {
    /// How long resolving the name and connecting may take.
    pub connect_timeout: Duration,
    /// How long to wait for the response's head, and then between parts of its body.
    pub response_timeout: Duration,
    /// Largest response body, in bytes: past it, reading the body fails with
    /// `http-response-body-size`.
    pub max_response_bytes: u64,
}

impl Default for HttpClientLimits {
    fn default() -> Self {
        HttpClientLimits {
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One component's connector: its grants, its limits and the audit log refusals go to.
#[derive(Clone)]
pub(crate) struct Outgoing {
    component: Arc<str>,
    connect: Arc<Addresses>,
    audit: crate::audit::Audit,
    limits: HttpClientLimits,
}

impl Outgoing {
    pub(crate) fn new(
        component: Arc<str>,
        connect: &[String],
        audit: crate::audit::Audit,
        limits: HttpClientLimits,
    ) -> Self {
        Outgoing { component, connect: Arc::new(Addresses::new(connect)), audit, limits }
    }
}

type SendOutcome = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendOutcome> + Send> {
        let this = self.clone();
        Box::new(async move { this.send(request, options).await })
    }
}

/// Whether an address is reachable from the internet at large (what a grant by name admits).
/// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            if let Some(v4) = v6.to_ipv4() {
                // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible); `::` and `::1` too.
                return !v6.is_loopback() && !v6.is_unspecified() && is_public_v4(v4);
            }
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return is_public_v4(embedded(s[6], s[7])); // NAT64, 64:ff9b::/96
            }
            if s[0] == 0x2002 {
                return is_public_v4(embedded(s[1], s[2])); // 6to4, 2002::/16
            }
            !(v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

fn is_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(a == 0 // 0.0.0.0/8, "this network"
        || v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_multicast()
        || a >= 240 // 240.0.0.0/4, reserved
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || (a == 192 && b == 0 && c == 2) // documentation ranges
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113))
}

/// Name lookups in flight at once, host-wide: each holds a thread of the blocking pool.
const MAX_LOOKUPS: usize = 16;

fn lookups() -> &'static tokio::sync::Semaphore {
    static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LOOKUPS);
    &LOOKUPS
}

impl Outgoing {
    /// Refuse a request to `resource`: audited (within the component's audit budget) and
    /// `http-request-denied` to the guest.
    fn refuse(&self, resource: &str, rule: &str) -> Error {
        if self.audit.denial(
            &self.component,
            "http.outgoing",
            airssys_osl::Action::NetConnect,
            resource,
            rule,
        ) {
            tracing::warn!(component = %self.component, resource = %airssys_osl::Escaped(resource), rule, "outgoing HTTP request refused");
        }
        Error::HttpRequestDenied
    }

    /// The addresses of `host:port` this component may connect to, in resolution order. A
    /// name is looked up only when a grant names it (a lookup is itself a message out, to
    /// the resolver), and then only its public addresses or those an `ip:port` grant
    /// allows pass.
    async fn permitted(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        if self.connect.is_empty() {
            return Err(self.refuse(&format!("{host}:{port}"), "no network grant"));
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let resolved: Vec<SocketAddr> = match literal {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => {
                if !self.connect.allows(&format!("{name}:{port}")) {
                    return Err(self.refuse(
                        &format!("{name}:{port}"),
                        "no grant names this host (names are resolved only for grants that name them)",
                    ));
                }
                let lookup = async {
                    let _slot = lookups().acquire().await;
                    tokio::net::lookup_host((name.as_str(), port)).await
                };
                match tokio::time::timeout(self.limits.connect_timeout, lookup).await {
                    Err(_) => return Err(Error::DnsTimeout),
                    Ok(Err(e)) => {
                        tracing::debug!(component = %self.component, host = %airssys_osl::Escaped(&name), error = %e, "name lookup failed");
                        return Err(Error::DnsError {
                            rcode: Some("address not found".into()),
                            info_code: None,
                        });
                    }
                    Ok(Ok(addresses)) => addresses.collect(),
                }
            }
        };
        let by_name = literal.is_none();
        let permitted: Vec<SocketAddr> = resolved
            .iter()
            .copied()
            .filter(|a| {
                self.connect.allows(&airssys_osl::canonical_socket_addr(*a))
                    || (by_name && is_public(a.ip()))
            })
            .collect();
        if permitted.is_empty() {
            let shown: Vec<String> =
                resolved.iter().map(|a| airssys_osl::canonical_socket_addr(*a)).collect();
            let resource = format!("{name}:{port} ({})", shown.join(", "));
            return Err(self.refuse(&resource, "not granted"));
        }
        Ok(permitted)
    }

    async fn send(
        self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> SendOutcome {
        let uri = request.uri().clone();
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(Error::HttpProtocolError),
        };
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let host = authority.host().to_owned();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        // The guest may ask for shorter timeouts, not longer ones.
        let shorter =
            |asked: Option<Duration>, limit: Duration| asked.map_or(limit, |a| a.min(limit));
        let options = options.unwrap_or_default();
        let connect_timeout = shorter(options.connect_timeout, self.limits.connect_timeout);
        let first_byte = shorter(options.first_byte_timeout, self.limits.response_timeout);
        let between = shorter(options.between_bytes_timeout, self.limits.response_timeout)
            .max(Duration::from_millis(1));

        let addresses = self.permitted(&host, port).await?;
        let connect = async {
            let mut last = Error::ConnectionRefused;
            for address in addresses {
                match tokio::net::TcpStream::connect(address).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = Error::Connect(e),
                }
            }
            Err(last)
        };
        let stream = tokio::time::timeout(connect_timeout, connect)
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
        let (mut sender, connection) = if tls {
            let name = rustls_name(&host)?;
            let stream =
                tokio::time::timeout(connect_timeout, tls_connector()?.connect(name, stream))
                    .await
                    .map_err(|_| Error::ConnectionTimeout)?
                    .map_err(Error::Tls)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(Error::from)?;
            (sender, Box::pin(connection) as Connection)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(Error::from)?;
            (sender, Box::pin(connection) as Connection)
        };
        // The request line carries the path only (a full URL there addresses a proxy).
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;

        let connection = tokio::spawn(run(connection));
        let response = tokio::time::timeout(first_byte, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)?;
        let limit = self.limits.max_response_bytes;
        let response = response.map(|incoming| {
            let timer = Box::pin(tokio::time::sleep(between));
            Bounded { incoming, read: 0, limit, between, timer, armed: false }.boxed_unsync()
        });
        let io = async move {
            match connection.await {
                Ok(outcome) => outcome,
                Err(e) => Err(Error::InternalError(Some(format!("connection task: {e}")))),
            }
        };
        Ok((response, Box::new(io)))
    }
}

/// A client connection, plain or over TLS, driven in a task of its own.
type Connection = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// Drive a connection to its end.
async fn run(connection: Connection) -> wasmtime_wasi_http::Result<()> {
    connection.await.map_err(|e| if e.is_timeout() { Error::HttpResponseTimeout } else { e.into() })
}

/// The server name a certificate must be for.
fn rustls_name(host: &str) -> wasmtime_wasi_http::Result<rustls::pki_types::ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(rustls::pki_types::ServerName::from(ip));
    }
    rustls::pki_types::ServerName::try_from(bare.to_owned())
        .map_err(|_| Error::DnsError { rcode: Some("invalid DNS name".into()), info_code: None })
}

use tokio_rustls::rustls;

/// One TLS client configuration for the host (Mozilla's roots, the ring provider).
fn tls_connector() -> wasmtime_wasi_http::Result<tokio_rustls::TlsConnector> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        // The ring provider is the one already built (for NATS); its deprecation is about
        // post-quantum key exchange, which it lacks.
        #[allow(deprecated, reason = "ring lacks post-quantum key exchange; it is what is built")]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
    });
    match config {
        Ok(config) => Ok(tokio_rustls::TlsConnector::from(Arc::clone(config))),
        Err(e) => Err(Error::InternalError(Some(format!("no TLS configuration: {e}")))),
    }
}

pin_project_lite::pin_project! {
    /// A response body bounded in size and in the time between its parts.
    struct Bounded {
        #[pin]
        incoming: hyper::body::Incoming,
        read: u64,
        limit: u64,
        between: Duration,
        timer: Pin<Box<tokio::time::Sleep>>,
        // The timer runs only while the host waits for the server: it is started when a
        // poll finds nothing ready, not when a part is handed to the guest (which may read
        // the next one much later).
        armed: bool,
    }
}

impl hyper::body::Body for Bounded {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Error>>> {
        let this = self.project();
        match this.incoming.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.read += data.len() as u64;
                    if *this.read > *this.limit {
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                            *this.limit,
                        )))));
                    }
                }
                *this.armed = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !*this.armed {
                    *this.armed = true;
                    this.timer.as_mut().reset(tokio::time::Instant::now() + *this.between);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_addresses() {
        let p = |s: &str| super::is_public(s.parse().unwrap());
        assert!(p("93.184.216.34"));
        assert!(p("2606:2800:220:1:248:1893:25c8:1946"));
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(!p(private), "{private}");
        }
    }
}
