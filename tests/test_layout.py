"""The op layout enforces itself: every op of ``latentforge._optable.OPS`` lives in its seven
places, found by its name alone, and nothing native lives outside the table.

These tests read the source tree (``csrc/``, ``tests/``, ``benchmarks/``) next to this file,
so they run from a checkout (as CI does), whichever copy of the package is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from latentforge import _C, functional
from latentforge._optable import NO_DEVICE_KERNEL, OPS, OPS_BY_NAME
from latentforge.tensor import Function

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
OP_NAMES = [op.name for op in OPS]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_table_is_consistent():
    assert len(OP_NAMES) == len(set(OP_NAMES)), "an op is listed twice"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in OP_NAMES)
    assert NO_DEVICE_KERNEL == tuple(op.name for op in OPS if not op.cuda)


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_has_its_seven_places(name):
    op = OPS_BY_NAME[name]
    missing = []
    header = CSRC / "ops" / f"{name}.h"
    cpu = CSRC / "ops" / f"{name}_cpu.cpp"
    binding = CSRC / "bindings" / f"bind_{name}.cpp"
    for path in (header, cpu, binding, ROOT / "tests" / "ops" / f"test_{name}.py",
                 ROOT / "benchmarks" / "ops" / f"bench_{name}.py"):
        if not path.is_file():
            missing.append(str(path.relative_to(ROOT)))
    cuda = [CSRC / "ops" / f"{name}_cuda.cu", CSRC / "ops" / f"{name}_cuda.cuh"]
    if op.cuda:
        missing += [str(p.relative_to(ROOT)) for p in cuda if not p.is_file()]
    else:
        stale = [str(p.relative_to(ROOT)) for p in cuda if p.exists()]
        assert not stale, f"{name} is in NO_DEVICE_KERNEL but has {stale}: set cuda=True"
    assert not missing, f"op {name!r} is missing: {missing}"
    # The binding defines bind_<op>, and the module calls it.
    assert re.search(rf"\bvoid bind_{name}\(py::module_& m\)", _read(binding))
    assert re.search(rf"^\s*bind_{name}\(m\);", _read(CSRC / "bindings" / "module.cpp"), re.M)
    # The CPU file implements what the header declares (at least one function named for it).
    assert f'#include "ops/{name}.h"' in _read(cpu) or f"ops/{name}.h" in _read(cpu)
    # The reference beside the optimized kernel (or the op that is its reference) exists.
    for ref in op.reference.split():
        if ref.startswith("op:"):
            assert ref[3:] in OPS_BY_NAME, f"{name}: reference op {ref[3:]!r} is not in the table"
        else:
            assert re.search(rf"^\w[\w:<> ]* {ref}\(", _read(cpu), re.M), (
                f"{name}: reference {ref} is not defined in {cpu.relative_to(ROOT)}"
            )
    for cls in op.functions:
        fn = getattr(functional, cls, None)
        assert isinstance(fn, type) and issubclass(fn, Function), (
            f"{name}: latentforge.functional.{cls} is not a Function"
        )


def _owner(stem: str) -> str | None:
    """The op a file stem belongs to: the longest op name it equals or starts with + '_'."""
    best = None
    for n in OP_NAMES:
        if (stem == n or stem.startswith(n + "_")) and (best is None or len(n) > len(best)):
            best = n
    return best


def test_every_native_file_belongs_to_an_op():
    """A new op cannot hide: each file of csrc/ops, csrc/bindings/bind_*, tests/ops and
    benchmarks/ops is named after an op of the table."""
    orphans = []
    for path in sorted((CSRC / "ops").iterdir()):
        if _owner(path.name.split(".")[0]) is None:
            orphans.append(str(path.relative_to(ROOT)))
    for path in sorted((CSRC / "bindings").glob("bind_*.cpp")):
        stem = path.stem.removeprefix("bind_")
        # bind_core (build information, threads) and bind_device (the _C.device runtime and the
        # device-pointer entries of the first ops) are infrastructure, not ops.
        if stem not in ("core", "device") and stem not in OPS_BY_NAME:
            orphans.append(str(path.relative_to(ROOT)))
    for folder, prefix in (("tests/ops", "test_"), ("benchmarks/ops", "bench_")):
        for path in sorted((ROOT / folder).glob(f"{prefix}*.py")):
            stem = path.stem.removeprefix(prefix)
            if _owner(stem) is None:
                orphans.append(str(path.relative_to(ROOT)))
    assert not orphans, f"files named after no op of latentforge/_optable.py: {orphans}"


def test_core_depends_on_nothing_in_ops():
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((CSRC / "core").iterdir())
        if p.is_file() and re.search(r'#include\s+"(ops|bindings|emu)/', _read(p))
    ]
    assert not offenders, f"csrc/core must not include ops/, bindings/ or emu/: {offenders}"


def test_every_source_is_built():
    """Each .cpp/.cu under csrc/ is compiled by CMakeLists.txt (a forgotten file would leave
    its op unlinked or untested)."""
    cmake = _read(ROOT / "CMakeLists.txt")

    def listed(p: Path) -> bool:  # by name, or by a file(GLOB) of its folder (csrc/emu/*.cpp)
        rel = p.relative_to(ROOT)
        return str(rel) in cmake or f"{rel.parent}/*{p.suffix}" in cmake

    unbuilt = [
        str(p.relative_to(ROOT))
        for p in sorted(CSRC.rglob("*"))
        if p.suffix in (".cpp", ".cu") and not listed(p)
    ]
    assert not unbuilt, f"not in CMakeLists.txt: {unbuilt}"


def test_activation_enum_is_bound_by_name():
    import latentforge as lf

    assert lf.Activation is _C.Activation
    assert [m.name for m in lf.Activation.__members__.values()] == [
        "none", "sigmoid", "tanh", "relu"
    ]
    assert lf.Activation.sigmoid.value == 1
