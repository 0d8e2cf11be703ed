//! Storage kept in the cluster (`Cluster::storage`): the same operations and refusals as the
//! embedded store, seen alike from every host, and a guest's data follows it to another host.

use airssys_cluster::{Cluster, ClusterConfig};
use airssys_wasm::storage::{Quota, Storage, StorageError, Write, Written};
use airssys_wasm::{ComponentSpec, Host, Source};

use crate::fixture::{Nats, T, raw, text};

async fn member(nats: &Nats) -> (Cluster, Storage) {
    let cluster = Cluster::join(ClusterConfig::new(&nats.url, "shop")).await.unwrap();
    let storage = cluster.storage().await.unwrap();
    (cluster, storage)
}

const QUOTA: Quota = Quota { bytes: 1000, keys: 5 };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_and_every_host_sees_the_same_data() {
    let nats = Nats::start().unwrap();
    let ((_a, a), (_b, b)) = (member(&nats).await, member(&nats).await);

    // Set, get, delete, on host a; another scope does not see them.
    a.set("cart", "apple", b"3".to_vec()).await.unwrap();
    assert_eq!(a.get("cart", "apple").await.unwrap(), Some(b"3".to_vec()));
    assert_eq!(a.get("other", "apple").await.unwrap(), None);
    assert!(a.delete("cart", "apple").await.unwrap());
    assert!(!a.delete("cart", "apple").await.unwrap());
    assert_eq!(a.get("cart", "apple").await.unwrap(), None);

    // Counters and compare-and-swap.
    let incr = |n| vec![Write::Increment("n".into(), n)];
    assert_eq!(a.write("cart", QUOTA, incr(5)).await.unwrap(), [Written::Counter(5)]);
    assert_eq!(a.write("cart", QUOTA, incr(-2)).await.unwrap(), [Written::Counter(3)]);
    let cas = |expected: Option<&str>, new: &str| {
        vec![Write::CompareAndSwap {
            key: "c".into(),
            expected: expected.map(|e| e.as_bytes().to_vec()),
            new: Some(new.as_bytes().to_vec()),
        }]
    };
    assert_eq!(a.write("cart", QUOTA, cas(None, "x")).await.unwrap(), [Written::Swapped(true)]);
    assert_eq!(a.write("cart", QUOTA, cas(None, "y")).await.unwrap(), [Written::Swapped(false)]);
    assert_eq!(
        a.write("cart", QUOTA, cas(Some("x"), "y")).await.unwrap(),
        [Written::Swapped(true)]
    );

    // A group is all or nothing: its bad counter refuses the set before it.
    a.set("cart", "word", b"hello".to_vec()).await.unwrap();
    let group = vec![Write::Set("k1".into(), b"v".to_vec()), Write::Increment("word".into(), 1)];
    let refused = a.write("cart", QUOTA, group).await;
    assert!(matches!(refused, Err(StorageError::NotACounter(_))), "{refused:?}");
    assert_eq!(a.get("cart", "k1").await.unwrap(), None, "nothing of the group is written");

    // Quotas: keys (n, c, word are stored: three more make six, past five) and bytes.
    let three = (0..3).map(|i| Write::Set(format!("q{i}"), b"v".to_vec())).collect();
    let refused = a.write("cart", QUOTA, three).await;
    assert!(matches!(refused, Err(StorageError::QuotaExceeded(_))), "{refused:?}");
    let big = vec![Write::Set("big".into(), vec![b'x'; 2000])];
    let refused = a.write("cart", QUOTA, big).await;
    assert!(matches!(refused, Err(StorageError::QuotaExceeded(_))), "{refused:?}");
    let usage = a.usage("cart").await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (3, 1 + 1 + 1 + 1 + 4 + 5));

    // Host b sees all of it, lists it in order and page by page.
    assert_eq!(b.get("cart", "word").await.unwrap(), Some(b"hello".to_vec()));
    assert_eq!(b.usage("cart").await.unwrap(), usage);
    assert_eq!(b.keys("cart", "").await.unwrap(), ["c", "n", "word"]);
    assert_eq!(b.keys_page("cart", "", Some("c"), 1).await.unwrap(), ["n"]);
    assert_eq!(b.keys("cart", "w").await.unwrap(), ["word"]);

    // Host b writes; host a, whose copy is now behind, counts on from b's value and lists
    // b's key.
    assert_eq!(b.write("cart", QUOTA, incr(10)).await.unwrap(), [Written::Counter(13)]);
    b.set("cart", "from-b", b"1".to_vec()).await.unwrap();
    assert_eq!(a.write("cart", QUOTA, incr(1)).await.unwrap(), [Written::Counter(14)]);
    assert_eq!(a.keys("cart", "").await.unwrap(), ["c", "from-b", "n", "word"]);

    // Any key, of any bytes a string may hold, round-trips, in byte order.
    for key in ["a.b", "a b", "ü/*>", "a-", ".."] {
        a.set("keys", key, key.as_bytes().to_vec()).await.unwrap();
        assert_eq!(b.get("keys", key).await.unwrap(), Some(key.as_bytes().to_vec()));
    }
    assert_eq!(b.keys("keys", "a").await.unwrap(), ["a b", "a-", "a.b"]);

    // Export and import, from host to host.
    let mut out = Vec::new();
    assert_eq!(a.export("cart", &mut out).await.unwrap(), 4);
    assert_eq!(b.import("copy", std::str::from_utf8(&out).unwrap()).await.unwrap(), 4);
    assert_eq!(a.get("copy", "word").await.unwrap(), Some(b"hello".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_larger_than_a_nats_message_is_refused_with_the_limit() {
    let nats = Nats::start().unwrap();
    let (_a, a) = member(&nats).await;
    let refused = a.set("big", "k", vec![0; airssys_wasm::storage::MAX_VALUE]).await;
    let Err(StorageError::ValueTooLarge(limit)) = refused else {
        panic!("expected the value to be refused: {refused:?}")
    };
    // The server's default largest message is 1 MiB: the limit is a little less.
    assert!(limit < (1 << 20) && limit > (1 << 19), "{limit}");
    let fits = vec![7; limit as usize];
    a.set("big", "k", fits.clone()).await.unwrap();
    assert_eq!(a.get("big", "k").await.unwrap(), Some(fits));
}

/// A guest's storage on host a is there when host b runs the component after a.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_finds_its_data_on_the_next_host() {
    let nats = Nats::start().unwrap();
    let kv = || {
        ComponentSpec::new("kv", Source::File(test_programs::KV.into()))
            .storage(Quota { bytes: 1 << 20, keys: 100 })
    };
    let start = |cluster: &Cluster, storage: Storage| {
        Host::builder().transport(cluster.transport()).storage(storage).component(kv()).start()
    };
    let (a_cluster, a_storage) = member(&nats).await;
    let a = start(&a_cluster, a_storage).await.unwrap();
    assert!(a_cluster.serve(a.clone()));
    for want in ["1", "2"] {
        assert_eq!(text(a.call("kv", raw("incr:n:1"), T).await.unwrap()), want);
    }
    let batch = raw("batch:set x 1,set y 2,del x");
    assert_eq!(text(a.call("kv", batch, T).await.unwrap()), "ok");
    a.shutdown(std::time::Duration::from_secs(5)).await;

    let (b_cluster, b_storage) = member(&nats).await;
    assert!(b_cluster.wait_until_free("kv", T).await);
    let b = start(&b_cluster, b_storage).await.unwrap();
    assert_eq!(text(b.call("kv", raw("incr:n:1"), T).await.unwrap()), "3");
    assert_eq!(text(b.call("kv", raw("get:y"), T).await.unwrap()), "2");
    assert_eq!(text(b.call("kv", raw("list::10"), T).await.unwrap()).trim(), "n\ny");
    b.shutdown(std::time::Duration::from_secs(5)).await;
}
