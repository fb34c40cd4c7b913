//! What the arm would be sent for an imagined action: the arbiter's rule
//! ([`phase_arbiter::command::next_command`]: step origin, joint limits, workspace box) applied
//! to a state, so the state dynamics ensemble, which learned from executed steps, is asked about
//! the step the arbiter would really make, refusals included.
//!
//! It needs the state to carry the joints' command leads (`obs.state_dim` = task state + 3 ×
//! joints: positions, velocities, leads; [`mbarl_node::convert`]): the previous command is the
//! position plus the lead.
use mbarl_learn::LearnConfig;
use mbarl_msgs::msg::Observation;
use phase_arbiter::command;
use phase_arbiter::kinematics::Workspace;
use phase_arbiter::limits::JointLimits;
use tch::Tensor;

/// Where the joint positions and command leads sit in the state vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmLayout {
    pub joints: usize,
    pub positions: usize,
    pub leads: usize,
}

impl ArmLayout {
    /// The layout of `o`'s state under `cfg`, when it carries the leads.
    pub fn of(o: &Observation, cfg: &LearnConfig) -> Option<Self> {
        let n = o.joint_position.len();
        let s = cfg.obs.state_dim;
        (n == cfg.obs.action_dim && n > 0 && o.state.len() + 3 * n == s).then(|| Self {
            joints: n,
            positions: s - 3 * n,
            leads: s - n,
        })
    }
}

/// The arbiter's limits for imagined steps.
#[derive(Debug, Clone)]
pub struct ArmRule {
    pub limits: JointLimits,
    pub workspace: Option<Workspace>,
    pub period_s: f64,
}

impl ArmRule {
    /// The executed step (command − previous command, per joint) for `action` in `state`.
    pub fn executed(&self, layout: ArmLayout, state: &[f32], action: &[f32]) -> Vec<f32> {
        let n = layout.joints;
        let q: Vec<f64> = state[layout.positions..layout.positions + n]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let last: Vec<f64> = q
            .iter()
            .zip(&state[layout.leads..layout.leads + n])
            .map(|(p, l)| p + *l as f64)
            .collect();
        let cmd = command::next_command(
            &self.limits,
            self.workspace.as_ref(),
            self.period_s,
            &q,
            Some(&last),
            action,
        );
        cmd.targets
            .iter()
            .zip(&last)
            .map(|(t, l)| (t - l) as f32)
            .collect()
    }

    /// [`ArmRule::executed`] for each row of states (B, S) and actions (B, A) → (B, A).
    pub fn executed_batch(&self, layout: ArmLayout, states: &Tensor, actions: &Tensor) -> Tensor {
        let (b, sd, ad) = (states.size()[0], states.size()[1], actions.size()[1]);
        let s = Vec::<f32>::try_from(states.to_device(tch::Device::Cpu).reshape([-1]))
            .unwrap_or_default();
        let a = Vec::<f32>::try_from(actions.to_device(tch::Device::Cpu).reshape([-1]))
            .unwrap_or_default();
        let mut out = Vec::with_capacity((b * ad) as usize);
        for i in 0..b as usize {
            let row = &s[i * sd as usize..(i + 1) * sd as usize];
            let act = &a[i * ad as usize..(i + 1) * ad as usize];
            out.extend(self.executed(layout, row, act));
        }
        Tensor::from_slice(&out)
            .reshape([b, ad])
            .to_device(states.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> ArmRule {
        ArmRule {
            limits: JointLimits::new(
                vec!["a".into(), "b".into()],
                vec![-1.0, -1.0],
                vec![1.0, 1.0],
                vec![10.0, 10.0],
                vec![0.1, 0.1],
            )
            .unwrap(),
            workspace: None,
            period_s: 0.05,
        }
    }

    // one task value, then positions, velocities, leads of 2 joints
    const LAYOUT: ArmLayout = ArmLayout {
        joints: 2,
        positions: 1,
        leads: 5,
    };

    #[test]
    fn a_step_inside_the_limits_is_the_requested_one() {
        let s = [7.0, 0.2, -0.3, 0.0, 0.0, 0.05, 0.0];
        let e = rule().executed(LAYOUT, &s, &[0.5, -1.0]);
        assert!(
            (e[0] - 0.05).abs() < 1e-6 && (e[1] + 0.1).abs() < 1e-6,
            "{e:?}"
        );
    }

    #[test]
    fn a_step_past_a_joint_limit_is_cut_there() {
        // joint a commanded at 0.95 (0.9 + lead 0.05): a full step would reach 1.05
        let s = [0.0, 0.9, 0.0, 0.0, 0.0, 0.05, 0.0];
        let e = rule().executed(LAYOUT, &s, &[1.0, 0.0]);
        assert!((e[0] - 0.05).abs() < 1e-6, "{e:?}");
        assert_eq!(e[1], 0.0);
    }

    #[test]
    fn batch_rows_match_single_rows() {
        let s = Tensor::from_slice(&[
            7.0f32, 0.2, -0.3, 0.0, 0.0, 0.05, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.05, 0.0,
        ])
        .reshape([2, 7]);
        let a = Tensor::from_slice(&[0.5f32, -1.0, 1.0, 0.0]).reshape([2, 2]);
        let e = Vec::<f32>::try_from(rule().executed_batch(LAYOUT, &s, &a).reshape([-1])).unwrap();
        assert!(
            (e[0] - 0.05).abs() < 1e-6 && (e[2] - 0.05).abs() < 1e-6,
            "{e:?}"
        );
    }

    #[test]
    fn the_layout_needs_the_leads() {
        let mut cfg = LearnConfig::default();
        cfg.obs.action_dim = 2;
        cfg.obs.state_dim = 7;
        let o = Observation {
            state: vec![1.0],
            joint_position: vec![0.0, 0.0],
            ..Default::default()
        };
        assert_eq!(ArmLayout::of(&o, &cfg), Some(LAYOUT));
        cfg.obs.state_dim = 5;
        assert_eq!(ArmLayout::of(&o, &cfg), None);
    }
}
