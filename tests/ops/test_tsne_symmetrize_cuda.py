"""The CUDA t-SNE symmetrisation (csrc/ops/tsne_symmetrize_cuda.cuh: per-row validation and sort,
integer atomic in-degree counts, single-block scans, per-row merge) against the CPU kernel
``_C.tsne_symmetrize``, at every launch configuration.

``TestEmulated`` runs the kernels on the CPU through the emulator (``latentforge._emu``) under
every schedule (forward, reversed, shuffled, concurrent). The result is integer bookkeeping plus
one double add and one double divide per entry, as on the CPU, so indptr, indices and data are
compared bit for bit, on a GPU as well (``TestDevice``, through ``_C._tsne_symmetrize_cuda``,
skipped without one).

Graphs: random kNN-like graphs (n 2..70, k 1..min(9, n - 1)), fully mutual graphs (every edge in
both directions: the complete graph and symmetric rings), graphs without a mutual pair (i -> i + 1
.. i + k mod n with 2k < n), hubs (every row points at node 0), and P_cond with zeros (+0.0 and
-0.0) and tiny and large values.
"""

import functools

import numpy as np
import pytest

from latentforge import _C, _emu

CONFIGS = list(range(_emu.tsne_symmetrize_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 3), ("concurrent", 0)]
SHAPES = [(2, 1), (3, 2), (5, 1), (5, 4), (8, 3), (17, 5), (33, 9), (70, 7)]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _random_graph(n, k, rng):
    return np.array([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)],
                    np.int64).reshape(n, k)


def _mutual_graph(n, k):
    """Every edge in both directions: the complete graph for k = n - 1, else a symmetric ring
    (offsets +-1, +-2, ...; k even and k < n - 1); k odd and < n - 1 falls back to k - 1."""
    if k == n - 1:
        return np.array([[j for j in range(n) if j != i] for i in range(n)], np.int64)
    h = k // 2
    offs = [o for d in range(1, h + 1) for o in (d, -d)]
    return np.array([[(i + o) % n for o in offs] for i in range(n)], np.int64).reshape(n, 2 * h)


def _one_way_graph(n, k):
    """i -> i + 1 .. i + k (mod n): with 2k < n no edge is mutual."""
    return np.array([[(i + t) % n for t in range(1, k + 1)] for i in range(n)], np.int64)


def _probabilities(shape, rng, zeros=True):
    P = rng.random(shape) ** 3 + 1e-9
    P = P / P.sum(axis=1, keepdims=True)
    if zeros and P.size:
        flat = P.reshape(-1)
        flat[rng.random(flat.size) < 0.2] = 0.0
        flat[rng.random(flat.size) < 0.1] = -0.0
        flat[rng.random(flat.size) < 0.05] = 3e-38  # near the smallest normal float
        flat[rng.random(flat.size) < 0.05] = 1e30
    return P.astype(np.float32)


def _graphs(n, k, seed):
    """(name, nbr, P) cases for one shape, with their rows shuffled (unsorted columns)."""
    rng = np.random.default_rng(seed)
    cases = [("random", _random_graph(n, k, rng)), ("mutual", _mutual_graph(n, k))]
    if 2 * k < n:
        cases.append(("one_way", _one_way_graph(n, k)))
    if n >= 3:  # a hub: every row lists node 0 (row 0 lists 1..k)
        hub = _random_graph(n, k, rng)
        for i in range(1, n):
            if 0 not in hub[i]:
                hub[i, rng.integers(k)] = 0
        cases.append(("hub", hub))
    out = []
    for name, nbr in cases:
        nbr = rng.permuted(nbr, axis=1) if nbr.shape[1] > 1 else nbr
        nbr = np.ascontiguousarray(nbr)
        out.append((name, nbr, _probabilities(nbr.shape, rng, zeros=name != "one_way")))
        out.append((name + "_dense", nbr, _probabilities(nbr.shape, rng, zeros=False)))
    return out


