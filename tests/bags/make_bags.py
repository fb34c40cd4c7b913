#!/usr/bin/env python3
"""Writes test bags with the independent PyPI `rosbags` library (not mbarl), for mbarl's interop tests.

    make_bags.py OUT [--storage mcap|sqlite3] [--compression none|storage|file|message]
                     [--version 8|9] [--meta-version 5..9] [--split] [--episodes E] [--steps S]
                     [--size 64] [--js-mult 1] [--markers] [--no-commands] [--gap 2.0] [--reward]

The scene is a fake 4-joint arm recorded at 20 Hz, like the sim bridge:
  /camera/image_raw        sensor_msgs/msg/Image, rgb8 SIZExSIZE, a deterministic pattern per frame
  /camera/camera_info      sensor_msgs/msg/CameraInfo
  /joint_states            sensor_msgs/msg/JointState, joint1..joint4 (JS_MULT per camera frame)
  /arm_controller/commands std_msgs/msg/Float64MultiArray, the next step's joint targets
  /sim/task_state          std_msgs/msg/Float64MultiArray [sim_time, x, y, z]
  /sim/task_reward         std_msgs/msg/Float64, -(e + 0.01*k) for step k of episode e (with --reward;
                           unstamped, received 0.3 ms after the step's frame)
  /sim/reset_count         std_msgs/msg/UInt64 (a type mbarl does not know), once per episode
  /mbarl/episode           std_msgs/msg/String, once per episode (with --markers)
Episodes are separated by GAP seconds without messages. Step k of episode e has joint positions
q = [0.1*e + 0.01*k*(j+1) for j in 0..3]; the command after it is q of step k+1.
--split writes two storage files (episode halves) listed in one metadata.yaml.
--meta-version rewrites metadata.yaml in the layout of an older bag version (5..8).
Prints a JSON summary on stdout.
"""
import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from ruamel.yaml import YAML

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
INF = QosTime(9223372036, 854775807)
RELIABLE = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, INF, INF,
               QosLiveliness.AUTOMATIC, INF, False)
T0_NS = 1_700_000_000_000_000_000
DT_NS = 50_000_000


def image_data(e, k, size):
    x = np.arange(size * size * 3, dtype=np.uint32)
    return ((x * 7 + e * 31 + k * 13) & 0xFF).astype(np.uint8)


def stamp(t_ns):
    return T['builtin_interfaces/msg/Time'](sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)


def header(t_ns, frame):
    return T['std_msgs/msg/Header'](stamp=stamp(t_ns), frame_id=frame)


def q_of(e, k):
    return np.array([0.1 * e + 0.01 * k * (j + 1) for j in range(4)], dtype=np.float64)


def f64_array(values, label=''):
    dim = T['std_msgs/msg/MultiArrayDimension'](label=label, size=len(values), stride=len(values))
    layout = T['std_msgs/msg/MultiArrayLayout'](dim=[dim] if label else [], data_offset=0)
    return T['std_msgs/msg/Float64MultiArray'](layout=layout, data=np.array(values, dtype=np.float64))


def messages(args, episodes):
    """(t_ns, topic, msgtype, msg) in time order for the given episode indices."""
    out = []
    period = args.steps * DT_NS + int(args.gap * 1e9)
    for e in episodes:
        base = T0_NS + e * period
        if args.markers:
            out.append((base - 1_000_000, '/mbarl/episode', 'std_msgs/msg/String',
                        T['std_msgs/msg/String'](data=f'episode {e}')))
        out.append((base - 1_000_000, '/sim/reset_count', 'std_msgs/msg/UInt64', T['std_msgs/msg/UInt64'](data=e + 1)))
        for k in range(args.steps):
            t = base + k * DT_NS
            for m in range(args.js_mult):
                tj = t + m * DT_NS // args.js_mult
                kk = k + m / args.js_mult
                js = T['sensor_msgs/msg/JointState'](
                    header=header(tj, 'base_link'), name=[f'joint{j + 1}' for j in range(4)],
                    position=q_of(e, kk), velocity=np.full(4, 0.2), effort=np.zeros(0))
                out.append((tj + 200_000, '/joint_states', 'sensor_msgs/msg/JointState', js))
            img = T['sensor_msgs/msg/Image'](
                header=header(t + 3_000_000, 'camera_optical_frame'), height=args.size, width=args.size,
                encoding='rgb8', is_bigendian=0, step=args.size * 3, data=image_data(e, k, args.size))
            out.append((t + 4_000_000, '/camera/image_raw', 'sensor_msgs/msg/Image', img))
            info = T['sensor_msgs/msg/CameraInfo'](
                header=header(t + 3_000_000, 'camera_optical_frame'), height=args.size, width=args.size,
                distortion_model='plumb_bob', d=np.zeros(5), k=np.array([50.0, 0, 32, 0, 50, 32, 0, 0, 1]),
                r=np.eye(3).flatten(), p=np.array([50.0, 0, 32, 0, 0, 50, 32, 0, 0, 0, 1, 0]),
                binning_x=0, binning_y=0,
                roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            out.append((t + 4_100_000, '/camera/camera_info', 'sensor_msgs/msg/CameraInfo', info))
            ts_ = f64_array([t / 1e9, 0.3 + 0.01 * k, -0.1 * e, 0.05], 'sim_time,x,y,z')
            out.append((t + 4_200_000, '/sim/task_state', 'std_msgs/msg/Float64MultiArray', ts_))
            if args.reward:
                out.append((t + 4_300_000, '/sim/task_reward', 'std_msgs/msg/Float64',
                            T['std_msgs/msg/Float64'](data=-(e + 0.01 * k))))
            if args.commands and args.trajectory_commands:
                # joint_trajectory_controller's interface: one point, joints in another order
                order = [3, 1, 0, 2]
                q = q_of(e, k + 1)
                point = T['trajectory_msgs/msg/JointTrajectoryPoint'](
                    positions=np.array([q[j] for j in order]), velocities=np.zeros(0),
                    accelerations=np.zeros(0), effort=np.zeros(0),
                    time_from_start=T['builtin_interfaces/msg/Duration'](sec=0, nanosec=50_000_000))
                traj = T['trajectory_msgs/msg/JointTrajectory'](
                    header=header(t + 5_000_000, ''), joint_names=[f'joint{j + 1}' for j in order],
                    points=[point])
                out.append((t + 5_000_000, '/arm_controller/joint_trajectory',
                            'trajectory_msgs/msg/JointTrajectory', traj))
            elif args.commands:
                out.append((t + 5_000_000, '/arm_controller/commands', 'std_msgs/msg/Float64MultiArray',
                            f64_array(list(q_of(e, k + 1)))))
    out.sort(key=lambda x: x[0])
    return out


def write_bag(path, args, episodes):
    plugin = StoragePlugin.MCAP if args.storage == 'mcap' else StoragePlugin.SQLITE3
    counts = {}
    writer = Writer(path, version=args.version, storage_plugin=plugin)
    mode = {'none': CompressionMode.NONE, 'storage': CompressionMode.STORAGE,
            'file': CompressionMode.FILE, 'message': CompressionMode.MESSAGE}[args.compression]
    if mode != CompressionMode.NONE:
        writer.set_compression(mode, CompressionFormat.ZSTD)
    with writer as w:
        conns = {}
        for t, topic, ty, msg in messages(args, episodes):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, ty, typestore=TS, offered_qos_profiles=[RELIABLE])
            w.write(conns[topic], t, TS.serialize_cdr(msg, ty))
            counts[topic] = counts.get(topic, 0) + 1
    return counts


