#!/usr/bin/env python3
"""Reads a bag with the independent PyPI `rosbags` library and prints it as JSON, for mbarl's tests.

    read_bag.py BAG                 one JSON line per message: {"topic", "type", "timestamp", "msg"}
    read_bag.py BAG --topics        one JSON object: topics with type, count, QoS profiles
    read_bag.py BAG --bench [--raw] time reading (and, without --raw, CDR-deserializing) every
                                    message; prints {"messages", "bytes", "seconds"}

Message fields are dumped by name, recursively; arrays become lists. Exits non-zero (with the
rosbags error on stderr) when rosbags cannot read the bag.
"""
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore


def to_plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.name.startswith('__') and not f.name.isupper()}  # constants: upper case
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def _deps(kind, rest):
    """Type names a field definition refers to (rosbags fielddefs: (nodetype, details))."""
    out = []

    def walk(x):
        if isinstance(x, str) and '/' in x:
            out.append(x)
        elif isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
    walk(rest)
    return out


def main(argv):
    path = Path(argv[0])
    flags = set(argv[1:])
    store = get_typestore(Stores.ROS2_JAZZY)
    with AnyReader([path], default_typestore=store) as reader:
        # AnyReader takes the default typestore only when no connection has a definition; a bag
        # that mixes (mbarl record stores none for types it does not know) gets the rest here.
        missing = {c.msgtype for c in reader.connections} - set(reader.typestore.fielddefs)
        if missing:
            known = {t: store.fielddefs[t] for t in missing if t in store.fielddefs}
            deps = set()
            for fields in list(known.values()):
                deps.update(d for _, (kind, *rest) in fields[1] for d in _deps(kind, rest))
            extra = {d: store.fielddefs[d] for d in deps
                     if d in store.fielddefs and d not in reader.typestore.fielddefs}
            reader.typestore.register({**extra, **known})
        if '--topics' in flags:
            out = {}
            for c in reader.connections:
                qos = getattr(c.ext, 'offered_qos_profiles', [])
                out[c.topic] = {
                    'type': c.msgtype, 'count': c.msgcount,
                    'qos': [{'reliability': q.reliability.name.lower(), 'durability': q.durability.name.lower(),
                             'history': q.history.name.lower(), 'depth': q.depth} for q in qos],
                    'msgdef_format': c.msgdef.format.name if c.msgdef else None,
                }
            print(json.dumps(out))
            return
        if '--bench' in flags:
            raw = '--raw' in flags
            t0 = time.perf_counter()
            n = nbytes = 0
            for conn, _t, data in reader.messages():
                if not raw:
                    reader.deserialize(data, conn.msgtype)
                n += 1
                nbytes += len(data)
            dt = time.perf_counter() - t0
            print(json.dumps({'messages': n, 'bytes': nbytes, 'seconds': dt}))
            return
        out = sys.stdout
        for conn, timestamp, data in reader.messages():
            msg = reader.deserialize(data, conn.msgtype)
            out.write(json.dumps({'topic': conn.topic, 'type': conn.msgtype, 'timestamp': timestamp,
                                  'msg': to_plain(msg)}))
            out.write('\n')


if __name__ == '__main__':
    main(sys.argv[1:])
