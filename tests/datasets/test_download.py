"""lf.datasets download=True against a local HTTP server (no real data or network needed).

The server on 127.0.0.1 serves synthetic IDX files of MNIST's shapes; the published hashes
are replaced by theirs for the test, so the whole path runs: fetch with a progress line,
SHA-256 check, a corrupt mirror skipped, the atomic rename into the cache, and the load.
"""

import gzip
import hashlib
import http.server
import io
import struct
import threading

import numpy as np
import pytest

from latentforge import datasets

TRAIN = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(
        f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def files():
    """{stem: uncompressed IDX bytes} of a 60,000-image training split (compresses well)."""
    images = np.zeros((60000, 28, 28), np.uint8)
    images[:, 14, :] = np.arange(60000, dtype=np.int64)[:, None] % 251
    labels = (np.arange(60000) % 10).astype(np.uint8)
    return {TRAIN[0]: _idx(images), TRAIN[1]: _idx(labels)}


@pytest.fixture
def server(files):
    """An HTTP server with two mirrors: /bad/ serves corrupt content, /good/ the files."""
    gz = {stem: gzip.compress(data, compresslevel=1) for stem, data in files.items()}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            mirror, _, name = self.path.strip("/").partition("/")
            stem = name.removesuffix(".gz")
            if stem not in gz or mirror not in ("good", "bad"):
                self.send_error(404)
                return
            body = gz[stem] if mirror == "good" else gzip.compress(b"\0\0\x08\x01garbage")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def isolated(tmp_path, monkeypatch, files):
    """Nothing on disk (no LATENTFORGE_DATA, a cache inside tmp_path), and the synthetic
    files' hashes in place of the published ones."""
    monkeypatch.delenv("LATENTFORGE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    sha = {stem: hashlib.sha256(data).hexdigest() for stem, data in files.items()}
    monkeypatch.setitem(datasets._SHA256, "mnist", {**datasets._SHA256["mnist"], **sha})
    return tmp_path / "xdg" / "latentforge" / "mnist"


def test_download_verifies_shows_progress_and_loads(isolated, server, monkeypatch):
    url, hits = server
    monkeypatch.setitem(datasets._MIRRORS, "mnist", (f"{url}/bad/", f"{url}/good/"))
    log = io.StringIO()
    X, y = datasets.load_mnist(return_test=False, download=True, progress=log)
    assert X.shape == (60000, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(y, np.arange(60000) % 10)
    np.testing.assert_array_equal(X[:, 14 * 28 + 3] * 255, np.arange(60000) % 251)
    # the corrupt mirror was tried first for each file, then the good one
    assert hits == [f"/{m}/{s}.gz" for s in TRAIN for m in ("bad", "good")]
    text = log.getvalue()
    assert "failed" in text and "SHA-256" in text  # the bad mirror, named with its reason
    assert text.count("done, SHA-256 verified") == 2
    assert "100%" in text and "MB/s" in text
    # in the cache under the final names only: no temporary file left behind
    assert sorted(p.name for p in isolated.iterdir()) == sorted(s + ".gz" for s in TRAIN)
    # a second load finds the cache: no request
    hits.clear()
    X2, _ = datasets.load_mnist(return_test=False, download=True, progress=log)
    assert hits == [] and np.array_equal(X, X2)


def test_download_silent_with_progress_false(isolated, server, monkeypatch, capsys):
    url, _ = server
    monkeypatch.setitem(datasets._MIRRORS, "mnist", (f"{url}/good/",))
    datasets.load_mnist(return_test=False, download=True, progress=False)
    assert capsys.readouterr().err == ""


def test_download_every_mirror_bad(isolated, server, monkeypatch):
    url, _ = server
    monkeypatch.setitem(datasets._MIRRORS, "mnist", (f"{url}/bad/", f"{url}/missing/"))
    with pytest.raises(FileNotFoundError, match="download=True was given but failed") as info:
        datasets.load_mnist(return_test=False, download=True, progress=False)
    msg = str(info.value)
    assert f"{url}/bad/{TRAIN[0]}.gz" in msg and "404" in msg
    assert not isolated.exists() or list(isolated.iterdir()) == []


def test_interrupted_download_leaves_nothing(isolated, server, monkeypatch):
    """A KeyboardInterrupt in the middle of a file: no file under the final name, no
    temporary file."""
    url, _ = server
    monkeypatch.setitem(datasets._MIRRORS, "mnist", (f"{url}/good/",))

    def interrupt(self, n):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets._Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        datasets.load_mnist(return_test=False, download=True, progress=False)
    assert list(isolated.iterdir()) == []
