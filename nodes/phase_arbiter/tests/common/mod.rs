//! Helpers shared by the arbiter's tests against a simulated arm.
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_ros::Subscriber;
use mbarl_testkit::TIMEOUT;

/// The next joint state stamped after `after`.
pub async fn next_state(js: &Subscriber<JointState>, after: &JointState) -> JointState {
    loop {
        let s = js.recv_timeout(TIMEOUT).await.expect("joint state");
        if s.header.stamp > after.header.stamp {
            return s;
        }
    }
}
