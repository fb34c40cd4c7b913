//! Runs compared agent by agent: issue 7's questions ("does MBARL reach 80 % in half of
//! MEDAL's env steps?", "is the naive agent worse?") asked of several seeds at once.
//!
//! A run's agent is its label without a trailing `_s<seed>` (`scripts/learn_curve.sh` names its
//! runs `TASK_OBS_AGENT_sSEED`). Within an agent, runs that did not reach the threshold count as
//! never reaching it: the median is "not reached" when half of the runs or more did not.
//!
//! Steps-to-80 % rewards a lucky early round. EARL's deployed-policy evaluation sums the
//! deployed policy's shortfall over all of training instead; here it is its mean form, the
//! deployed success averaged over the first H env steps (H common to all runs compared), so
//! an agent that learns and then loses the task scores lower than one that keeps it.

use super::mann_whitney;
use super::{RunResult, percent};

/// The comparisons the method's targets ask for, as (better, worse) agent kinds: the
/// model-based agent over model-free MEDAL, MEDAL over the forward-only agent, the model-based
/// agent over behaviour cloning alone.
pub const COMPARISONS: [(&str, &str); 3] =
    [("mbarl", "medal"), ("medal", "naive"), ("mbarl", "bc")];

/// One agent's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSummary {
    pub agent: String,
    pub runs: usize,
    /// Env steps to the threshold of the runs that reached it, ascending.
    pub reached: Vec<u64>,
    /// Median env steps to the threshold over all runs (unreached ones as never).
    pub median_steps: Option<f64>,
    pub mean_final_success: Option<f64>,
    /// Mean over its runs of [`mean_success_over`] the horizon; `None` when a run is shorter.
    pub mean_success_over_horizon: Option<f64>,
    pub help_requests: usize,
    /// Sum of the runs' training-sim resets; `None` when a run did not record its count.
    pub sim_resets: Option<u64>,
}

/// The agent a run label names: the label without a trailing `_s<digits>`.
pub fn agent_of(label: &str) -> &str {
    match label.rsplit_once("_s") {
        Some((agent, seed))
            if !agent.is_empty()
                && !seed.is_empty()
                && seed.bytes().all(|b| b.is_ascii_digit()) =>
        {
            agent
        }
        _ => label,
    }
}

/// Deployed success averaged over env steps `0..horizon`: each round's success holds from its
/// env steps until the next round's (0 before the first round). `None` when the run did not
/// train for `horizon` env steps, or `horizon` is 0.
pub fn mean_success_over(run: &RunResult, horizon: u64) -> Option<f64> {
    if horizon == 0 || run.env_steps < horizon {
        return None;
    }
    let mut rounds: Vec<(u64, f64)> = run
        .rounds
        .iter()
        .map(|r| (r.env_steps.min(horizon), r.success_rate))
        .collect();
    rounds.sort_by_key(|r| r.0);
    let mut area = 0.0;
    for (i, &(start, success)) in rounds.iter().enumerate() {
        let end = rounds.get(i + 1).map_or(horizon, |r| r.0);
        area += success * (end - start) as f64;
    }
    Some(area / horizon as f64)
}

/// The horizon runs are compared over by default: the shortest run's env steps.
pub fn common_horizon(runs: &[RunResult]) -> u64 {
    runs.iter().map(|r| r.env_steps).min().unwrap_or(0)
}

/// Median of values where `None` is larger than every number (a run that never got there).
fn median_with_never(mut values: Vec<Option<u64>>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by_key(|v| v.unwrap_or(u64::MAX));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2].map(|v| v as f64)
    } else {
        Some((values[n / 2 - 1]? as f64 + values[n / 2]? as f64) / 2.0)
    }
}

