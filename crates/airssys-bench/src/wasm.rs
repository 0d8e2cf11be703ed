//! airssys-wasm figures, each with a raw wasmtime baseline measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};
use tokio::runtime::Runtime;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::Scale;
use crate::report::Figure;

mod raw {
    //! The same contract, bound directly for the baseline.
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "component",
        imports: {
            "airssys:component/messaging.call": async,
            "airssys:component/process.run": async,
        },
        exports: { default: async },
    });
}

use raw::airssys::component::{config, links, logging, messaging, process, storage, types};

/// A store state with host functions that do nothing: the baseline measures only the
/// wasmtime call into the guest.
struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for Bare {}

impl links::Host for Bare {
    fn link(&mut self, _: String) -> Result<(), links::LinkError> {
        Ok(())
    }
    fn unlink(&mut self, _: String) -> bool {
        false
    }
    fn monitor(&mut self, _: String) -> Result<u64, links::LinkError> {
        Ok(0)
    }
    fn demonitor(&mut self, _: u64) -> bool {
        false
    }
    fn trap_exits(&mut self, _: bool) {}
}

impl messaging::Host for Bare {
    fn send(&mut self, _: String, _: types::Payload) -> Result<(), types::SendError> {
        Ok(())
    }
    async fn call(
        &mut self,
        _: String,
        _: types::Payload,
        _: u32,
    ) -> Result<Option<types::Payload>, types::RequestError> {
        Ok(None)
    }
    fn request(&mut self, _: String, _: types::Payload, _: u32) -> Result<u64, types::SendError> {
        Ok(0)
    }
    fn cancel(&mut self, _: u64) -> bool {
        false
    }
    fn publish(&mut self, _: String, _: types::Payload) -> Result<u32, types::TopicError> {
        Ok(0)
    }
    fn subscribe(&mut self, _: String) -> Result<(), types::TopicError> {
        Ok(())
    }
    fn unsubscribe(&mut self, _: String) -> bool {
        false
    }
    fn self_address(&mut self) -> String {
        "bench".into()
    }
}

impl logging::Host for Bare {
    fn log(&mut self, _: logging::Level, _: String, _: Vec<(String, String)>) {}
}

impl process::Host for Bare {
    async fn run(
        &mut self,
        _: String,
        _: Vec<String>,
        _: u32,
    ) -> Result<process::Output, process::ProcessError> {
        Err(process::ProcessError::NotPermitted)
    }
}

/// The baseline never touches storage: every call is refused.
impl storage::Host for Bare {
    fn get(&mut self, _: String) -> Result<Option<Vec<u8>>, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn set(&mut self, _: String, _: Vec<u8>) -> Result<(), storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn delete(&mut self, _: String) -> Result<bool, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn exists(&mut self, _: String) -> Result<bool, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn list_keys(
        &mut self,
        _: String,
        _: Option<String>,
        _: u32,
    ) -> Result<storage::KeyPage, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn increment(&mut self, _: String, _: i64) -> Result<i64, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn compare_and_swap(
        &mut self,
        _: String,
        _: Option<Vec<u8>>,
        _: Option<Vec<u8>>,
    ) -> Result<bool, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn batch(&mut self, _: Vec<storage::BatchWrite>) -> Result<(), storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
    fn usage(&mut self) -> Result<storage::StorageUsage, storage::StorageError> {
        Err(storage::StorageError::NotPermitted)
    }
}

impl config::Host for Bare {
    fn get(&mut self, _: String) -> Option<String> {
        None
    }
}

fn payload(len: usize) -> Payload {
    Payload { codec: codec::RAW, bytes: vec![7u8; len] }
}

/// Raw wasmtime: `handle-message` of the counter guest called `n` times on one instance, with
/// the same engine settings as the host (epoch interruption on, no component-model-async).
async fn raw_calls(component: &Component, engine: &Engine, n: u64) -> anyhow::Result<Duration> {
    raw_calls_with(component, engine, n, vec![7u8; 64], false).await
}

