"""latentforge, scikit-learn and PyTorch in one process: each brings an OpenMP runtime (or
shares one), and work interleaved between them must neither crash nor give wrong results, and
threadpoolctl must see latentforge's runtime and limit all of them at once.

Runs in a child process (the libraries' load order decides which libgomp copies are loaded, so
it must start clean), once per import order. Measured on the dev machine (Linux, GCC build,
torch 2.x CPU wheel, scikit-learn 1.9 wheel): threadpoolctl sees 2 OpenMP runtimes in either
order -- scikit-learn's vendored libgomp, and one libgomp.so.1 shared by latentforge and torch
(the system's when latentforge is imported first, torch's bundled copy when torch is: the
dynamic loader reuses the library already loaded under that soname).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import latentforge as lf

_MISSING = [m for m in ("sklearn", "torch", "threadpoolctl") if importlib.util.find_spec(m) is None]

pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"needs {', '.join(_MISSING)} (scikit-learn and "
                       "threadpoolctl come with the 'test' extra, torch with 'bench')"),
    pytest.mark.skipif(not lf.build_info()["openmp"],
                       reason="built without OpenMP (LATENTFORGE_OPENMP=OFF)"),
]

_CHILD = r'''
import json, os, sys

for name in sys.argv[1].split(","):
    __import__(name)

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_info, threadpool_limits

import latentforge as lf

X, y = make_blobs(n_samples=600, centers=4, n_features=8, cluster_std=0.5, random_state=0)
X32 = X.astype(np.float32)
rng = np.random.default_rng(0)
A = rng.standard_normal((300, 200)).astype(np.float32)
B = rng.standard_normal((200, 100)).astype(np.float32)
ref = A.astype(np.float64) @ B.astype(np.float64)
tol = 1e-4 * np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)


def one_round(seed):
    # latentforge: a GEMM against float64, then an MLP fit (its GEMMs and optimizer steps).
    C = lf.ops.gemm(A, B)
    assert np.all(np.abs(C - ref) <= tol), "latentforge gemm is wrong"
    mlp = lf.models.MLPClassifier(hidden=(32,), max_epochs=2, random_state=seed).fit(X32, y)
    assert mlp.score(X32, y) > 0.95, mlp.score(X32, y)
    # scikit-learn's OpenMP code: k-means (Lloyd iterations run in an OpenMP prange).
    # (HistGradientBoosting would do too, but its libgomp spin-waits make it take 20-40 s on
    # an oversubscribed 2-core machine, against 1 s on one thread, with or without us.)
    km = KMeans(n_clusters=4, n_init=1, random_state=seed).fit(X)
    assert adjusted_rand_score(y, km.labels_) == 1.0
    # torch's intra-op threads.
    T = (torch.from_numpy(A) @ torch.from_numpy(B)).numpy()
    assert np.all(np.abs(T - ref) <= tol), "torch matmul is wrong"


for seed in range(3):
    one_round(seed)

# Find latentforge's runtime: give it a thread count no other library has.
mine = (os.cpu_count() or 1) + 3
lf.set_num_threads(mine)
info = threadpool_info()
openmp = [d for d in info if d["user_api"] == "openmp"]
ours = [d["filepath"] for d in openmp if d["num_threads"] == mine]
assert ours, f"threadpoolctl does not see latentforge's OpenMP runtime: {openmp}"

with threadpool_limits(1):
    limited = {d["filepath"]: d["num_threads"] for d in threadpool_info()}
    assert set(limited.values()) == {1}, limited
    assert lf.get_num_threads() == 1, lf.get_num_threads()
    assert torch.get_num_threads() == 1, torch.get_num_threads()
    one_round(3)  # still right on one thread each
assert lf.get_num_threads() == mine, "threadpoolctl did not restore latentforge's count"
lf.set_num_threads(0)

print(json.dumps({"openmp": [d["filepath"] for d in openmp], "latentforge": ours}))
'''


@pytest.mark.parametrize("order", ["latentforge,sklearn,torch", "torch,sklearn,latentforge"])
def test_latentforge_sklearn_torch_share_a_process(order):
    env_note = f"import order {order}"
    proc = subprocess.run([sys.executable, "-c", _CHILD, order], capture_output=True, text=True,
                          timeout=600)
    # A crash of a runtime (two OpenMP runtimes fighting) shows as a signal: returncode < 0.
    assert proc.returncode == 0, f"{env_note}: exit {proc.returncode}\n{proc.stderr[-4000:]}"
    assert "OMP: Error" not in proc.stderr, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 1 <= len(report["openmp"]) and set(report["latentforge"]) <= set(report["openmp"])
    print(f"{env_note}: {len(report['openmp'])} OpenMP runtimes {report['openmp']}; "
          f"latentforge's: {report['latentforge']}")