def _assert_csr_identical(got, ref):
    for g, r, dtype in zip(got, ref, (np.int64, np.int64, np.float32)):
        assert g.dtype == dtype and g.ndim == 1
        np.testing.assert_array_equal(g, r)
        assert g.tobytes() == r.tobytes()  # bitwise, signed zeros included


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernel(self, request):
        name, seed = request.param
        self.run = functools.partial(_emu.tsne_symmetrize_cuda, schedule=name, seed=seed)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n,k", SHAPES, ids=str)
    def test_matches_cpu(self, n, k, config):
        for _name, nbr, P in _graphs(n, k, 100 * n + k):
            m = nbr.shape[0]
            got = self.run(nbr, P, m, config=config)
            _assert_csr_identical(got, _C.tsne_symmetrize(nbr, P, m))

    def test_empty(self):
        for config in CONFIGS:
            indptr, cols, data = self.run(np.zeros((0, 3), np.int64),
                                          np.zeros((0, 3), np.float32), 0, config=config)
            np.testing.assert_array_equal(indptr, [0])
            assert cols.shape == (0,) and data.shape == (0,)
            indptr, cols, data = self.run(np.zeros((4, 0), np.int64),
                                          np.zeros((4, 0), np.float32), 4, config=config)
            np.testing.assert_array_equal(indptr, [0, 0, 0, 0, 0])
            assert cols.shape == (0,) and data.shape == (0,)

    @pytest.mark.parametrize("config", CONFIGS)
    def test_bad_rows_give_the_cpu_message(self, config):
        """The error flag names the first bad row; the message is the CPU kernel's."""
        n, k = 19, 4
        nbr = _one_way_graph(n, k)
        P = np.full((n, k), 0.25, np.float32)
        self.run(nbr, P, n, config=config)  # valid
        for value, match in ((n, "out of range"), (-1, "out of range"), (11, "itself"),
                             (nbr[11, 0], "more than once")):
            bad = nbr.copy()
            bad[11, 2] = value
            bad[15, 0] = 15  # a later bad row must not win
            with pytest.raises(ValueError, match=match) as cpu:
                _C.tsne_symmetrize(bad, P, n)
            with pytest.raises(ValueError) as dev:
                self.run(bad, P, n, config=config)
            assert str(dev.value) == str(cpu.value)
        for value in (np.nan, np.inf, -np.inf):
            bad = P.copy()
            bad[6, 3] = value
            bad[6, 1] = value
            bad2 = nbr.copy()
            bad2[6, 2] = nbr[6, 0]  # a repeat in the same row: the non-finite P is found first
            with pytest.raises(ValueError, match=r"P_cond\[6, 1\]") as cpu:
                _C.tsne_symmetrize(bad2, bad, n)
            with pytest.raises(ValueError) as dev:
                self.run(bad2, bad, n, config=config)
            assert str(dev.value) == str(cpu.value)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _kernel(self):
        self.run = _C._tsne_symmetrize_cuda

    def test_larger_graph(self):
        rng = np.random.default_rng(5)
        n, k = 3001, 30
        nbr = _random_graph(n, k, rng)
        P = _probabilities((n, k), rng)
        for config in CONFIGS:
            _assert_csr_identical(self.run(nbr, P, n, config=config), _C.tsne_symmetrize(nbr, P, n))


# ---- properties that hold whatever the schedule: checked under the forward one


def test_matches_the_naive_reference():
    """Not only the merge kernel: the emulated kernels against the sort-all-keys reference."""
    rng = np.random.default_rng(8)
    nbr = _random_graph(41, 6, rng)
    P = _probabilities(nbr.shape, rng)
    # No -0.0 here: the reference sums from +0.0, so a lone -0.0 comes out +0.0 there while the
    # merge kernels (CPU and CUDA alike) keep it.
    P[P == 0] = 0.0
    _assert_csr_identical(_emu.tsne_symmetrize_cuda(nbr, P, 41, config=1),
                          _C.tsne_symmetrize(nbr, P, 41, naive=True))


def test_bad_arguments():
    n, k = 6, 2
    nbr = _one_way_graph(n, k)
    P = np.full((n, k), 0.5, np.float32)
    run = _emu.tsne_symmetrize_cuda
    with pytest.raises(ValueError, match="config"):
        run(nbr, P, n, config=len(CONFIGS))
    with pytest.raises(ValueError, match="config"):
        run(nbr, P, n, config=-1)
    with pytest.raises(TypeError, match="int64"):
        run(nbr.astype(np.int32), P, n)
    with pytest.raises(TypeError, match="float32"):
        run(nbr, P.astype(np.float64), n)
    with pytest.raises(ValueError, match="2-D"):
        run(nbr.ravel(), P, n)
    with pytest.raises(ValueError, match="C-contiguous"):
        run(np.asfortranarray(nbr), P, n)
    with pytest.raises(ValueError, match="rows"):
        run(nbr, P, n + 1)
    with pytest.raises(ValueError, match="n must"):
        run(nbr, P, -1)
    with pytest.raises(ValueError, match="shape of indices"):
        run(nbr, P[:, :1].copy(), n)
    with pytest.raises(ValueError, match="schedule"):
        run(nbr, P, n, schedule="sideways")


def test_without_a_device_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    n, k = 6, 2
    nbr = _one_way_graph(n, k)
    P = np.full((n, k), 0.5, np.float32)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C._tsne_symmetrize_cuda(nbr, P, n)
    # The device-pointer entry: the device guard refuses device 0 before any pointer is used
    # (CUDA build: "device 0 out of range (0 CUDA devices)", raised as ValueError by LF_CHECK;
    # CPU-only build: RuntimeError "built without CUDA").
    msg = r"out of range \(0 CUDA devices\)|built without CUDA"
    with pytest.raises((RuntimeError, ValueError), match=msg):
        _C.device.tsne_symmetrize(0, 0, 0, 0, 0, 0, 0, 0, n, k)
