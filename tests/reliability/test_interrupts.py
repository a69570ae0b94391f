"""Ctrl-C: KeyboardInterrupt within a second, in long native calls (which poll for it between
blocks of work), in short ones (between calls), and in every ``fit``, which then leaves the
estimator as it was before the call (unfitted, or with its previous fit).

Each case runs in a child process that prints "ready" when the work starts; the test sends it
SIGINT and measures how long it takes to report the KeyboardInterrupt.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The child handles Ctrl-C as an interactive Python does, whatever its parent ignores: a shell
# starts background jobs (a CI runner's, say) with SIGINT ignored, and children inherit that.
PRELUDE = textwrap.dedent("""
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import sys, threading, time
    import numpy as np
    import latentforge as lf
    from latentforge import _C

    def ready():
        print("ready", flush=True)

    def attempt(work):
        # Run work(); print whether it finished or was interrupted.
        try:
            work()
            print("finished")
        except KeyboardInterrupt:
            print("interrupted")
""")
FITTED = textwrap.dedent("""
    def fitted_attrs(m):
        return sorted(k for k in vars(m) if k.endswith("_") and not k.startswith("__"))
""")
# Seconds from SIGINT to the child's report: the issue asks for "within a second".
LATENCY_S = 1.0


def interrupt(body: str, delay: float = 0.3, timeout: float = 120.0) -> tuple[list[str], float]:
    """Run PRELUDE + body in a child; once it prints "ready", wait ``delay`` s and send SIGINT.
    Returns the lines it printed after "ready" and the seconds from SIGINT to its exit."""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE + FITTED + textwrap.dedent(body)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", (line, proc.stderr.read())
        time.sleep(delay)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
        latency = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return out.split(), latency


def test_long_knn_stops_within_a_second_and_the_next_call_is_right():
    lines, latency = interrupt("""
        X = np.random.default_rng(0).random((70000, 50), dtype=np.float32)
        small = X[:300].copy()
        ready()
        attempt(lambda: _C.knn(X, 90))
        # the flag is cleared: a later call runs to the end and is right
        idx, _ = _C.knn(small, 5)
        ref, _ = _C.knn_naive(small, 5)
        print("next-call-right" if np.array_equal(idx, ref) else "next-call-WRONG")
    """)
    assert lines == ["interrupted", "next-call-right"]
    assert latency < LATENCY_S


def test_large_gemm_stops_within_a_second():
    lines, latency = interrupt("""
        A = np.random.default_rng(0).random((6000, 6000), dtype=np.float32)
        ready()
        attempt(lambda: lf.ops.gemm(A, A))
        B = A[:64, :64].copy()
        ok = np.allclose(lf.ops.gemm(B, B), B.astype(np.float64) @ B, rtol=1e-4)
        print("next-call-right" if ok else "next-call-WRONG")
    """)
    assert lines == ["interrupted", "next-call-right"]
    assert latency < LATENCY_S


def test_short_native_calls_in_a_loop():
    """Short calls do not install a handler: Python's own raises between two calls."""
    lines, latency = interrupt("""
        A = np.random.default_rng(0).random((64, 64), dtype=np.float32)
        ready()
        try:
            while True:
                lf.ops.gemm(A, A)
        except KeyboardInterrupt:
            print("interrupted")
    """)
    assert lines == ["interrupted"]
    assert latency < LATENCY_S


def test_a_kernel_on_another_thread_is_not_cut_short():
    """SIGINT goes to Python's main thread; a GEMM running on a worker thread at that moment
    must finish with the right result, not return an incomplete output."""
    lines, _ = interrupt("""
        A = np.random.default_rng(0).random((3000, 3000), dtype=np.float32)
        out, done = {}, threading.Event()
        def work():
            out["C"] = lf.ops.gemm(A, A)
            done.set()
        threading.Thread(target=work).start()
        ready()
        try:
            time.sleep(30)  # (not join: an interrupted join may leave the thread looking done)
        except KeyboardInterrupt:
            print("main-interrupted")
        done.wait()
        C = out["C"]
        rows = [0, 1499, 2999]
        ref = A[rows].astype(np.float64) @ A
        print("worker-right" if np.allclose(C[rows], ref, rtol=1e-4) else "worker-WRONG")
    """, delay=0.05)
    assert lines == ["main-interrupted", "worker-right"]


def test_interrupted_first_fit_leaves_the_model_unfitted():
    lines, latency = interrupt("""
        rng = np.random.default_rng(0)
        X = rng.random((20000, 100), dtype=np.float32)
        y = rng.integers(0, 10, len(X))
        clf = lf.models.MLPClassifier(hidden=(256,), max_epochs=10000, early_stopping=False)
        ready()
        attempt(lambda: clf.fit(X, y))
        print("fitted:" + ",".join(fitted_attrs(clf)))
        try:
            clf.predict(X[:5])
            print("predict-worked")
        except AttributeError:
            print("predict-refused")
    """, delay=1.5)
    assert lines == ["interrupted", "fitted:", "predict-refused"]
    assert latency < LATENCY_S


def test_interrupted_refit_keeps_the_previous_fit():
    lines, latency = interrupt("""
        rng = np.random.default_rng(0)
        X = rng.random((20000, 100), dtype=np.float32)
        y = rng.integers(0, 10, len(X))
        clf = lf.models.MLPClassifier(hidden=(32,), max_epochs=2, random_state=0).fit(X[:500],
                                                                                 y[:500])
        before, attrs = clf.predict_proba(X[:50]), fitted_attrs(clf)
        clf.set_params(hidden=(256,), max_epochs=10000, early_stopping=False)
        ready()
        attempt(lambda: clf.fit(X, y))
        clf.set_params(hidden=(32,), max_epochs=2, early_stopping=True)
        same = np.array_equal(clf.predict_proba(X[:50]), before) and fitted_attrs(clf) == attrs
        print("previous-fit-kept" if same else "previous-fit-LOST")
    """, delay=1.5)
    assert lines == ["interrupted", "previous-fit-kept"]
    assert latency < LATENCY_S


def test_interrupted_tsne_leaves_no_fitted_attribute():
    lines, latency = interrupt("""
        X = np.random.default_rng(0).random((5000, 20), dtype=np.float32)
        tsne = lf.models.TSNE(max_iter=100000, random_state=0)
        ready()
        attempt(lambda: tsne.fit(X))
        print("fitted:" + ",".join(fitted_attrs(tsne)))
    """, delay=2.0)
    assert lines == ["interrupted", "fitted:"]
    assert latency < LATENCY_S
