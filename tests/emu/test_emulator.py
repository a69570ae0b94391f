"""The CUDA emulator's safety net, proven: every misuse it claims to catch is caught.

The kernels are in csrc/emu/broken_kernels.cuh (each broken one next to its correct twin) and run
through the test-only module ``latentforge._emu``. Deterministic schedules (forward, reverse,
shuffled) run the threads of a block one at a time between barriers, so a missing barrier must
fail on every run, in every block; the concurrent schedule is checked only where the outcome
does not depend on how the OS interleaves threads.
"""

import threading

import numpy as np
import pytest

from latentforge import _emu

DETERMINISTIC = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("shuffled", 2), ("shuffled", 3)]
EVERY = [("concurrent", 0), *DETERMINISTIC]
# (grid, block): 1-D, 2-D and 3-D, thread counts that are not powers of two, several blocks.
GRIDS = [
    ((3, 1, 1), (64, 1, 1)),
    ((2, 3, 1), (7, 3, 2)),
    ((1, 2, 2), (5, 1, 3)),
]
REDUCE_GRIDS = [((5, 1, 1), (256, 1, 1)), ((2, 1, 2), (4, 2, 2))]  # powers of two per block
# Over a CUDA limit: threads per block (1024), block.z (64), a zero size, grid.y and grid.z.
INVALID = [
    ((1, 1, 1), (1025, 1, 1)),
    ((1, 1, 1), (32, 32, 2)),
    ((1, 1, 1), (1, 1, 65)),
    ((1, 1, 1), (0, 4, 1)),
    ((0, 1, 1), (4, 1, 1)),
    ((2, 0, 1), (4, 1, 1)),
    ((1, 65536, 1), (1, 1, 1)),
    ((1, 1, 65536), (1, 1, 1)),
]
# At the limits (and a grid of many one-thread blocks).
LARGEST = [
    ((1, 1, 1), (1024, 1, 1)),
    ((1, 1, 1), (2, 8, 64)),
    ((3, 1, 1), (32, 32, 1)),
    ((1, 4000, 1), (1, 1, 1)),
]


