//! Messaging capabilities: what a component may send, request, publish and subscribe to,
//! whom it accepts messages from, and how fast it may send. Deny by default.

use crate::address::wildcard;
use std::sync::Mutex;
use std::time::Duration;

use airssys_rt::pubsub::Pattern;
use tokio::time::Instant;

use crate::bindings::SendError;

/// A component's messaging grants. The default grants nothing (and accepts messages from
/// anyone); [`Grants::all_messaging`] grants every messaging capability.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Addresses it may `send` to: names, with `*` matching any run of characters. A pool's
    /// name covers its members (`workers` allows `workers/0`).
    pub send: Vec<String>,
    /// Addresses it may `request` or `call`.
    pub request: Vec<String>,
    /// Senders it accepts messages from (`host` for the embedding host; a pool's name covers
    /// its members); `None`: anyone.
    pub accept_from: Option<Vec<String>>,
    /// Topic patterns it may publish to (`*` one segment, `#` the rest).
    pub publish: Vec<String>,
    /// Topic patterns it may subscribe within (a subscription must be covered by one).
    pub subscribe: Vec<String>,
    /// Addresses it may link to or monitor (`*` any run of characters; a pool's name covers
    /// its members).
    pub link: Vec<String>,
}

impl Grants {
    /// Every messaging capability: send to, request from, accept from, link to and monitor
    /// anyone; publish and subscribe to every topic.
    pub fn all_messaging() -> Self {
        Grants {
            send: vec!["*".into()],
            request: vec!["*".into()],
            accept_from: None,
            publish: vec!["#".into()],
            subscribe: vec!["#".into()],
            link: vec!["*".into()],
        }
    }
}

/// Host resources a component sees through WASI: environment variables, directories and
/// network addresses. Nothing by default.
#[derive(Debug, Clone, Default)]
pub struct WasiGrants {
    /// Environment variables it sees, with their values.
    pub env: Vec<(String, String)>,
    /// Host directories it sees: `(host path, guest path, writable)`.
    pub dirs: Vec<(std::path::PathBuf, String, bool)>,
    /// `ip:port` patterns (`*` any run of characters) it may open TCP connections to.
    pub connect: Vec<String>,
    /// `ip:port` patterns it may listen on (TCP).
    pub listen: Vec<String>,
    /// `ip:port` patterns for UDP: the local addresses it may bind and the peers it may send
    /// to and receive from (one list for both).
    pub udp: Vec<String>,
}

/// Messages per second, as a token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: u32,
    /// Bucket size: how many may go at once.
    pub burst: u32,
}

/// A glob over addresses (`*` any run of characters).
#[derive(Debug, Clone)]
pub(crate) struct Addresses {
    patterns: Vec<String>,
    /// One of the patterns is `*`: everything matches.
    any: bool,
}

impl Addresses {
    pub(crate) fn new(patterns: &[String]) -> Self {
        Addresses { patterns: patterns.to_vec(), any: patterns.iter().any(|p| p == "*") }
    }

    /// True if a pattern matches `address`, or the pool `address` is a member of
    /// (`orders/3` is allowed by a grant of `orders`).
    pub(crate) fn allows(&self, address: &str) -> bool {
        let matches = |a: &str| self.patterns.iter().any(|p| wildcard(p.as_bytes(), a.as_bytes()));
        self.any
            || matches(address)
            || address.split_once('/').is_some_and(|(pool, _)| matches(pool))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The checked form of a component's grants and sending limits, shared by its incarnations
/// (a restart does not refill the bucket).
pub(crate) struct Capabilities {
    send: Addresses,
    request: Addresses,
    link: Addresses,
    pub(crate) accept_from: Option<Addresses>,
    publish: Vec<Pattern>,
    subscribe: Vec<Pattern>,
    rate: Option<(RateLimit, Mutex<Bucket>)>,
    pub(crate) pending_requests: Option<u32>,
    /// The commands it may run (`None`: none).
    pub(crate) commands: Option<crate::process::Commands>,
    /// Its storage (`None`: no storage grant).
    pub(crate) storage: Option<crate::storage::Grant>,
    /// How many topic subscriptions one instance may hold.
    pub(crate) max_subscriptions: u32,
    /// How many files and sockets one instance may hold open.
    pub(crate) max_open_files: u32,
    /// Its granted directories, opened once: every instance gets these handles.
    pub(crate) dirs: std::sync::Arc<[crate::granted_dir::GrantedDir]>,
}

/// Default of [`Capabilities::max_subscriptions`].
pub(crate) const DEFAULT_SUBSCRIPTIONS: u32 = 1024;

/// Default of [`Capabilities::max_open_files`].
pub(crate) const DEFAULT_OPEN_FILES: u32 = 64;

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities").finish_non_exhaustive()
    }
}

/// Why a capability refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotPermitted,
    RateLimited,
}

impl From<Refusal> for SendError {
    fn from(r: Refusal) -> SendError {
        match r {
            Refusal::NotPermitted => SendError::NotPermitted,
            Refusal::RateLimited => SendError::RateLimited,
        }
    }
}