/// Raw wasmtime: `handle-message` with this payload (raw codec) called `n` times on one
/// instance of `component`; with `fresh`, each call gets its own copy of the payload, made
/// inside the timing (as a host handing over an owned message would).
pub(crate) async fn raw_calls_with(
    component: &Component,
    engine: &Engine,
    n: u64,
    bytes: Vec<u8>,
    fresh: bool,
) -> anyhow::Result<Duration> {
    let mut linker: Linker<Bare> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    raw::Component::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    let mut store = Store::new(
        engine,
        Bare { wasi: wasmtime_wasi::WasiCtxBuilder::new().build(), table: ResourceTable::new() },
    );
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = raw::Component::instantiate_async(&mut store, component, &linker).await?;
    instance
        .airssys_component_actor()
        .call_init(&mut store, &[])
        .await?
        .map_err(anyhow::Error::msg)?;
    let message = raw_message(bytes);
    let start = Instant::now();
    for _ in 0..n {
        if fresh {
            // One copy of the payload per call (cloning the message copies its bytes).
            let owned = message.clone();
            instance
                .airssys_component_actor()
                .call_handle_message(&mut store, &owned)
                .await?
                .map_err(anyhow::Error::msg)?;
        } else {
            instance
                .airssys_component_actor()
                .call_handle_message(&mut store, &message)
                .await?
                .map_err(anyhow::Error::msg)?;
        }
    }
    Ok(start.elapsed())
}

/// Ours: the host sends `n` messages (64 B) to the counter component, then one call that
/// returns after all of them were handled (per-sender FIFO).
pub(crate) async fn host_sends(host: Arc<Host>, n: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        loop {
            match host.send("counter", payload(64)) {
                Ok(()) => break,
                Err(airssys_wasm::SendError::MailboxFull) => tokio::task::yield_now().await,
                Err(e) => anyhow::bail!("send failed: {e:?}"),
            }
        }
    }
    host.call("counter", payload(64), Duration::from_secs(60))
        .await
        .map_err(|e| anyhow::anyhow!("call failed: {e:?}"))?;
    Ok(start.elapsed())
}

pub fn host_to_component(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let n = scale.round_trips;
    let host = Arc::new(
        rt.block_on(
            Host::builder()
                .component(ComponentSpec::new(
                    "counter",
                    Source::File(test_programs::COUNTER.into()),
                ))
                .start(),
        )?,
    );
    let engine = raw_engine()?;
    let component = Component::from_file(&engine, test_programs::COUNTER)?;
    // Warm up both.
    rt.block_on(rt.spawn(host_sends(Arc::clone(&host), n / 10 + 1)))??;
    rt.block_on(raw_calls(&component, &engine, n / 10 + 1))?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..scale.samples {
        let d = rt.block_on(rt.spawn(host_sends(Arc::clone(&host), n)))??;
        ours.push(d.as_nanos() as f64 / n as f64);
        let d = rt.block_on(raw_calls(&component, &engine, n))?;
        base.push(d.as_nanos() as f64 / n as f64);
    }
    shut_down(rt, host);
    Ok(Figure::vs(
        "wasm.host_to_component_send",
        crate::harness::median(ours),
        "ns/msg",
        "raw wasmtime handle-message call",
        crate::harness::median(base),
        3.0,
    ))
}

pub(crate) fn counter_and_relay(
    rt: &Runtime,
    target: &str,
    target_guest: &str,
) -> anyhow::Result<Host> {
    Ok(rt.block_on(
        Host::builder()
            .component(ComponentSpec::new(target, Source::File(target_guest.into())))
            .component(
                ComponentSpec::new("relay", Source::File(test_programs::RELAY.into()))
                    .grants(airssys_wasm::Grants::all_messaging())
                    .config("target", target)
                    .cpu_per_message(Duration::from_secs(30)),
            )
            .start(),
    )?)
}

pub(crate) fn text(p: Option<Payload>) -> String {
    p.map(|p| String::from_utf8_lossy(&p.bytes).into_owned()).unwrap_or_default()
}

/// Component → component `send` per message, in ns, and the raw wasmtime call of the
/// counter's handler per message (the floor for handling a message at all), medians over the
/// samples. The relay sends N messages to the counter from inside one handler, calling it
/// after every window of 256 (so no send meets a full mailbox and nothing spins); timed until
/// the counter has handled all of them.
pub(crate) fn send_per_message(rt: &Runtime, scale: Scale) -> anyhow::Result<(f64, f64)> {
    let n = scale.round_trips;
    let host = counter_and_relay(rt, "counter", test_programs::COUNTER)?;
    let engine = raw_engine()?;
    let component = Component::from_file(&engine, test_programs::COUNTER)?;
    let mut ours = Vec::new();
    let mut base = Vec::new();
    let mut handled: u64 = 0;
    for _ in 0..scale.samples {
        ours.push(windowed_sends(rt, &host, n, &mut handled)?);
        base.push(rt.block_on(raw_calls(&component, &engine, n))?.as_nanos() as f64 / n as f64);
    }
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    Ok((crate::harness::median(ours), crate::harness::median(base)))
}

