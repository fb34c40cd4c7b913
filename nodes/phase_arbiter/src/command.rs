//! How a policy action becomes joint targets: where the step starts, the joint limits
//! ([`JointLimits::command`]) and the workspace box ([`Workspace`]). One rule for training
//! (the arbiter) and deployed evaluation (`deployed_eval`), so the evaluated policy acts in the
//! same dynamics it was trained in.
use crate::kinematics::Workspace;
use crate::limits::JointLimits;

/// Why a policy's command was refused (counted as `refused.<reason>` by the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The end effector would leave the workspace box.
    Workspace,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Workspace => "workspace",
        }
    }
}

/// The targets to send for one action.
#[derive(Debug, Clone, PartialEq)]
pub struct SafeCommand {
    pub targets: Vec<f64>,
    /// Clamped to the limits, or refused.
    pub clamped: bool,
    pub refusal: Option<Refusal>,
}

/// Where a step starts: with a sane measurement, the last target unless it leads the arm too
/// far ([`JointLimits::step_origin`]), so targets never run away from a blocked arm; else
/// `base` (the position the arm holds).
pub fn step_from(
    limits: &JointLimits,
    measured: &[f64],
    last_targets: Option<&[f64]>,
    base: &[f64],
) -> Vec<f64> {
    if limits.within(measured, 0.05) {
        limits.step_origin(measured, last_targets)
    } else {
        base.to_vec()
    }
}

/// The targets for `action` given the arm's measured position and the last targets sent, as
/// the arbiter makes them: the base is the measured position within the limits, the step starts
/// at [`step_from`], and [`safe_command`] clamps it and checks the workspace box. Deployed
/// evaluation and the learners' imagined steps use it, so both act in the training dynamics.
pub fn next_command(
    limits: &JointLimits,
    workspace: Option<&Workspace>,
    period_s: f64,
    measured: &[f64],
    last_targets: Option<&[f64]>,
    action: &[f32],
) -> SafeCommand {
    let base = limits.clamp_positions(measured);
    let from = step_from(limits, measured, last_targets, &base);
    safe_command(
        limits,
        workspace,
        period_s,
        &from,
        action,
        &base,
        last_targets,
    )
}

/// The targets for `action` from `from`, clamped to the limits ([`JointLimits::command`] over
/// one control period `period_s`) and checked against the workspace box.
pub fn safe_command(
    limits: &JointLimits,
    workspace: Option<&Workspace>,
    period_s: f64,
    from: &[f64],
    action: &[f32],
    base: &[f64],
    last_targets: Option<&[f64]>,
) -> SafeCommand {
    let c = limits.command(from, action, period_s);
    // Where the arm is, within its joint limits: the workspace check's reference.
    let start: Vec<f64> = (0..from.len())
        .map(|j| limits.clamp_position(j, from[j]))
        .collect();
    match workspace {
        Some(ws) if !ws.permits(&start, &c.targets) => SafeCommand {
            targets: workspace_fallback(ws, start, &c.targets, base, last_targets),
            clamped: true,
            refusal: Some(Refusal::Workspace),
        },
        _ => SafeCommand {
            targets: c.targets,
            clamped: c.clamped,
            refusal: None,
        },
    }
}

/// The targets sent instead of a command the workspace box refuses: from where the arm is
/// (`start`), each joint's step is kept when it takes the end effector no farther out of the
/// box, so the arm can still move along or away from the boundary, and back in when the
/// dynamics carried it just past it. Refusing the whole step trapped learning policies at the
/// boundary, and refusing every step from outside the box froze the arm there for good. With
/// no sane `start`: the last command sent when it was in the box, else `hold`.
fn workspace_fallback(
    ws: &Workspace,
    start: Vec<f64>,
    targets: &[f64],
    hold: &[f64],
    last_targets: Option<&[f64]>,
) -> Vec<f64> {
    let Some(mut worst) = ws
        .distance_outside(&start)
        .filter(|_| start.len() == targets.len())
    else {
        return last_targets
            .filter(|t| ws.allows(t))
            .map(<[f64]>::to_vec)
            .unwrap_or_else(|| hold.to_vec());
    };
    let mut safe = start;
    for (j, &target) in targets.iter().enumerate() {
        let mut t = safe.clone();
        t[j] = target;
        if let Some(d) = ws.distance_outside(&t).filter(|d| *d <= worst) {
            safe = t;
            worst = d;
        }
    }
    safe
}
