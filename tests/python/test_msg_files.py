"""Checks the ROS 2 interface package in msg/ with the official parser (rosidl_adapter).

Every msg/msg/*.msg and msg/srv/*.srv must parse as package `mbarl_msgs`, every field type must
exist (in mbarl_msgs or a package the manifest depends on), and CMakeLists.txt must list exactly
the files present, so that a colcon build generates the same types as crates/mbarl-msgs.

Run with the ROS 2 venv (scripts/setup.sh):
    $MBARL_ROS_PYTHON -m pytest tests/python/test_msg_files.py
    $MBARL_ROS_PYTHON tests/python/test_msg_files.py
"""

import pathlib
import re
import sys

from rosidl_adapter.parser import (
    BaseType,
    parse_message_file,
    parse_service_file,
    validate_field_types,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG_DIR = ROOT / 'msg'
PKG = 'mbarl_msgs'
# The installed ROS 2 packages of the venv (the wheels install them under <prefix>/share).
SHARE = pathlib.Path(sys.prefix) / 'share'


def msg_files():
    return sorted((PKG_DIR / 'msg').glob('*.msg'))


def srv_files():
    return sorted((PKG_DIR / 'srv').glob('*.srv'))


def manifest_dependencies():
    xml = (PKG_DIR / 'package.xml').read_text(encoding='utf-8')
    return set(re.findall(r'<(?:build_)?depend>\s*([a-z0-9_]+)\s*</(?:build_)?depend>', xml))


def cmake_text():
    text = (PKG_DIR / 'CMakeLists.txt').read_text(encoding='utf-8')
    # Drop comments.
    return '\n'.join(line.split('#', 1)[0] for line in text.splitlines())


def rosidl_generate_interfaces_block():
    match = re.search(r'rosidl_generate_interfaces\s*\((.*?)\)', cmake_text(), re.S)
    assert match, 'CMakeLists.txt has no rosidl_generate_interfaces(...)'
    return match.group(1)


def known_types():
    """BaseTypes of mbarl_msgs' messages and of the packages it depends on."""
    known = [BaseType(f'{PKG}/{f.stem}') for f in msg_files()]
    for dep in manifest_dependencies():
        for f in sorted((SHARE / dep / 'msg').glob('*.msg')):
            known.append(BaseType(f'{dep}/{f.stem}'))
    return known


def test_there_are_interfaces():
    assert msg_files(), f'no .msg files in {PKG_DIR / "msg"}'
    assert srv_files(), f'no .srv files in {PKG_DIR / "srv"}'


def test_every_message_parses_with_the_official_parser():
    known = known_types()
    for f in msg_files():
        try:
            spec = parse_message_file(PKG, str(f))
            validate_field_types(spec, known)
        except Exception as e:  # noqa: BLE001 - report which file failed
            raise AssertionError(f'{f.relative_to(ROOT)}: {type(e).__name__}: {e}') from e


def test_every_service_parses_with_the_official_parser():
    known = known_types()
    for f in srv_files():
        try:
            spec = parse_service_file(PKG, str(f))
            validate_field_types(spec, known)
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f'{f.relative_to(ROOT)}: {type(e).__name__}: {e}') from e


def test_used_packages_are_declared_dependencies():
    used = set()
    for f in msg_files():
        spec = parse_message_file(PKG, str(f))
        used |= {fl.type.pkg_name for fl in spec.fields if not fl.type.is_primitive_type()}
    for f in srv_files():
        spec = parse_service_file(PKG, str(f))
        for part in (spec.request, spec.response):
            used |= {fl.type.pkg_name for fl in part.fields if not fl.type.is_primitive_type()}
    used.discard(PKG)
    missing = used - manifest_dependencies()
    assert not missing, f'package.xml lacks <depend> for {sorted(missing)}'
    block = rosidl_generate_interfaces_block()
    deps = re.search(r'DEPENDENCIES((?:\s+[a-z0-9_]+)+)', block)
    declared = set(deps.group(1).split()) if deps else set()
    missing = used - declared
    assert not missing, f'CMakeLists.txt rosidl_generate_interfaces lacks DEPENDENCIES {sorted(missing)}'
    for pkg in used:
        assert re.search(rf'find_package\(\s*{pkg}\s+REQUIRED\s*\)', cmake_text()), \
            f'CMakeLists.txt lacks find_package({pkg} REQUIRED)'


def test_cmakelists_lists_exactly_the_files_present():
    listed = re.findall(r'"([^"]+\.(?:msg|srv|action|idl))"', rosidl_generate_interfaces_block())
    assert len(listed) == len(set(listed)), f'listed twice: {sorted(listed)}'
    present = [f'msg/{f.name}' for f in msg_files()] + [f'srv/{f.name}' for f in srv_files()]
    missing = sorted(set(present) - set(listed))
    extra = sorted(set(listed) - set(present))
    assert not missing and not extra, (
        f'CMakeLists.txt does not match msg/: not listed {missing}, listed but absent {extra}')


def main():
    tests = [(name, fn) for name, fn in sorted(globals().items())
             if name.startswith('test_') and callable(fn)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f'PASSED {name}')
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f'FAILED {name}: {e}')
    print(f'{len(tests) - failed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