def _ids(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _grid_ids(cases):
    return ["g{}b{}".format(*("x".join(map(str, d)) for d in case)) for case in cases]


def _sizes(grid, block):
    return int(np.prod(grid)), int(np.prod(block))  # blocks, threads per block


def _neighbour_reference(x, grid, block):
    blocks, n = _sizes(grid, block)
    return np.roll(x.reshape(blocks, n), -1, axis=1).ravel()


def test_schedules():
    assert _emu.SCHEDULES == ("concurrent", "forward", "reverse", "shuffled")
    with pytest.raises(ValueError, match="unknown schedule 'sideways'"):
        _emu.mark((1, 1, 1), (1, 1, 1), schedule="sideways")


# ---- the deterministic schedules do what they say ----


@pytest.mark.parametrize("grid,block", GRIDS, ids=_grid_ids(GRIDS))
def test_forward_and_reverse_order(grid, block):
    blocks, n = _sizes(grid, block)
    tickets = _emu.order(grid, block, schedule="forward")
    b, t = np.meshgrid(np.arange(blocks), np.arange(n), indexing="ij")
    # Blocks one after another in linear order; inside a block, thread 0 to n-1 before the barrier
    # and again after it.
    np.testing.assert_array_equal(tickets[:, :, 0], 2 * n * b + t)
    np.testing.assert_array_equal(tickets[:, :, 1], 2 * n * b + n + t)
    tickets = _emu.order(grid, block, schedule="reverse")
    np.testing.assert_array_equal(tickets[:, :, 0], 2 * n * (blocks - 1 - b) + (n - 1 - t))
    np.testing.assert_array_equal(tickets[:, :, 1], 2 * n * (blocks - 1 - b) + n + (n - 1 - t))


def test_shuffled_order():
    grid, block = (3, 2, 1), (6, 2, 1)
    blocks, n = _sizes(grid, block)
    runs = {seed: _emu.order(grid, block, schedule="shuffled", seed=seed) for seed in (1, 2, 3)}
    for seed, tickets in runs.items():
        # Threads one at a time (every ticket once), blocks never overlap, and a barrier
        # separates the two intervals of each block.
        np.testing.assert_array_equal(np.sort(tickets.ravel()), np.arange(2 * n * blocks))
        first = tickets.min(axis=(1, 2))
        np.testing.assert_array_equal(np.sort(first), 2 * n * np.arange(blocks))
        assert (tickets[:, :, 0].max(axis=1) < tickets[:, :, 1].min(axis=1)).all()
        # Reproducible from the seed.
        np.testing.assert_array_equal(_emu.order(grid, block, "shuffled", seed), tickets)
        # A fresh thread order in each interval, neither forward nor reversed.
        rank = tickets.argsort(axis=1).argsort(axis=1)  # run position of each thread
        assert (rank[:, :, 0] != rank[:, :, 1]).any(), seed
        assert not (np.diff(rank[:, :, 0], axis=1) > 0).all(axis=1).any(), seed
        assert not (np.diff(rank[:, :, 0], axis=1) < 0).all(axis=1).any(), seed
    # Different seeds, different orders; blocks shuffled too (6 blocks: 720 orders).
    assert not np.array_equal(runs[1], runs[2]) and not np.array_equal(runs[2], runs[3])
    block_orders = [tuple(np.argsort(t.min(axis=(1, 2)))) for t in runs.values()]
    assert len(set(block_orders)) > 1
    assert any(o != tuple(range(blocks)) for o in block_orders)


def test_order_needs_a_deterministic_schedule():
    with pytest.raises(ValueError, match="deterministic"):
        _emu.order((1, 1, 1), (2, 1, 1), schedule="concurrent")


# ---- correct kernels pass in every schedule ----


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", GRIDS, ids=_grid_ids(GRIDS))
def test_correct_kernels_pass(run, grid, block):
    blocks, n = _sizes(grid, block)
    rng = np.random.default_rng(blocks * 31 + n)
    x = rng.uniform(-1, 1, blocks * n).astype(np.float32)
    out = _emu.neighbour(x, grid, block, sync=True, schedule=run[0], seed=run[1])
    np.testing.assert_array_equal(out, _neighbour_reference(x, grid, block))

    rounds = 3
    xs = rng.uniform(-1, 1, (rounds, blocks * n)).astype(np.float32)
    out = _emu.rounds(xs.ravel(), grid, block, rounds, True, schedule=run[0], seed=run[1])
    expected = sum(_neighbour_reference(xs[r], grid, block) for r in range(rounds))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)

    ones = _emu.barrier(grid, block, mode=0, schedule=run[0], seed=run[1])
    np.testing.assert_array_equal(ones, 1)


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", REDUCE_GRIDS, ids=_grid_ids(REDUCE_GRIDS))
def test_tree_reduction_passes(run, grid, block):
    blocks, n = _sizes(grid, block)
    x = np.arange(blocks * n, dtype=np.float32) % 97  # small integers: every sum is exact
    out = _emu.reduce(x, grid, block, schedule=run[0], seed=run[1])
    np.testing.assert_array_equal(out, x.reshape(blocks, n).sum(axis=1))


# ---- a missing barrier fails on every run, in every block ----


@pytest.mark.parametrize("run", DETERMINISTIC, ids=_ids)
@pytest.mark.parametrize("grid,block", GRIDS, ids=_grid_ids(GRIDS))
def test_missing_barrier_reads_poison(run, grid, block):
    # Read-after-write without a barrier: the first thread of each block to run reads its
    # neighbour's slot before the neighbour wrote it, i.e. poison.
    blocks, n = _sizes(grid, block)
    x = np.arange(blocks * n, dtype=np.float32)
    out = _emu.neighbour(x, grid, block, sync=False, schedule=run[0], seed=run[1])
    assert np.isnan(out.reshape(blocks, n)).any(axis=1).all()
    # Whatever was not poison is right: the emulator adds nothing but the order.
    expected = _neighbour_reference(x, grid, block)
    ok = ~np.isnan(out)
    np.testing.assert_array_equal(out[ok], expected[ok])


@pytest.mark.parametrize("run", DETERMINISTIC, ids=_ids)
@pytest.mark.parametrize("grid,block", GRIDS, ids=_grid_ids(GRIDS))
def test_missing_barrier_after_read_reads_next_round(run, grid, block):
    # Write-after-read without a barrier: some thread overwrites its slot with the next round's
    # value before its left neighbour read it. In any order of a cycle of threads, some thread
    # runs after its right neighbour, so every block of every run is wrong -- with valid numbers
    # (no NaN), which only the schedule, not the poison, can expose.
    blocks, n = _sizes(grid, block)
    rounds = 3
    xs = np.arange(rounds * blocks * n, dtype=np.float32).reshape(rounds, -1) + 1
    out = _emu.rounds(xs.ravel(), grid, block, rounds, False, schedule=run[0], seed=run[1])
    expected = sum(_neighbour_reference(xs[r], grid, block) for r in range(rounds))
    assert np.isfinite(out).all()
    assert (out != expected).reshape(blocks, n).any(axis=1).all()
    assert (out >= expected).all()  # a later round's values are larger: only ever too large


