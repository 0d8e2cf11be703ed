//! The observer's HTTP routes: the page, its event stream, `/metrics`, and the actions,
//! every one behind the token.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::Host;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;

use crate::snapshot::{Previous, Snapshot};

/// What every route shares.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) host: Host,
    token: Arc<str>,
    refresh: Duration,
    /// Turns true when the observer stops: open event streams end.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// The page: plain HTML, CSS and JavaScript, compiled into the binary.
const PAGE: &str = include_str!("page/index.html");

pub(crate) fn router(
    host: Host,
    token: Arc<str>,
    refresh: Duration,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let app = App { host, token, refresh, stopping };
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .route("/api/snapshot", get(snapshot))
        .route("/api/describe/{*address}", get(crate::actions::describe))
        .route("/api/restart/{*address}", post(crate::actions::restart))
        .route("/api/stop/{*address}", post(crate::actions::stop))
        .route("/api/send/{*address}", post(crate::actions::send))
        .route("/api/upgrade/{*address}", post(crate::actions::upgrade))
        .layer(axum::middleware::from_fn_with_state(app.clone(), authenticate))
        .with_state(app)
}

/// The token, from `Authorization: Bearer TOKEN`, or for the page and its event stream
/// (which a browser opens without headers) the `token` query parameter. Tokens are
/// URL-safe (`token.rs`): nothing to decode.
fn given_token(req: &Request) -> Option<&str> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let browsed =
        req.method() == axum::http::Method::GET && matches!(req.uri().path(), "/" | "/events");
    bearer.or_else(|| {
        let query = req.uri().query().filter(|_| browsed)?;
        query.split('&').find_map(|pair| pair.strip_prefix("token="))
    })
}

async fn authenticate(State(app): State<App>, req: Request, next: Next) -> Response {
    match given_token(&req) {
        Some(given) if crate::token::matches(&app.token, given) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the observer needs its token: open the address `airssys up --observe` printed \
             (it ends in ?token=...), or send `Authorization: Bearer TOKEN`\n",
        )
            .into_response(),
    }
}

async fn page() -> impl IntoResponse {
    // The page is not to be framed by another site (clickjacking of its actions).
    ([(header::X_FRAME_OPTIONS, "DENY"), (header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], crate::render_metrics(&app.host).await)
}

async fn snapshot(State(app): State<App>) -> impl IntoResponse {
    axum::Json(Snapshot::take(&app.host, &mut Previous::default()).await)
}

/// A snapshot now, then one at every refresh, for as long as the page is open.
async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(
        (app, Previous::default(), true),
        |(mut app, mut previous, first)| async move {
            if !first {
                tokio::select! {
                    () = tokio::time::sleep(app.refresh) => {}
                    // The observer stops (or is gone): the stream ends.
                    _ = app.stopping.wait_for(|stop| *stop) => return None,
                }
            }
            if *app.stopping.borrow() {
                return None;
            }
            let snapshot = Snapshot::take(&app.host, &mut previous).await;
            let event = match serde_json::to_string(&snapshot) {
                Ok(json) => Event::default().event("snapshot").data(json),
                Err(e) => Event::default().event("problem").data(e.to_string()),
            };
            Some((Ok(event), (app, previous, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
