//! The camera encoder's logic, testable without ROS: pairing joint states with frames
//! ([`pairing`]), building Observation messages ([`observe`]) and the hot-swappable encoder
//! ([`encoder`]).
pub mod encoder;
pub mod observe;
pub mod pairing;