# ---- shared memory starts poisoned in every block ----


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", GRIDS, ids=_grid_ids(GRIDS))
def test_stale_shared_memory_is_poison(run, grid, block):
    blocks, n = _sizes(grid, block)
    t = np.arange(n, dtype=np.float32)
    # The writer first and last in linear order: in forward and reverse runs, blocks run after
    # it either way, and must not see its data.
    for writer in (0, blocks - 1):
        out = _emu.stale(grid, block, writer, schedule=run[0], seed=run[1]).reshape(blocks, n)
        np.testing.assert_array_equal(out[writer], 1 + t)
        assert np.isnan(np.delete(out, writer, axis=0)).all()
    # Nor does the next launch (no block writes).
    out = _emu.stale(grid, block, -1, schedule=run[0], seed=run[1])
    assert np.isnan(out).all()


# ---- misused barriers raise, in every schedule ----


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize(
    "mode,message",
    [
        (1, r"of 42 threads returned while the others wait in __syncthreads\(\) at .*:\d+"),
        (2, r"41 of 42 threads returned while the others wait"),
        (3, r"threads wait at different __syncthreads\(\) calls, .*:\d+ and .*:\d+"),
    ],
)
def test_divergent_barrier_raises(run, mode, message):
    grid, block = (2, 1, 1), (7, 3, 2)
    with pytest.raises(RuntimeError, match=message):
        _emu.barrier(grid, block, mode, schedule=run[0], seed=run[1])
    # The failed launch left nothing behind: the next one runs normally.
    x = np.arange(2 * 42, dtype=np.float32)
    out = _emu.neighbour(x, grid, block, sync=True, schedule=run[0], seed=run[1])
    np.testing.assert_array_equal(out, _neighbour_reference(x, grid, block))


# ---- invalid launches raise before running anything ----


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", INVALID, ids=_grid_ids(INVALID))
def test_invalid_launch_raises(run, grid, block):
    with pytest.raises(RuntimeError, match="invalid configuration argument"):
        _emu.mark(grid, block, schedule=run[0], seed=run[1])


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", LARGEST, ids=_grid_ids(LARGEST))
def test_largest_launches_run_every_thread_once(run, grid, block):
    runs = _emu.mark(grid, block, schedule=run[0], seed=run[1])
    np.testing.assert_array_equal(runs, 1)


@pytest.mark.parametrize("run", EVERY, ids=_ids)
def test_too_much_shared_memory_raises(run):
    with pytest.raises(RuntimeError, match="65536 bytes of static shared memory.*48 KiB"):
        _emu.big_shared(32, schedule=run[0], seed=run[1])
    # An exception thrown by kernel code fails the launch, not the emulator: the next one runs.
    np.testing.assert_array_equal(_emu.barrier((2, 1, 1), (32, 1, 1), 0, run[0], run[1]), 1)


def test_argument_errors():
    with pytest.raises(ValueError, match="in must have 12 elements"):
        _emu.neighbour(np.zeros(11, np.float32), (3, 1, 1), (4, 1, 1), True)
    with pytest.raises(TypeError, match="float32"):
        _emu.neighbour(np.zeros(12), (3, 1, 1), (4, 1, 1), True)
    with pytest.raises(ValueError, match="power-of-two"):
        _emu.reduce(np.zeros(6, np.float32), (1, 1, 1), (6, 1, 1))
    with pytest.raises(ValueError, match="limited to"):
        _emu.mark((2**31 - 1, 1, 1), (1024, 1, 1))


# ---- launches from several Python threads at once ----


@pytest.mark.parametrize("schedule", ["concurrent", "shuffled"])
def test_launches_from_several_threads(schedule):
    # The GIL is released during a launch; launches are serialised, so shared memory and its
    # poisoning stay per launch and per block.
    grid, block = (4, 1, 1), (16, 2, 1)
    blocks, n = _sizes(grid, block)
    failures = []

    def worker(k):
        try:
            x = np.arange(blocks * n, dtype=np.float32) * (k + 1)
            for seed in range(5):
                out = _emu.neighbour(x, grid, block, sync=True, schedule=schedule, seed=seed)
                np.testing.assert_array_equal(out, _neighbour_reference(x, grid, block))
                stale = _emu.stale(grid, block, k % blocks, schedule=schedule, seed=seed)
                assert np.isnan(np.delete(stale.reshape(blocks, n), k % blocks, axis=0)).all()
        except Exception as e:  # reported below, from the main thread
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures
