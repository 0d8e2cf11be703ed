//! Compiled code: the engines and the contract's linker for each ([`ContractLinker`]), and
//! the code a host has compiled, shared by every component of the same bytes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Linker;

use super::HostParts;
use super::builder::blocking_failed;
use super::spec::{ComponentSpec, Source};
use crate::bindings;
use crate::cache;
use crate::engine::{Engine, EngineConfig};
use crate::error::HostError;
use crate::state::HostState;

/// Compiled code, ready to instantiate.
pub(super) struct Code {
    /// The prepared code and its version.
    pub(super) versioned: Arc<crate::upgrade::VersionedCode>,
    pub(super) from_cache: bool,
    /// What one instance takes from the engine's instance pool.
    pub(super) footprint: crate::footprint::Footprint,
}

/// The code a host has compiled, so that components of the same code share it.
#[derive(Default)]
pub(super) struct Codes {
    /// By the SHA-256 of the component's bytes and whether it is metered with fuel.
    by_digest: HashMap<(cache::Digest32, bool), Arc<Code>>,
    /// Byte sources already hashed, by their allocation; the bytes are held, so that the
    /// address cannot be reused by other bytes while the entry exists.
    by_allocation: HashMap<(usize, usize), HashedBytes>,
}

/// Bytes and their SHA-256.
type HashedBytes = (Arc<[u8]>, cache::Digest32);

/// An embedder's addition to the linker every component is linked with
/// ([`HostBuilder::linker`](super::HostBuilder::linker)).
pub(crate) type LinkerHook =
    Arc<dyn Fn(&mut Linker<HostState>) -> wasmtime::Result<()> + Send + Sync>;

/// One engine and the linker of the contract for it.
pub(crate) struct ContractLinker {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
}

impl ContractLinker {
    pub(crate) fn new(
        settings: &EngineConfig,
        fuel: bool,
        hooks: &[LinkerHook],
    ) -> Result<Self, HostError> {
        let engine = Engine::new(settings, fuel)?;
        let mut linker: Linker<HostState> = Linker::new(&engine.inner);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.into()))?;
        crate::fs_audit::add_to_linker(&mut linker).map_err(|e| HostError::Engine(e.into()))?;
        crate::handle_limit::add_to_linker(&mut linker).map_err(|e| HostError::Engine(e.into()))?;
        crate::preopens::add_to_linker(&mut linker).map_err(|e| HostError::Engine(e.into()))?;
        // The standard worlds served beside ours: wasi:http (types, outgoing-handler) and
        // wasi:keyvalue over the component's storage.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.into()))?;
        bindings::keyvalue::Imports::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.into()))?;
        bindings::keyvalue_draft2::Imports::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.into()))?;
        // Both contract versions: a component imports one of them.
        bindings::current::Component::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.into()))?;
        bindings::v0_1::Component::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.into()))?;
        for hook in hooks {
            hook(&mut linker).map_err(|e| HostError::Extension(e.into()))?;
        }
        Ok(ContractLinker { engine, linker })
    }
}

/// The code's instances fit the engine's instance pool, `instances` of them at once (an
/// error names the limit to raise).
pub(super) fn fits_pool(
    spec: &ComponentSpec,
    code: &Code,
    engine: &Engine,
) -> Result<(), HostError> {
    match engine.pool().and_then(|pool| pool.refuses(&code.footprint, spec.instances)) {
        Some(reason) => Err(HostError::Limit { name: spec.name.to_string(), reason }),
        None => Ok(()),
    }
}

