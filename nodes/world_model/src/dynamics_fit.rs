//! The state dynamics ensemble ([`mbarl_learn::dynamics`]) on a schedule: the world model keeps
//! the newest `dynamics.fit_window` transitions as (state, executed step, next state) and refits
//! the ensemble every `dynamics.fit_every` new ones. Before each fit it measures the current
//! model on the transitions that arrived since the last fit, which it never trained on: the
//! prospective one-step error, what a policy imagining with it would meet.
//!
//! The action is the *executed* step ([`mbarl_node::convert::executed_step`]): a refused
//! request is a step of 0, not a step the arm never made.
use mbarl_learn::LearnConfig;
use mbarl_learn::dynamics::StateDynamics;
use mbarl_msgs::msg::Transition;
use mbarl_node::convert::DynamicsRow;
use mbarl_node::{Result, common};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;
use tch::{Device, Tensor};

/// What the newest fit measured (NaN before the first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DynamicsFitStats {
    /// Transitions the fit used.
    pub transitions: f64,
    /// [`StateDynamics::error_ratio`] on the fit's random held-out split.
    pub held_out_ratio: f64,
    /// The same measure, before the fit, on the transitions recorded since the previous fit.
    pub newest_ratio: f64,
    pub epochs: f64,
    pub fit_s: f64,
}

impl Default for DynamicsFitStats {
    fn default() -> Self {
        Self {
            transitions: 0.0,
            held_out_ratio: f64::NAN,
            newest_ratio: f64::NAN,
            epochs: 0.0,
            fit_s: 0.0,
        }
    }
}

impl DynamicsFitStats {
    pub const NAMES: [&'static str; 5] = [
        "dynamics_transitions",
        "dynamics_held_out_ratio",
        "dynamics_newest_ratio",
        "dynamics_epochs",
        "dynamics_fit_s",
    ];

    pub fn values(&self) -> [f32; 5] {
        [
            self.transitions,
            self.held_out_ratio,
            self.newest_ratio,
            self.epochs,
            self.fit_s,
        ]
        .map(|v| v as f32)
    }
}

/// A fit to make: every row kept, the newest `newest` of them recorded since the last fit.
#[derive(Debug, Clone)]
pub struct FitJob {
    pub rows: Vec<DynamicsRow>,
    pub newest: usize,
}

/// Measures `model` on the job's newest rows (when it has been fitted before), then refits it
/// on all of them.
pub fn run_job(model: &mut StateDynamics, job: &FitJob, fitted: bool) -> Result<DynamicsFitStats> {
    let newest = job.newest.min(job.rows.len());
    let newest_ratio = if fitted && newest > 0 {
        model.error_ratio(&DynamicsRow::batch(
            job.rows[job.rows.len() - newest..].iter(),
        ))?
    } else {
        None
    };
    let t0 = Instant::now();
    let report = model.fit(&DynamicsRow::batch(job.rows.iter()))?;
    Ok(DynamicsFitStats {
        transitions: job.rows.len() as f64,
        held_out_ratio: report.held_out_error_ratio.unwrap_or(f64::NAN),
        newest_ratio: newest_ratio.unwrap_or(f64::NAN),
        epochs: report.epochs as f64,
        fit_s: t0.elapsed().as_secs_f64(),
    })
}

/// The newest rows and the fitting schedule.
#[derive(Debug, Default)]
pub struct DynamicsFitter {
    rows: VecDeque<DynamicsRow>,
    since_fit: usize,
    pub last: DynamicsFitStats,
    /// Transitions without an executed step.
    pub rejected: u64,
}

impl DynamicsFitter {
    pub fn record(&mut self, t: &Transition, cfg: &LearnConfig) {
        match DynamicsRow::of(t, cfg) {
            Ok(row) => self.push(row, cfg.dynamics.fit_window),
            Err(_) => self.rejected += 1,
        }
    }

    pub fn push(&mut self, row: DynamicsRow, window: usize) {
        if self.rows.len() >= window.max(1) {
            self.rows.pop_front();
        }
        self.rows.push_back(row);
        self.since_fit += 1;
    }

