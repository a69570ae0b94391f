import os
from pathlib import Path

import pytest

# Real datasets for tests live in ../shared/data (see the README); later suites read them
# through LATENTFORGE_DATA. Set it here too so running pytest by hand behaves like CI.
_shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "LATENTFORGE_DATA" not in os.environ and _shared.is_dir():
    os.environ["LATENTFORGE_DATA"] = str(_shared)

from latentforge import _C  # noqa: E402

ALL_ISAS = ["avx512", "avx2", "scalar"]
_ORDER = {name: i for i, name in enumerate(reversed(ALL_ISAS))}


def _supported(isa: str) -> bool:
    return isa in _C.isa_compiled() and _ORDER[isa] <= _ORDER[_C.isa_detected()]


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Run the test on one SIMD path; paths this CPU lacks are skipped (not failed)."""
    name = request.param
    if not _supported(name):
        pytest.skip(f"this CPU/build has no {name} path (detected {_C.isa_detected()})")
    previous = _C.isa_active()
    assert _C.set_isa(name) == name
    yield name
    _C.set_isa("avx512")
    assert _C.isa_active() == previous or previous != _C.isa_detected()


@pytest.fixture
def threads():
    """Restore the thread setting after a test that changes it."""
    import latentforge as lf

    before = lf.get_num_threads()
    yield
    lf.set_num_threads(0)
    if lf.get_num_threads() != before:
        lf.set_num_threads(before)