impl Capabilities {
    /// Check and compile grants; a bad topic pattern is an error naming it.
    pub(crate) fn new(
        grants: &Grants,
        rate: Option<RateLimit>,
        pending_requests: Option<u32>,
    ) -> Result<Self, String> {
        let topics = |list: &[String]| {
            list.iter()
                .map(|p| Pattern::parse(p).map_err(|e| format!("topic pattern {p:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        if rate.is_some_and(|r| r.per_second == 0 || r.burst == 0) {
            return Err("a rate limit needs per_second and burst of at least 1".into());
        }
        Ok(Capabilities {
            send: Addresses::new(&grants.send),
            request: Addresses::new(&grants.request),
            link: Addresses::new(&grants.link),
            accept_from: grants.accept_from.as_deref().map(Addresses::new),
            publish: topics(&grants.publish)?,
            subscribe: topics(&grants.subscribe)?,
            rate: rate.map(|r| {
                (r, Mutex::new(Bucket { tokens: f64::from(r.burst), last: Instant::now() }))
            }),
            pending_requests,
            commands: None,
            storage: None,
            max_subscriptions: DEFAULT_SUBSCRIPTIONS,
            max_open_files: DEFAULT_OPEN_FILES,
            dirs: std::sync::Arc::new([]),
        })
    }

    pub(crate) fn may_send(&self, target: &str) -> Result<(), Refusal> {
        if self.send.allows(target) { self.spend() } else { Err(Refusal::NotPermitted) }
    }

    pub(crate) fn may_request(&self, target: &str) -> Result<(), Refusal> {
        if self.request.allows(target) { self.spend() } else { Err(Refusal::NotPermitted) }
    }

    /// Links and monitors are not rate-limited: each is bounded by what the target is.
    pub(crate) fn may_link(&self, target: &str) -> bool {
        self.link.allows(target)
    }

    pub(crate) fn may_publish(&self, topic: &str) -> Result<(), Refusal> {
        if self.publish.iter().any(|p| p.matches(topic)) {
            self.spend()
        } else {
            Err(Refusal::NotPermitted)
        }
    }

    /// The canonical program to run for `command` with `args`, if granted (a run takes a
    /// token from the rate bucket, as a message does).
    pub(crate) fn may_run(&self, command: &str, args: &[String]) -> Result<(&str, &str), Refusal> {
        let commands = self.commands.as_ref().ok_or(Refusal::NotPermitted)?;
        let program = commands.allowed(command, args).ok_or(Refusal::NotPermitted)?;
        self.spend()?;
        Ok(program)
    }

    /// A storage write takes a token from the rate bucket, as a message does.
    pub(crate) fn may_write_storage(&self) -> Result<(), Refusal> {
        self.spend()
    }

    /// `pattern` must already be valid.
    pub(crate) fn may_subscribe(&self, pattern: &str) -> bool {
        Pattern::parse(pattern).is_ok_and(|wanted| self.subscribe.iter().any(|g| g.covers(&wanted)))
    }

    /// Take one token from the rate bucket, if there is one.
    fn spend(&self) -> Result<(), Refusal> {
        let Some((limit, bucket)) = &self.rate else { return Ok(()) };
        let mut bucket = crate::sync::lock(bucket);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.last).min(Duration::from_secs(3600));
        bucket.last = now;
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * f64::from(limit.per_second))
            .min(f64::from(limit.burst));
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Refusal::RateLimited)
        }
    }
}

/// Which socket addresses a component may use.
struct SocketCheck {
    connect: Addresses,
    listen: Addresses,
    udp: Addresses,
}

impl SocketCheck {
    fn allows(
        &self,
        addr: std::net::SocketAddr,
        use_: wasmtime_wasi::sockets::SocketAddrUse,
    ) -> bool {
        use wasmtime_wasi::sockets::SocketAddrUse;
        let text = airssys_osl::canonical_socket_addr(addr);
        // The OS picks an unspecified address and port 0 for implicit binds.
        let implicit = addr.ip().is_unspecified() && addr.port() == 0;
        match use_ {
            SocketAddrUse::TcpConnect => self.connect.allows(&text),
            // An implicit bind (any interface, a port the OS picks) gives nothing by itself:
            // the connect, listen, send or receive that follows is checked with its real
            // address, so the refusal names it. Any other bind is a listen address.
            SocketAddrUse::TcpBind => implicit || self.listen.allows(&text),
            // `listen` on an unbound socket would bind every interface on a random port:
            // only a grant that covers that address allows it.
            SocketAddrUse::TcpListen => self.listen.allows(&text),
            SocketAddrUse::TcpAccept => !self.listen.is_empty(),
            SocketAddrUse::UdpBind => implicit || self.udp.allows(&text),
            SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => self.udp.allows(&text),
        }
    }
}

