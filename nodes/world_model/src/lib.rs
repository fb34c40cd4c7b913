//! The world model's logic, testable without ROS: [`trainer::WorldTrainer`] records
//! transitions in the persistent replay, trains encoder + latent model + heads on them and the
//! demos, makes versioned checkpoint bundles, and imagines open-loop rollouts;
//! [`dynamics_fit::DynamicsFitter`] fits the state dynamics ensemble on a schedule.
pub mod dynamics_fit;
pub mod trainer;
