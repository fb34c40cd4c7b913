//! The phase arbiter's logic, testable without ROS: phases ([`phases`]), joint limits and
//! clamping ([`limits`]), and the per-step decision ([`arbiter`]) of what the arm is commanded.

pub mod arbiter;
pub mod config;
pub mod limits;
pub mod phase_log;
pub mod phases;