/// One sample of component → component sends: the relay sends `n` messages to the counter,
/// calling it after every window of 256; ns per message, timed until the counter has
/// handled all of them. `handled` is what the counter handled before (checked after: none
/// lost).
pub(crate) fn windowed_sends(
    rt: &Runtime,
    host: &Host,
    n: u64,
    handled: &mut u64,
) -> anyhow::Result<f64> {
    let t = Duration::from_secs(60);
    let window = 256;
    let start = Instant::now();
    let sent = rt.block_on(host.call("relay", raw_text(&format!("window:{n}:{window}")), t));
    anyhow::ensure!(
        text(sent.clone().map_err(|e| anyhow::anyhow!("{e:?}"))?) == format!("sent {n}"),
        "window failed: {sent:?}"
    );
    let count = rt
        .block_on(host.call("counter", raw_text("x"), t))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    *handled += n + n / window + 1;
    anyhow::ensure!(text(count) == handled.to_string(), "messages were lost");
    Ok(per)
}

/// Component → component `send` against the raw wasmtime call of the receiver's handler.
pub fn component_to_component(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let (ours, base) = send_per_message(rt, scale)?;
    let mut f = Figure::vs(
        "wasm.component_to_component_send",
        ours,
        "ns/msg",
        "raw wasmtime handle-message call",
        base,
        2.0,
    );
    f.note = Some("the sender calls the receiver after every 256 sends (a window)".into());
    Ok(f)
}

/// Round trips timed inside the `relay` guest against the `echo` guest, median p50 and p99
/// over the samples, and the raw wasmtime call of the echo's handler per call: `run` makes the
/// relay measure `n` round trips and returns its answer, `<p50> <p99>` in nanoseconds.
fn echo_round_trips(
    rt: &Runtime,
    scale: Scale,
    run: impl Fn(&Host, u64) -> anyhow::Result<String>,
) -> anyhow::Result<(f64, f64, f64)> {
    let n = scale.round_trips.min(20_000);
    let host = counter_and_relay(rt, "echo", test_programs::ECHO)?;
    let engine = raw_engine()?;
    let component = Component::from_file(&engine, test_programs::ECHO)?;
    let (mut p50s, mut p99s, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..scale.samples.min(5) {
        let (p50, p99) = p50_p99(&run(&host, n)?)?;
        p50s.push(p50);
        p99s.push(p99);
        base.push(rt.block_on(raw_calls(&component, &engine, n))?.as_nanos() as f64 / n as f64);
    }
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    Ok((crate::harness::median(p50s), crate::harness::median(p99s), crate::harness::median(base)))
}

/// A relay's timing answer, `<p50> <p99>` in nanoseconds.
pub(crate) fn p50_p99(answer: &str) -> anyhow::Result<(f64, f64)> {
    let mut parts = answer.split_whitespace().map(str::parse::<f64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(p50)), Some(Ok(p99))) => Ok((p50, p99)),
        _ => anyhow::bail!("unexpected round-trip answer {answer:?}"),
    }
}

/// The relay's answer to `command`, as text.
fn relay_says(rt: &Runtime, host: &Host, command: &str) -> anyhow::Result<String> {
    let answer = rt
        .block_on(host.call("relay", raw_text(command), Duration::from_secs(120)))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(text(answer))
}