/// Build a component's `WasiCtx`: deny by default; clocks and random always; stdout and
/// stderr into the logs (within the output budget); then exactly the granted environment and network.
pub(crate) fn wasi_ctx(
    address: &std::sync::Arc<str>,
    grants: &WasiGrants,
    audit: &crate::audit::Audit,
    output: &std::sync::Arc<crate::output::OutputBudget>,
) -> Result<wasmtime_wasi::WasiCtx, String> {
    use wasmtime_wasi::sockets::SocketAddrUse;
    let mut builder = wasmtime_wasi::WasiCtxBuilder::new();
    builder
        .stdout(crate::output::LogStream::stdout(address, output))
        .stderr(crate::output::LogStream::stderr(address, output));
    for (key, value) in &grants.env {
        builder.env(key, value);
    }
    // Directories are not preopened here, by path: each instance gets the component's
    // grants as opened once (`crate::granted_dir`).
    // A component creates TCP sockets only with a connect or listen grant, UDP sockets only
    // with a UDP grant (without, socket creation is refused with `access-denied`: no file
    // descriptor is spent). Every address a socket is bound or connected to (implicit binds
    // included) is checked here, and a refusal is audited. Name lookup is never granted.
    let tcp = !grants.connect.is_empty() || !grants.listen.is_empty();
    builder.allow_tcp(tcp).allow_udp(!grants.udp.is_empty()).allow_ip_name_lookup(false);
    let check = SocketCheck {
        connect: Addresses::new(&grants.connect),
        listen: Addresses::new(&grants.listen),
        udp: Addresses::new(&grants.udp),
    };
    let component = std::sync::Arc::clone(address);
    let audit = audit.clone();
    builder.socket_addr_check(move |addr, use_| {
        let allowed = check.allows(addr, use_);
        if !allowed {
            let text = airssys_osl::canonical_socket_addr(addr);
            let action = match use_ {
                SocketAddrUse::TcpConnect => airssys_osl::Action::NetConnect,
                SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
                    airssys_osl::Action::NetListen
                }
                _ => airssys_osl::Action::NetUdp,
            };
            if audit.denial(&component, "socket", action, &text, "not granted") {
                tracing::warn!(component = %component, address = %text, use_ = ?use_, "network address not granted");
            }
        }
        Box::pin(async move { allowed })
    });
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        let m = |p: &str, t: &str| wildcard(p.as_bytes(), t.as_bytes());
        assert!(m("*", ""));
        assert!(m("*", "anything/at-all"));
        assert!(m("worker*", "workers/3"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*c", "abcd"));
        assert!(!m("orders", "orders2"));
        assert!(m("orders", "orders"));
        assert!(!m("", "x"));
        assert!(m(&"*".repeat(50), &"a".repeat(50)));
        assert!(!m(&"a*".repeat(30), &"a".repeat(20)));
    }

    #[test]
    fn socket_check_refuses_what_is_not_granted() {
        use wasmtime_wasi::sockets::SocketAddrUse::*;
        let check = |connect: &[&str], listen: &[&str], udp: &[&str]| super::SocketCheck {
            connect: super::Addresses::new(
                &connect.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ),
            listen: super::Addresses::new(
                &listen.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ),
            udp: super::Addresses::new(&udp.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        };
        let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let only_listen = check(&[], &["127.0.0.1:8080"], &[]);
        assert!(only_listen.allows(a("127.0.0.1:8080"), TcpBind));
        assert!(only_listen.allows(a("127.0.0.1:8080"), TcpListen));
        // Listening on an unbound socket binds every interface: not granted.
        assert!(!only_listen.allows(a("0.0.0.0:0"), TcpListen));
        // An implicit bind gives nothing by itself; what follows is checked.
        assert!(only_listen.allows(a("0.0.0.0:0"), TcpBind));
        assert!(!only_listen.allows(a("0.0.0.0:9999"), TcpListen));
        assert!(!only_listen.allows(a("127.0.0.1:80"), TcpConnect));
        let only_connect = check(&["10.0.0.1:443"], &[], &[]);
        assert!(only_connect.allows(a("0.0.0.0:0"), TcpBind));
        assert!(only_connect.allows(a("10.0.0.1:443"), TcpConnect));
        assert!(!only_connect.allows(a("10.0.0.2:443"), TcpConnect));
        assert!(!only_connect.allows(a("127.0.0.1:1"), TcpListen));
        assert!(!only_connect.allows(a("[::ffff:10.0.0.2]:443"), TcpConnect));
        assert!(only_connect.allows(a("[::ffff:10.0.0.1]:443"), TcpConnect));
        let nothing = check(&[], &[], &[]);
        assert!(!nothing.allows(a("0.0.0.0:0"), TcpListen));
        assert!(!nothing.allows(a("0.0.0.0:1234"), UdpBind));
        assert!(!nothing.allows(a("0.0.0.0:1234"), TcpBind));
        assert!(!nothing.allows(a("10.0.0.1:53"), UdpSend));
        assert!(!nothing.allows(a("10.0.0.1:53"), UdpReceive));
        assert!(!nothing.allows(a("10.0.0.1:53"), TcpConnect));
    }

    #[test]
    fn pool_names_cover_their_members() {
        let pool = super::Addresses::new(&["workers".to_string()]);
        assert!(pool.allows("workers"));
        assert!(pool.allows("workers/3"));
        assert!(!pool.allows("workers2"));
        assert!(!pool.allows("workers-admin/1"));
    }
}
