//! Low-dimensional task state on a `std_msgs/Float64MultiArray` (simulation, motion capture).
//!
//! Float64MultiArray has no header. A publisher that wants its states matched to joint states
//! by time puts the stamp in front: `layout.dim[0].label` starts with `sim_time` and `data[0]`
//! is that time in seconds (the MuJoCo bridge's `/sim/task_state` does). Otherwise the whole
//! array is the state and it is matched by arrival.

use crate::std_msgs::Float64MultiArray;

/// A task state: its values and, when the message carries one, its stamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskState<'a> {
    /// Stamp in ns (`data[0]` seconds) when the layout's first label starts with `sim_time`.
    pub stamp_ns: Option<i64>,
    pub values: &'a [f64],
}

impl<'a> TaskState<'a> {
    pub fn of(m: &'a Float64MultiArray) -> Self {
        let timed = m
            .layout
            .dim
            .first()
            .is_some_and(|d| d.label.starts_with("sim_time"));
        match m.data.split_first() {
            Some((t, rest)) if timed && t.is_finite() => Self {
                stamp_ns: Some((t * 1e9).round() as i64),
                values: rest,
            },
            _ => Self {
                stamp_ns: None,
                values: &m.data,
            },
        }
    }

    pub fn is_finite(&self) -> bool {
        self.values.iter().all(|v| v.is_finite())
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::std_msgs::MultiArrayDimension;

    fn msg(label: &str, data: Vec<f64>) -> Float64MultiArray {
        let mut m = Float64MultiArray::default();
        m.layout.dim.push(MultiArrayDimension {
            label: label.into(),
            size: data.len() as u32,
            stride: data.len() as u32,
        });
        m.data = data;
        m
    }

    #[test]
    fn a_sim_time_layout_gives_the_stamp_and_the_rest() {
        let m = msg("sim_time,ee_x,ee_y", vec![1.25, 0.1, 0.2]);
        let s = TaskState::of(&m);
        assert_eq!(s.stamp_ns, Some(1_250_000_000));
        assert_eq!(s.values, &[0.1, 0.2]);
    }

    #[test]
    fn other_layouts_are_all_state() {
        let m = msg("x,y", vec![1.0, 2.0]);
        assert_eq!(TaskState::of(&m).stamp_ns, None);
        assert_eq!(TaskState::of(&m).values, &[1.0, 2.0]);
        let empty = Float64MultiArray::default();
        assert_eq!(TaskState::of(&empty).values, &[] as &[f64]);
        // a non-finite time is not a stamp: the values (all of them) are then refused as NaN
        let bad = msg("sim_time,x", vec![f64::NAN, 1.0]);
        assert!(!TaskState::of(&bad).is_finite());
    }
}