impl HostParts {
    fn lock_codes(&self) -> std::sync::MutexGuard<'_, Codes> {
        crate::sync::lock(&self.codes)
    }

    /// The fuel-counting engine, made on first use.
    fn fuel_linked(&self) -> Result<Arc<ContractLinker>, HostError> {
        let mut fuel = crate::sync::lock(&self.fuel);
        match &*fuel {
            Some(linked) => Ok(Arc::clone(linked)),
            None => {
                let linked =
                    Arc::new(ContractLinker::new(&self.settings, true, &self.linker_hooks)?);
                *fuel = Some(Arc::clone(&linked));
                Ok(linked)
            }
        }
    }

    /// The compiled code of a component: shared with every component of the same bytes,
    /// compiled (or loaded from the artifact cache) the first time.
    pub(super) fn code(&self, spec: &ComponentSpec) -> Result<(Arc<Code>, Engine), HostError> {
        let fuel = spec.fuel.is_some();
        let fuel_linked;
        let linked: &ContractLinker = if fuel {
            fuel_linked = self.fuel_linked()?;
            &fuel_linked
        } else {
            &self.plain
        };
        let (bytes, digest) = match &spec.source {
            Source::Bytes(b) => {
                let key = (b.as_ptr() as usize, b.len());
                let known = self.lock_codes().by_allocation.get(&key).map(|(_, d)| *d);
                let digest = known.unwrap_or_else(|| cache::digest(b));
                self.lock_codes().by_allocation.insert(key, (Arc::clone(b), digest));
                (Arc::clone(b), digest)
            }
            Source::File(path) => {
                let bytes: Arc<[u8]> =
                    crate::untrusted_file::read(path, crate::untrusted_file::MAX_COMPONENT_BYTES)
                        .map_err(|source| HostError::Read {
                            name: spec.name.to_string(),
                            path: path.display().to_string(),
                            source,
                        })?
                        .into();
                let digest = cache::digest(&bytes);
                (bytes, digest)
            }
        };
        self.check_signature(spec, &digest)?;
        if let Some(code) = self.lock_codes().by_digest.get(&(digest, fuel)) {
            return Ok((Arc::clone(code), linked.engine.clone()));
        }
        let load_error = |source: crate::error::BoxError| HostError::Load {
            name: spec.name.to_string(),
            source,
        };
        let started = std::time::Instant::now();
        let (component, from_cache) =
            linked.engine.compile(&bytes, &digest).map_err(|e| load_error(e.into()))?;
        let footprint = crate::footprint::Footprint::of(&bytes, &component);
        let took = format!("{:.1?}", started.elapsed());
        if from_cache {
            tracing::info!(component = %spec.name, %took, %footprint, "loaded compiled code from the artifact cache");
        } else {
            tracing::info!(component = %spec.name, %took, %footprint, bytes = bytes.len(), "compiled");
        }
        let pre = linked.linker.instantiate_pre(&component).map_err(|e| load_error(e.into()))?;
        let pre = Arc::new(crate::guest::GuestPre::new(pre).map_err(|e| load_error(e.into()))?);
        let label = version_label(&bytes);
        let versioned =
            Arc::new(crate::upgrade::VersionedCode::new(pre, &digest, label.as_deref()));
        let code = Arc::clone(
            self.lock_codes()
                .by_digest
                .entry((digest, fuel))
                .or_insert_with(|| Arc::new(Code { versioned, from_cache, footprint })),
        );
        Ok((code, linked.engine.clone()))
    }

    /// Under a trust policy with keys, the component must be signed by one of them.
    fn check_signature(
        &self,
        spec: &ComponentSpec,
        digest: &cache::Digest32,
    ) -> Result<(), HostError> {
        use crate::trust::{ComponentSignature, TrustError, TrustPolicy};
        let TrustPolicy::Keys(keys) = &self.trust else { return Ok(()) };
        let signature = match (&spec.signature, &spec.source) {
            (Some(signature), _) => Ok(signature.clone()),
            (None, Source::File(path)) => {
                let mut sig = path.clone().into_os_string();
                sig.push(".sig");
                let limit = crate::untrusted_file::MAX_SIGNATURE_BYTES;
                match crate::untrusted_file::read_text(Path::new(&sig), limit) {
                    Ok(text) => ComponentSignature::parse(&text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TrustError::Unsigned),
                    Err(e) => Err(TrustError::Malformed(format!(
                        "cannot read {}: {e}",
                        Path::new(&sig).display()
                    ))),
                }
            }
            (None, Source::Bytes(_)) => Err(TrustError::Unsigned),
        };
        let verdict = signature.and_then(|s| s.verify(digest, keys));
        let audit = &self.router.audit;
        let action = airssys_osl::Action::Lifecycle;
        match verdict {
            Ok(signer) => {
                audit.event(
                    &spec.name,
                    "load",
                    action,
                    &spec.name,
                    "allow",
                    format!("signed by {}", signer.to_hex()),
                );
                Ok(())
            }
            Err(reason) => {
                audit.event(&spec.name, "load", action, &spec.name, "deny", reason.to_string());
                Err(HostError::Untrusted { name: spec.name.to_string(), reason })
            }
        }
    }

    /// Forget code no live component uses, and byte sources nobody else holds.
    pub(super) fn prune(&self) {
        let mut codes = self.lock_codes();
        codes.by_digest.retain(|_, code| Arc::strong_count(code) > 1);
        let Codes { by_digest, by_allocation } = &mut *codes;
        by_allocation.retain(|_, (bytes, digest)| {
            Arc::strong_count(bytes) > 1
                && (by_digest.contains_key(&(*digest, false))
                    || by_digest.contains_key(&(*digest, true)))
        });
    }

    /// The compiled code of `spec` when preparing it touches nothing that blocks: its code is
    /// in memory, already hashed and compiled (a `Source::Bytes` seen before), and it is
    /// granted no directory and no command (opening and resolving those touch the
    /// filesystem). Then it is prepared on the caller's thread, without a hop to the
    /// blocking pool, while the caller holds the returned code.
    pub(super) fn prepares_without_blocking(&self, spec: &ComponentSpec) -> Option<Arc<Code>> {
        let Source::Bytes(bytes) = &spec.source else { return None };
        if !spec.wasi.dirs.is_empty() || !spec.commands.is_empty() {
            return None;
        }
        let codes = self.lock_codes();
        let key = (bytes.as_ptr() as usize, bytes.len());
        let (_, digest) = codes.by_allocation.get(&key)?;
        codes.by_digest.get(&(*digest, spec.fuel.is_some())).cloned()
    }

    /// [`code`](Self::code) off the executor.
    pub(super) async fn code_blocking(
        self: &Arc<Self>,
        spec: &ComponentSpec,
    ) -> Result<(Arc<Code>, Engine), HostError> {
        let parts = Arc::clone(self);
        let spec = spec.clone();
        let name = spec.name.to_string();
        tokio::task::spawn_blocking(move || parts.code(&spec))
            .await
            .map_err(|e| blocking_failed(&name, e))?
    }
}

/// The component's own version, from its `version` custom section (as `wasm-tools metadata
/// add --version` writes it), when it has one that reads as short text.
fn version_label(bytes: &[u8]) -> Option<String> {
    // Nested modules and components have sections of their own; only the outer ones name
    // the component.
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(section)
                if depth == 0 && section.name() == "version" =>
            {
                let text = std::str::from_utf8(section.data()).ok()?.trim();
                let fits = !text.is_empty() && text.len() <= 64;
                return fits.then(|| airssys_osl::escaped(text));
            }
            _ => {}
        }
    }
    None
}
