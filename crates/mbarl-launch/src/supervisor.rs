//! Runs the launch file's processes until Ctrl-C (or until one gives up).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use crate::config::{LaunchConfig, ProcessSpec};
use crate::log_file::LogFile;

/// What happened to a process (also printed as `[mbarl launch] …` lines).
#[derive(Debug, Clone, PartialEq)]
pub enum SupervisorEvent {
    Started {
        name: String,
        pid: u32,
    },
    Exited {
        name: String,
        status: String,
    },
    Restarting {
        name: String,
        attempt: u32,
        after: Duration,
    },
    GaveUp {
        name: String,
        restarts: u32,
    },
    Line {
        name: String,
        line: String,
    },
}

pub struct Supervisor {
    config: LaunchConfig,
    /// Where bare program names are looked up first (the directory of the `mbarl` binary).
    exe_dir: Option<PathBuf>,
    events: Option<mpsc::UnboundedSender<SupervisorEvent>>,
    echo: bool,
    quiet: bool,
}

/// Whether a process's output line is a warning or an error (tracing's `WARN`/`ERROR`,
/// rclpy's `[WARN]`/`[ERROR]`/`[FATAL]`, a Python traceback, a Rust panic): what a quiet
/// terminal still shows.
pub fn is_warning(line: &str) -> bool {
    [
        " WARN ",
        " ERROR ",
        "[WARN]",
        "[ERROR]",
        "[FATAL]",
        "Traceback",
        "panicked",
        "Error:",
    ]
    .iter()
    .any(|m| line.contains(m))
        || line.starts_with("WARN")
        || line.starts_with("ERROR")
}

/// Output shared by all process tasks: the terminal (prefixed lines) and per-process log files.
struct Sink {
    color: bool,
    echo: bool,
    quiet: bool,
    events: Option<mpsc::UnboundedSender<SupervisorEvent>>,
}

impl Sink {
    fn emit(&self, e: SupervisorEvent) {
        let shown = match &e {
            SupervisorEvent::Line { line, .. } => !self.quiet || is_warning(line),
            _ => true,
        };
        if self.echo && shown {
            let mut out = std::io::stdout().lock();
            let _ = match &e {
                SupervisorEvent::Line { name, line } => {
                    if self.color {
                        let c = 31 + (name.bytes().map(u32::from).sum::<u32>() % 6);
                        writeln!(out, "\x1b[{c}m[{name}]\x1b[0m {line}")
                    } else {
                        writeln!(out, "[{name}] {line}")
                    }
                }
                SupervisorEvent::Started { name, pid } => {
                    writeln!(out, "[mbarl launch] started {name} (pid {pid})")
                }
                SupervisorEvent::Exited { name, status } => {
                    writeln!(out, "[mbarl launch] {name} exited: {status}")
                }
                SupervisorEvent::Restarting {
                    name,
                    attempt,
                    after,
                } => {
                    writeln!(
                        out,
                        "[mbarl launch] restarting {name} in {after:.1?} (restart {attempt})"
                    )
                }
                SupervisorEvent::GaveUp { name, restarts } => {
                    writeln!(
                        out,
                        "[mbarl launch] {name} failed {restarts} restarts: giving up, stopping everything"
                    )
                }
            };
        }
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }
}

impl Supervisor {
    pub fn new(config: LaunchConfig) -> Self {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        Self {
            config,
            exe_dir,
            events: None,
            echo: true,
            quiet: false,
        }
    }

    /// Echo only the processes' warnings and errors (and the supervisor's own events); every
    /// line still goes to `<run_dir>/logs/<process>.log`.
    pub fn quiet(mut self, on: bool) -> Self {
        self.quiet = on;
        self
    }

