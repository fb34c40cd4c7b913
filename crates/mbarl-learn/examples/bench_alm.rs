//! Benchmark: full ALM updates per second (encoder + model + reward head + latent classifier +
//! critics + actor + α + Polyak), tch vs the same update in PyTorch Python
//! (`benches/alm_reference.py`), at the default sizes: states (batch 256) and 64×64 pixels +
//! proprio (batch 128), on the CPU, with the same thread counts on both sides.
//!
//! ```text
//! cargo run --release -p mbarl-learn --example bench_alm -- [--threads 1,2] [--updates 30]
//!     [--pixel-updates 10] [--repeats 3] [--python <venv>/bin/python] [--no-python]
//! ```
use mbarl_learn::config::ObsMode;
use mbarl_learn::{AlmAgent, DeviceChoice, LearnConfig, ObsBatch, SequenceBatch};
use std::process::Command;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn config(mode: ObsMode) -> LearnConfig {
    let mut c = LearnConfig {
        device: DeviceChoice::Cpu,
        ..Default::default()
    };
    c.obs.mode = mode;
    c.obs.action_dim = 7;
    match mode {
        ObsMode::State => {
            c.obs.state_dim = 24;
            c.obs.proprio_dim = 0;
            c.alm.batch_size = 256;
        }
        ObsMode::Pixels => {
            c.obs.frame_height = 64;
            c.obs.frame_width = 64;
            c.obs.proprio_dim = 14;
            c.alm.batch_size = 128;
        }
    }
    c
}

fn random_batch(c: &LearnConfig) -> SequenceBatch {
    let (k, b) = (c.alm.seq_len as i64, c.alm.batch_size as i64);
    let f = (Kind::Float, Device::Cpu);
    let o = &c.obs;
    let mut obs = ObsBatch::default();
    match o.mode {
        ObsMode::State => obs.state = Some(Tensor::randn([k + 1, b, o.state_dim as i64], f)),
        ObsMode::Pixels => {
            obs.frames = Some(Tensor::randint(
                256,
                [k + 1, b, o.frame_height as i64, o.frame_width as i64, 3],
                (Kind::Uint8, Device::Cpu),
            ))
        }
    }
    if o.proprio_dim > 0 {
        obs.proprio = Some(Tensor::randn([k + 1, b, o.proprio_dim as i64], f));
    }
    SequenceBatch {
        obs,
        actions: Tensor::rand([k, b, o.action_dim as i64], f) * 2.0 - 1.0,
        rewards: Tensor::randn([k, b], f),
        dones: Tensor::zeros([k, b], f),
    }
}

