//! `policy` node: the forward or backward policy (parameter `role`, default forward).
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    policy::node::run(policy::Role::Forward).await
}
