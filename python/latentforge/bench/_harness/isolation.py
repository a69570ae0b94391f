"""Subprocess isolation: run a benchmark function in a fresh interpreter.

Some settings take effect only when a library loads (``OPENBLAS_CORETYPE`` picks OpenBLAS's
kernel when numpy is imported), so comparing against them needs another process.
:func:`run_isolated` starts ``sys.executable``, makes it import the very latentforge this
process runs (the parent's package directory goes first on ``sys.path``), calls a
``"module:function"`` with a JSON spec read from stdin and returns the JSON the function
returned, written on stdout. The child's stderr (progress lines) is forwarded live.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from latentforge.bench._harness.isolation import _worker_main; sys.exit(_worker_main())"
)


def package_parent() -> str:
    """The directory that holds the ``latentforge`` package this process imported."""
    import latentforge

    return os.path.dirname(os.path.dirname(os.path.abspath(latentforge.__file__)))


def run_isolated(
    target: str,
    spec: Mapping[str, Any],
    *,
    unset_env: Iterable[str] = (),
    set_env: Mapping[str, str] | None = None,
    progress: Any = None,
) -> Any:
    """Call ``target`` (``"package.module:function"``) with ``spec`` in a fresh interpreter.

    The child's environment is this process's, minus ``unset_env``, plus ``set_env``. The
    function takes the spec (a JSON object) and returns a JSON-serialisable value, which is
    returned here. Its stderr lines go to ``progress`` as they come (``None`` drops them).
    Raises ``RuntimeError`` (with the last stderr lines) when the child fails.
    """
    env = dict(os.environ)
    for k in unset_env:
        env.pop(k, None)
    env.update(set_env or {})
    payload = json.dumps({"target": target, "spec": dict(spec)})
    cmd = [sys.executable, "-c", _BOOT, package_parent()]
    stdout_chunks: list[str] = []
    tail: list[str] = []
    with subprocess.Popen(
        cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        # stdout is read on a thread while stderr (progress) is forwarded live: no pipe deadlock.
        reader = threading.Thread(
            target=lambda: stdout_chunks.append(proc.stdout.read()), daemon=True
        )
        reader.start()
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
            for line in proc.stderr:
                tail = (tail + [line.rstrip("\n")])[-20:]
                if progress is not None:
                    progress.write(line)
                    progress.flush()
            rc = proc.wait()
            reader.join()
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = [ln for ln in "".join(stdout_chunks).splitlines() if ln.strip()]
    if rc != 0 or not lines:
        raise RuntimeError(f"{target} subprocess exited with {rc}: " + " | ".join(tail[-5:]))
    return json.loads(lines[-1])


def describe_child(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A target for checking the isolation itself: the child's values of the environment
    variables ``spec["keys"]`` and the latentforge it imported (a line on stderr too)."""
    import latentforge

    sys.stderr.write("describe_child: running\n")
    return {
        "env": {k: os.environ.get(k) for k in spec.get("keys", ())},
        "latentforge_file": os.path.abspath(latentforge.__file__),
    }


def _worker_main() -> int:
    """Entry of the child: ``{"target", "spec"}`` on stdin, the function's JSON on stdout."""
    request = json.loads(sys.stdin.read())
    module, _, name = request["target"].partition(":")
    fn = getattr(importlib.import_module(module), name)
    result = fn(request["spec"])
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return 0
