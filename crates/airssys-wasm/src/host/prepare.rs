//! Preparing a component: reserving its addresses and grants, compiling it, and turning
//! its spec into the supervisor's child specs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::{ChildSpec, SpawnOptions};

use super::HostParts;
use super::builder::blocking_failed;
use super::code::Code;
use super::spec::{ComponentSpec, DEFAULT_MAILBOX_BYTES, MAX_INSTANCES, validate_name};
use crate::actor::{ComponentActor, ComponentSetup};
use crate::capability::Capabilities;
use crate::error::HostError;
use crate::router::{self, Policy};
use crate::service::{ServiceActor, ServiceSpec};

/// What a component became once prepared: its addresses and its code.
#[derive(Clone)]
pub(super) struct Prepared {
    pub(super) name: Arc<str>,
    pub(super) members: Vec<Arc<str>>,
    pub(super) code: Arc<Code>,
    /// Under a nested supervisor (not the root).
    pub(super) nested: bool,
    /// What it was started from (for a restart).
    pub(super) spec: ComponentSpec,
    /// Linear memory of each address's live instance.
    pub(super) memory: HashMap<Arc<str>, Arc<std::sync::atomic::AtomicUsize>>,
    /// Output budget of each address.
    pub(super) output: HashMap<Arc<str>, Arc<crate::output::OutputBudget>>,
    /// The vital signs of each address.
    pub(super) vitals: HashMap<Arc<str>, Arc<crate::vitals::Vitals>>,
    /// The code each address runs (an upgrade replaces it).
    pub(super) code_slots: HashMap<Arc<str>, Arc<crate::upgrade::CodeSlot>>,
    /// The outcome of each address's first `init`, in address order.
    first_inits: Vec<(Arc<str>, Arc<crate::actor::FirstInit>)>,
}

impl Prepared {
    /// Wait until every address has run its first `init`; the first failure, as a start
    /// error naming the address.
    pub(super) async fn initialized(&self) -> Result<(), HostError> {
        for (address, first) in &self.first_inits {
            if let Err(reason) = first.wait().await {
                return Err(HostError::Start {
                    name: address.to_string(),
                    reason: format!("start failed: {reason}"),
                });
            }
        }
        Ok(())
    }
}

impl Prepared {
    /// Count its instances, and each first `init` as it finishes, in `progress`.
    pub(super) fn count_in(&self, progress: &Arc<crate::StartProgress>) {
        progress.expect(self.first_inits.len() as u64);
        for (_, first) in &self.first_inits {
            first.count_in(progress);
        }
    }

    /// The addresses of its actors: the name, or each pool member.
    pub(super) fn addresses(&self) -> Vec<Arc<str>> {
        if self.members.is_empty() { vec![Arc::clone(&self.name)] } else { self.members.clone() }
    }
}

