//! `forward_policy` node: the policy node with `role` forward by default.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    policy::node::run(policy::Role::Forward).await
}
