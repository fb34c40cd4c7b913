//! Checkpoints: safetensors bytes whose metadata holds the format version, component,
//! checkpoint version, architecture id and config hash; the sha256 of the bytes travels beside
//! them (a `<file>.json` side-car manifest on disk, the `sha256` field of a ModelCheckpoint
//! message on the ROS graph).
//!
//! Loading verifies the sha256 first (a corrupted file is refused), then the format, then the
//! architecture id (a checkpoint of another architecture is refused with both ids in the
//! message), then every tensor's name, dtype and shape. A different config hash with the same
//! architecture (e.g. another learning rate) loads, with a warning.
use crate::config::hex;
use crate::error::{LearnError, Result};
use safetensors::tensor::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor, nn};

/// Version of this checkpoint layout.
pub const FORMAT_VERSION: &str = "1";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// e.g. "encoder", "model", "actor" (see [`crate::config::Component`]).
    pub component: String,
    /// Monotonic version chosen by the publisher (e.g. the update count).
    pub version: u64,
    /// Architecture id ([`crate::LearnConfig::architecture`]).
    pub architecture: String,
    /// [`crate::LearnConfig::config_hash`] of the config that produced it.
    pub config_hash: String,
}

/// A checkpoint as shipped: the fields of a ModelCheckpoint message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBytes {
    pub meta: CheckpointMeta,
    /// sha256 (hex) of `weights`.
    pub sha256: String,
    /// The safetensors file.
    pub weights: Vec<u8>,
}

/// The side-car manifest `<checkpoint>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    #[serde(flatten)]
    pub meta: CheckpointMeta,
    pub sha256: String,
    pub file: String,
}

/// sha256 (hex) of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn named_variables(stores: &[(&str, &nn::VarStore)]) -> Result<BTreeMap<String, Tensor>> {
    let mut out = BTreeMap::new();
    for (prefix, vs) in stores {
        for (name, t) in vs.variables() {
            let full = format!("{prefix}{name}");
            if out.insert(full.clone(), t).is_some() {
                return Err(LearnError::Checkpoint(format!(
                    "duplicate tensor name `{full}`"
                )));
            }
        }
    }
    Ok(out)
}

/// Serialises the variables of `stores` (names prefixed) into checkpoint bytes.
pub fn to_bytes(
    stores: &[(&str, &nn::VarStore)],
    meta: &CheckpointMeta,
) -> Result<CheckpointBytes> {
    let vars = named_variables(stores)?;
    let mut raw: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(vars.len());
    for (name, t) in vars {
        let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let n = t.numel();
        let mut data = vec![0u8; n * 4];
        t.f_copy_data_u8(&mut data, n)?;
        raw.push((name, shape, data));
    }
    let metadata: BTreeMap<&str, String> = [
        ("format", FORMAT_VERSION.to_string()),
        ("component", meta.component.clone()),
        ("version", meta.version.to_string()),
        ("architecture", meta.architecture.clone()),
        ("config_hash", meta.config_hash.clone()),
    ]
    .into_iter()
    .collect();
    let weights = serialize_safetensors(&raw, &metadata)?;
    Ok(CheckpointBytes {
        meta: meta.clone(),
        sha256: sha256_hex(&weights),
        weights,
    })
}

/// Writes the safetensors layout deterministically (the same tensors and metadata always give
/// the same bytes, so the sha256 is reproducible): 8-byte little-endian header length, a JSON
/// header with sorted keys (`__metadata__` and one entry per tensor), padded with spaces to a
/// multiple of 8, then the tensors' data in name order.
fn serialize_safetensors(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    metadata: &BTreeMap<&str, String>,
) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(metadata).unwrap_or_default(),
    );
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + data.len()] }),
        );
        offset += data.len();
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, _, data) in tensors {
        out.extend_from_slice(data);
    }
    // Check with the reference parser.
    SafeTensors::deserialize(&out)
        .map_err(|e| LearnError::Checkpoint(format!("serialize: {e:?}")))?;
    Ok(out)
}

