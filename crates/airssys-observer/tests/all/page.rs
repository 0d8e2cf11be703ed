//! The page in a real headless Chromium (Debian's `chromium`, driven by `chromedriver`
//! over WebDriver): it shows the tree, follows a crash without a reload, restarts a
//! component on a click, and shows a refusal in the audit stream. A screenshot is kept in
//! `target/observer/observer.png`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use airssys_observer::Observer;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::util::*;

/// chromedriver, started on a free loopback port, and stopped with the test.
struct Driver {
    child: tokio::process::Child,
    addr: SocketAddr,
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if let Some(found) = found {
        return found;
    }
    // Install it as CI does (Debian's chromium and chromium-driver), then look again.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/install-chromium");
    let status = std::process::Command::new(script).status().expect("run tools/install-chromium");
    assert!(
        status.success(),
        "tools/install-chromium failed: install chromium and chromium-driver"
    );
    PathBuf::from("/usr/bin").join(name)
}

impl Driver {
    async fn start() -> Driver {
        let driver = tool("chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + T;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {addr}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { child, addr }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": tool("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1500,1100"],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{}", self.addr))
            .await
            .expect("a browser session")
    }
}

/// Wait until the text of the first element matching `css` satisfies `want` (the page
/// updates by itself: no reload).
/// Click the element `css` finds. The page redraws its tables at every snapshot, so an
/// element found may be replaced before the click reaches it: then it is found again.
async fn click(browser: &Client, css: &str) {
    for _ in 0..50 {
        let clicked = match browser.find(Locator::Css(css)).await {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        match clicked {
            Ok(()) => return,
            Err(e) if format!("{e:?}").contains("StaleElementReference") => {}
            Err(e) => panic!("cannot click {css}: {e}"),
        }
    }
    panic!("{css} was replaced before every one of 50 clicks");
}

async fn wait_for_text(browser: &Client, css: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + T;
    let mut last = String::new();
    while Instant::now() < deadline {
        let found = browser.find(Locator::Css(css)).await;
        if let Ok(text) = async { found?.text().await }.await {
            if want(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never showed what was expected; last text: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_crashes_restarts_and_denials_live() {
    let driver = Driver::start().await;
    let host = host().await;
    let observer =
        Observer::new(host.clone()).refresh(Duration::from_millis(200)).start().await.unwrap();
    let browser = driver.browser().await;
    browser.goto(&observer.url()).await.unwrap();

    // The tree: the worker and the echo pool with its two members.
    wait_for_text(&browser, "#live", |t| t.starts_with("live")).await;
    for address in ["worker", "echo/0", "echo/1"] {
        let css = format!("tr[data-address=\"{address}\"] td.address");
        wait_for_text(&browser, &css, |t| t == address).await;
    }
    let pool = wait_for_text(&browser, "tr.pool td", |t| t.contains("echo")).await;
    assert!(pool.contains("pool of 2"), "{pool}");

    // A crash: the restart counter and the crash reason change without a reload.
    host.send("worker", raw("spin")).unwrap();
    wait_for_text(&browser, "tr[data-address=\"worker\"] td.restarts", |t| t == "1").await;
    let crash =
        wait_for_text(&browser, "tr[data-address=\"worker\"] td.crash", |t| !t.is_empty()).await;
    assert!(crash.contains("handle-message"), "the crash names the export: {crash}");
    assert!(crash.contains("interrupt"), "and the trap: {crash}");

    // A refusal appears in the audit stream, highlighted.
    let refused = host.call("worker", raw("send:echo:hello"), T).await.unwrap();
    assert!(String::from_utf8_lossy(&refused.unwrap().bytes).starts_with("error"));
    let denial = wait_for_text(&browser, "#audit tr.deny", |t| t.contains("echo")).await;
    assert!(denial.contains("worker") && denial.contains("send"), "{denial}");

    // Select the worker, press Restart: the page says it is done, and the worker is a new
    // child (its restart counter starts again at 0).
    click(&browser, "tr[data-address=\"worker\"]").await;
    wait_for_text(&browser, "#detail-name", |t| t == "worker").await;
    let grants = wait_for_text(&browser, "#d-config", |t| t.contains("role=test")).await;
    assert!(grants.contains("role=test"));
    click(&browser, "#restart").await;
    let result =
        wait_for_text(&browser, "#result", |t| t.contains("done") || t.contains("failed")).await;
    assert!(result.contains("restart: done"), "{result}");
    wait_for_text(&browser, "tr[data-address=\"worker\"] td.restarts", |t| t == "0").await;
    assert_eq!(host.restarts("worker"), Some(0), "the host restarted it");

    // Traffic between components, and output of the selected one, for the screenshot.
    let relay = airssys_wasm::ComponentSpec::new(
        "relay",
        airssys_wasm::Source::File(test_programs::RELAY.into()),
    )
    .config("target", "echo/0")
    .grants(airssys_wasm::Grants::all_messaging());
    host.spawn(relay).await.unwrap();
    for _ in 0..3 {
        host.call("relay", raw("call:hello"), T).await.unwrap();
    }
    host.call("worker", raw("print:hello from the worker"), T).await.unwrap();
    wait_for_text(&browser, "#traffic tbody", |t| t.contains("relay") && t.contains("echo/0"))
        .await;
    wait_for_text(&browser, "#d-output", |t| t.contains("hello from the worker")).await;

    // A screenshot of the page, kept as an artifact.
    let png = browser.screenshot().await.unwrap();
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/observer"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("observer.png"), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");

    browser.close().await.unwrap();
    observer.stop().await;
    host.shutdown(T).await;
    drop(driver.child);
}
