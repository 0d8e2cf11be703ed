//! §11 pub/sub.

use airssys_rt::pubsub::Pattern;
use airssys_rt::{MailboxConfig, PubSub, SpawnOptions, System};

use crate::util::*;

/// §11: `*` matches exactly one segment, `#` the rest (zero or more segments).
#[test]
fn s11_pattern_matching() {
    let cases = [
        ("a.b.c", "a.b.c", true),
        ("a.*.c", "a.x.c", true),
        ("a.*.c", "a.c", false),
        ("a.*.c", "a.x.y.c", false),
        ("a.#", "a", true),
        ("a.#", "a.b.c.d", true),
        ("#", "anything.at.all", true),
        ("a.*", "a", false),
        ("a.b", "a.b.c", false),
        ("*.*", "a.b", true),
    ];
    for (pattern, topic, expected) in cases {
        assert_eq!(
            Pattern::parse(pattern).unwrap().matches(topic),
            expected,
            "{pattern} vs {topic}"
        );
    }
}

/// §11: malformed patterns and topics are refused with a reason.
#[test]
fn s11_bad_patterns_are_refused() {
    for bad in ["", "a..b", "a.#.b", "a.b*", "a.#x", "."] {
        assert!(Pattern::parse(bad).is_err(), "{bad:?} should be refused");
    }
    let bus = PubSub::<u64>::new();
    assert!(bus.publish("a.*", 1).is_err());
    assert!(bus.publish("a.#", 1).is_err());
    assert!(bus.publish("", 1).is_err());
}

/// §11: publish reaches exactly the matching subscribers; unsubscribe stops delivery.
#[tokio::test]
async fn s11_publish_subscribe_unsubscribe() {
    let system = System::new();
    let log = Log::new();
    let bus = PubSub::<u64>::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    let b = system.spawn(Worker::new("b", &log)).unwrap();
    let sa = bus.subscribe("sensors.*.temp", a.recipient(WMsg::Num)).unwrap();
    bus.subscribe("sensors.#", b.recipient(WMsg::Num)).unwrap();
    assert_eq!(bus.publish("sensors.kitchen.temp", 1).unwrap().delivered, 2);
    assert_eq!(bus.publish("sensors.kitchen.humidity", 2).unwrap().delivered, 1);
    assert_eq!(bus.publish("other", 3).unwrap().delivered, 0);
    assert!(bus.unsubscribe(sa));
    assert_eq!(bus.publish("sensors.hall.temp", 4).unwrap().delivered, 1);
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1]);
    assert_eq!(b.ask(WMsg::Seen, T).await.unwrap(), vec![1, 2, 4]);
}

/// §11: dead subscribers are cleaned up; a full subscriber misses the message (reported).
#[tokio::test]
async fn s11_dead_subscribers_are_removed_and_full_ones_reported() {
    let system = System::new();
    let log = Log::new();
    let bus = PubSub::<u64>::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    let b = system.spawn(Worker::new("b", &log)).unwrap();
    bus.subscribe("t", a.recipient(WMsg::Num)).unwrap();
    bus.subscribe("t", b.recipient(WMsg::Num)).unwrap();
    a.stop();
    a.wait_for_exit().await;
    assert_eq!(bus.subscription_count(), 1);
    b.kill();
    b.wait_for_exit().await;
    let r = bus.publish("t", 1).unwrap();
    assert_eq!((r.delivered, r.removed_dead), (0, 1));
    assert_eq!(bus.subscription_count(), 0);

    // A subscriber whose bounded mailbox is full misses the message; the publisher is told.
    let c = system
        .spawn_with(Worker::new("c", &log), SpawnOptions::new().mailbox(MailboxConfig::bounded(1)))
        .unwrap();
    c.tell(WMsg::Sleep(std::time::Duration::from_millis(200))).await.unwrap();
    settle().await;
    bus.subscribe("t", c.recipient(WMsg::Num)).unwrap();
    assert_eq!(bus.publish("t", 1).unwrap().delivered, 1);
    assert_eq!(bus.publish("t", 2).unwrap().dropped_full, 1);
    assert_eq!(c.ask(WMsg::Seen, T).await.unwrap(), vec![1]);
}

proptest::proptest! {
    /// §11: arbitrary bytes as a pattern or topic never panic: they parse or are refused, and a
    /// refused topic is never delivered.
    #[test]
    fn s11_arbitrary_patterns_and_topics_never_panic(pattern in ".{0,40}", topic in ".{0,40}") {
        let bus = PubSub::<u8>::new();
        if let Ok(p) = Pattern::parse(&pattern) {
            let _ = p.matches(&topic);
        }
        let _ = bus.publish(&topic, 1);
    }

    /// §11: matching agrees with a direct reading of the rules on generated topics.
    #[test]
    fn s11_matching_follows_the_rules(
        pat in proptest::collection::vec(proptest::prop_oneof!["a", "b", "\\*"], 0..4),
        hash in proptest::bool::ANY,
        topic in proptest::collection::vec(proptest::prop_oneof!["a", "b"], 1..6),
    ) {
        let mut segs: Vec<String> = pat.clone();
        if hash {
            segs.push("#".into());
        }
        proptest::prop_assume!(!segs.is_empty());
        let p = Pattern::parse(&segs.join(".")).unwrap();
        let expected = if hash {
            topic.len() >= pat.len()
                && pat.iter().zip(&topic).all(|(p, t)| p == "*" || p == t)
        } else {
            topic.len() == pat.len()
                && pat.iter().zip(&topic).all(|(p, t)| p == "*" || p == t)
        };
        proptest::prop_assert_eq!(p.matches(&topic.join(".")), expected);
    }
}

fn all_topics(max_len: usize) -> Vec<String> {
    let mut out: Vec<Vec<&str>> = vec![vec![]];
    let mut topics = Vec::new();
    for _ in 0..max_len {
        out = out
            .into_iter()
            .flat_map(|t| ["a", "b", "c"].map(|s| [t.clone(), vec![s]].concat()))
            .collect();
        topics.extend(out.iter().map(|t| t.join(".")));
    }
    topics
}

fn pattern_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    (proptest::collection::vec(proptest::prop_oneof!["a", "b", "\\*"], 0..4), proptest::bool::ANY)
        .prop_filter_map("empty", |(mut segs, hash)| {
            if hash {
                segs.push("#".into());
            }
            (!segs.is_empty()).then(|| segs.join("."))
        })
}

proptest::proptest! {
    /// §11: a grant pattern covers a requested pattern exactly when every topic the
    /// requested one matches is matched by the grant (checked on every topic of up to six
    /// segments over an alphabet with a letter the patterns never use).
    #[test]
    fn s11_covers_is_exactly_topic_inclusion(grant in pattern_text(), wanted in pattern_text()) {
        let (g, w) = (Pattern::parse(&grant).unwrap(), Pattern::parse(&wanted).unwrap());
        let included = all_topics(6).iter().all(|t| !w.matches(t) || g.matches(t));
        proptest::prop_assert_eq!(g.covers(&w), included, "grant {} wanted {}", grant, wanted);
    }
}

/// §11: removing all of an actor's subscriptions at once.
#[tokio::test]
async fn s11_unsubscribe_actor() {
    let system = System::new();
    let bus = PubSub::<u64>::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    bus.subscribe("x.*", a.recipient(WMsg::Num)).unwrap();
    bus.subscribe("y.#", a.recipient(WMsg::Num)).unwrap();
    assert_eq!(bus.unsubscribe_actor(a.id()), 2);
    assert_eq!(bus.publish("x.1", 1).unwrap().delivered, 0);
}
