//! Device selection: `cuda_if_available` by default, `--device cpu|cuda[:N]` to override.
use crate::error::{LearnError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tch::Device;

/// Which device to compute on, as written in config or on a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA device; [`DeviceChoice::resolve`] fails when it is not available.
    Cuda(usize),
}

impl DeviceChoice {
    /// The tch device, or an error when CUDA was asked for and is not there.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(i) => {
                let n = tch::Cuda::device_count();
                if (i as i64) < n {
                    Ok(Device::Cuda(i))
                } else {
                    Err(LearnError::Device(format!(
                        "cuda:{i} requested but {n} CUDA device(s) are available"
                    )))
                }
            }
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceChoice::Cuda(i)),
                _ => Err(LearnError::Device(format!(
                    "unknown device `{s}` (expected auto, cpu, cuda or cuda:N)"
                ))),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses `--device X` / `--device=X` from command-line arguments; `None` when absent.
pub fn device_from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Option<DeviceChoice>> {
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--device" {
            let v = it
                .next()
                .ok_or_else(|| LearnError::Device("--device needs a value".into()))?;
            return v.parse().map(Some);
        }
        if let Some(v) = a.strip_prefix("--device=") {
            return v.parse().map(Some);
        }
    }
    Ok(None)
}

/// Keeps libtorch's large CPU buffers in the malloc heap instead of fresh `mmap`s.
///
/// libtorch allocates CPU tensors with the C library's allocator. With glibc's defaults every
/// buffer above the (dynamic) mmap threshold is mapped and unmapped again per op, so each ALM
/// update page-faults on megabytes of fresh memory (conv activations of 64×64 frames are tens of
/// MB): measured here, raising the thresholds makes the pixel update ~1.7× faster. Raises the
/// mmap threshold to 256 MB and the trim threshold to 1 GB; called once by the learners on the
/// CPU. Returns whether glibc accepted both settings (always `false` off glibc).
pub fn tune_cpu_allocator() -> bool {
    static RESULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RESULT.get_or_init(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc.
            let ok = unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
            };
            tracing::debug!(
                ok,
                "glibc malloc thresholds raised for libtorch CPU buffers"
            );
            ok
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            false
        }
    })
}