/// Reads the metadata of checkpoint bytes after verifying their sha256.
pub fn verify(ck: &CheckpointBytes) -> Result<CheckpointMeta> {
    let actual = sha256_hex(&ck.weights);
    if !actual.eq_ignore_ascii_case(&ck.sha256) {
        return Err(LearnError::Checkpoint(format!(
            "sha256 mismatch (corrupted checkpoint): expected {}, got {actual}",
            ck.sha256
        )));
    }
    let (_, md) = SafeTensors::read_metadata(&ck.weights)
        .map_err(|e| LearnError::Checkpoint(format!("not a safetensors file: {e:?}")))?;
    let m = md
        .metadata()
        .as_ref()
        .ok_or_else(|| LearnError::Checkpoint("safetensors metadata missing".into()))?;
    let get = |k: &str| {
        m.get(k)
            .cloned()
            .ok_or_else(|| LearnError::Checkpoint(format!("metadata key `{k}` missing")))
    };
    let format = get("format")?;
    if format != FORMAT_VERSION {
        return Err(LearnError::Checkpoint(format!(
            "checkpoint format {format}, this build reads {FORMAT_VERSION}"
        )));
    }
    let meta = CheckpointMeta {
        component: get("component")?,
        version: get("version")?
            .parse()
            .map_err(|_| LearnError::Checkpoint("metadata `version` is not an integer".into()))?,
        architecture: get("architecture")?,
        config_hash: get("config_hash")?,
    };
    if meta != ck.meta {
        return Err(LearnError::Checkpoint(format!(
            "metadata in the weights {meta:?} differs from the envelope {:?}",
            ck.meta
        )));
    }
    Ok(meta)
}

/// Verifies `ck` and copies its tensors into `stores`. The checkpoint must be of
/// `architecture` and hold exactly the stores' variables with the same shapes.
pub fn from_bytes(
    ck: &CheckpointBytes,
    stores: &[(&str, &nn::VarStore)],
    architecture: &str,
    config_hash: &str,
) -> Result<CheckpointMeta> {
    let meta = verify(ck)?;
    if meta.architecture != architecture {
        return Err(LearnError::Checkpoint(format!(
            "architecture mismatch for `{}`: checkpoint is `{}`, this network is `{architecture}`",
            meta.component, meta.architecture
        )));
    }
    if meta.config_hash != config_hash {
        tracing::warn!(component = %meta.component, "checkpoint config hash differs (same architecture): loading");
    }
    let st = SafeTensors::deserialize(&ck.weights)
        .map_err(|e| LearnError::Checkpoint(format!("bad safetensors: {e:?}")))?;
    let vars = named_variables(stores)?;
    if st.len() != vars.len() {
        return Err(LearnError::Checkpoint(format!(
            "checkpoint holds {} tensors, the network {}",
            st.len(),
            vars.len()
        )));
    }
    // Check everything before changing anything.
    let mut loaded = Vec::with_capacity(vars.len());
    for (name, var) in &vars {
        let view = st.tensor(name).map_err(|_| {
            LearnError::Checkpoint(format!("tensor `{name}` missing from the checkpoint"))
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        if view.dtype() != Dtype::F32 || shape != var.size() {
            return Err(LearnError::Checkpoint(format!(
                "tensor `{name}`: checkpoint has {:?} {shape:?}, the network f32 {:?}",
                view.dtype(),
                var.size()
            )));
        }
        loaded.push((
            var,
            Tensor::f_from_data_size(view.data(), &shape, Kind::Float)?,
        ));
    }
    tch::no_grad(|| -> Result<()> {
        for (var, t) in loaded {
            let mut v = var.shallow_clone();
            v.f_copy_(&t)?;
        }
        Ok(())
    })?;
    Ok(meta)
}

/// The manifest path of a checkpoint file: `<file>.json`.
pub fn manifest_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| LearnError::io(&tmp, e))?;
    if let Ok(f) = std::fs::File::open(&tmp) {
        let _ = f.sync_all();
    }
    std::fs::rename(&tmp, path).map_err(|e| LearnError::io(path, e))
}

/// Writes the safetensors file and its manifest (each atomically: temp file + rename).
pub fn save(path: impl AsRef<Path>, ck: &CheckpointBytes) -> Result<()> {
    let path = path.as_ref();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| LearnError::io(dir, e))?;
    }
    write_atomic(path, &ck.weights)?;
    let manifest = Manifest {
        format: FORMAT_VERSION.into(),
        meta: ck.meta.clone(),
        sha256: ck.sha256.clone(),
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| LearnError::Checkpoint(e.to_string()))?;
    write_atomic(&manifest_path(path), &json)
}

/// Reads a checkpoint file and its manifest, and verifies the sha256 and metadata.
pub fn load(path: impl AsRef<Path>) -> Result<CheckpointBytes> {
    let path = path.as_ref();
    let weights = std::fs::read(path).map_err(|e| LearnError::io(path, e))?;
    let mpath = manifest_path(path);
    let text = std::fs::read(&mpath).map_err(|e| LearnError::io(&mpath, e))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| LearnError::Checkpoint(format!("{}: {e}", mpath.display())))?;
    let ck = CheckpointBytes {
        meta: manifest.meta,
        sha256: manifest.sha256,
        weights,
    };
    verify(&ck).map_err(|e| LearnError::Checkpoint(format!("{}: {e}", path.display())))?;
    Ok(ck)
}
