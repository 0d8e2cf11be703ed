//! `airssys keygen`, `sign` and `verify`: Ed25519 signatures over a component's SHA-256, as
//! the host checks them under `[trust] keys`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airssys_wasm::trust::{ComponentSignature, PublicKey, SecretKey};
use airssys_wasm::untrusted_file;
use anyhow::{Context, bail};

use crate::Globals;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Write the secret key (hex) to this file, readable only by you.
    #[arg(long, default_value = "airssys.key")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The component file.
    file: PathBuf,
    /// The secret key file (from `airssys keygen`).
    #[arg(long, default_value = "airssys.key")]
    key: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The component file (its signature is `<file>.sig`).
    file: PathBuf,
    /// A trusted public key (hex); repeat for several.
    #[arg(long = "trusted", required = true, value_name = "HEX")]
    trusted: Vec<String>,
}

pub fn keygen(args: KeygenArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = SecretKey::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", args.out.display()))?;
    writeln!(file, "{}", key.to_hex())?;
    let public = key.public().to_hex();
    emit(
        g,
        &format!(
            "secret key written to {} (keep it private)\npublic key: {public}\ntrust it with:\n  [trust]\n  keys = [\"{public}\"]",
            args.out.display()
        ),
        serde_json::json!({ "secret_key_file": args.out, "public_key": public }),
    );
    Ok(ExitCode::SUCCESS)
}

/// A component file's bytes: a regular file of at most
/// [`untrusted_file::MAX_COMPONENT_BYTES`].
pub fn read_component(file: &Path) -> anyhow::Result<Vec<u8>> {
    untrusted_file::read(file, untrusted_file::MAX_COMPONENT_BYTES)
        .with_context(|| format!("cannot read the component {}", file.display()))
}

fn sig_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

pub fn sign(args: SignArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let text = untrusted_file::read_text(&args.key, untrusted_file::MAX_SIGNATURE_BYTES)
        .with_context(|| {
            format!("cannot read the key {} (make one with `airssys keygen`)", args.key.display())
        })?;
    let key = SecretKey::from_hex(text.trim())
        .with_context(|| format!("{} is not a secret key", args.key.display()))?;
    let bytes = read_component(&args.file)?;
    let signature = key.sign(&bytes);
    let out = sig_path(&args.file);
    std::fs::write(&out, signature.to_json())
        .with_context(|| format!("cannot write {}", out.display()))?;
    emit(
        g,
        &format!("signed {} -> {}", args.file.display(), out.display()),
        serde_json::json!({ "signature": out, "sha256": signature.sha256, "key": signature.key }),
    );
    Ok(ExitCode::SUCCESS)
}

/// Verify `file` against its `.sig` and `trusted`; the signer's key.
pub fn check(file: &Path, trusted: &[PublicKey]) -> anyhow::Result<PublicKey> {
    let bytes = read_component(file)?;
    Ok(check_bytes(file, &bytes, trusted)?.0)
}

/// Verify `bytes` (read from `file`) against `file`'s `.sig` and `trusted`; the signer's
/// key and the signature text that was checked.
pub fn check_bytes(
    file: &Path,
    bytes: &[u8],
    trusted: &[PublicKey],
) -> anyhow::Result<(PublicKey, String)> {
    let sig = sig_path(file);
    let text = match untrusted_file::read_text(&sig, untrusted_file::MAX_SIGNATURE_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{} has no signature ({} is missing)", file.display(), sig.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sig.display())),
    };
    let signature = ComponentSignature::parse(&text)
        .with_context(|| format!("{} is not a signature", sig.display()))?;
    let signer = signature
        .verify_bytes(bytes, trusted)
        .with_context(|| format!("{} is refused", file.display()))?;
    Ok((signer, text))
}

pub fn parse_keys(keys: &[String]) -> anyhow::Result<Vec<PublicKey>> {
    keys.iter()
        .map(|k| PublicKey::from_hex(k).with_context(|| format!("{k:?} is not a public key")))
        .collect()
}

pub fn verify(args: VerifyArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let trusted = parse_keys(&args.trusted)?;
    match check(&args.file, &trusted) {
        Ok(signer) => {
            let signer = signer.to_hex();
            emit(
                g,
                &format!("{}: signature valid, signed by {signer}", args.file.display()),
                serde_json::json!({ "valid": true, "signer": signer }),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bail!("{}: {e:#}", args.file.display()),
    }
}
