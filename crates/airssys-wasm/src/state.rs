//! The per-store state of a component instance and the host functions it imports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::actor::{Envelope, Kind};
use crate::bindings::airssys::component::{config, logging, messaging, process, types};
use crate::bindings::{Level, Payload, RequestError, SendError, TopicError};
use crate::capability::{Capabilities, Refusal};
use crate::router::{self, Router};
use crate::topics::Topics;

/// How many WASI resources (streams, sockets, files, ...) one instance may hold.
const MAX_RESOURCES: usize = 4096;

/// Longest `call` timeout a guest may ask for.
const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) address: Arc<str>,
    config: Arc<[(String, String)]>,
    router: Router,
    pub(crate) limits: StoreLimits,
    /// When the handler now running must be done (checked at every epoch tick).
    pub(crate) deadline: Option<Instant>,
    requests: Requests,
    subscriptions: Subscriptions,
    caps: Arc<Capabilities>,
}

/// The topic subscriptions this instance made; they go with it.
struct Subscriptions {
    ids: Vec<u64>,
    topics: Arc<Topics>,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.topics.remove(&self.ids);
    }
}

/// The requests this instance made that have not called back yet. When the instance goes
/// (crash or stop), they are cancelled: no callback reaches a later instance.
#[derive(Default)]
struct Requests {
    next: u64,
    pending: Arc<Mutex<HashMap<u64, AbortHandle>>>,
}

impl Drop for Requests {
    fn drop(&mut self) {
        for (_, task) in self.pending.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            task.abort();
        }
    }
}

impl HostState {
    pub(crate) fn new(
        address: Arc<str>,
        config: Arc<[(String, String)]>,
        router: Router,
        limits: StoreLimits,
        caps: Arc<Capabilities>,
        wasi: WasiCtx,
    ) -> Self {
        HostState {
            wasi,
            table: {
                // Bounds what a guest can hold open (sockets, streams, files).
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            address,
            config,
            limits,
            deadline: None,
            subscriptions: Subscriptions { ids: Vec::new(), topics: Arc::clone(&router.topics) },
            router,
            requests: Requests::default(),
            caps,
        }
    }
}

impl HostState {
    /// Audit a refusal of this component's (within its audit budget).
    pub(crate) fn audit_denial(
        &self,
        operation: &'static str,
        action: airssys_osl::Action,
        resource: &str,
        rule: &str,
    ) {
        self.router.audit.denial(&self.address, operation, action, resource, rule);
    }

    /// Log and audit a refused capability.
    fn refused(&self, what: &'static str, target: &str, refusal: &Refusal) {
        use airssys_osl::Action;
        tracing::warn!(component = %self.address, what, target, ?refusal, "refused by the component's grants");
        let (action, rule) = match refusal {
            Refusal::RateLimited => (Action::Limit, "message rate"),
            Refusal::NotPermitted => (
                match what {
                    "send" => Action::MessageSend,
                    "run" => Action::ProcessSpawn,
                    "publish" => Action::TopicPublish,
                    "subscribe" => Action::TopicSubscribe,
                    _ => Action::MessageRequest,
                },
                "not granted",
            ),
        };
        self.router.audit.denial(&self.address, what, action, target, rule);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl messaging::Host for HostState {
    fn send(&mut self, target: String, payload: Payload) -> Result<(), SendError> {
        self.caps.may_send(&target).inspect_err(|r| self.refused("send", &target, r))?;
        self.router.send(&self.address, &target, payload)
    }

    fn request(
        &mut self,
        target: String,
        payload: Payload,
        timeout_ms: u32,
    ) -> Result<u64, SendError> {
        self.caps.may_request(&target).inspect_err(|r| self.refused("request", &target, r))?;
        if let Some(limit) = self.caps.pending_requests {
            let pending = self.requests.pending.lock().unwrap_or_else(|e| e.into_inner()).len();
            if pending >= limit as usize {
                tracing::warn!(component = %self.address, limit, "too many pending requests");
                self.router.audit.denial(
                    &self.address,
                    "request",
                    airssys_osl::Action::Limit,
                    &target,
                    &format!("pending requests ({limit})"),
                );
                return Err(SendError::TooManyRequests);
            }
        }
        let target_actor = self.router.admit(&self.address, &target, &payload)?;
        let Some(me) = self.router.actor(&self.address) else {
            return Err(SendError::NotSupported("requests during init are not supported".into()));
        };
        let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_CALL_TIMEOUT);
        // Queued now (so it keeps its place among this sender's messages), or refused now.
        let answer = router::start_ask(&target_actor, &self.address, payload, timeout)?;
        self.requests.next += 1;
        let id = self.requests.next;
        let pending = Arc::clone(&self.requests.pending);
        // Held while the task is spawned and registered, so that the task cannot look for
        // its entry before it exists.
        let mut registered = self.requests.pending.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(async move {
            let outcome = router::finish_ask(answer).await;
            // Exactly one of: `cancel` removed the entry (and no callback comes), or this
            // task removes it and the callback is delivered.
            if pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id).is_none() {
                return;
            }
            let _ = me.tell(Envelope(Kind::Callback { id, outcome })).await;
        });
        registered.insert(id, task.abort_handle());
        drop(registered);
        Ok(id)
    }

    fn publish(&mut self, topic: String, payload: Payload) -> Result<u32, TopicError> {
        if let Err(refusal) = self.caps.may_publish(&topic) {
            self.refused("publish", &topic, &refusal);
            return Err(match refusal {
                Refusal::NotPermitted => TopicError::NotPermitted,
                Refusal::RateLimited => TopicError::RateLimited,
            });
        }
        self.router.publish(&self.address, &topic, payload).map_err(TopicError::Invalid)
    }

    fn subscribe(&mut self, pattern: String) -> Result<(), TopicError> {
        airssys_rt::pubsub::Pattern::parse(&pattern)
            .map_err(|e| TopicError::Invalid(e.to_string()))?;
        if !self.caps.may_subscribe(&pattern) {
            self.refused("subscribe", &pattern, &Refusal::NotPermitted);
            return Err(TopicError::NotPermitted);
        }
        let id =
            self.router.topics.subscribe(&self.address, &pattern).map_err(TopicError::Invalid)?;
        self.subscriptions.ids.push(id);
        Ok(())
    }

    fn unsubscribe(&mut self, pattern: String) -> bool {
        match self.router.topics.unsubscribe(&self.address, &pattern) {
            Some(id) => {
                self.subscriptions.ids.retain(|i| *i != id);
                true
            }
            None => false,
        }
    }

    fn cancel(&mut self, id: u64) -> bool {
        let task = self.requests.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        match task {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    async fn call(
        &mut self,
        target: String,
        payload: Payload,
        timeout_ms: u32,
    ) -> Result<Option<Payload>, RequestError> {
        if let Err(refusal) = self.caps.may_request(&target) {
            self.refused("call", &target, &refusal);
            return Err(RequestError::Refused(refusal.into()));
        }
        let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_CALL_TIMEOUT);
        // The wait for the answer is not this guest's CPU time.
        let deadline = self.deadline.take();
        let started = Instant::now();
        let result = self.router.call(&self.address, &target, payload, timeout).await;
        self.deadline = deadline.map(|d| d + started.elapsed());
        result
    }

    fn self_address(&mut self) -> String {
        self.address.to_string()
    }
}

impl logging::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let component = &*self.address;
        match level {
            Level::Trace => tracing::trace!(component, ?fields, "{message}"),
            Level::Debug => tracing::debug!(component, ?fields, "{message}"),
            Level::Info => tracing::info!(component, ?fields, "{message}"),
            Level::Warn => tracing::warn!(component, ?fields, "{message}"),
            Level::Error => tracing::error!(component, ?fields, "{message}"),
        }
    }
}

impl process::Host for HostState {
    async fn run(
        &mut self,
        command: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> Result<process::Output, process::ProcessError> {
        use process::ProcessError;
        let program = match self.caps.may_run(&command, &args) {
            Ok(program) => program.to_owned(),
            Err(refusal) => {
                let line = std::iter::once(command.as_str())
                    .chain(args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.refused("run", &line, &refusal);
                return Err(match refusal {
                    Refusal::NotPermitted => ProcessError::NotPermitted,
                    Refusal::RateLimited => ProcessError::RateLimited,
                });
            }
        };
        let Some(commands) = &self.caps.commands else { return Err(ProcessError::NotPermitted) };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let principal = airssys_osl::Principal::new(Arc::clone(&self.address));
        // The wait for the command is not this guest's CPU time.
        let deadline = self.deadline.take();
        let started = Instant::now();
        let result = commands.run(&principal, &program, args, timeout).await;
        self.deadline = deadline.map(|d| d + started.elapsed());
        match result {
            Ok(run) => Ok(process::Output {
                exit_code: run.exit.code,
                signal: run.exit.signal,
                timed_out: run.exit.timed_out,
                stdout: run.exit.stdout,
                stderr: run.exit.stderr,
                truncated: run.truncated,
            }),
            Err(error) => {
                tracing::warn!(component = %self.address, command, %error, "command failed");
                Err(ProcessError::Failed(error.to_string()))
            }
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }
}