/// Groups `runs` by agent, in the order each agent first appears.
pub fn summarise(runs: &[RunResult], threshold: f64, horizon: u64) -> Vec<AgentSummary> {
    let mut order: Vec<&str> = Vec::new();
    for r in runs {
        let a = agent_of(&r.label);
        if !order.contains(&a) {
            order.push(a);
        }
    }
    order
        .into_iter()
        .map(|agent| {
            let mine: Vec<&RunResult> = runs
                .iter()
                .filter(|r| agent_of(&r.label) == agent)
                .collect();
            let steps: Vec<Option<u64>> = mine.iter().map(|r| r.steps_to(threshold)).collect();
            let mut reached: Vec<u64> = steps.iter().flatten().copied().collect();
            reached.sort_unstable();
            let finals: Vec<f64> = mine.iter().filter_map(|r| r.final_success()).collect();
            let means: Option<Vec<f64>> =
                mine.iter().map(|r| mean_success_over(r, horizon)).collect();
            AgentSummary {
                agent: agent.to_string(),
                runs: mine.len(),
                reached,
                median_steps: median_with_never(steps),
                mean_final_success: (!finals.is_empty())
                    .then(|| finals.iter().sum::<f64>() / finals.len() as f64),
                mean_success_over_horizon: means
                    .filter(|m| !m.is_empty())
                    .map(|m| m.iter().sum::<f64>() / m.len() as f64),
                help_requests: mine.iter().map(|r| r.help_requests).sum(),
                sim_resets: mine.iter().map(|r| r.sim_resets).sum(),
            }
        })
        .collect()
}

/// "A's median is R× B's", both ways, for every pair of agents whose medians both exist, and
/// "A: not reached by half of its runs" where a median does not.
pub fn median_ratios(agents: &[AgentSummary]) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        for b in agents.iter().skip(i + 1) {
            match (a.median_steps, b.median_steps) {
                (Some(x), Some(y)) if x > 0.0 && y > 0.0 => lines.push(format!(
                    "median env steps: {} / {} = {:.2}, {} / {} = {:.2}",
                    a.agent,
                    b.agent,
                    x / y,
                    b.agent,
                    a.agent,
                    y / x
                )),
                (Some(x), Some(y)) => lines.push(format!(
                    "median env steps: {} {x:.0}, {} {y:.0} (a zero median: no ratio)",
                    a.agent, b.agent
                )),
                _ => {}
            }
        }
    }
    for a in agents.iter().filter(|a| a.median_steps.is_none()) {
        lines.push(format!(
            "{}: half of its runs or more did not reach the threshold ({} of {} did): no median",
            a.agent,
            a.reached.len(),
            a.runs
        ));
    }
    lines
}

/// The agent kind of an agent name: its last `_`-separated word (`door_state_medal` → `medal`).
pub fn kind_of(agent: &str) -> &str {
    agent.rsplit('_').next().unwrap_or(agent)
}

/// For each of [`COMPARISONS`] whose two agents are among `runs`, and each pair of agent names
/// in `extra` (`mbarl eval --compare A,B`): the one-sided Mann–Whitney p of "the first agent's
/// mean deployed success over `horizon` is larger", one value per run.
pub fn significance(runs: &[RunResult], horizon: u64, extra: &[(String, String)]) -> Vec<String> {
    // (agent name, each run's mean) of the runs whose agent name passes `pick`
    let scores = |pick: &dyn Fn(&str) -> bool| -> Option<(String, Vec<f64>)> {
        let mine: Vec<&RunResult> = runs.iter().filter(|r| pick(agent_of(&r.label))).collect();
        let name = agent_of(&mine.first()?.label).to_string();
        let v: Option<Vec<f64>> = mine.iter().map(|r| mean_success_over(r, horizon)).collect();
        Some((name, v?))
    };
    let by_kind = COMPARISONS.iter().map(|(a, b)| {
        (
            scores(&|agent| kind_of(agent) == *a),
            scores(&|agent| kind_of(agent) == *b),
        )
    });
    let by_name = extra
        .iter()
        .map(|(a, b)| (scores(&|agent| agent == a), scores(&|agent| agent == b)));
    by_kind
        .chain(by_name)
        .filter_map(|pair| {
            let (Some((na, xa)), Some((nb, xb))) = pair else {
                return None;
            };
            let p = mann_whitney::p_greater(&xa, &xb)?;
            Some(format!(
                "one-sided Mann-Whitney, mean deployed success over {horizon} env steps: \
                 {na} ({} runs) > {nb} ({} runs): U = {:.1} of {}, p = {p:.3}",
                xa.len(),
                xb.len(),
                mann_whitney::u_statistic(&xa, &xb),
                xa.len() * xb.len()
            ))
        })
        .collect()
}

