//! The policy: ACL matching against a straightforward reference model, RBAC inheritance and
//! configuration errors, and the combination rules.

use airssys_osl::{
    AclEntry, Action, ConfigError, Effect, Permission, Principal, Rbac, SecurityPolicy,
};
use proptest::prelude::*;

/// The reference: a path pattern is matched segment by segment; `**` as a whole segment
/// matches any number of segments (zero included); `*` inside a segment matches any run of
/// characters within that segment.
fn reference_match(pattern: &str, path: &str) -> bool {
    fn segments(pat: &[&str], path: &[&str]) -> bool {
        match pat.split_first() {
            None => path.is_empty(),
            Some((&"**", rest)) => (0..=path.len()).any(|k| segments(rest, &path[k..])),
            Some((first, rest)) => {
                !path.is_empty()
                    && segment(first.as_bytes(), path[0].as_bytes())
                    && segments(rest, &path[1..])
            }
        }
    }
    fn segment(pat: &[u8], s: &[u8]) -> bool {
        match pat.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|k| segment(rest, &s[k..])),
            Some((c, rest)) => s.first() == Some(c) && segment(rest, &s[1..]),
        }
    }
    let pat: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments(&pat, &path)
}

fn segment_literal() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "ab", "app", "application", "x.key"]).prop_map(String::from)
}

fn pattern_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => segment_literal(),
        1 => Just("*".to_string()),
        1 => Just("**".to_string()),
        1 => segment_literal().prop_map(|s| format!("{s}*")),
        1 => segment_literal().prop_map(|s| format!("*{s}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The ACL's path matching agrees with the reference on absolute paths.
    #[test]
    fn acl_path_matching_agrees_with_the_reference(
        pat in prop::collection::vec(pattern_segment(), 1..5),
        path in prop::collection::vec(segment_literal(), 1..5),
    ) {
        let pattern = format!("/{}", pat.join("/"));
        let path = format!("/{}", path.join("/"));
        let entry = AclEntry::new("*", &[Action::FsRead], &pattern, Effect::Allow).unwrap();
        let got = entry.matches("anyone", &Permission::new(Action::FsRead, path.clone()));
        prop_assert_eq!(got, reference_match(&pattern, &path), "pattern {} path {}", pattern, path);
    }

    /// Whatever allows exist, a matching deny wins; and with no matching allow the answer
    /// is deny.
    #[test]
    fn deny_always_wins_and_default_is_deny(
        allows in prop::collection::vec(pattern_segment(), 0..4),
        deny in pattern_segment(),
        path in segment_literal(),
    ) {
        let mut policy = SecurityPolicy::new();
        for a in &allows {
            policy = policy.allow("p", &[], &format!("/{a}")).unwrap();
        }
        let denied_too = reference_match(&format!("/{deny}"), &format!("/{path}"));
        policy = policy.deny("p", &[Action::FsRead], &format!("/{deny}")).unwrap();
        let allowed_by_some = allows.iter().any(|a| reference_match(&format!("/{a}"), &format!("/{path}")));
        let decision = policy.decide(&Principal::new("p"), &Permission::new(Action::FsRead, format!("/{path}")));
        prop_assert_eq!(decision.allowed, allowed_by_some && !denied_too);
    }
}

/// Named principals, `*`, and action lists are each respected.
#[test]
fn principals_and_actions() {
    let policy = SecurityPolicy::new()
        .allow("alice", &[Action::FsRead], "/data/**")
        .unwrap()
        .allow("*", &[Action::NetConnect], "api.example.com:443")
        .unwrap();
    let decide = |who: &str, action, resource: &str| {
        policy.decide(&Principal::new(who), &Permission::new(action, resource)).allowed
    };
    assert!(decide("alice", Action::FsRead, "/data/x/y"));
    assert!(!decide("alice", Action::FsWrite, "/data/x"));
    assert!(!decide("bob", Action::FsRead, "/data/x"));
    assert!(decide("bob", Action::NetConnect, "api.example.com:443"));
    assert!(!decide("bob", Action::NetConnect, "api.example.com:80"));
    assert!(!decide("bob", Action::NetConnect, "evil.com:443"));
}

/// Roles grant through inheritance; the deciding role is named.
#[test]
fn rbac_inheritance() {
    let rbac = Rbac::builder()
        .role("reader", &[(&[Action::FsRead], "/srv/**")], &[])
        .role("writer", &[(&[Action::FsWrite], "/srv/**")], &["reader"])
        .role("admin", &[(&[], "/etc/app/**")], &["writer"])
        .assign("carol", "admin")
        .assign("dave", "reader")
        .build()
        .unwrap();
    let policy = SecurityPolicy::new().rbac(rbac.clone());
    let decide = |who: &str, action, resource: &str| {
        policy.decide(&Principal::new(who), &Permission::new(action, resource))
    };
    assert_eq!(decide("carol", Action::FsRead, "/srv/a").rule, "role reader");
    assert!(decide("carol", Action::FsWrite, "/srv/a").allowed);
    assert!(decide("carol", Action::ProcessSpawn, "/etc/app/tool").allowed);
    assert!(!decide("dave", Action::FsWrite, "/srv/a").allowed);
    assert!(!decide("nobody", Action::FsRead, "/srv/a").allowed);
    let mut roles = rbac.roles_of("carol").to_vec();
    roles.sort();
    assert_eq!(roles, ["admin", "reader", "writer"]);
    // An ACL deny still beats a role's grant.
    let policy = SecurityPolicy::new().rbac(rbac).deny("carol", &[], "/srv/secret/**").unwrap();
    assert!(
        !policy
            .decide(&Principal::new("carol"), &Permission::new(Action::FsRead, "/srv/secret/k"))
            .allowed
    );
}

/// Cycles, unknown roles, duplicate roles and bad patterns are refused when the
/// configuration is built, naming the problem.
#[test]
fn rbac_configuration_errors() {
    let cycle = Rbac::builder()
        .role("a", &[], &["b"])
        .role("b", &[], &["c"])
        .role("c", &[], &["a"])
        .build()
        .unwrap_err();
    match &cycle {
        ConfigError::RoleCycle(path) => {
            assert_eq!(path.first(), path.last());
            assert_eq!(path.len(), 4, "{path:?}");
        }
        other => panic!("{other}"),
    }
    assert!(cycle.to_string().contains("->"));
    let selfish = Rbac::builder().role("me", &[], &["me"]).build().unwrap_err();
    assert!(matches!(selfish, ConfigError::RoleCycle(_)));
    let unknown = Rbac::builder().role("a", &[], &["ghost"]).build().unwrap_err();
    assert_eq!(unknown, ConfigError::UnknownRole("ghost".into()));
    let unassigned = Rbac::builder().assign("x", "ghost").build().unwrap_err();
    assert_eq!(unassigned, ConfigError::UnknownRole("ghost".into()));
    let twice = Rbac::builder().role("a", &[], &[]).role("a", &[], &[]).build().unwrap_err();
    assert_eq!(twice, ConfigError::DuplicateRole("a".into()));
    let pattern = Rbac::builder().role("a", &[(&[], "/x/[")], &[]).build().unwrap_err();
    assert!(matches!(pattern, ConfigError::Pattern { .. }), "{pattern}");
    assert!(SecurityPolicy::new().allow("*", &[], "{unclosed").is_err());
    // A diamond is not a cycle.
    Rbac::builder()
        .role("base", &[], &[])
        .role("l", &[], &["base"])
        .role("r", &[], &["base"])
        .role("top", &[], &["l", "r"])
        .build()
        .unwrap();
}
