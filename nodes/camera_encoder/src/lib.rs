//! The camera encoder's logic, testable without ROS: pairing joint states with frames
//! ([`pairing`]), building Observation messages ([`observe`]), the hot-swappable encoder
//! ([`encoder`]) and in-process camera capture ([`capture`], cargo feature `opencv`).
pub mod capture;
pub mod encoder;
pub mod observe;
pub mod pairing;
