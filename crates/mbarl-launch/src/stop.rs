//! What stops a launch: Ctrl-C in the terminal (SIGINT), and the signals a service manager,
//! `timeout`, `docker stop` or a closed terminal send (SIGTERM, SIGHUP). Each stops the suite
//! as Ctrl-C does (SIGINT to every process, then SIGKILL to those that do not exit), so no
//! node is left running without its supervisor.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The stop signals' handlers, installed at once (from then on those signals no longer end
/// the process by their default action).
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl StopSignals {
    /// Installs the handlers; needs a Tokio runtime.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the first of SIGINT, SIGTERM, SIGHUP and returns its name.
    pub async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
