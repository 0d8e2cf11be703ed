//! Network operations on loopback.

use airssys_osl::ops::*;
use airssys_osl::{Action, OslError, SecurityPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::*;

/// Listen and connect on loopback when allowed; a port outside the pattern is refused.
#[tokio::test]
async fn tcp_listen_and_connect() {
    let policy = SecurityPolicy::new()
        .allow("server", &[Action::NetListen], "127.0.0.1:*")
        .unwrap()
        .allow("client", &[Action::NetConnect], "127.0.0.1:*")
        .unwrap();
    let (osl, audit) = secured(policy);
    let server = airssys_osl::Principal::new("server");
    let client = airssys_osl::Principal::new("client");
    let listener = osl.run(&server, TcpListen::new("127.0.0.1:0")).await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accept = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        socket.read_exact(&mut buf).await.unwrap();
        // A second connection comes later (the mapped-address case).
        let _second = listener.accept().await.unwrap();
        buf
    });
    let mut stream = osl.run(&client, TcpConnect::new(&address)).await.unwrap();
    stream.write_all(b"ping").await.unwrap();

    let error = osl.run(&client, TcpConnect::new("10.0.0.1:80")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { action: Action::NetConnect, .. }), "{error}");
    let error = osl.run(&client, TcpListen::new("127.0.0.1:0")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { action: Action::NetListen, .. }), "{error}");
    // An IPv4-mapped IPv6 form is checked (and connected) as the IPv4 address it is.
    let port = address.rsplit(':').next().unwrap();
    let mapped = format!("[::ffff:127.0.0.1]:{port}");
    assert!(osl.run(&client, TcpConnect::new(&mapped)).await.is_ok());
    assert_eq!(&accept.await.unwrap(), b"ping");
    // Host names and odd numeric forms are refused: the policy decides on real addresses.
    for odd in ["localhost:80", "2852039166:80", "169.254.43518:80", "127.1:80", "no-port"] {
        let error = osl.run(&client, TcpConnect::new(odd)).await.unwrap_err();
        assert!(matches!(error, OslError::InvalidAddress(_)), "{odd}: {error}");
    }
    let decisions: Vec<&str> = audit.records().iter().map(|r| r.decision).collect();
    assert_eq!(
        decisions,
        ["allow", "allow", "deny", "deny", "allow", "deny", "deny", "deny", "deny", "deny"]
    );
    assert_eq!(audit.records()[4].resource, format!("127.0.0.1:{port}"));
}

/// IPv6 patterns are written naturally: brackets are literal in address patterns.
#[test]
fn ipv6_patterns_are_literal() {
    let policy = SecurityPolicy::new().allow("*", &[Action::NetConnect], "[::1]:*").unwrap();
    let allowed = |r: &str| {
        let who = airssys_osl::Principal::new("x");
        policy.decide(&who, &airssys_osl::Permission::new(Action::NetConnect, r)).allowed
    };
    assert!(allowed("[::1]:8080"));
    assert!(!allowed(":8080"));
    assert!(!allowed("1:8080"));
}

/// UDP bind and a Unix socket connection.
#[tokio::test]
async fn udp_and_unix_sockets() {
    let (_guard, dir) = tempdir();
    let socket_path = dir.join("s.sock");
    let unix_listener = tokio::net::UnixListener::bind(&socket_path).unwrap();
    let policy = SecurityPolicy::new()
        .allow("alice", &[Action::NetUdp], "127.0.0.1:*")
        .unwrap()
        .allow("alice", &[Action::UnixConnect], &under(&dir))
        .unwrap();
    let (osl, _) = secured(policy);
    let udp = osl.run(&alice(), UdpBind::new("127.0.0.1:0")).await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    peer.send_to(b"hi", udp.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 2];
    udp.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");

    let accept = tokio::spawn(async move { unix_listener.accept().await.is_ok() });
    let _stream = osl.run(&alice(), UnixConnect::new(&socket_path)).await.unwrap();
    assert!(accept.await.unwrap());
    let error = osl.run(&bob(), UnixConnect::new(&socket_path)).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
}
