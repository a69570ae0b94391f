"""lf.set_num_threads and threadpoolctl agree: an explicit thread count is still limited by a
threadpoolctl context (which works through OpenMP's own omp_set_num_threads), and restored
after it; out-of-range counts are clear errors."""

from __future__ import annotations

import pytest

import latentforge as lf

threadpoolctl = pytest.importorskip("threadpoolctl")  # the "test" extra brings it

pytestmark = pytest.mark.skipif(
    not lf.build_info()["openmp"], reason="built without OpenMP (LATENTFORGE_OPENMP=OFF)"
)


def test_threadpool_limits_apply_after_an_explicit_count(threads):
    lf.set_num_threads(2)
    assert lf.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert lf.get_num_threads() == 1
    assert lf.get_num_threads() == 2


def test_threadpool_limits_apply_to_the_default(threads):
    lf.set_num_threads(0)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert lf.get_num_threads() == 1


def test_threadpoolctl_reports_our_count(threads):
    lf.set_num_threads(3)
    ours = [d for d in threadpoolctl.threadpool_info() if d["user_api"] == "openmp"]
    assert ours and any(d["num_threads"] == 3 for d in ours), ours


@pytest.mark.parametrize("n", [2**31, -1, 1 << 17])
def test_out_of_range_counts_are_value_errors(n, threads):
    with pytest.raises(ValueError, match="n must be in"):
        lf.set_num_threads(n)


@pytest.mark.parametrize("n", [2.0, "2", None, True])
def test_non_int_counts_are_type_errors(n, threads):
    with pytest.raises(TypeError, match="n must be an int"):
        lf.set_num_threads(n)
