//! `mbarl resume`: the operator's answer to a help request (or a pause), from the command line.
//!
//! Calls the phase arbiter's `/mbarl/resume` (`mbarl_msgs/srv/Resume`), the same call as
//! `ros2 service call /mbarl/resume mbarl_msgs/srv/Resume "{note: '...', scene_reset: false}"`,
//! without needing the message package built for the ROS 2 CLI. `--scene-reset` says the scene
//! was put back at the task's start, so the arbiter resumes with a forward phase.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use mbarl_msgs::srv::{Resume, ResumeRequest};
use mbarl_ros::NodeBuilder;

#[derive(Args, Debug)]
pub struct ResumeOpts {
    /// What the operator did (kept in the arbiter's log and metrics/phases.csv).
    #[arg(long, default_value = "resumed from the command line")]
    pub note: String,
    /// The scene was put back at the task's start: resume with a forward phase, not with the
    /// phase the help request interrupted (e.g. a backward phase, with nothing left to undo).
    #[arg(long)]
    pub scene_reset: bool,
    /// ROS domain of the suite (default: ROS_DOMAIN_ID, else 0).
    #[arg(long)]
    pub domain: Option<u16>,
    /// Seconds to wait for the arbiter to be discovered and to answer.
    #[arg(long, default_value_t = 10.0)]
    pub timeout_s: f64,
}

pub async fn run(opts: ResumeOpts) -> Result<()> {
    if !(opts.timeout_s.is_finite() && opts.timeout_s > 0.0) {
        bail!(
            "--timeout-s must be a positive number of seconds, not {}",
            opts.timeout_s
        );
    }
    let timeout = Duration::from_secs_f64(opts.timeout_s);
    let mut builder = NodeBuilder::new("mbarl_resume").rosout(false);
    if let Some(d) = opts.domain {
        builder = builder.domain_id(d);
    }
    let node = builder.build()?;
    let client = node.service_client::<Resume>("/mbarl/resume")?;
    if !client.wait_for_service(timeout).await {
        bail!(
            "no phase arbiter serves {} within {:.1} s (is the suite running in this ROS domain?)",
            client.name(),
            opts.timeout_s
        );
    }
    let response = client
        .call(
            ResumeRequest {
                note: opts.note,
                scene_reset: opts.scene_reset,
            },
            timeout,
        )
        .await?;
    if !response.success {
        bail!("the arbiter refused: {}", response.message);
    }
    println!("{}", response.message);
    Ok(())
}