/// Guest → guest `request` → `handle-callback` round trip, timed inside the requesting guest
/// with the WASI clock (each request made by the callback of the one before); p50 and p99.
/// Compared with the raw wasmtime call of the echo handler.
pub fn request_callback(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let (p50, p99, base) = echo_round_trips(rt, scale, |host, n| {
        let started = relay_says(rt, host, &format!("request-bench:{n}"))?;
        anyhow::ensure!(started == "started", "request-bench did not start");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let answer = relay_says(rt, host, "request-bench-result")?;
            if answer != "running" {
                return Ok(answer);
            }
            anyhow::ensure!(Instant::now() < deadline, "request-bench did not finish");
            std::thread::sleep(Duration::from_millis(5));
        }
    })?;
    let mut f = Figure::vs(
        "wasm.request_callback_p50",
        p50,
        &format!("ns (p99 {p99:.0})"),
        "raw wasmtime handle-message call",
        base,
        3.0,
    );
    f.note = Some("each request is made by the callback of the one before".into());
    Ok(f)
}

/// Guest → guest `call` round trip, timed inside the calling guest with the WASI clock;
/// p50 and p99 over N calls. Compared with the raw wasmtime call of the echo handler.
pub fn call_round_trip(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let (p50, p99, base) =
        echo_round_trips(rt, scale, |host, n| relay_says(rt, host, &format!("call-bench:{n}")))?;
    Ok(Figure::vs(
        "wasm.call_round_trip_p50",
        p50,
        &format!("ns (p99 {p99:.0})"),
        "raw wasmtime handle-message call",
        base,
        2.5,
    ))
}

fn raw_engine() -> anyhow::Result<Engine> {
    raw_engine_with(true)
}

/// A raw engine with the host's settings, epoch interruption on or off.
pub(crate) fn raw_engine_with(epochs: bool) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(epochs);
    config.concurrency_support(false);
    Ok(Engine::new(&config)?)
}

pub(crate) fn raw_text(text: &str) -> Payload {
    Payload { codec: codec::RAW, bytes: text.as_bytes().to_vec() }
}

// ----- spawn, restart, density -------------------------------------------------------------

/// The pooling configuration the host uses for `n` live components (see
/// `airssys_wasm::EngineConfig`), so that the raw baseline allocates the same way.
pub(crate) fn raw_pooled_engine(n: u32) -> anyhow::Result<Engine> {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size(64 << 20)
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.concurrency_support(false);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

fn raw_pre(engine: &Engine, path: &str) -> anyhow::Result<raw::ComponentPre<Bare>> {
    let component = Component::from_file(engine, path)?;
    let mut linker: Linker<Bare> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    raw::Component::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    Ok(raw::ComponentPre::new(linker.instantiate_pre(&component)?)?)
}

/// A raw-codec message from `host` carrying `bytes`, as the baselines hand it to a guest.
fn raw_message(bytes: Vec<u8>) -> types::Message {
    types::Message {
        sender: "host".into(),
        payload: types::Payload { codec: codec::RAW, bytes },
        correlation: None,
        topic: None,
        trace: None,
    }
}

/// A raw instance in a fresh store, instantiated from `pre` and its `init` called.
async fn raw_started(
    engine: &Engine,
    pre: &raw::ComponentPre<Bare>,
) -> anyhow::Result<(Store<Bare>, raw::Component)> {
    let mut store = bare_store(engine);
    let instance = pre.instantiate_async(&mut store).await?;
    instance
        .airssys_component_actor()
        .call_init(&mut store, &[])
        .await?
        .map_err(anyhow::Error::msg)?;
    Ok((store, instance))
}

fn bare_store(engine: &Engine) -> Store<Bare> {
    let mut store = Store::new(
        engine,
        Bare { wasi: wasmtime_wasi::WasiCtxBuilder::new().build(), table: ResourceTable::new() },
    );
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

/// What raw wasmtime does with `count` live instances of the counter (pooled engine, `init`
/// called), as the scaling figures' messages go to components.
pub(crate) struct RoundRobin {
    /// ns per `handle-message` call (64 B) when the calls go round-robin over the instances
    /// `burst` at a time (an instance handles `burst` messages per visit, as a component's
    /// actor handles the burst it finds in its mailbox).
    pub(crate) per_message: f64,
    /// p50 of one call, in ns, when calls go round-robin one at a time (as the latency
    /// figure's calls do).
    pub(crate) call_p50: f64,
}

/// Raw wasmtime over `count` live instances (see [`RoundRobin`]). Each instance's state
/// (memory, stack, store) is as cold in the caches as a component's would be.
pub(crate) async fn raw_round_robin(
    count: usize,
    calls: u64,
    burst: u64,
) -> anyhow::Result<RoundRobin> {
    let engine = raw_pooled_engine(count as u32 + 16)?;
    let pre = raw_pre(&engine, test_programs::COUNTER)?;
    let mut live = Vec::with_capacity(count);
    for _ in 0..count {
        live.push(raw_started(&engine, &pre).await?);
    }
    let message = raw_message(vec![7u8; 64]);
    let start = Instant::now();
    for i in 0..calls {
        let (store, instance) = &mut live[(i / burst.max(1)) as usize % count];
        instance
            .airssys_component_actor()
            .call_handle_message(&mut *store, &message)
            .await?
            .map_err(anyhow::Error::msg)?;
    }
    let per_message = start.elapsed().as_nanos() as f64 / calls as f64;
    let mut times = Vec::with_capacity(calls.min(20_000) as usize);
    for i in 0..calls.min(20_000) {
        let (store, instance) = &mut live[i as usize % count];
        let start = Instant::now();
        instance
            .airssys_component_actor()
            .call_handle_message(&mut *store, &message)
            .await?
            .map_err(anyhow::Error::msg)?;
        times.push(start.elapsed().as_nanos() as f64);
    }
    Ok(RoundRobin { per_message, call_p50: crate::harness::percentile(times, 0.5) })
}

/// Raw wasmtime: `n` instances kept live, each made by `InstancePre::instantiate` in a fresh
/// store; returns the time of each instantiation (and of instantiation plus `init`), in ns.
async fn raw_instantiations(
    engine: &Engine,
    pre: &raw::ComponentPre<Bare>,
    n: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut live = Vec::with_capacity(n);
    let (mut bare, mut with_init) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let start = Instant::now();
        let mut store = bare_store(engine);
        let instance = pre.instantiate_async(&mut store).await?;
        bare.push(start.elapsed().as_nanos() as f64);
        instance
            .airssys_component_actor()
            .call_init(&mut store, &[])
            .await?
            .map_err(anyhow::Error::msg)?;
        with_init.push(start.elapsed().as_nanos() as f64);
        live.push((store, instance));
    }
    Ok((bare, with_init))
}

/// Component spawn: `Host::spawn` of an already compiled component (instantiate in a fresh
/// store, call `init`, register its address, start its actor under the supervisor) until
/// it is ready for messages; p50 over many spawns kept live. Baseline: raw
/// `InstancePre::instantiate` + `init` on the same pooled engine settings.
pub fn spawn(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let per_round = if scale.samples < 20 { 200 } else { 500 };
    let rounds = scale.samples.min(5);
    let bytes: Arc<[u8]> = std::fs::read(test_programs::ECHO)?.into();
    let source = || Source::Bytes(Arc::clone(&bytes));
    let host = Arc::new(
        rt.block_on(Host::builder().component(ComponentSpec::new("warm", source())).start())?,
    );
    let engine = raw_pooled_engine(1000)?;
    let pre = raw_pre(&engine, test_programs::ECHO)?;
    let (mut ours, mut base, mut base_init) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let names: Vec<String> = (0..per_round).map(|i| format!("c{round}-{i}")).collect();
        let specs: Vec<ComponentSpec> =
            names.iter().map(|name| ComponentSpec::new(name.as_str(), source())).collect();
        ours.extend(timed_spawns(rt, &host, specs)?);
        for name in &names {
            rt.block_on(host.stop(name))?;
        }
        let (bare, init) = rt.block_on(raw_instantiations(&engine, &pre, per_round))?;
        base.extend(bare);
        base_init.extend(init);
    }
    anyhow::ensure!(rt.block_on(host.call("warm", raw_text("x"), Duration::from_secs(5))).is_ok());
    shut_down(rt, host);
    let p50 = crate::harness::percentile(ours.clone(), 0.5);
    let p99 = crate::harness::percentile(ours, 0.99);
    let base = crate::harness::percentile(base, 0.5);
    let base_init = crate::harness::percentile(base_init, 0.5);
    // A spawn returns once `init` has run: the like-for-like baseline includes `init`.
    Ok(Figure {
        name: "wasm.spawn_p50".into(),
        value: p50,
        unit: format!("ns (p99 {p99:.0}; raw instantiate alone {base:.0})"),
        baseline: Some(crate::report::Baseline {
            name: "raw instantiate + init (pooling)".into(),
            value: base_init,
        }),
        ratio: Some(p50 / base_init),
        target: "p50 <= 20000 ns".into(),
        met: Some(p50 <= 20_000.0),
        peers: Vec::new(),
        note: None,
    })
}

/// Spawn each of `specs` in turn, timed inside the runtime as an embedder's task would spawn;
/// the time of each, in ns. The components stay live.
pub(crate) fn timed_spawns(
    rt: &Runtime,
    host: &Arc<Host>,
    specs: Vec<ComponentSpec>,
) -> anyhow::Result<Vec<f64>> {
    let spawner = Arc::clone(host);
    rt.block_on(rt.spawn(async move {
        let mut times = Vec::with_capacity(specs.len());
        for spec in specs {
            let start = Instant::now();
            spawner.spawn(spec).await?;
            times.push(start.elapsed().as_nanos() as f64);
        }
        anyhow::Ok(times)
    }))?
}

/// Shut the host down once the last task holding it has let it go.
pub(crate) fn shut_down(rt: &Runtime, host: Arc<Host>) {
    if let Ok(host) = Arc::try_unwrap(host) {
        rt.block_on(host.shutdown(Duration::from_secs(5)));
    }
}

/// Restart after a trap: a call that traps the counter, then the next call, answered by the
/// fresh instance the supervisor made (instantiate + `init`); p50 of the whole exchange,
/// which includes both host calls. Baseline: raw wasmtime doing the same (the trapping call,
/// a fresh store, instantiate, `init`, one call).
pub fn restart(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let n = if scale.samples < 20 { 1000 } else { 5000 };
    let t = Duration::from_secs(5);
    let host = rt.block_on(
        Host::builder()
            .intensity(u32::MAX, Duration::from_secs(1))
            .component(ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into())))
            .start(),
    )?;
    let host = Arc::new(host);
    let driver = Arc::clone(&host);
    let ours = rt.block_on(rt.spawn(async move {
        let mut ours = Vec::with_capacity(n);
        for i in 0..n + 50 {
            let start = Instant::now();
            let crashed = driver.call("counter", raw_text("crash"), t).await;
            anyhow::ensure!(
                matches!(crashed, Err(airssys_wasm::RequestError::ReceiverCrashed(_))),
                "the crash message did not crash: {crashed:?}"
            );
            let fresh = driver.call("counter", raw_text("tick"), t).await;
            let elapsed = start.elapsed().as_nanos() as f64;
            anyhow::ensure!(
                text(fresh.clone().unwrap_or(None)) == "1",
                "state survived: {fresh:?}"
            );
            if i >= 50 {
                ours.push(elapsed);
            }
        }
        anyhow::Ok(ours)
    }))??;
    let restarts = host.restarts("counter").unwrap_or(0);
    shut_down(rt, host);
    anyhow::ensure!(restarts as usize == n + 50, "expected {} restarts, saw {restarts}", n + 50);
    let base = raw_replace_p50(rt, test_programs::COUNTER, OldEnd::Trap("crash"), "tick")?;
    Ok(p50_figure(
        "wasm.restart_p50",
        ours,
        "trap -> fresh instance answers",
        ("raw trap + instantiate + init + call", base),
        (50_000.0, "p50 <= 50000 ns"),
    ))
}

/// How the old instance ends in a raw replacement ([`raw_replace_p50`]).
#[derive(Clone, Copy)]
enum OldEnd {
    /// A message traps it (a crash).
    Trap(&'static str),
    /// Its `shutdown` export runs (a graceful stop).
    Shutdown,
}

/// p50 of raw wasmtime doing what one of our restarts does, like for like: the old
/// instance ends (`old`), then a fresh store, `InstancePre::instantiate`, `init`, and one
/// `handle-message` of `then` answered by the new instance (pooled engine, 500 rounds).
fn raw_replace_p50(rt: &Runtime, guest: &str, old: OldEnd, then: &str) -> anyhow::Result<f64> {
    let engine = raw_pooled_engine(1000)?;
    let pre = raw_pre(&engine, guest)?;
    let crash = raw_message(if let OldEnd::Trap(m) = old { m.into() } else { Vec::new() });
    let answer = raw_message(then.into());
    rt.block_on(async {
        let mut current = raw_started(&engine, &pre).await?;
        let mut times = Vec::with_capacity(500);
        for _ in 0..500 {
            let start = Instant::now();
            let (mut store, instance) = current;
            match old {
                OldEnd::Trap(_) => {
                    let trapped =
                        instance.airssys_component_actor().call_handle_message(&mut store, &crash);
                    anyhow::ensure!(trapped.await.is_err(), "the crash message did not trap");
                }
                OldEnd::Shutdown => {
                    instance.airssys_component_actor().call_shutdown(&mut store).await?;
                }
            }
            drop(store);
            let (mut store, instance) = raw_started(&engine, &pre).await?;
            instance
                .airssys_component_actor()
                .call_handle_message(&mut store, &answer)
                .await?
                .map_err(anyhow::Error::msg)?;
            times.push(start.elapsed().as_nanos() as f64);
            current = (store, instance);
        }
        Ok(crate::harness::percentile(times, 0.5))
    })
}

/// The p50 of `times` (p99 and `what` in the unit) next to the raw replacement's p50.
fn p50_figure(
    name: &str,
    times: Vec<f64>,
    what: &str,
    (base_name, base): (&str, f64),
    (max, target): (f64, &str),
) -> Figure {
    let p50 = crate::harness::percentile(times.clone(), 0.5);
    let p99 = crate::harness::percentile(times, 0.99);
    Figure::at_most(
        name,
        (p50, format!("ns (p99 {p99:.0}; {what})")),
        (base_name, base),
        max,
        target,
    )
}

/// Operator restart: `Host::restart` of a live `echo` component (load and check its code,
/// stop it gracefully with its `shutdown` call, start it again under the supervisor), then
/// one call answered by the new instance; p50 over many. Baseline: raw wasmtime's
/// `shutdown` call, a fresh store, instantiate, `init` and one call.
pub fn operator_restart(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let n = if scale.samples < 20 { 200 } else { 1000 };
    let host = Arc::new(
        rt.block_on(
            Host::builder()
                .component(ComponentSpec::new("echo", Source::File(test_programs::ECHO.into())))
                .start(),
        )?,
    );
    let driver = Arc::clone(&host);
    let ours = rt.block_on(rt.spawn(async move {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            driver.restart("echo").await?;
            let answer = driver.call("echo", raw_text("x"), Duration::from_secs(5)).await;
            times.push(start.elapsed().as_nanos() as f64);
            anyhow::ensure!(text(answer.map_err(|e| anyhow::anyhow!("{e:?}"))?) == "x");
        }
        anyhow::Ok(times)
    }))??;
    shut_down(rt, host);
    let base = raw_replace_p50(rt, test_programs::ECHO, OldEnd::Shutdown, "x")?;
    Ok(p50_figure(
        "wasm.operator_restart_p50",
        ours,
        "Host::restart + first call",
        ("raw shutdown + instantiate + init + call", base),
        (1e6, "p50 <= 1 ms (no recompilation)"),
    ))
}

/// How many live components the density figure keeps.
pub const DENSITY: usize = 10_000;

/// Runs in a child process: `count` live idle echo components (`wasm`), or raw instances
/// with `init` called (`wasm-raw`); prints the RSS growth per component in bytes.
pub fn memory_probe(kind: &str, count: usize) -> anyhow::Result<f64> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let slots = count as u32 + 16;
    rt.block_on(async move {
        match kind {
            "wasm" => {
                let bytes: Arc<[u8]> = std::fs::read(test_programs::ECHO)?.into();
                let spec =
                    |name: String| ComponentSpec::new(name, Source::Bytes(Arc::clone(&bytes)));
                let host = Host::builder()
                    .engine(airssys_wasm::EngineConfig {
                        pool_components: Some(slots),
                        ..Default::default()
                    })
                    .component(spec("warm".into()))
                    .start()
                    .await?;
                anyhow::ensure!(host.is_pooling(), "the pool for {slots} components was refused");
                tokio::time::sleep(Duration::from_millis(50)).await;
                let before = crate::harness::rss_bytes()?;
                for i in 0..count {
                    host.spawn(spec(format!("c{i}"))).await?;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                let after = crate::harness::rss_bytes()?;
                let live = host.components().await.len();
                anyhow::ensure!(live == count + 1, "only {live} components are live");
                Ok(after.saturating_sub(before) as f64 / count as f64)
            }
            "wasm-raw" => {
                let engine = raw_pooled_engine(slots)?;
                let pre = raw_pre(&engine, test_programs::ECHO)?;
                let warm = raw_instantiations(&engine, &pre, 1).await?;
                let before = crate::harness::rss_bytes()?;
                let mut live = Vec::with_capacity(count);
                for _ in 0..count {
                    live.push(raw_started(&engine, &pre).await?);
                }
                let after = crate::harness::rss_bytes()?;
                drop(warm);
                Ok(after.saturating_sub(before) as f64 / count as f64)
            }
            other => anyhow::bail!("unknown memory probe {other:?}"),
        }
    })
}

