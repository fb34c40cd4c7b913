//! The supervisor with real processes (`sh`): restart with backoff, prefixed output, clean stop.

use std::path::Path;
use std::time::Duration;

use mbarl_launch::{LaunchConfig, Supervisor, SupervisorEvent};
use tokio::sync::mpsc;

fn config(dir: &Path, yaml: &str) -> LaunchConfig {
    let text = format!("run_dir: {}\n{yaml}", dir.display());
    LaunchConfig::parse(&text, Path::new("t.yaml"), dir, &|v| std::env::var(v).ok()).unwrap()
}

#[tokio::test]
async fn crashed_process_is_restarted_with_backoff_and_logs_are_prefixed() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        "restart: {initial_backoff_s: 0.05, max_backoff_s: 0.2, max_restarts: 100}
processes:
  - name: crasher
    cmd: [sh, -c, 'echo alive; exit 3']
    ros: false
  - name: steady
    cmd: [sh, -c, 'echo steady up; sleep 30']
    ros: false
",
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sup = Supervisor::new(c).events(tx).echo(false);
    let handle = tokio::spawn(sup.run(tokio::time::sleep(Duration::from_secs(2))));
    let mut restarts = Vec::new();
    let mut steady_up = false;
    let mut alive = 0;
    while let Some(e) = rx.recv().await {
        match e {
            SupervisorEvent::Restarting { name, after, .. } if name == "crasher" => {
                restarts.push(after)
            }
            SupervisorEvent::Line { name, line } if name == "steady" && line == "steady up" => {
                steady_up = true
            }
            SupervisorEvent::Line { name, line } if name == "crasher" && line == "alive" => {
                alive += 1
            }
            _ => {}
        }
    }
    assert_eq!(handle.await.unwrap(), Ok(()));
    assert!(steady_up);
    assert!(restarts.len() >= 3, "{restarts:?}");
    assert!(alive >= 3);
    // Exponential backoff, capped.
    assert_eq!(restarts[0], Duration::from_millis(50));
    assert_eq!(restarts[1], Duration::from_millis(100));
    assert!(restarts.iter().all(|d| *d <= Duration::from_millis(200)));
    let log = std::fs::read_to_string(dir.path().join("logs/crasher.log")).unwrap();
    assert!(log.contains("alive"));
}

#[tokio::test]
async fn stop_sends_sigint_then_the_process_exits() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("got-sigint");
    let c = config(
        dir.path(),
        &format!(
            "processes:
  - name: polite
    cmd: [sh, -c, 'trap \"touch {}; exit 0\" INT; echo ready; while true; do sleep 0.05; done']
    ros: false
",
            marker.display()
        ),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(Supervisor::new(c).events(tx).echo(false).run(async {
        let _ = stop_rx.await;
    }));
    while let Some(e) = rx.recv().await {
        if matches!(e, SupervisorEvent::Line { ref line, .. } if line == "ready") {
            break;
        }
    }
    stop_tx.send(()).unwrap();
    assert_eq!(run.await.unwrap(), Ok(()));
    assert!(marker.exists(), "the process did not get SIGINT");
}

#[tokio::test]
async fn a_process_that_keeps_dying_stops_the_launch() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        "restart: {initial_backoff_s: 0.01, max_backoff_s: 0.01, max_restarts: 2}
processes:
  - {name: doomed, cmd: [sh, -c, 'exit 1'], ros: false}
  - {name: bystander, cmd: [sleep, '30'], ros: false}
",
    );
    let result = Supervisor::new(c)
        .echo(false)
        .run(std::future::pending())
        .await;
    assert_eq!(result, Err("doomed".to_string()));
}
