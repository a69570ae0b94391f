"""Build information, thread control and ISA selection from the environment."""

import json
import os
import subprocess
import sys

import latentforge as lf


def _run(code: str, **env) -> str:
    full_env = dict(os.environ)
    full_env.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_build_info_fields():
    info = lf.build_info()
    for key in ("version", "compiler", "isa_compiled", "isa_selected", "openmp", "num_threads",
                "cuda_compiled", "cuda_devices"):
        assert key in info, key
    assert info["version"] == lf.__version__
    assert info["isa_selected"] in info["isa_compiled"]
    assert "scalar" in info["isa_compiled"]
    assert info["num_threads"] >= 1
    assert isinstance(info["cuda_compiled"], bool)


def test_omp_num_threads_is_respected():
    code = "import latentforge as lf, json; print(json.dumps(lf.build_info()))"
    info = json.loads(_run(code, OMP_NUM_THREADS="1"))
    assert info["num_threads"] == 1
    info = json.loads(_run(code, OMP_NUM_THREADS="3"))
    assert info["num_threads"] == 3


def test_latentforge_isa_env_forces_a_lower_path():
    code = "import latentforge as lf; print(lf.build_info()['isa_selected'])"
    assert _run(code, LATENTFORGE_ISA="scalar") == "scalar"
    detected = lf.build_info()["isa_detected"]
    if detected in ("avx2", "avx512"):
        assert _run(code, LATENTFORGE_ISA="avx2") == "avx2"
    # Asking for more than the CPU has gives the best available, not a crash.
    assert _run(code, LATENTFORGE_ISA="avx512") == detected


def test_threadpoolctl_sees_our_openmp():
    import threadpoolctl  # a test dependency (pip install .[test])

    info = threadpoolctl.threadpool_info()
    if lf.build_info()["openmp"]:
        assert any(d.get("user_api") == "openmp" for d in info), info
