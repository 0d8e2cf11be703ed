//! Storage figures: a guest's `get` and `set` through the host (timed inside the guest) next
//! to raw redb `get` and durable `set` in the same run, and write throughput from 1 and from
//! 8 components next to raw redb's one-commit-per-write rate.

use std::time::{Duration, Instant};

use airssys_wasm::storage::Quota;
use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};
use redb::{ReadableDatabase, TableDefinition};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::{Baseline, Figure};

const TABLE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bench");
const VALUE: &[u8] = b"0123456789abcdef";
const T: Duration = Duration::from_secs(300);

fn ask(rt: &Runtime, host: &Host, who: &str, what: &str) -> anyhow::Result<f64> {
    let payload = Payload { codec: codec::RAW, bytes: what.as_bytes().to_vec() };
    let answer = rt.block_on(host.call(who, payload, T)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let text = answer.map(|p| String::from_utf8_lossy(&p.bytes).into_owned()).unwrap_or_default();
    text.parse::<f64>().map_err(|_| anyhow::anyhow!("{who} answered {text:?} to {what}"))
}

fn host(rt: &Runtime, dir: &std::path::Path, components: usize) -> anyhow::Result<Host> {
    let quota = Quota { bytes: 1 << 30, keys: 10_000_000 };
    let mut builder = Host::builder().data_dir(dir);
    for i in 0..components {
        builder = builder.component(
            ComponentSpec::new(format!("kv{i}"), Source::File(test_programs::KV.into()))
                .storage(quota)
                .cpu_per_message(Duration::from_secs(300)),
        );
    }
    Ok(rt.block_on(builder.start())?)
}

/// Raw redb: `n` durable single-key write transactions, ns each.
fn raw_sets(db: &redb::Database, prefix: &str, n: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?.insert(format!("{prefix}{i}").as_str(), VALUE)?;
        txn.commit()?;
    }
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// Raw redb doing the group commit our writer does for `k` writers at once: `n` durable
/// write transactions of `k` keys each; ns per key written.
fn raw_group_sets(db: &redb::Database, prefix: &str, n: u64, k: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for w in 0..k {
                table.insert(format!("{prefix}{w}-{i}").as_str(), VALUE)?;
            }
        }
        txn.commit()?;
    }
    Ok(start.elapsed().as_nanos() as f64 / (n * k) as f64)
}

/// Raw redb: `n` gets, each in its own read transaction, ns each.
fn raw_gets(db: &redb::Database, prefix: &str, n: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        let txn = db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        std::hint::black_box(table.get(format!("{prefix}{}", i % 1000).as_str())?);
    }
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

fn raw_db(dir: &std::path::Path) -> anyhow::Result<redb::Database> {
    let db = redb::Database::create(dir.join("raw.redb"))?;
    let txn = db.begin_write()?;
    txn.open_table(TABLE)?;
    txn.commit()?;
    Ok(db)
}

fn samples(scale: Scale) -> (usize, u64) {
    (scale.samples.min(7), if scale.samples < 20 { 200 } else { 1000 })
}

/// A guest's `set` of a small value (durable when it returns) against raw redb's durable
/// single-key write transaction.
pub fn guest_set(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let dir = tempfile::tempdir()?;
    let host = host(rt, &dir.path().join("data"), 1)?;
    let db = raw_db(dir.path())?;
    let (runs, n) = samples(scale);
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for run in 0..runs {
        ours.push(ask(rt, &host, "kv0", &format!("bench-set:s{run}-:{n}"))?);
        base.push(raw_sets(&db, &format!("s{run}-"), n)?);
    }
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    let (ours, base) = (crate::harness::median(ours), crate::harness::median(base));
    Ok(figure("wasm.storage_set", ours, "raw redb durable write transaction", base))
}

/// A guest's `get` of a small value against raw redb's get in a read transaction.
pub fn guest_get(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let dir = tempfile::tempdir()?;
    let host = host(rt, &dir.path().join("data"), 1)?;
    let db = raw_db(dir.path())?;
    ask(rt, &host, "kv0", "bench-set:g:1000")?;
    raw_sets(&db, "g", 1000)?;
    let (runs, _) = samples(scale);
    let n = 2000;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(ask(rt, &host, "kv0", &format!("bench-get:g:{n}"))?);
        base.push(raw_gets(&db, "g", n)?);
    }
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    let (ours, base) = (crate::harness::median(ours), crate::harness::median(base));
    Ok(Figure::vs("wasm.storage_get", ours, "ns", "raw redb get in a read transaction", base, 3.0))
}

/// Writes per second from `k` components writing at once, as ns per write (wall time over
/// all writes), against raw redb committing the same `k` writes per durable transaction
/// (the group commit the host's writer makes of `k` writers' writes).
fn writers(rt: &Runtime, scale: Scale, k: usize, name: &str) -> anyhow::Result<Figure> {
    let dir = tempfile::tempdir()?;
    let host = std::sync::Arc::new(host(rt, &dir.path().join("data"), k)?);
    let db = raw_db(dir.path())?;
    let (runs, n) = samples(scale);
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let start = Instant::now();
        let tasks: Vec<_> = (0..k)
            .map(|i| {
                let host = std::sync::Arc::clone(&host);
                let what = format!("bench-set:w{run}-:{n}");
                rt.spawn(async move {
                    let payload = Payload { codec: codec::RAW, bytes: what.into_bytes() };
                    host.call(&format!("kv{i}"), payload, T).await
                })
            })
            .collect();
        for task in tasks {
            rt.block_on(task)?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        ours.push(start.elapsed().as_nanos() as f64 / (n * k as u64) as f64);
        base.push(raw_group_sets(&db, &format!("w{run}-"), n, k as u64)?);
    }
    let host =
        std::sync::Arc::try_unwrap(host).map_err(|_| anyhow::anyhow!("host still shared"))?;
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    let (ours, base) = (crate::harness::median(ours), crate::harness::median(base));
    let base_name = if k == 1 {
        "raw redb, one durable transaction per write".to_string()
    } else {
        format!("raw redb, {k} writes per durable transaction")
    };
    let mut f = figure(name, ours, &base_name, base);
    f.unit = format!("ns/write ({:.0} writes/s)", 1e9 / ours);
    Ok(f)
}

pub fn writes_1(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    writers(rt, scale, 1, "wasm.storage_writes_1_component")
}

pub fn writes_8(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    writers(rt, scale, 8, "wasm.storage_writes_8_components")
}

fn figure(name: &str, ours: f64, base_name: &str, base: f64) -> Figure {
    Figure {
        name: name.into(),
        value: ours,
        unit: "ns".into(),
        baseline: Some(Baseline { name: base_name.into(), value: base }),
        ratio: Some(ours / base),
        target: "none set".into(),
        met: None,
        peers: Vec::new(),
        note: None,
    }
}