/// The per-agent table and the median ratios, as `mbarl eval` prints them. `horizon`: env
/// steps for the mean deployed success (default: the shortest run's); `compare`: pairs of
/// agent names to test beside the fixed comparisons.
pub fn report(
    runs: &[RunResult],
    threshold: f64,
    horizon: Option<u64>,
    compare: &[(String, String)],
) -> String {
    let horizon = horizon.unwrap_or_else(|| common_horizon(runs));
    let agents = summarise(runs, threshold, horizon);
    let pct = percent(Some(threshold));
    let mut out = format!(
        "by agent\n{:<24} {:>5} {:>9} {:>11} {:>7} {:>9} {:>5} {:>7}  env steps to {pct} (runs that reached it)\n",
        "agent",
        "runs",
        format!("at {pct}"),
        "median",
        "final",
        "mean",
        "help",
        "resets"
    );
    for a in &agents {
        out += &format!(
            "{:<24} {:>5} {:>9} {:>11} {:>7} {:>9} {:>5} {:>7}  {}\n",
            a.agent,
            a.runs,
            format!("{} of {}", a.reached.len(), a.runs),
            a.median_steps
                .map_or("not reached".into(), |m| format!("{m:.0}")),
            percent(a.mean_final_success),
            percent(a.mean_success_over_horizon),
            a.help_requests,
            a.sim_resets.map_or("-".into(), |r| r.to_string()),
            a.reached
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    out += &format!(
        "mean: deployed success averaged over the first {horizon} env steps (EARL's deployed-policy \
         evaluation; \"-\": a run trained fewer steps)\n"
    );
    for line in median_ratios(&agents)
        .into_iter()
        .chain(significance(runs, horizon, compare))
    {
        out += &line;
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Round;

    fn run(label: &str, rates: &[(u64, f64)], resets: Option<u64>, help: usize) -> RunResult {
        RunResult {
            label: label.into(),
            rounds: rates
                .iter()
                .map(|&(env_steps, success_rate)| Round {
                    env_steps,
                    success_rate,
                    episodes: 10,
                })
                .collect(),
            phase_switches: 0,
            help_requests: help,
            env_steps: rates.last().map_or(0, |r| r.0),
            sim_resets: resets,
        }
    }

    #[test]
    fn the_agent_is_the_label_without_its_seed() {
        assert_eq!(agent_of("push_state_mbarl_s4"), "push_state_mbarl");
        assert_eq!(agent_of("door_state_medal_s12"), "door_state_medal");
        assert_eq!(agent_of("my_run"), "my_run");
        assert_eq!(agent_of("push_state_mbarl_sx"), "push_state_mbarl_sx");
        assert_eq!(agent_of("_s3"), "_s3");
        assert_eq!(agent_of("run_s"), "run_s");
    }

    #[test]
    fn mean_success_holds_each_round_until_the_next() {
        let r = run("x_s0", &[(1000, 0.5), (0, 0.0), (3000, 1.0)], None, 0);
        // 0 to 1,000: 0; 1,000 to 3,000: 0.5; 3,000 to 4,000: 1.0
        assert_eq!(
            mean_success_over(&r, 4000),
            None,
            "the run has 3,000 env steps"
        );
        let long = RunResult {
            env_steps: 5000,
            ..r.clone()
        };
        assert_eq!(mean_success_over(&long, 4000), Some(2000.0 / 4000.0));
        assert_eq!(mean_success_over(&long, 2000), Some(500.0 / 2000.0));
        assert_eq!(mean_success_over(&long, 0), None);
        let late = run("x_s1", &[(500, 1.0), (1000, 1.0)], None, 0);
        assert_eq!(
            mean_success_over(&late, 1000),
            Some(0.5),
            "0 before the first round"
        );
    }

    #[test]
    fn an_unreached_run_counts_as_never_in_the_median() {
        assert_eq!(median_with_never(vec![Some(3), None, Some(1)]), Some(3.0));
        assert_eq!(median_with_never(vec![Some(3), None, None]), None);
        assert_eq!(
            median_with_never(vec![Some(4), Some(2), None, Some(10)]),
            Some(7.0)
        );
        assert_eq!(median_with_never(vec![Some(4), None, None, Some(10)]), None);
        assert_eq!(median_with_never(vec![]), None);
    }

    #[test]
    fn agents_are_compared_over_their_seeds() {
        let runs = [
            run("door_state_mbarl_s0", &[(0, 0.0), (2000, 0.9)], Some(0), 0),
            run("door_state_medal_s0", &[(0, 0.0), (4000, 0.8)], Some(0), 0),
            run("door_state_naive_s0", &[(0, 0.0), (9000, 0.1)], Some(1), 1),
            run("door_state_mbarl_s1", &[(0, 0.0), (3000, 0.5)], Some(0), 0),
            run("door_state_medal_s1", &[(0, 0.0), (6000, 1.0)], Some(0), 0),
            run("door_state_naive_s1", &[(0, 0.0), (9000, 0.9)], None, 0),
            run("door_state_mbarl_s2", &[(0, 0.0), (1000, 0.8)], Some(0), 0),
            run("door_state_medal_s2", &[(0, 0.0), (8000, 0.8)], Some(0), 0),
            run("door_state_naive_s2", &[(0, 0.0), (9000, 0.3)], Some(0), 0),
        ]
        .map(|r| RunResult {
            env_steps: 9000,
            ..r
        });
        let agents = summarise(&runs, 0.8, 9000);
        assert_eq!(
            agents.iter().map(|a| a.agent.as_str()).collect::<Vec<_>>(),
            ["door_state_mbarl", "door_state_medal", "door_state_naive"]
        );
        let (mbarl, medal, naive) = (&agents[0], &agents[1], &agents[2]);
        assert_eq!(mbarl.reached, [1000, 2000]);
        assert_eq!(mbarl.median_steps, Some(2000.0));
        assert_eq!(medal.median_steps, Some(6000.0));
        assert_eq!(naive.reached, [9000]);
        assert_eq!(naive.median_steps, None);
        assert_eq!((mbarl.sim_resets, naive.sim_resets), (Some(0), None));
        assert_eq!(naive.help_requests, 1);
        let f = mbarl.mean_final_success.unwrap();
        assert!((f - (0.9 + 0.5 + 0.8) / 3.0).abs() < 1e-9);
        let ratios = median_ratios(&agents);
        assert!(
            ratios[0].contains("door_state_mbarl / door_state_medal = 0.33"),
            "{ratios:?}"
        );
        assert!(
            ratios
                .iter()
                .any(|l| l.starts_with("door_state_naive: half") && l.contains("1 of 3")),
            "{ratios:?}"
        );
        // over 9,000 env steps: mbarl s0 0.9 from 2,000, s1 0.5 from 3,000, s2 0.8 from 1,000
        let m = mbarl.mean_success_over_horizon.unwrap();
        let expect = (0.9 * 7000.0 + 0.5 * 6000.0 + 0.8 * 8000.0) / 9000.0 / 3.0;
        assert!((m - expect).abs() < 1e-9, "{m} vs {expect}");
        assert_eq!(
            summarise(&runs, 0.8, 9001)[0].mean_success_over_horizon,
            None
        );
        let text = report(&runs, 0.8, None, &[]);
        assert!(text.contains("first 9000 env steps"), "{text}");
        assert!(text.starts_with("by agent\n"), "{text}");
        assert!(text.contains("2 of 3"), "{text}");
        assert!(text.contains("not reached"), "{text}");
        // mean over 9,000: mbarl 0.70, 0.33, 0.71; medal 0.44, 0.33, 0.09: U = 7.5 of 9
        assert!(
            text.contains("door_state_mbarl (3 runs) > door_state_medal (3 runs): U = 7.5 of 9"),
            "{text}"
        );
        assert!(
            text.contains("door_state_medal (3 runs) > door_state_naive (3 runs)"),
            "{text}"
        );
        assert!(!text.contains("_bc"), "no bc runs, no comparison: {text}");
        // a pair named on the command line: medal over mbarl, U = 9 - 7.5
        let pair = [(
            "door_state_medal".to_string(),
            "door_state_mbarl".to_string(),
        )];
        let text = report(&runs, 0.8, None, &pair);
        assert!(
            text.contains("door_state_medal (3 runs) > door_state_mbarl (3 runs): U = 1.5 of 9"),
            "{text}"
        );
        let unknown = [("door_state_x".to_string(), "door_state_mbarl".to_string())];
        assert_eq!(
            report(&runs, 0.8, None, &unknown),
            report(&runs, 0.8, None, &[])
        );
    }

    #[test]
    fn agent_kinds() {
        assert_eq!(kind_of("door_state_medal"), "medal");
        assert_eq!(kind_of("bc"), "bc");
    }
}
