//! The demo classifier's logic, testable without ROS.
//!
//! Training data are raw observations (replay records), encoded with the CURRENT world-model
//! encoder at every step: a new encoder version never leaves stale latents behind and needs no
//! re-encoding pass (encoding a batch is cheap next to the classifier step).
//! - demo-state classifier f: positives = demo states (both roles' datasets; the forward
//!   ones only with `backward_demo_states: false`; with `initial_state_window: k` only the
//!   task's initial states, the first k of each forward demo and the last k of each backward
//!   one), negatives =
//!   backward-phase states (any online states until the first backward phase); with
//!   `medal.hard_negatives` k > 1 the batch keeps the negatives it scores highest of k times as
//!   many (hard-negative mining: the arm in a demonstrated pose with the object elsewhere);
//! - goal classifier: positives = final states of forward demo episodes (`phase_end`),
//!   negatives = the other demo states and online states (the online ones mined the same way).
//! - start detector ([`start`]): how close a state is to the demos' start states, from demo
//!   states alone; the arbiter can end a backward phase on it.
pub mod learner;
pub mod start;
