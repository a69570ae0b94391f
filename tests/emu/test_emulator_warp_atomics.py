"""The CUDA emulator's atomics, warp primitives and dynamic shared memory, proven.

The kernels are in csrc/emu/warp_atomic_kernels.cuh and run through the test-only module
``latentforge._emu``. Correct kernels must give the exact serial answer under every schedule
(the concurrent one with many OS threads at once); each misuse the emulator claims to catch
(cuda_emu.h's header comment) must raise RuntimeError naming it, in every schedule, and leave
the next launch unharmed.
"""

import numpy as np
import pytest

from latentforge import _emu

DETERMINISTIC = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("shuffled", 2)]
EVERY = [("concurrent", 0), *DETERMINISTIC]
# Blocks of whole warps: 1-D, and 2-D / 3-D ones whose warps span several rows.
WARP_GRIDS = [((3, 1, 1), (64, 1, 1)), ((2, 1, 1), (16, 4, 1)), ((1, 2, 1), (8, 2, 4))]
# Any block size: partial last warps (40 = 32 + 8, 48 = 32 + 16, 7).
ANY_GRIDS = [*WARP_GRIDS, ((2, 1, 1), (40, 1, 1)), ((1, 1, 2), (16, 3, 1)), ((3, 1, 1), (7, 1, 1))]


