//! `mbarl launch <config.yaml>`: runs the suite described by a launch file until Ctrl-C
//! (or SIGTERM, SIGHUP).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use mbarl_launch::{LaunchConfig, StopSignals, Supervisor};

#[derive(Args)]
pub struct LaunchOpts {
    /// The launch file, e.g. config/launch/sim_reach.yaml.
    config: PathBuf,
    /// Directory relative paths in the launch file are resolved against (default: the launch
    /// file's grandparent, the repository root for config/launch/*.yaml).
    #[arg(long)]
    base: Option<PathBuf>,
    /// Seconds between status lines (phase, env steps, deployed success, losses); 0 turns them off.
    #[arg(long, default_value_t = 5.0)]
    status_every: f64,
    /// Print every process's output, interleaved (default: only warnings and errors; the full
    /// logs are in <run_dir>/logs/ either way).
    #[arg(long)]
    pub logs: bool,
}

pub async fn run(opts: LaunchOpts) -> Result<()> {
    let config = LaunchConfig::load(&opts.config, opts.base.as_deref())?;
    std::fs::create_dir_all(&config.run_dir)?;
    println!(
        "[mbarl launch] {} processes, run directory {} (Ctrl-C stops everything); {}",
        config.processes.len(),
        config.run_dir.display(),
        if opts.logs {
            "their output follows".to_string()
        } else {
            format!(
                "their warnings and errors show here, every line is in {} (--logs shows all)",
                config.run_dir.join("logs").display()
            )
        }
    );
    // SIGTERM and SIGHUP (a service manager, `timeout`, a closed terminal) stop the suite as
    // Ctrl-C does; left to their default action they would end this process and leave its
    // nodes running
    let signals = StopSignals::install()?;
    let shutdown = async {
        let name = signals.wait().await;
        println!("[mbarl launch] {name}: stopping");
    };
    if opts.status_every > 0.0 {
        let domain = config.ros_domain_id;
        let run_dir = config.run_dir.clone();
        let period = std::time::Duration::from_secs_f64(opts.status_every);
        tokio::spawn(async move {
            if let Err(e) = crate::status::run(domain, run_dir, period).await {
                eprintln!("[mbarl launch] no status line: {e}");
            }
        });
    }
    match Supervisor::new(config)
        .quiet(!opts.logs)
        .run(shutdown)
        .await
    {
        Ok(()) => Ok(()),
        Err(name) => bail!("{name} kept failing; see its log in the run directory's logs/"),
    }
}
