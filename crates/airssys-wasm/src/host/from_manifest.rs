//! An app manifest turned into a host: the manifest (`manifest.rs`) is data read from a
//! file; what it asks for becomes a [`HostBuilder`](crate::HostBuilder) here, in the host's
//! layer, so that the manifest's module does not depend on the host.

use std::path::Path;

use toml::Spanned;

use crate::manifest::{DirMode, Manifest, RestartPolicy, SupervisorSection, SupervisorStrategy};

impl Manifest {
    /// A host builder for this app. Relative paths are resolved against `base` (the
    /// manifest's directory); granted environment variables take their values from the host's
    /// environment now.
    pub fn builder(&self, base: &Path) -> Result<crate::HostBuilder, crate::HostError> {
        use crate::{ComponentSpec, Grants, HostError, Source, Supervision, TreeChild};
        let mut engine = crate::EngineConfig::default();
        if let Some(n) = self.engine.pool_components {
            engine.pool_components = (n > 0).then_some(n);
        }
        if let Some(size) = self.engine.max_memory {
            engine.max_memory_bytes = usize::try_from(size.0).unwrap_or(usize::MAX);
        }
        engine.cache_dir = self.engine.cache_dir.as_ref().map(|d| base.join(d));
        engine.memory_layout = match self.engine.memory_layout {
            crate::manifest::MemoryLayoutSetting::Auto => crate::MemoryLayout::Auto,
            crate::manifest::MemoryLayoutSetting::Wide => crate::MemoryLayout::Wide,
            crate::manifest::MemoryLayoutSetting::Dense => crate::MemoryLayout::Dense,
        };
        let trust = match &self.trust {
            None => {
                return Err(HostError::Trust(
                    "the manifest has no [trust] section: list the trusted keys, or set \
                     development = true to run unsigned components"
                        .into(),
                ));
            }
            Some(t) if t.development && !t.keys.is_empty() => {
                return Err(HostError::Trust(
                    "[trust] lists keys and development mode: choose one".into(),
                ));
            }
            Some(t) if t.development => crate::trust::TrustPolicy::Development,
            Some(t) => crate::trust::TrustPolicy::Keys(
                t.keys
                    .iter()
                    .map(|k| {
                        crate::trust::PublicKey::from_hex(k)
                            .map_err(|source| HostError::TrustedKey { key: k.clone(), source })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let mut builder = crate::HostBuilder::default().engine(engine).trust(trust);
        let wants_storage = self.components.values().any(|c| c.grants.storage.is_some());
        match &self.app.data_dir {
            Some(dir) => {
                // The data directory is made private to the host's user: the project's own
                // directory (`data_dir = "."`) or one above it would be taken over silently.
                let data = crate::protected::canonical(&base.join(dir));
                let project = crate::protected::canonical(base);
                if project.starts_with(&data) {
                    return Err(HostError::DataDir {
                        path: base.join(dir).display().to_string(),
                        reason: format!(
                            "it contains the manifest's own directory {} (the data directory \
                             is made private to the host's user); use a subdirectory such as \
                             \".airssys/data\"",
                            project.display()
                        ),
                    });
                }
                builder = builder.data_dir(base.join(dir))
            }
            None if wants_storage => builder = builder.data_dir(base.join(".airssys/data")),
            None => {}
        }
        if let Some(file) = &self.audit.file {
            let path = base.join(file);
            let log = airssys_osl::AuditLog::file(&path)
                .map_err(|source| HostError::Audit { path: path.display().to_string(), source })?;
            builder = builder.audit(log).protect_file(&path, "the audit log");
        }
        for (name, c) in &self.components {
            let source = c.source.as_ref().map(|s| base.join(s.get_ref())).unwrap_or_default();
            let mut spec = ComponentSpec::new(name.as_str(), Source::File(source))
                .accepts(&c.accepts.iter().map(|c| c.0).collect::<Vec<_>>())
                .restart(match c.restart {
                    RestartPolicy::Permanent => airssys_rt::Restart::Permanent,
                    RestartPolicy::Transient => airssys_rt::Restart::Transient,
                    RestartPolicy::Temporary => airssys_rt::Restart::Temporary,
                })
                .instances(c.instances.unwrap_or(1));
            for (k, v) in &c.config {
                spec = spec.config(k.as_str(), v.as_str());
            }
            let l = &c.limits;
            if let Some(m) = l.memory {
                spec = spec.max_memory(usize::try_from(m.0).unwrap_or(usize::MAX));
            }
            if let Some(d) = l.cpu_per_message {
                spec = spec.cpu_per_message(d.0);
            }
            if let Some(f) = l.fuel {
                spec = spec.fuel_per_message(f);
            }
            if let Some(m) = l.mailbox {
                spec = spec.mailbox(m);
            }
            if let Some(p) = l.max_payload {
                spec = spec.max_payload(usize::try_from(p.0).unwrap_or(usize::MAX));
            }
            if let Some(r) = l.rate {
                spec = spec.rate(r.per_second, r.burst);
            }
            if let Some(n) = l.pending_requests {
                spec = spec.pending_requests(n);
            }
            if let Some(d) = l.init_timeout {
                spec = spec.init_timeout(d.0);
            }
            if let Some(b) = l.mailbox_bytes {
                spec = spec.mailbox_bytes(usize::try_from(b.0).unwrap_or(usize::MAX));
            }
            if let Some(n) = l.subscriptions {
                spec = spec.subscriptions(n);
            }
            if let Some(n) = l.open_files {
                spec = spec.open_files(n);
            }
            if let Some(o) = l.output {
                let d = crate::OutputLimit::default();
                spec = spec.output(crate::OutputLimit {
                    lines_per_second: o.lines_per_second.unwrap_or(d.lines_per_second),
                    burst_lines: o.burst_lines.unwrap_or(d.burst_lines),
                    bytes_per_second: o.bytes_per_second.map_or(d.bytes_per_second, |b| b.0),
                    burst_bytes: o.burst_bytes.map_or(d.burst_bytes, |b| b.0),
                });
            }
            let g = &c.grants;
            let names =
                |list: &[Spanned<String>]| list.iter().map(|s| s.get_ref().clone()).collect();
            spec = spec.grants(Grants {
                send: names(&g.send),
                request: names(&g.request),
                accept_from: g.accept_from.as_deref().map(names),
                publish: g.publish.clone(),
                subscribe: g.subscribe.clone(),
                link: names(&g.link),
            });
            if let Some(s) = g.storage {
                spec = spec.storage(crate::storage::Quota { bytes: s.quota.0, keys: s.keys });
            }
            for p in &g.process {
                let args: Vec<&str> = p.args.iter().map(String::as_str).collect();
                // A relative path is relative to the manifest; a bare name is looked up in
                // PATH.
                let command = if p.command.contains('/') && !p.command.starts_with('/') {
                    base.join(&p.command).to_string_lossy().into_owned()
                } else {
                    p.command.clone()
                };
                spec = spec.command(command, &args);
            }
            for var in &g.env {
                let value = std::env::var(var).map_err(|_| HostError::Grant {
                    name: name.clone(),
                    reason: format!("granted environment variable {var} is not set on the host"),
                })?;
                spec = spec.env(var.as_str(), value);
            }
            for dir in &g.filesystem {
                spec = spec.dir(
                    base.join(dir.host.get_ref()),
                    dir.guest.as_str(),
                    dir.mode == DirMode::Rw,
                );
            }
            fn strs(l: &[String]) -> Vec<&str> {
                l.iter().map(String::as_str).collect()
            }
            let n = &g.network;
            spec = spec.network(&strs(&n.connect), &strs(&n.listen), &strs(&n.udp));
            builder = builder.component(spec);
        }
        for route in &self.http {
            let listen = match &route.listen {
                // Checked when the manifest was read.
                Some(l) => l.parse().unwrap_or(crate::DEFAULT_HTTP_LISTEN),
                None => crate::DEFAULT_HTTP_LISTEN,
            };
            let path = route.path.clone().unwrap_or_else(|| "/".into());
            let mut served =
                crate::HttpRoute::new(listen, path, route.component.get_ref().as_str());
            if let Some(b) = route.max_body {
                served.max_body = usize::try_from(b.0).unwrap_or(usize::MAX);
            }
            if let Some(t) = route.timeout {
                served.timeout = t.0;
            }
            if let Some(n) = route.concurrency {
                served.concurrency = n as usize;
            }
            builder = builder.http(served);
        }
        fn tree(m: &Manifest, section: &SupervisorSection) -> Supervision {
            Supervision {
                strategy: match section.strategy {
                    SupervisorStrategy::OneForOne => airssys_rt::Strategy::OneForOne,
                    SupervisorStrategy::OneForAll => airssys_rt::Strategy::OneForAll,
                    SupervisorStrategy::RestForOne => airssys_rt::Strategy::RestForOne,
                },
                intensity: section.intensity.map(|i| (i.restarts, i.within.0)),
                children: section
                    .children
                    .iter()
                    .map(|c| {
                        let name = c.get_ref();
                        match m.supervisors.get(name) {
                            Some(sub) => TreeChild::Supervisor(name.clone(), tree(m, sub)),
                            None => TreeChild::Component(name.clone()),
                        }
                    })
                    .collect(),
            }
        }
        Ok(builder.supervision(tree(self, &self.supervisor)))
    }
}