def _ids(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _grid_ids(cases):
    return ["g{}b{}".format(*("x".join(map(str, d)) for d in case)) for case in cases]


def _sizes(grid, block):
    return int(np.prod(grid)), int(np.prod(block))  # blocks, threads per block


def _warps(a, grid, block):
    """Per-thread values -> a list of per-warp arrays (blocks in order, warps of 32 in a block)."""
    blocks, n = _sizes(grid, block)
    a = np.asarray(a).reshape(blocks, n, *np.shape(a)[1:])
    return [a[b, w : w + 32] for b in range(blocks) for w in range(0, n, 32)]


# ---- atomics ----

ATOMIC_GRIDS = [((4, 1, 1), (256, 1, 1)), ((1, 1, 1), (1024, 1, 1)), ((3, 2, 1), (5, 3, 2))]


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", ATOMIC_GRIDS, ids=_grid_ids(ATOMIC_GRIDS))
def test_atomic_add_sums_are_exact(run, grid, block):
    blocks, n = _sizes(grid, block)
    rng = np.random.default_rng(blocks * 7 + n)
    xi = rng.integers(-1000, 1000, blocks * n).astype(np.int32)
    xf = (xi / 4).astype(np.float32)  # quarters: every partial sum is exact in float32
    r = _emu.atomic_sums(xf, xi, grid, block, schedule=run[0], seed=run[1])
    assert r["total_i"] == xi.sum()
    assert r["total_u"] == int(xi.astype(np.uint32).sum(dtype=np.uint64) % 2**32)
    assert r["total_f"] == xf.astype(np.float64).sum()
    np.testing.assert_array_equal(r["block_i"], xi.reshape(blocks, n).sum(axis=1))
    np.testing.assert_array_equal(r["block_f"], xf.reshape(blocks, n).astype(np.float64).sum(1))
    # atomicAdd returns the old value: every ticket is handed out exactly once.
    total = blocks * n
    assert r["counter_i"] == total and r["counter_u"] == total and r["counter_f"] == total
    for key in ("tickets_i", "tickets_u", "tickets_f"):
        np.testing.assert_array_equal(np.sort(r[key]), np.arange(total), err_msg=key)


@pytest.mark.parametrize("run", EVERY, ids=_ids)
def test_atomic_max_and_min(run):
    grid, block = (3, 1, 1), (128, 1, 1)
    x = np.random.default_rng(5).integers(-(2**31), 2**31 - 1, 384).astype(np.int32)
    hi, lo, old_max = _emu.atomic_minmax(x, grid, block, schedule=run[0], seed=run[1])
    assert (hi, lo) == (x.max(), x.min())
    # The old value: never above the final maximum, INT_MIN for exactly one thread (the first).
    assert (old_max <= hi).all()
    assert (old_max == np.iinfo(np.int32).min).sum() == 1


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", [((2, 1, 1), (128, 1, 1)), ((1, 1, 1), (30, 1, 1))])
def test_atomic_cas_spin_lock_and_claims(run, grid, block):
    blocks, n = _sizes(grid, block)
    iters = 3
    counter, slots, claimed_old = _emu.spin_lock(grid, block, iters, schedule=run[0], seed=run[1])
    # The plain counter is exact only if the lock excluded every other thread.
    assert counter == blocks * n * iters
    # Slot s is claimed by thread 2s or 2s + 1 (value i + 1); the winner saw 0, the loser the
    # winner's value.
    claimed_old = claimed_old.reshape(-1, 2)
    assert np.isin(slots, [2 * np.arange(len(slots)) + 1, 2 * np.arange(len(slots)) + 2]).all()
    assert ((claimed_old == 0).sum(axis=1) == 1).all()
    np.testing.assert_array_equal(claimed_old.max(axis=1), slots)


@pytest.mark.parametrize("run", EVERY, ids=_ids)
def test_misaligned_atomic_raises(run):
    with pytest.raises(RuntimeError, match="atomic operation on a misaligned address"):
        _emu.misaligned_atomic(schedule=run[0], seed=run[1])


# ---- warp primitives ----


def _lockstep_shuffle_sum(v, op):
    """The warp's lanes in lockstep: v += shuffle(v, offset) for offset 16, 8, ..., 1 (float32)."""
    v = v.copy()
    lanes = np.arange(32)
    for offset in (16, 8, 4, 2, 1):
        if op == "down":
            src = np.where(lanes + offset <= 31, lanes + offset, lanes)
        else:
            src = lanes ^ offset
        v = v + v[src]
    return v


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", WARP_GRIDS, ids=_grid_ids(WARP_GRIDS))
def test_warp_sums(run, grid, block):
    blocks, n = _sizes(grid, block)
    rng = np.random.default_rng(blocks + n)
    x = rng.standard_normal(blocks * n).astype(np.float32)
    xi = rng.integers(-(10**6), 10**6, blocks * n).astype(np.int32)
    down = _emu.warp_sum(x, xi, grid, block, 0, schedule=run[0], seed=run[1])
    butterfly = _emu.warp_sum(x, xi, grid, block, 1, schedule=run[0], seed=run[1])
    down_i = _emu.warp_sum(x, xi, grid, block, 2, schedule=run[0], seed=run[1])
    for xw, dw, bw, iw, xiw in zip(
        *(_warps(a, grid, block) for a in (x, down, butterfly, down_i, xi)), strict=True
    ):
        # Every lane's value is what lockstep execution gives, bit for bit; lane 0's (down) and
        # every lane's (butterfly) is the warp's sum.
        np.testing.assert_array_equal(dw, _lockstep_shuffle_sum(xw, "down"))
        np.testing.assert_array_equal(bw, _lockstep_shuffle_sum(xw, "xor"))
        np.testing.assert_allclose(dw[0], xw.astype(np.float64).sum(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bw, xw.astype(np.float64).sum(), rtol=1e-5, atol=1e-5)
        assert iw[0] == xiw.sum()


BLOCK_SUM_GRIDS = [((3, 1, 1), (1024, 1, 1)), ((2, 1, 1), (96, 1, 1)), ((2, 1, 1), (8, 2, 2))]


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", BLOCK_SUM_GRIDS, ids=_grid_ids(BLOCK_SUM_GRIDS))
def test_block_sum_by_shuffles_and_barriers(run, grid, block):
    # Warp primitives and __syncthreads() interleaved over several rounds in one block.
    blocks, n = _sizes(grid, block)
    x = (np.arange(blocks * n) % 29 - 14).astype(np.float32)  # small integers: exact sums
    out = _emu.block_sum(x, grid, block, 3, schedule=run[0], seed=run[1])
    np.testing.assert_array_equal(out, 6 * x.reshape(blocks, n).sum(axis=1))


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", ANY_GRIDS, ids=_grid_ids(ANY_GRIDS))
def test_votes(run, grid, block):
    blocks, n = _sizes(grid, block)
    rng = np.random.default_rng(n)
    pred = rng.choice(np.array([0, 0, 1, -3, 7], np.int32), blocks * n)
    pred[: min(32, n)] = 5  # one warp (or whole block) all true: __all_sync must say so
    votes = _emu.vote(pred, grid, block, schedule=run[0], seed=run[1])
    for pw, vw in zip(_warps(pred, grid, block), _warps(votes, grid, block), strict=True):
        bits = sum(1 << k for k in range(len(pw)) if pw[k] != 0)
        np.testing.assert_array_equal(vw[:, 0], bits)
        np.testing.assert_array_equal(vw[:, 1], int((pw != 0).all()))
        np.testing.assert_array_equal(vw[:, 2], int((pw != 0).any()))


def _shuffle_ref(v, op, b, width):
    """CUDA's documented shuffle on one warp of 32 lanes: width-lane segments; idx reads
    srcLane modulo width within the segment; up/down/xor read lane -delta/+delta/^laneMask, and
    a lane whose source falls before its segment (up) or after it (down, xor) keeps its value."""
    out = np.empty_like(v)
    for lane in range(32):
        start = lane - lane % width
        end = start + width - 1
        if op == "idx":
            src = start + (b % width)
        elif op == "up":
            src = lane - b if lane - b >= start else lane
        elif op == "down":
            src = lane + b if lane + b <= end else lane
        else:
            src = lane ^ b if (lane ^ b) <= end else lane
        out[lane] = v[src]
    return out


SHUFFLES = [
    # (width, srcLane, delta, laneMask)
    (32, 0, 1, 1),
    (32, 37, 5, 31),  # srcLane 37: lane 5
    (16, 3, 3, 6),
    (16, -1, 8, 17),  # laneMask 17 reaches the next 16-lane segment: its own value
    (8, 10, 7, 2),
    (4, 1, 2, 3),
    (2, 1, 1, 1),
    (1, 0, 1, 1),
]


@pytest.mark.parametrize("run", [("concurrent", 0), ("forward", 0), ("shuffled", 3)], ids=_ids)
@pytest.mark.parametrize("width,src,delta,lane_mask", SHUFFLES)
def test_shuffles(run, width, src, delta, lane_mask):
    grid, block = (2, 1, 1), (16, 4, 1)
    blocks, n = _sizes(grid, block)
    rng = np.random.default_rng(width * 100 + delta)
    xf = rng.standard_normal(blocks * n).astype(np.float32)
    xi = rng.integers(-(2**31), 2**31 - 1, blocks * n).astype(np.int32)
    out_f, out_i = _emu.shuffle(
        xf, xi, grid, block, src, delta, lane_mask, width, schedule=run[0], seed=run[1]
    )
    args = {"idx": src & 31, "up": delta, "down": delta, "xor": lane_mask}
    for x, out in ((xf, out_f), (xi, out_i)):
        for xw, ow in zip(_warps(x, grid, block), _warps(out, grid, block), strict=True):
            for k, op in enumerate(("idx", "up", "down", "xor")):
                np.testing.assert_array_equal(ow[:, k], _shuffle_ref(xw, op, args[op], width), op)


@pytest.mark.parametrize("run", EVERY, ids=_ids)
def test_syncwarp_orders_shared_memory(run):
    grid, block = (2, 1, 1), (64, 1, 1)
    blocks, n = _sizes(grid, block)
    x = np.arange(blocks * n, dtype=np.float32) % 13
    out = _emu.warp_shared_sum(x, grid, block, True, schedule=run[0], seed=run[1])
    for xw, ow in zip(_warps(x, grid, block), _warps(out, grid, block), strict=True):
        assert ow[0] == xw.sum()


def test_warp_synchronous_code_without_syncwarp_fails():
    # Lanes are not in lockstep (as on Volta and later): lane 0 runs its whole reduction before
    # lane 16 wrote its slot and reads the poison.
    grid, block = (2, 1, 1), (64, 1, 1)
    x = np.arange(128, dtype=np.float32) % 13
    out = _emu.warp_shared_sum(x, grid, block, False, schedule="forward")
    assert all(np.isnan(ow[0]) for ow in _warps(out, grid, block))


MISUSE = [
    # (mode, block, message)
    (1, (64, 1, 1), r"__shfl_sync\(\) at .*: lane 5 of its mask 0xffffffff has returned"),
    (2, (32, 1, 1), r"lane 5 of its mask 0xffffffff waits at __syncthreads\(\) at .*:\d+"),
    (3, (64, 1, 1), r"waits at a different call, __shfl_sync\(\) at .*:\d+:\d+, whose mask"),
    (4, (32, 1, 1), r"lane (1[6-9]|2\d|3[01]): the calling lane is not in its own mask 0x0000ffff"),
    (5, (32, 1, 1), r"__shfl_down_sync\(\) .*: reads lane (1[6-9]|2[0-3]), which is not in the"),
    (6, (32, 1, 1), r"__syncwarp\(\) .*the mask is inconsistent across the lanes"),
    (7, (40, 1, 1), r"names lanes that do not exist: warp 1 of a block of 40 threads has only 8"),
    (8, (32, 1, 1), r"width 12 is not a power of two"),
    (9, (32, 1, 1), r"waits at a different call, __syncwarp\(\) .*no lane of the warp can go on"),
]


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("mode,block,message", MISUSE, ids=[f"mode{m[0]}" for m in MISUSE])
def test_warp_misuse_raises(run, mode, block, message):
    grid = (2, 1, 1)
    with pytest.raises(RuntimeError, match=message):
        _emu.warp_misuse(grid, block, mode, schedule=run[0], seed=run[1])
    # The failed launch left nothing behind: the next one runs normally.
    np.testing.assert_array_equal(_emu.warp_misuse(grid, (64, 1, 1), 0, run[0], run[1]), 1)


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("block", [(32, 1, 1), (96, 1, 1), (16, 2, 3)])
def test_correct_warp_code_passes(run, block):
    for mode in (0, 10):  # a full-warp shuffle; two half-warp groups at one call
        out = _emu.warp_misuse((2, 1, 1), block, mode, schedule=run[0], seed=run[1])
        np.testing.assert_array_equal(out, 1)


# ---- dynamic shared memory ----

DYN_GRIDS = [((3, 1, 1), (64, 1, 1)), ((2, 2, 1), (5, 3, 1))]


def _neighbour_reference(x, grid, block):
    blocks, n = _sizes(grid, block)
    return np.roll(x.reshape(blocks, n), -1, axis=1).ravel()


@pytest.mark.parametrize("run", EVERY, ids=_ids)
@pytest.mark.parametrize("grid,block", DYN_GRIDS, ids=_grid_ids(DYN_GRIDS))
def test_dynamic_shared_memory_scratch(run, grid, block):
    blocks, n = _sizes(grid, block)
    x = np.arange(blocks * n, dtype=np.float32) + 1
    for nbytes in (4 * n, 4 * n + 100):
        out = _emu.dynamic_neighbour(x, grid, block, -1, nbytes, schedule=run[0], seed=run[1])
        np.testing.assert_array_equal(out, _neighbour_reference(x, grid, block))
    # Poisoned at the start of every block: only the writer's block sees data, never the others.
    for writer in (0, blocks - 1):
        out = _emu.dynamic_neighbour(x, grid, block, writer, 4 * n, run[0], run[1])
        out = out.reshape(blocks, n)
        np.testing.assert_array_equal(
            out[writer], _neighbour_reference(x, grid, block)[writer * n : (writer + 1) * n]
        )
        assert np.isnan(np.delete(out, writer, axis=0)).all()


@pytest.mark.parametrize("run", EVERY, ids=_ids)
def test_dynamic_shared_memory_misuse_raises(run):
    grid, block = (2, 1, 1), (64, 1, 1)
    x = np.zeros(128, np.float32)
    with pytest.raises(
        RuntimeError,
        match=r"index \d+ out of bounds of dynamic shared memory `buf`"
        r": the launch gave 0 bytes",
    ):
        _emu.dynamic_neighbour(x, grid, block, -1, 0, schedule=run[0], seed=run[1])
    with pytest.raises(RuntimeError, match=r"index 63 out of bounds .*gave 252 bytes, 63 elements"):
        _emu.dynamic_neighbour(x, grid, block, -1, 252, schedule=run[0], seed=run[1])
    with pytest.raises(RuntimeError, match=r"invalid configuration argument \(49153 bytes of dyn"):
        _emu.dynamic_neighbour(x, grid, block, -1, 49153, schedule=run[0], seed=run[1])
    # 32 KiB static + 16 KiB dynamic is the limit; one byte more fails.
    np.testing.assert_array_equal(_emu.static_and_dynamic(64, 16384, run[0], run[1]), 3)
    with pytest.raises(
        RuntimeError,
        match="32768 bytes of static shared memory and the launch 16385 bytes of dynamic shared "
        "memory, 49153 bytes in all, more than the 48 KiB limit",
    ):
        _emu.static_and_dynamic(64, 16385, schedule=run[0], seed=run[1])
    out = _emu.dynamic_neighbour(np.arange(128, dtype=np.float32), grid, block, -1, 256, *run)
    np.testing.assert_array_equal(out, _neighbour_reference(np.arange(128.0), grid, block))