impl HostParts {
    fn lock_app_grants(&self) -> std::sync::MutexGuard<'_, crate::app_grants::AppGrants> {
        crate::sync::lock(&self.app_grants)
    }

    /// Reserve a component's addresses and compile it; returns the child specs to start.
    pub(super) fn prepare(
        &self,
        spec: &ComponentSpec,
    ) -> Result<(Vec<ChildSpec>, Prepared), HostError> {
        validate_name(&spec.name)?;
        let max_memory = self.settings.max_memory_bytes;
        if spec.max_memory.is_some_and(|m| m > max_memory) {
            return Err(HostError::Limit {
                name: spec.name.to_string(),
                reason: format!("its memory limit is above the engine's ({max_memory} bytes)"),
            });
        }
        if spec.instances > MAX_INSTANCES {
            return Err(HostError::Limit {
                name: spec.name.to_string(),
                reason: format!("a pool has at most {MAX_INSTANCES} instances"),
            });
        }
        let members: Vec<Arc<str>> = match spec.instances {
            1 => Vec::new(),
            n => {
                (0..n as usize).map(|i| Arc::from(router::member_address(&spec.name, i))).collect()
            }
        };
        // Reserved before anything starts, so that components can message each other from
        // `init` on, and atomically, so that two spawns of one name cannot both proceed.
        let grant_error = |reason: String| HostError::Grant { name: spec.name.to_string(), reason };
        let mut caps = Capabilities::new(&spec.grants, spec.rate, spec.pending_requests)
            .map_err(grant_error)?;
        let writable: Vec<&Path> =
            spec.wasi.dirs.iter().filter(|d| d.2).map(|d| d.0.as_path()).collect();
        caps.max_subscriptions = spec.subscriptions;
        caps.max_open_files = spec.open_files;
        caps.commands =
            crate::process::Commands::new(&spec.commands, &writable, self.router.audit.log())
                .map_err(grant_error)?;
        // Opened once, here: every instance of the component gets these handles, so a
        // directory replaced later (by a symlink) does not redirect the grant.
        caps.dirs = spec
            .wasi
            .dirs
            .iter()
            .map(|(host, guest, writable)| {
                crate::granted_dir::GrantedDir::open(host, guest, *writable)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(grant_error)?
            .into();
        if let Some(quota) = spec.storage {
            let Some(storage) = &self.storage else {
                return Err(grant_error(
                    "it is granted storage, but the host has no data directory (set \
                     HostBuilder::data_dir, or [app] data_dir in the manifest)"
                        .into(),
                ));
            };
            caps.storage = Some(crate::storage::Grant {
                storage: storage.clone(),
                scope: Arc::clone(&spec.name),
                quota,
            });
        }
        let caps = Arc::new(caps);
        for (host, _, _) in &spec.wasi.dirs {
            if !host.is_dir() {
                return Err(HostError::Grant {
                    name: spec.name.to_string(),
                    reason: format!("granted directory {} does not exist", host.display()),
                });
            }
            // The cache, the storage database, the audit log, the control socket.
            crate::protected::check_grant(host, &self.protected)
                .map_err(|reason| HostError::Grant { name: spec.name.to_string(), reason })?;
        }
        let policy = Policy {
            accepts: spec.accepts.clone().into(),
            max_payload: spec.max_payload,
            mailbox_bytes: spec
                .mailbox_bytes
                .unwrap_or(DEFAULT_MAILBOX_BYTES)
                .max(spec.max_payload),
            accept_from: caps.accept_from.clone().map(Arc::new),
        };
        if !self.router.reserve(Arc::clone(&spec.name), &members, policy) {
            return Err(HostError::DuplicateName(spec.name.to_string()));
        }
        // Under the name just reserved, so two components of one name cannot both be here.
        let writable = caps.dirs.iter().filter(|d| d.writable).map(|d| d.canonical.clone());
        let programs = caps.commands.iter().flat_map(|c| c.programs()).map(Path::to_path_buf);
        let admitted =
            self.lock_app_grants().admit(&spec.name, writable.collect(), programs.collect());
        if let Err(reason) = admitted {
            self.router.remove(&spec.name, &members);
            return Err(grant_error(reason));
        }
        let fits = |(code, engine): (Arc<Code>, crate::engine::Engine)| {
            super::code::fits_pool(spec, &code, &engine).map(|()| (code, engine))
        };
        let (code, engine) = match self.code(spec).and_then(fits) {
            Ok(code) => code,
            Err(e) => {
                self.router.remove(&spec.name, &members);
                self.lock_app_grants().remove(&spec.name);
                return Err(e);
            }
        };
        self.audit_grants(spec);
        let mut prepared = Prepared {
            name: Arc::clone(&spec.name),
            members,
            code,
            nested: false,
            spec: spec.clone(),
            memory: HashMap::new(),
            output: HashMap::new(),
            vitals: HashMap::new(),
            code_slots: HashMap::new(),
            first_inits: Vec::new(),
        };
        for address in prepared.addresses() {
            prepared.first_inits.push((Arc::clone(&address), Arc::default()));
            prepared.memory.insert(Arc::clone(&address), Arc::default());
            prepared.vitals.insert(Arc::clone(&address), Arc::default());
            let slot = crate::upgrade::CodeSlot::new(Arc::clone(&prepared.code.versioned));
            prepared.code_slots.insert(Arc::clone(&address), Arc::new(slot));
            let budget = Arc::new(crate::output::OutputBudget::new(spec.output));
            prepared.output.insert(address, budget);
        }
        let config: Arc<[(String, String)]> = spec.config.clone().into();
        // `first_inits` is in address order, as `addresses()` gives them (no search per
        // member: a pool may have a million).
        let children = prepared
            .addresses()
            .into_iter()
            .zip(prepared.first_inits.iter().map(|(_, f)| Arc::clone(f)))
            .map(|(address, first_init)| {
                let memory = prepared.memory.get(&address).cloned().unwrap_or_default();
                let output = prepared
                    .output
                    .get(&address)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(crate::output::OutputBudget::new(spec.output)));
                let vitals = prepared.vitals.get(&address).cloned().unwrap_or_default();
                let setup = Arc::new(ComponentSetup {
                    memory,
                    output,
                    vitals,
                    spans: self.spans.clone(),
                    address: Arc::clone(&address),
                    engine: engine.clone(),
                    code: prepared.code_slots.get(&address).cloned().unwrap_or_else(|| {
                        Arc::new(crate::upgrade::CodeSlot::new(Arc::clone(
                            &prepared.code.versioned,
                        )))
                    }),
                    config: Arc::clone(&config),
                    router: self.router.clone(),
                    dead_letters: self.dead_letters.clone(),
                    cpu_per_message: spec.cpu_per_message,
                    fuel_per_message: spec.fuel,
                    caps: Arc::clone(&caps),
                    wasi: spec.wasi.clone(),
                    max_memory_bytes: spec.max_memory.unwrap_or(max_memory),
                    shutdown_deadline: Duration::from_secs(1),
                    init_timeout: spec.init_timeout,
                    first_init,
                    outgoing: crate::outgoing::Outgoing::new(
                        Arc::clone(&address),
                        &spec.wasi.connect,
                        self.router.audit.clone(),
                        spec.http_client,
                    ),
                });
                let options = SpawnOptions::new()
                    .mailbox(airssys_rt::MailboxConfig::bounded(spec.mailbox))
                    .name(Arc::clone(&address));
                // A command runs to its end: one that succeeded is not run again (as an OTP
                // task under a transient restart), one that failed is.
                let command = prepared.code.versioned.pre.world() == "wasi:cli/command";
                let restart = match spec.restart {
                    airssys_rt::Restart::Permanent if command => airssys_rt::Restart::Transient,
                    other => other,
                };
                ChildSpec::actor_with(
                    address,
                    move || ComponentActor::new(Arc::clone(&setup)),
                    options,
                )
                .restart(restart)
            })
            .collect();
        Ok((children, prepared))
    }

    /// Reserve a native service's address; returns its child spec.
    pub(super) fn prepare_service(&self, spec: &ServiceSpec) -> Result<ChildSpec, HostError> {
        validate_name(&spec.name)?;
        let policy = Policy {
            accepts: spec.accepts.clone().into(),
            max_payload: spec.max_payload,
            mailbox_bytes: DEFAULT_MAILBOX_BYTES.max(spec.max_payload),
            accept_from: spec
                .accept_from
                .as_deref()
                .map(|p| Arc::new(crate::capability::Addresses::new(p))),
        };
        if !self.router.reserve(Arc::clone(&spec.name), &[], policy) {
            return Err(HostError::DuplicateName(spec.name.to_string()));
        }
        let options = SpawnOptions::new()
            .mailbox(airssys_rt::MailboxConfig::bounded(spec.mailbox))
            .name(Arc::clone(&spec.name));
        let service = spec.clone();
        let make = move || ServiceActor::new(&service);
        Ok(ChildSpec::actor_with(Arc::clone(&spec.name), make, options).restart(spec.restart))
    }

    /// Record the grants a component starts with.
    fn audit_grants(&self, spec: &ComponentSpec) {
        use airssys_osl::Action;
        let audit = &self.router.audit;
        let g = &spec.grants;
        let lists: [(&[String], Action); 4] = [
            (&g.send, Action::MessageSend),
            (&g.request, Action::MessageRequest),
            (&g.publish, Action::TopicPublish),
            (&g.subscribe, Action::TopicSubscribe),
        ];
        for (list, action) in lists {
            for pattern in list {
                audit.event(&spec.name, "start", action, pattern, "grant", "granted at start");
            }
        }
        for (host, guest, writable) in &spec.wasi.dirs {
            let action = if *writable { Action::FsWrite } else { Action::FsRead };
            let resource = format!("{} as {guest}", host.display());
            audit.event(&spec.name, "start", action, &resource, "grant", "granted at start");
        }
        for (key, _) in &spec.wasi.env {
            audit.event(
                &spec.name,
                "start",
                Action::FsRead,
                &format!("env {key}"),
                "grant",
                "granted at start",
            );
        }
        let w = &spec.wasi;
        let nets: [(&[String], Action); 3] = [
            (&w.connect, Action::NetConnect),
            (&w.listen, Action::NetListen),
            (&w.udp, Action::NetUdp),
        ];
        for (list, action) in nets {
            for pattern in list {
                audit.event(&spec.name, "start", action, pattern, "grant", "granted at start");
            }
        }
        if let Some(q) = spec.storage {
            let resource = format!("quota {} bytes, {} keys", q.bytes, q.keys);
            audit.event(
                &spec.name,
                "start",
                Action::Storage,
                &resource,
                "grant",
                "granted at start",
            );
        }
        for grant in &spec.commands {
            let resource = crate::process::command_line(&grant.command, &grant.args);
            let action = Action::ProcessSpawn;
            audit.event(&spec.name, "start", action, &resource, "grant", "granted at start");
        }
    }

    /// Release what `prepare` reserved.
    pub(super) fn unprepare(&self, prepared: Prepared) {
        self.router.remove(&prepared.name, &prepared.members);
        self.lock_app_grants().remove(&prepared.name);
        drop(prepared);
        self.prune();
    }

    /// [`prepare`](Self::prepare) off the executor: reading the component's file, compiling
    /// it and opening its granted directories block, for seconds with a large component. If
    /// the caller goes away before it is done, what was reserved is released.
    pub(super) async fn prepare_blocking(
        self: &Arc<Self>,
        spec: &ComponentSpec,
    ) -> Result<(Vec<ChildSpec>, Prepared), HostError> {
        if let Some(_held) = self.prepares_without_blocking(spec) {
            // Held across `prepare`: a concurrent prune cannot drop the code meanwhile (and
            // make `prepare` compile it here, on the executor).
            return self.prepare(spec);
        }
        let parts = Arc::clone(self);
        let spec = spec.clone();
        let name = spec.name.to_string();
        let (children, mut reserved) = tokio::task::spawn_blocking(move || {
            let (children, prepared) = parts.prepare(&spec)?;
            Ok::<_, HostError>((children, Reserved { parts, prepared: Some(prepared) }))
        })
        .await
        .map_err(|e| blocking_failed(&name, e))??;
        let prepared = reserved.prepared.take().expect("a reservation holds its component");
        Ok((children, prepared))
    }
}

/// A component prepared off the executor, on its way back to the caller: if the caller went
/// away meanwhile, dropping it releases the component's addresses and grants.
struct Reserved {
    parts: Arc<HostParts>,
    prepared: Option<Prepared>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(prepared) = self.prepared.take() {
            self.parts.unprepare(prepared);
        }
    }
}