/// Best of `repeats` rounds of `updates` updates (the machine is shared: the best round is the
/// least disturbed one), after `warmup` updates.
fn bench_tch(
    c: &LearnConfig,
    updates: usize,
    warmup: usize,
    repeats: usize,
) -> anyhow::Result<f64> {
    tch::manual_seed(0);
    let mut agent = AlmAgent::new(c, Device::Cpu)?;
    let batch = random_batch(c);
    for _ in 0..warmup {
        agent.update(&batch)?;
    }
    let mut best = 0.0f64;
    for _ in 0..repeats {
        let t0 = Instant::now();
        for _ in 0..updates {
            agent.update(&batch)?;
        }
        best = best.max(updates as f64 / t0.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// How long to measure: `repeats` rounds of `updates` updates after `warmup` updates.
#[derive(Clone, Copy)]
struct Rounds {
    updates: usize,
    warmup: usize,
    repeats: usize,
}

fn bench_python(
    python: &str,
    script: &str,
    c: &LearnConfig,
    threads: usize,
    r: Rounds,
    malloc_tuned: bool,
) -> anyhow::Result<f64> {
    let mut cmd = Command::new(python);
    if malloc_tuned {
        // The same glibc thresholds mbarl_learn::device::tune_cpu_allocator sets in-process.
        cmd.env(
            "GLIBC_TUNABLES",
            "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824",
        );
    }
    let out = cmd
        .arg(script)
        .arg("--config")
        .arg(serde_json::to_string(c)?)
        .args([
            "--threads",
            &threads.to_string(),
            "--updates",
            &r.updates.to_string(),
        ])
        .args([
            "--warmup",
            &r.warmup.to_string(),
            "--repeats",
            &r.repeats.to_string(),
        ])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "{python} {script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("updates_per_s ")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| anyhow::anyhow!("no `updates_per_s` in the reference's output: {stdout}"))
}

fn print_header() {
    println!("ALM full update (encoder+model+reward+classifier+critics+actor+alpha+Polyak), CPU");
    println!(
        "tch tunes glibc malloc in-process (device::tune_cpu_allocator: {});",
        mbarl_learn::device::tune_cpu_allocator()
    );
    println!("`py+malloc` runs the reference with the same thresholds through GLIBC_TUNABLES.");
    println!(
        "{:<28} {:>7} {:>10} {:>10} {:>8} {:>10} {:>8}",
        "case", "threads", "tch upd/s", "py upd/s", "tch/py", "py+malloc", "tch/py+m"
    );
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let threads: Vec<usize> = opt("--threads")
        .unwrap_or_else(|| "1,2".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let updates: usize = opt("--updates")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(30);
    let pixel_updates: usize = opt("--pixel-updates")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let venv = std::env::var("MBARL_TORCH_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mbarl/venv-torch",
            std::env::var("HOME").unwrap_or_else(|_| "/root".into())
        )
    });
    let python = opt("--python").unwrap_or_else(|| format!("{venv}/bin/python"));
    let run_python = !args.iter().any(|a| a == "--no-python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/alm_reference.py");
    let repeats: usize = opt("--repeats")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3);
    let warmup = 3;

    // Each thread count runs in a fresh process (OMP_NUM_THREADS set before libtorch starts),
    // as the Python reference does.
    if threads.len() > 1 || std::env::var("OMP_NUM_THREADS").ok() != Some(threads[0].to_string()) {
        print_header();
        let exe = std::env::current_exe()?;
        let mut child_args: Vec<String> = Vec::new();
        let mut skip = false;
        for a in &args {
            if skip {
                skip = false;
                continue;
            }
            if a == "--threads" {
                skip = true;
                continue;
            }
            child_args.push(a.clone());
        }
        for &t in &threads {
            let status = Command::new(&exe)
                .args(&child_args)
                .args(["--threads", &t.to_string(), "--no-header"])
                .env("OMP_NUM_THREADS", t.to_string())
                .status()?;
            anyhow::ensure!(status.success(), "benchmark child for {t} thread(s) failed");
        }
        let c = config(ObsMode::State);
        println!(
            "defaults: latent {}, hidden {:?}, ensemble {}, K {}, horizon {}; best of {repeats} rounds of {} updates (pixels {}) after {warmup} warm-up",
            c.encoder.latent_dim,
            c.model.hidden,
            c.model.ensemble_size,
            c.alm.seq_len,
            c.alm.horizon,
            updates,
            pixel_updates
        );
        return Ok(());
    }
    if !args.iter().any(|a| a == "--no-header") {
        print_header();
    }
    for &t in &threads {
        tch::set_num_threads(t as i32);
        for (name, mode, n) in [
            ("state 24-d, batch 256", ObsMode::State, updates),
            ("pixels 64x64+14, batch 128", ObsMode::Pixels, pixel_updates),
        ] {
            let c = config(mode);
            let ours = bench_tch(&c, n, warmup, repeats)?;
            let mut cols = Vec::new();
            for tuned in [false, true] {
                if run_python {
                    let p = bench_python(
                        &python,
                        script,
                        &c,
                        t,
                        Rounds {
                            updates: n,
                            warmup,
                            repeats,
                        },
                        tuned,
                    )?;
                    cols.push(format!("{p:>10.2} {:>7.2}x", ours / p));
                } else {
                    cols.push(format!("{:>10} {:>8}", "-", "-"));
                }
            }
            println!("{name:<28} {t:>7} {ours:>10.2} {} {}", cols[0], cols[1]);
        }
    }
    Ok(())
}
