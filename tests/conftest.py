import os
import sys
from pathlib import Path

import pytest

# The float64 references (tests/reference/) are imported as ``reference``: put tests/ on the
# path whatever the import mode or the directory pytest was started from.
_tests = str(Path(__file__).resolve().parent)
if _tests not in sys.path:
    sys.path.insert(0, _tests)

# Real datasets for tests live in ../shared/data (see the README); later suites read them
# through LATENTFORGE_DATA. Set it here too so running pytest by hand behaves like CI.
_shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "LATENTFORGE_DATA" not in os.environ and _shared.is_dir():
    os.environ["LATENTFORGE_DATA"] = str(_shared)

from latentforge import _C  # noqa: E402

# The CUDA emulator, latentforge._emu, is a test-only module: a build with LATENTFORGE_EMU=OFF
# (the release wheels of [tool.cibuildwheel]) does not have it, and the tests that run kernels
# through it (tests/emu, tests/ops/test_*_cuda.py) cannot be collected there. They are left out
# and the run's header says so; with LATENTFORGE_REQUIRE_EMU=1 (set by .ci/run, which builds the
# emulator) a missing module is an error instead, so CI can never pass by leaving them out.
try:
    from latentforge import _emu  # noqa: E402, F401

    _HAVE_EMU = True
except ImportError:
    if os.environ.get("LATENTFORGE_REQUIRE_EMU") == "1":
        raise
    _HAVE_EMU = False
collect_ignore_glob = [] if _HAVE_EMU else ["emu/*", "ops/test_*_cuda.py"]


def pytest_report_header(config):
    if not _HAVE_EMU:
        return ("latentforge._emu is not built (LATENTFORGE_EMU=OFF): tests/emu and "
                "tests/ops/test_*_cuda.py are not collected")
    return None


# Tests on real MNIST / Fashion-MNIST take the `real_data` fixture. Where the files are not on
# the machine (a fresh clone without ../shared/data) they are skipped with a reason that says
# which variable to set; with LATENTFORGE_REQUIRE_DATA=1 (set by .ci/run, which has the data) a
# missing file fails them instead, so CI can never pass by skipping them.
_DATA_FILES = [
    f"{name}/{stem}.gz"
    for name in ("mnist", "fashion-mnist")
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
]


def _real_data_problem():
    env = os.environ.get("LATENTFORGE_DATA")
    if not env:
        return "LATENTFORGE_DATA is not set"
    missing = [f for f in _DATA_FILES if not (Path(env) / f).is_file()]
    return f"{Path(env) / missing[0]} is missing" if missing else None


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The directory holding mnist/ and fashion-mnist/ (IDX .gz files), or a skip (a failure
    under LATENTFORGE_REQUIRE_DATA=1) naming what to set."""
    problem = _real_data_problem()
    if problem:
        msg = (f"real MNIST / Fashion-MNIST data not found ({problem}): set LATENTFORGE_DATA to a "
               "directory holding mnist/ and fashion-mnist/ with the IDX .gz files (README, Use)")
        if os.environ.get("LATENTFORGE_REQUIRE_DATA") == "1":
            pytest.fail(msg + " -- required here (LATENTFORGE_REQUIRE_DATA=1)")
        pytest.skip(msg)
    return Path(os.environ["LATENTFORGE_DATA"])

ALL_ISAS = ["avx512", "avx2", "scalar"]
_ORDER = {name: i for i, name in enumerate(reversed(ALL_ISAS))}


def _supported(isa: str) -> bool:
    return isa in _C.isa_compiled() and _ORDER[isa] <= _ORDER[_C.isa_detected()]


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Run the test on one SIMD path; paths this CPU lacks are skipped (not failed).

    The ISA in force before the test (the detected one, or the cap LATENTFORGE_ISA or an
    earlier ``set_isa`` chose) is restored afterwards, and the restore is checked."""
    name = request.param
    if not _supported(name):
        pytest.skip(f"this CPU/build has no {name} path (detected {_C.isa_detected()})")
    previous = _C.isa_active()
    assert _C.set_isa(name) == name
    try:
        yield name
    finally:
        assert _C.set_isa(previous) == previous
        assert _C.isa_active() == previous


@pytest.fixture(autouse=True)
def _isa_unchanged():
    """Fail a test that leaves a different SIMD path active than it found (and restore it)."""
    before = _C.isa_active()
    yield
    after = _C.isa_active()
    if after != before:
        _C.set_isa(before)
        pytest.fail(f"the test left the active ISA at {after!r}; it was {before!r}")


@pytest.fixture
def threads():
    """Restore the thread setting after a test that changes it."""
    import latentforge as lf

    before = lf.get_num_threads()
    yield
    lf.set_num_threads(0)
    if lf.get_num_threads() != before:
        lf.set_num_threads(before)


@pytest.fixture
def fake_device(monkeypatch):
    """A CUDA device played by host memory (tests/_fakedevice.py): ``_C.device`` runs the CPU
    kernels on the pointers it is given and ``cupy`` is a strict stand-in over numpy."""
    from _fakedevice import install

    return install(monkeypatch)