    /// Look up bare program names in `dir` first.
    pub fn exe_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.exe_dir = dir;
        self
    }

    /// Also send every event to `tx` (tests, the terminal status view).
    pub fn events(mut self, tx: mpsc::UnboundedSender<SupervisorEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Print prefixed output and events to stdout (default true).
    pub fn echo(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }

    fn program(&self, name: &str) -> PathBuf {
        if !name.contains('/')
            && let Some(dir) = &self.exe_dir
            && dir.join(name).is_file()
        {
            return dir.join(name);
        }
        PathBuf::from(name)
    }

    /// Runs until `shutdown` resolves (e.g. Ctrl-C) or a process exhausts its restarts.
    /// Returns `Err(name)` when a process gave up.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let logs = self.config.run_dir.join("logs");
        let _ = std::fs::create_dir_all(&logs);
        let sink = Arc::new(Sink {
            color: std::io::stdout().is_terminal(),
            echo: self.echo,
            quiet: self.quiet,
            events: self.events.clone(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (gave_up_tx, mut gave_up_rx) = mpsc::unbounded_channel::<String>();
        let config = Arc::new(self.config.clone());
        let mut tasks = Vec::new();
        for spec in &config.processes {
            let program = self.program(&spec.cmd[0]);
            let task = ProcessTask {
                spec: spec.clone(),
                program,
                config: config.clone(),
                sink: sink.clone(),
                log: logs.join(format!("{}.log", spec.name)),
                stop: stop_rx.clone(),
                gave_up: gave_up_tx.clone(),
            };
            tasks.push(tokio::spawn(task.run()));
        }
        let result = tokio::select! {
            _ = shutdown => Ok(()),
            Some(name) = gave_up_rx.recv() => Err(name),
        };
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        result
    }
}

struct ProcessTask {
    spec: ProcessSpec,
    program: PathBuf,
    config: Arc<LaunchConfig>,
    sink: Arc<Sink>,
    log: PathBuf,
    stop: watch::Receiver<bool>,
    gave_up: mpsc::UnboundedSender<String>,
}

impl ProcessTask {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.config.args_of(&self.spec))
            .envs(&self.config.env)
            .envs(&self.spec.env)
            .env("MBARL_RUN_DIR", &self.config.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: stopping it reaches its children too (a shell's `sleep`,
            // a Python launcher's interpreter), and a terminal Ctrl-C reaches only us.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(d) = self.config.ros_domain_id {
            cmd.env("ROS_DOMAIN_ID", d.to_string());
        }
        // SAFETY: only signal(2), which is async-signal-safe, runs between fork and exec.
        // Children get the default SIGINT/SIGQUIT even when `mbarl launch` itself was started
        // with them ignored (a background job of a non-interactive shell); otherwise a shell
        // child could not trap SIGINT and the clean stop would end in SIGKILL.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        cmd
    }

    async fn run(mut self) {
        let policy = self.config.restart.clone();
        let mut backoff = Duration::from_secs_f64(policy.initial_backoff_s);
        let mut restarts = 0u32;
        let log = Arc::new(Mutex::new(LogFile::open(
            &self.log,
            self.config.logs.clone(),
        )));
        loop {
            let started = Instant::now();
            let name = self.spec.name.clone();
            let status = match self.command().spawn() {
                Ok(mut child) => {
                    let pid = child.id();
                    self.sink.emit(SupervisorEvent::Started {
                        name: name.clone(),
                        pid: pid.unwrap_or(0),
                    });
                    let readers = [
                        child.stdout.take().map(|o| {
                            tokio::spawn(pump(o, name.clone(), self.sink.clone(), log.clone()))
                        }),
                        child.stderr.take().map(|e| {
                            tokio::spawn(pump(e, name.clone(), self.sink.clone(), log.clone()))
                        }),
                    ];
                    let status = tokio::select! {
                        s = child.wait() => s.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                        _ = stopped(&mut self.stop) => {
                            stop_child(&mut child, Duration::from_secs_f64(policy.grace_s)).await;
                            for r in readers.into_iter().flatten() { let _ = r.await; }
                            return;
                        }
                    };
                    // Orphans left in its group would keep the output pipes open.
                    signal_group(pid.map(|p| p as libc::pid_t), libc::SIGKILL);
                    for r in readers.into_iter().flatten() {
                        let _ = r.await;
                    }
                    status
                }
                Err(e) => format!("cannot start {}: {e}", self.program.display()),
            };
            self.sink.emit(SupervisorEvent::Exited {
                name: name.clone(),
                status,
            });
            if !self.spec.restart || *self.stop.borrow() {
                return;
            }
            if started.elapsed() >= Duration::from_secs_f64(policy.healthy_after_s) {
                backoff = Duration::from_secs_f64(policy.initial_backoff_s);
            }
            restarts += 1;
            if restarts > policy.max_restarts {
                self.sink.emit(SupervisorEvent::GaveUp {
                    name: name.clone(),
                    restarts: restarts - 1,
                });
                let _ = self.gave_up.send(name);
                return;
            }
            self.sink.emit(SupervisorEvent::Restarting {
                name,
                attempt: restarts,
                after: backoff,
            });
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped(&mut self.stop) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs_f64(policy.max_backoff_s));
        }
    }
}

/// Resolves once the stop flag is set (the watch guard is dropped at once: it is not `Send`).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    name: String,
    sink: Arc<Sink>,
    log: Arc<Mutex<LogFile>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut f) = log.lock() {
            f.line(&line);
        }
        sink.emit(SupervisorEvent::Line {
            name: name.clone(),
            line,
        });
    }
}

/// SIGINT to the process group (what Ctrl-C sends, so nodes shut down cleanly), then SIGKILL
/// to the group after `grace`.
async fn stop_child(child: &mut Child, grace: Duration) {
    let group = child.id().map(|pid| pid as libc::pid_t);
    signal_group(group, libc::SIGINT);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(group, libc::SIGKILL);
        let _ = child.kill().await;
    }
    // Leftovers of the group (children that ignored SIGINT) must not keep our pipes open.
    signal_group(group, libc::SIGKILL);
}

fn signal_group(group: Option<libc::pid_t>, signal: libc::c_int) {
    if let Some(pgid) = group {
        // SAFETY: kill(2) on the process group we created for a child we spawned.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_warning;

    #[test]
    fn a_quiet_terminal_keeps_warnings_and_errors() {
        for line in [
            "2026-12-07T07:00:00Z  WARN policy: demo transition refused",
            "2026-12-07T07:00:00Z ERROR world_model: replay sync failed",
            "[WARN] [1765.1] [sim_bridge]: command rejected",
            "[ERROR] [1765.1] [sim_bridge]: no model",
            "Traceback (most recent call last):",
            "thread 'main' panicked at src/main.rs:3:5:",
            "Error: parameter learn_config missing",
        ] {
            assert!(is_warning(line), "{line}");
        }
        for line in [
            "2026-12-07T07:00:00Z  INFO policy: policy up",
            "[INFO] [1765.1] [sim_bridge]: task=reach",
            "deployed success 9/10",
        ] {
            assert!(!is_warning(line), "{line}");
        }
    }
}
