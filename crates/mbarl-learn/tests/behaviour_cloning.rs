//! `alm::behaviour_cloning_loss`: the mean squared distance to the demonstrated actions, and
//! with the Q filter only the samples whose demonstrated action the critic rates higher.
use mbarl_learn::alm::behaviour_cloning_loss;
use tch::Tensor;

fn t(rows: &[[f32; 2]]) -> Tensor {
    Tensor::from_slice(&rows.concat()).reshape([rows.len() as i64, 2])
}

#[test]
fn known_values_with_and_without_the_q_filter() {
    let mu = t(&[[0.0, 0.0], [1.0, 1.0], [0.5, -0.5]]);
    let demo = t(&[[1.0, 1.0], [1.0, 1.0], [0.5, 0.5]]);
    // per sample: (1 + 1) / 2 = 1, 0, (0 + 1) / 2 = 0.5
    let plain = behaviour_cloning_loss(&mu, &demo, None).double_value(&[]);
    assert!((plain - 1.5 / 3.0).abs() < 1e-6, "{plain}");
    // the critic prefers the demo in samples 0 and 1 only: (1 + 0 + 0) / 3
    let q_demo = Tensor::from_slice(&[2.0f32, 1.0, -3.0]);
    let q_policy = Tensor::from_slice(&[1.0f32, 0.5, 0.0]);
    let filtered = behaviour_cloning_loss(&mu, &demo, Some((&q_demo, &q_policy))).double_value(&[]);
    assert!((filtered - 1.0 / 3.0).abs() < 1e-6, "{filtered}");
    // a policy the critic rates at least as high everywhere clones nothing
    let none = behaviour_cloning_loss(&mu, &demo, Some((&q_policy, &q_demo.ones_like())))
        .double_value(&[]);
    assert_eq!(none, 0.0);
}