/// RSS per live idle component at 10k, measured in child processes. Baseline: raw
/// instances (instantiated, `init` called) of the same component on the same pool settings.
pub fn idle_memory(_rt: &Runtime, _scale: Scale) -> anyhow::Result<Figure> {
    let ours = crate::harness::probe("wasm", DENSITY)?;
    let base = crate::harness::probe("wasm-raw", DENSITY)?;
    Ok(Figure {
        name: "wasm.idle_component_rss_10k".into(),
        value: ours,
        unit: "bytes/component".into(),
        baseline: Some(crate::report::Baseline {
            name: "raw wasmtime instance after init".into(),
            value: base,
        }),
        ratio: Some(ours / base),
        target: "<= 262144 bytes/component".into(),
        met: Some(ours <= 262_144.0),
        peers: Vec::new(),
        note: None,
    })
}

/// The cost of security on the send path: the relay sends N messages to a sink that is busy
/// sleeping meanwhile (so nothing contends with the sender, and no send waits: its mailbox
/// holds them all), once with ten grant patterns to check (the target matching the last) and
/// a rate limit to pay, and once with everything granted and no rate limit; same host,
/// alternating samples, timed around the host's call that runs the guest's send loop.
pub fn security_overhead(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let n = scale.round_trips.min(50_000);
    let mut patterns: Vec<String> = (0..9).map(|i| format!("other-{i}-*")).collect();
    patterns.push("sin*".into());
    let checked = airssys_wasm::Grants { send: patterns, ..airssys_wasm::Grants::default() };
    let relay = |name: &str| {
        ComponentSpec::new(name, Source::File(test_programs::RELAY.into()))
            .config("target", "sink")
            .cpu_per_message(Duration::from_secs(30))
    };
    let host = rt.block_on(
        Host::builder()
            .component(
                ComponentSpec::new("sink", Source::File(test_programs::MISBEHAVE.into()))
                    .mailbox(n as usize + 16)
                    .cpu_per_message(Duration::from_secs(30)),
            )
            .component(relay("open").grants(airssys_wasm::Grants::all_messaging()))
            .component(relay("checked").grants(checked).rate(u32::MAX, u32::MAX))
            .start(),
    )?;
    let t = Duration::from_secs(60);
    let burst = |who: &str| -> anyhow::Result<f64> {
        // Keep the sink busy (and off the CPU) while the burst is queued.
        drop(host.request("sink", raw_text("sleep:300"), t));
        let start = Instant::now();
        let sent = rt.block_on(host.call(who, raw_text(&format!("burst:{n}")), t));
        let elapsed = start.elapsed().as_nanos() as f64 / n as f64;
        anyhow::ensure!(
            text(sent.clone().map_err(|e| anyhow::anyhow!("{e:?}"))?) == format!("sent {n}"),
            "burst failed: {sent:?}"
        );
        // Let the sink drain before the next sample.
        rt.block_on(host.call("sink", raw_text("x"), t)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(elapsed)
    };
    burst("open")?;
    burst("checked")?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..scale.samples.max(11) {
        ours.push(burst("checked")?);
        base.push(burst("open")?);
    }
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    let (ours, base) = (crate::harness::median(ours), crate::harness::median(base));
    let added = ours - base;
    Ok(Figure {
        name: "wasm.send_security_overhead".into(),
        value: ours,
        unit: format!("ns/send ({added:+.0} ns for grants + rate limit)"),
        baseline: Some(crate::report::Baseline {
            name: "same send, everything granted, no rate limit".into(),
            value: base,
        }),
        ratio: Some(ours / base),
        target: "<= 100 ns added per message".into(),
        met: Some(added <= 100.0),
        peers: Vec::new(),
        note: None,
    })
}