def yaml_load(path):
    return YAML(typ='safe').load(path.read_text())


def yaml_dump(path, doc):
    y = YAML(typ='safe')
    y.default_flow_style = False
    with path.open('w') as f:
        y.dump(doc, f)


def downgrade(meta, version):
    """The metadata.yaml layout of an older bag version."""
    from rosbags.rosbag2.metadata import dump_qos_v8, parse_qos
    info = meta['rosbag2_bagfile_information']
    info['version'] = version
    for t in info['topics_with_message_count']:
        md = t['topic_metadata']
        md['offered_qos_profiles'] = dump_qos_v8(parse_qos(md['offered_qos_profiles']))
        if version < 7:
            md.pop('type_description_hash', None)
    if version < 8:
        info.pop('ros_distro', None)
    if version < 6:
        info.pop('custom_data', None)
    return meta


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument('out', type=Path)
    p.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap')
    p.add_argument('--compression', choices=['none', 'storage', 'file', 'message'], default='none')
    p.add_argument('--version', type=int, choices=[8, 9], default=9)
    p.add_argument('--meta-version', type=int, default=None)
    p.add_argument('--split', action='store_true')
    p.add_argument('--episodes', type=int, default=2)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--js-mult', type=int, default=1)
    p.add_argument('--gap', type=float, default=2.0)
    p.add_argument('--markers', action='store_true')
    p.add_argument('--reward', action='store_true')
    p.add_argument('--no-commands', dest='commands', action='store_false')
    p.add_argument('--trajectory-commands', action='store_true',
                   help='commands as JointTrajectory on /arm_controller/joint_trajectory')
    args = p.parse_args(argv)

    if not args.split:
        counts = write_bag(args.out, args, range(args.episodes))
    else:
        half = max(1, args.episodes // 2)
        parts = [range(0, half), range(half, args.episodes)]
        args.out.mkdir(parents=True)
        counts, metas = {}, []
        with tempfile.TemporaryDirectory() as tmp:
            for i, eps in enumerate(parts):
                sub = Path(tmp) / f'part{i}'
                for k, v in write_bag(sub, args, eps).items():
                    counts[k] = counts.get(k, 0) + v
                meta = yaml_load(sub / 'metadata.yaml')
                info = meta['rosbag2_bagfile_information']
                (src,) = info['relative_file_paths']
                dst = f'{args.out.name}_{i}' + src[src.index('.'):]
                shutil.move(sub / src, args.out / dst)
                metas.append((dst, info))
        info = dict(metas[0][1])
        info['relative_file_paths'] = [d for d, _ in metas]
        info['files'] = [dict(m['files'][0], path=d) for d, m in metas]
        info['message_count'] = sum(m['message_count'] for _, m in metas)
        start = min(m['starting_time']['nanoseconds_since_epoch'] for _, m in metas)
        end = max(m['starting_time']['nanoseconds_since_epoch'] + m['duration']['nanoseconds'] for _, m in metas)
        info['starting_time'] = {'nanoseconds_since_epoch': start}
        info['duration'] = {'nanoseconds': end - start}
        topics = {}
        for _, m in metas:
            for t in m['topics_with_message_count']:
                name = t['topic_metadata']['name']
                if name in topics:
                    topics[name]['message_count'] += t['message_count']
                else:
                    topics[name] = dict(t)
        info['topics_with_message_count'] = list(topics.values())
        yaml_dump(args.out / 'metadata.yaml', {'rosbag2_bagfile_information': info})
    if args.meta_version is not None and args.meta_version < 9:
        path = args.out / 'metadata.yaml'
        yaml_dump(path, downgrade(yaml_load(path), args.meta_version))
    print(json.dumps({'bag': str(args.out), 'counts': counts, 'episodes': args.episodes, 'steps': args.steps}))


if __name__ == '__main__':
    main(sys.argv[1:])