    /// The fit that is due (`dynamics.fit_every` new rows, at least `dynamics.min_transitions`
    /// kept), if one is; the schedule restarts from it.
    pub fn take_job(&mut self, cfg: &LearnConfig) -> Option<FitJob> {
        let d = &cfg.dynamics;
        if self.rows.len() < d.min_transitions.max(2) || self.since_fit < d.fit_every {
            return None;
        }
        let newest = self.since_fit;
        self.since_fit = 0;
        Some(FitJob {
            rows: self.rows.iter().cloned().collect(),
            newest,
        })
    }
}

/// What a finished fit hands back: its figures and the ensemble's variables.
pub struct FitDone {
    pub stats: DynamicsFitStats,
    pub weights: Vec<(String, Tensor)>,
}

/// Fits on a thread of its own (at the learners' low priority), so that a fit, tens of seconds
/// on a CPU, does not stop the world model's updates and checkpoints.
pub struct FitWorker {
    jobs: mpsc::Sender<FitJob>,
    done: mpsc::Receiver<Result<FitDone>>,
    pub busy: bool,
}

impl FitWorker {
    /// A worker whose ensemble starts as a copy of `start` (the world model's, resumed from
    /// its checkpoint or new).
    pub fn spawn(
        start: &StateDynamics,
        cfg: &LearnConfig,
        device: Device,
        threads: i64,
    ) -> Result<Self> {
        let mut model = StateDynamics::new(cfg, device)?;
        install(&model, &variables(start))?;
        let (jobs, job_rx) = mpsc::channel::<FitJob>();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("dynamics_fit".into())
            .spawn(move || {
                common::training_thread(threads);
                let mut fitted = false;
                for job in job_rx {
                    let out = run_job(&mut model, &job, fitted).map(|stats| FitDone {
                        stats,
                        weights: variables(&model),
                    });
                    fitted |= out.is_ok();
                    if done_tx.send(out).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| mbarl_node::NodeError::Config(format!("dynamics fit thread: {e}")))?;
        Ok(Self {
            jobs,
            done,
            busy: false,
        })
    }

    /// Hands a fit to the thread (one at a time: `false` while one runs).
    pub fn submit(&mut self, job: FitJob) -> bool {
        if self.busy {
            return false;
        }
        self.busy = self.jobs.send(job).is_ok();
        self.busy
    }

    /// A finished fit, if there is one.
    pub fn finished(&mut self) -> Option<Result<FitDone>> {
        let out = self.done.try_recv().ok()?;
        self.busy = false;
        Some(out)
    }
}

/// Copies of an ensemble's variables, by name.
fn variables(model: &StateDynamics) -> Vec<(String, Tensor)> {
    model
        .vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

/// Copies a fit's variables into the world model's ensemble.
pub fn install(model: &StateDynamics, weights: &[(String, Tensor)]) -> Result<()> {
    let vars = model.vs.variables();
    tch::no_grad(|| {
        for (name, w) in weights {
            let Some(v) = vars.get(name) else {
                return Err(mbarl_node::NodeError::Config(format!(
                    "dynamics: fitted variable {name} is not in the ensemble"
                )));
            };
            let mut v = v.shallow_clone();
            v.copy_(w);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mbarl_learn::config::DynamicsConfig;
    use mbarl_node::synth;

    fn cfg() -> LearnConfig {
        let mut c = synth::small_state_config();
        c.dynamics = DynamicsConfig {
            enabled: true,
            members: 3,
            elites: 2,
            hidden: vec![16],
            max_epochs: 5,
            fit_every: 50,
            min_transitions: 100,
            fit_window: 150,
            ..DynamicsConfig::default()
        };
        c
    }

    #[test]
    fn the_executed_step_is_the_change_of_command() {
        let c = cfg();
        let mut t = synth::transitions(1, 1, 0, 0).remove(0);
        let n = c.obs.action_dim;
        t.observation.joint_command = vec![0.5; n];
        t.commanded_position = vec![0.5; n];
        t.commanded_position[0] = 0.56;
        // the request may say anything: a refused or clamped step is what the arm was sent
        t.action = vec![1.0; n];
        let row = DynamicsRow::of(&t, &c).unwrap();
        assert!((row.executed[0] - 0.06).abs() < 1e-6);
        assert!(row.executed[1..].iter().all(|v| *v == 0.0));
        t.observation.joint_command.clear();
        assert!(DynamicsRow::of(&t, &c).is_err());
        // the fitter counts it (world_model.csv: dynamics_rejected) and keeps nothing
        let mut f = DynamicsFitter::default();
        f.record(&t, &c);
        assert_eq!((f.rejected, f.rows.len()), (1, 0));
    }

    #[test]
    fn fits_on_schedule_and_measures_the_newest_before_fitting() {
        let c = cfg();
        let mut model = StateDynamics::new(&c, tch::Device::Cpu).unwrap();
        let mut f = DynamicsFitter::default();
        let n = c.obs.action_dim;
        let dim = c.obs.state_dim + c.obs.proprio_dim;
        let row = |i: usize| {
            let s: Vec<f32> = (0..dim).map(|d| ((i * 7 + d) % 13) as f32 / 13.0).collect();
            let a: Vec<f32> = (0..n).map(|d| ((i + d) % 5) as f32 * 0.01).collect();
            let x = s.iter().enumerate().map(|(d, v)| v + a[d % n]).collect();
            DynamicsRow {
                state: s,
                executed: a,
                next_state: x,
            }
        };
        for i in 0..99 {
            f.push(row(i), c.dynamics.fit_window);
        }
        assert!(f.take_job(&c).is_none(), "fewer than min_transitions");
        f.push(row(99), c.dynamics.fit_window);
        let job = f.take_job(&c).expect("due");
        assert!(f.take_job(&c).is_none(), "the schedule restarts");
        let first = run_job(&mut model, &job, false).unwrap();
        assert!(
            first.newest_ratio.is_nan(),
            "nothing to measure before the first fit"
        );
        assert!(first.held_out_ratio.is_finite());
        assert_eq!(first.transitions, 100.0);
        for i in 100..149 {
            f.push(row(i), c.dynamics.fit_window);
        }
        assert!(f.take_job(&c).is_none());
        for i in 149..200 {
            f.push(row(i), c.dynamics.fit_window);
        }
        let job = f.take_job(&c).unwrap();
        assert_eq!(job.newest, 100);
        assert_eq!(job.rows.len(), 150, "the window keeps the newest");
        let second = run_job(&mut model, &job, true).unwrap();
        assert!(second.newest_ratio.is_finite());
    }

    #[test]
    fn the_worker_fits_on_its_thread_and_its_weights_install() {
        let c = cfg();
        let start = StateDynamics::new(&c, tch::Device::Cpu).unwrap();
        let mut worker = FitWorker::spawn(&start, &c, tch::Device::Cpu, 1).unwrap();
        let n = c.obs.action_dim;
        let dim = c.obs.state_dim;
        let rows = (0..120)
            .map(|i| DynamicsRow {
                state: vec![(i % 7) as f32; dim],
                executed: vec![0.01; n],
                next_state: vec![(i % 7) as f32 + 0.01; dim],
            })
            .collect();
        assert!(worker.submit(FitJob { rows, newest: 120 }));
        assert!(
            !worker.submit(FitJob {
                rows: vec![],
                newest: 0
            }),
            "one at a time"
        );
        let done = loop {
            if let Some(d) = worker.finished() {
                break d.unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(!worker.busy);
        assert!(done.stats.held_out_ratio.is_finite());
        let model = StateDynamics::new(&c, tch::Device::Cpu).unwrap();
        install(&model, &done.weights).unwrap();
        assert_eq!(
            model.elites().len(),
            c.dynamics.elites,
            "the elites came along"
        );
        assert!(
            install(
                &model,
                &[(
                    "nope".into(),
                    Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu))
                )]
            )
            .is_err()
        );
    }
}
