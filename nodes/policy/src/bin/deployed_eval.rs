//! `deployed_eval`: EARL deployed-policy evaluation of a run directory's forward policy on an
//! evaluation sim (its own ROS domain); see `policy::deployed_eval`.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    policy::deployed_eval::run().await
}
