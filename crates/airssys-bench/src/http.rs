//! HTTP requests to a `wasi:http/proxy` component: AirsSys (an `[[http]]` route to a pool of
//! persistent instances, one per core) against the same component served the way
//! `wasmtime serve` serves it, built here from the same parts (hyper + wasmtime-wasi-http
//! 48, a fresh instance per request from a pre-instantiated component, the pooling
//! allocator), measured alternately in one run by the same client: keep-alive HTTP/1.1
//! connections, each sending its next request when the last one's response has been read.
//!
//! The handler is the `http-hello` test guest (a fixed text body; the `wasi:http/proxy`
//! world only, as `wasmtime serve` runs it without flags).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use tokio::runtime::Runtime;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::Scale;
use crate::harness::{median, percentile};
use crate::report::Figure;

/// Connections the client keeps open at once.
const CONNECTIONS: usize = 8;

/// The baseline's per-request state: WASI and HTTP, as `wasmtime serve` makes them.
struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutgoing,
}

/// The handler measured sends nothing out.
struct NoOutgoing;

impl WasiHttpHooks for NoOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The baseline server: an instance per request.
struct PerRequest {
    pre: ProxyPre<RequestState>,
}

impl PerRequest {
    fn new(path: &str) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::pooling());
        let engine = wasmtime::Engine::new(&config)?;
        let component = Component::from_file(&engine, path)?;
        let mut linker: Linker<RequestState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
        Ok(PerRequest { pre })
    }

    async fn handle(
        self: Arc<Self>,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> anyhow::Result<hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>> {
        let state = RequestState {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            hooks: NoOutgoing,
        };
        let mut store = wasmtime::Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let scheme = wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http;
        let request = store.data_mut().http().new_incoming_request(scheme, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, request, out).await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => anyhow::bail!("the handler failed: {code:?}"),
            Err(_) => anyhow::bail!("no response: {:?}", task.await),
        }
    }
}

/// Serve the baseline on a free loopback port.
async fn serve_per_request(
    path: &str,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let server = Arc::new(PerRequest::new(path)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let _ = stream.set_nodelay(true);
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| Arc::clone(&server).handle(request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, task))
}

/// One sample: `requests` GETs of `path` over `CONNECTIONS` connections. Returns the
/// elapsed time and each request's latency (µs).
async fn load(
    address: SocketAddr,
    path: &str,
    requests: usize,
) -> anyhow::Result<(Duration, Vec<f64>)> {
    let per_connection = requests / CONNECTIONS;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let path = path.to_owned();
        clients.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let mut latencies = Vec::with_capacity(per_connection);
            for _ in 0..per_connection {
                let request = hyper::Request::get(path.as_str())
                    .header(http::header::HOST, address.to_string())
                    .body(Empty::<Bytes>::new())?;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                anyhow::ensure!(response.status() == 200, "status {}", response.status());
                response.into_body().collect().await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1e6);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for client in clients {
        latencies.extend(client.await??);
    }
    Ok((started.elapsed(), latencies))
}

/// Requests per second, p50 and p99 latency: AirsSys against the per-request baseline.
pub fn figures(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let path = test_programs::HTTP_HELLO;
    let requests = (scale.round_trips as usize / 4).max(CONNECTIONS * 100);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    let host = rt.block_on(
        airssys_wasm::HostBuilder::default()
            .component(
                airssys_wasm::ComponentSpec::new("web", airssys_wasm::Source::File(path.into()))
                    .instances(cores),
            )
            .http(airssys_wasm::HttpRoute::new("127.0.0.1:0".parse()?, "/", "web"))
            .start(),
    )?;
    let ours = *host.http_addresses().first().context("no HTTP address")?;
    let (theirs, baseline_task) = rt.block_on(serve_per_request(path))?;
    // Warm up both.
    rt.block_on(load(ours, "/hello", CONNECTIONS * 50))?;
    rt.block_on(load(theirs, "/hello", CONNECTIONS * 50))?;
    let (mut our_rates, mut their_rates) = (Vec::new(), Vec::new());
    let (mut our_latencies, mut their_latencies) = (Vec::new(), Vec::new());
    let samples = scale.samples.clamp(3, 9);
    for _ in 0..samples {
        let (elapsed, latencies) = rt.block_on(load(ours, "/hello", requests))?;
        our_rates.push(elapsed.as_nanos() as f64 / latencies.len() as f64);
        our_latencies.extend(latencies);
        let (elapsed, latencies) = rt.block_on(load(theirs, "/hello", requests))?;
        their_rates.push(elapsed.as_nanos() as f64 / latencies.len() as f64);
        their_latencies.extend(latencies);
    }
    baseline_task.abort();
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    let base = "same component, instance per request (as wasmtime serve)";
    let (ours_ns, theirs_ns) = (median(our_rates), median(their_rates));
    let mut throughput =
        Figure::vs("wasm.http.time_per_request", ours_ns, "ns/req", base, theirs_ns, 1.0);
    throughput.note = Some(format!(
        "{CONNECTIONS} keep-alive connections; AirsSys {:.0} req/s (a pool of {cores} persistent \
         instances), baseline {:.0} req/s; target: at least the baseline's throughput",
        1e9 / ours_ns,
        1e9 / theirs_ns
    ));
    let mut p50 = Figure::vs(
        "wasm.http.latency_p50",
        percentile(our_latencies.clone(), 0.5),
        "us",
        base,
        percentile(their_latencies.clone(), 0.5),
        f64::INFINITY,
    );
    p50.target = "-".into();
    p50.met = None;
    let p99 = Figure::vs(
        "wasm.http.latency_p99",
        percentile(our_latencies, 0.99),
        "us",
        base,
        percentile(their_latencies, 0.99),
        1.5,
    );
    Ok(vec![throughput, p50, p99])
}
