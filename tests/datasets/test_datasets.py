"""lf.datasets: MNIST / Fashion-MNIST loading, search order, SHA-256 checks, IDX parsing.

The real files come from $LATENTFORGE_DATA (tests/conftest.py points it at ../shared/data).
Without them these tests are skipped, naming the variable to set (the `real_data` fixture); CI
sets LATENTFORGE_REQUIRE_DATA=1, which makes a missing file a failure instead.
"""

import gzip
import hashlib
import os
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from latentforge import datasets
from latentforge.testing import PUBLISHED_4DP_ATOL

STEMS = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


pytestmark = pytest.mark.usefixtures("real_data")  # every test here reads the real files
# Where the real files are; the real_data fixture checks they exist before any test runs.
REAL = Path(os.environ.get("LATENTFORGE_DATA") or "LATENTFORGE_DATA-is-not-set")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No LATENTFORGE_DATA, and a cache (XDG and HOME) inside tmp_path: nothing is found
    unless the test puts it there."""
    monkeypatch.delenv("LATENTFORGE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _link_real(dst: Path, dataset: str = "mnist", skip=()) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for stem in STEMS:
        if stem not in skip:
            (dst / (stem + ".gz")).symlink_to(REAL / dataset / (stem + ".gz"))
    return dst


def _assert_mnist(train, test=None):
    X, y = train
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y, minlength=10), MNIST_TRAIN_COUNTS)
    if test is not None:
        Xt, yt = test
        assert Xt.shape == (10000, 784) and Xt.dtype == np.float32 and yt.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(yt, minlength=10), MNIST_TEST_COUNTS)


@pytest.fixture(scope="module")
def mnist():
    return datasets.load_mnist()


# ------------------------------------------------------------------------------------------
# Real data
# ------------------------------------------------------------------------------------------


def test_mnist_real(mnist):
    (X, y), (Xt, yt) = mnist
    _assert_mnist((X, y), (Xt, yt))
    assert X.min() == 0.0 and X.max() == 1.0 and Xt.min() == 0.0 and Xt.max() == 1.0
    assert abs(float(X.mean(dtype=np.float64)) - 0.1307) < PUBLISHED_4DP_ATOL
    assert abs(float(X.std(dtype=np.float64)) - 0.3081) < PUBLISHED_4DP_ATOL
    # exactly pixel / 255: every value is k/255 for an integer k
    k = X[:1000] * 255
    np.testing.assert_array_equal(k, np.round(k))
    assert X.flags.writeable and X.flags.c_contiguous


def test_fashion_mnist_real():
    (X, y), (Xt, yt) = datasets.load_fashion_mnist()
    assert X.shape == (60000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert Xt.shape == (10000, 784) and yt.shape == (10000,)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yt), [1000] * 10)
    assert abs(float(X.mean(dtype=np.float64)) - 0.2860) < PUBLISHED_4DP_ATOL
    assert len(datasets.FASHION_MNIST_CLASSES) == 10


def test_flatten_false_and_train_only(mnist):
    X, y = datasets.load_mnist(return_test=False, flatten=False)
    assert X.shape == (60000, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X.reshape(60000, 784), mnist[0][0])
    np.testing.assert_array_equal(y, mnist[0][1])


def test_repeated_load_uses_cached_verification(monkeypatch, mnist):
    # mnist fixture has loaded (and hashed) every file; a second load must not hash again.
    def boom(*a, **k):
        raise AssertionError("hashed again")

    monkeypatch.setattr(datasets.hashlib, "sha256", boom)
    (X, _), (Xt, _) = datasets.load_mnist()
    np.testing.assert_array_equal(X, mnist[0][0])
    # a fresh copy each time: mutating it does not affect the next load
    X[0, 0] = 7.0
    assert datasets.load_mnist(return_test=False)[0][0, 0] == mnist[0][0][0, 0]


# ------------------------------------------------------------------------------------------
# Where the files are found
# ------------------------------------------------------------------------------------------


def test_explicit_path_flat_layout(isolated):
    d = _link_real(isolated / "flat")
    _assert_mnist(*datasets.load_mnist(d))
    _assert_mnist(datasets.load_mnist(str(d), return_test=False))


def test_explicit_path_root_layout(isolated):
    _link_real(isolated / "root" / "mnist")
    _link_real(isolated / "root" / "fashion-mnist", "fashion-mnist")
    _assert_mnist(datasets.load_mnist(isolated / "root", return_test=False))
    X, y = datasets.load_fashion_mnist(isolated / "root", return_test=False)
    np.testing.assert_array_equal(np.bincount(y), [6000] * 10)


def test_env_var_both_layouts(isolated, monkeypatch):
    _link_real(isolated / "root" / "mnist")
    monkeypatch.setenv("LATENTFORGE_DATA", str(isolated / "root"))
    _assert_mnist(datasets.load_mnist(return_test=False))
    monkeypatch.setenv("LATENTFORGE_DATA", str(isolated / "root" / "mnist"))
    _assert_mnist(datasets.load_mnist(return_test=False))


def test_cache_dir(isolated, monkeypatch):
    assert datasets.get_cache_dir() == isolated / "xdg" / "latentforge"
    _link_real(isolated / "xdg" / "latentforge" / "mnist")
    _assert_mnist(datasets.load_mnist(return_test=False))
    # without XDG_CACHE_HOME (or with a relative one): ~/.cache/latentforge
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert datasets.get_cache_dir() == isolated / "home" / ".cache" / "latentforge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.get_cache_dir() == isolated / "home" / ".cache" / "latentforge"
    _link_real(isolated / "home" / ".cache" / "latentforge" / "mnist")
    _assert_mnist(datasets.load_mnist(return_test=False))


def _corrupt_labels(dst: Path, stem="t10k-labels-idx1-ubyte", raw=False) -> str:
    """Write a copy of the real labels file with one label byte changed; return its hash."""
    data = bytearray(gzip.decompress((REAL / "mnist" / (stem + ".gz")).read_bytes()))
    data[100] = (data[100] + 1) % 10
    dst.mkdir(parents=True, exist_ok=True)
    if raw:
        (dst / stem).write_bytes(bytes(data))
    else:
        (dst / (stem + ".gz")).write_bytes(gzip.compress(bytes(data)))
    return hashlib.sha256(bytes(data)).hexdigest()


def test_search_order_path_then_env_then_cache(isolated, monkeypatch):
    # env and cache each hold a corrupt copy: whichever is used first decides the outcome.
    env = _link_real(isolated / "env", skip=["t10k-labels-idx1-ubyte"])
    _corrupt_labels(env)
    cache = _link_real(isolated / "xdg" / "latentforge" / "mnist")
    monkeypatch.setenv("LATENTFORGE_DATA", str(env))
    good = _link_real(isolated / "good")
    _assert_mnist(*datasets.load_mnist(good))  # path beats a (corrupt) env
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.load_mnist()  # env beats the (good) cache
    monkeypatch.setenv("LATENTFORGE_DATA", str(isolated / "empty"))
    _assert_mnist(*datasets.load_mnist())  # env has nothing: the cache is used
    assert cache.is_dir()
    # an explicit path that holds nothing falls through to the next places
    _assert_mnist(*datasets.load_mnist(isolated / "nothing-here"))


def test_raw_uncompressed_files(isolated):
    d = isolated / "raw"
    d.mkdir()
    for stem in STEMS:
        (d / stem).write_bytes(gzip.decompress((REAL / "mnist" / (stem + ".gz")).read_bytes()))
    _assert_mnist(*datasets.load_mnist(d))
    # mixed: some raw, some gzipped
    (d / "t10k-images-idx3-ubyte").unlink()
    (d / "t10k-images-idx3-ubyte.gz").symlink_to(REAL / "mnist" / "t10k-images-idx3-ubyte.gz")
    _assert_mnist(*datasets.load_mnist(d))


# ------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [False, True])
def test_corrupted_file_refused(isolated, raw):
    d = _link_real(isolated / "bad", skip=["t10k-labels-idx1-ubyte"])
    actual = _corrupt_labels(d, raw=raw)
    name = "t10k-labels-idx1-ubyte" + ("" if raw else ".gz")
    expected = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    with pytest.raises(ValueError) as info:
        datasets.load_mnist(d)
    msg = str(info.value)
    assert str(d / name) in msg and expected in msg and actual in msg and "SHA-256" in msg


def test_raw_preferred_over_gz(isolated):
    # a good .gz next to a corrupt raw file: the raw one is read (and refused)
    d = _link_real(isolated / "both")
    _corrupt_labels(d, raw=True)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte failed its SHA-256"):
        datasets.load_mnist(d)


def test_wrong_dataset_hint(isolated):
    d = _link_real(isolated / "m")
    with pytest.raises(ValueError, match="this is MNIST's train-images-idx3-ubyte"):
        datasets.load_fashion_mnist(d)


def _idx(type_code, shape, payload: bytes) -> bytes:
    return struct.pack(f">HBB{len(shape)}I", 0, type_code, len(shape), *shape) + payload


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx(0x08, a.shape, a.tobytes()))
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "a"), a)
    b = np.array([-5, 1 << 20, 3], dtype=">i4")
    (tmp_path / "b.gz").write_bytes(gzip.compress(_idx(0x0C, b.shape, b.tobytes())))
    out = datasets.read_idx(tmp_path / "b.gz")
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [-5, 1 << 20, 3])
    real = datasets.read_idx(REAL / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert real.shape == (10000,) and real.dtype == np.uint8


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x00", "shorter than the 4-byte magic"),
        (b"\x12\x34\x08\x01" + b"\x00" * 8, "does not start with two zero bytes"),
        (b"\x00\x00\x42\x01\x00\x00\x00\x01\x00", "unknown element type code 0x42"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", "truncated header, 3 dimensions need 16"),
        (_idx(0x08, (10,), b"\x01" * 9), r"truncated\): header says shape \(10,\)"),
        (_idx(0x08, (10,), b"\x01" * 11), "trailing bytes"),
    ],
)
def test_read_idx_malformed(tmp_path, content, message):
    f = tmp_path / "bad-idx"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        datasets.read_idx(f)
    assert str(f) in str(info.value) and "malformed IDX" in str(info.value)


def test_malformed_file_in_loader(isolated):
    d = _link_real(isolated / "trunc", skip=["t10k-labels-idx1-ubyte"])
    raw = gzip.decompress((REAL / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:6]))  # cut in the header
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: malformed IDX file: trunc"):
        datasets.load_mnist(d)
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(raw)  # raw bytes under a .gz name
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: not a valid gzip file"):
        datasets.load_mnist(d)


def test_nothing_found_lists_every_place(isolated, monkeypatch):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_mnist(isolated / "p")
    msg = str(info.value)
    cache = isolated / "xdg" / "latentforge" / "mnist"
    for place in (isolated / "p" / "mnist", isolated / "p", cache):
        assert f"- {place} (" in msg
    assert "$LATENTFORGE_DATA: not set" in msg
    for stem in STEMS:
        assert stem + ".gz" in msg
    assert "download=True" in msg and "path=" in msg and "LATENTFORGE_DATA" in msg

    # with LATENTFORGE_DATA set, and a directory holding only some of the files
    partial = _link_real(isolated / "env" / "fashion-mnist", "fashion-mnist", skip=STEMS[2:])
    monkeypatch.setenv("LATENTFORGE_DATA", str(isolated / "env"))
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist()
    msg = str(info.value)
    assert "Fashion-MNIST files not found" in msg
    assert f"- {partial} ($LATENTFORGE_DATA): missing t10k-images-idx3-ubyte[.gz]" in msg
    assert f"- {isolated / 'env'} ($LATENTFORGE_DATA): none of the files" in msg
    assert f"- {isolated / 'xdg' / 'latentforge' / 'fashion-mnist'} (cache): does not" in msg
    assert str(isolated / "p") not in msg
    # ... but the training files alone are enough for return_test=False
    X, y = datasets.load_fashion_mnist(return_test=False)
    assert X.shape == (60000, 784)


def test_download_failure_is_reported(isolated, monkeypatch):
    """No network here: only the failure path of download=True is tested."""
    urls = []

    def offline(url, timeout=None):
        urls.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match="download=True was given but failed") as info:
        datasets.load_mnist(download=True)
    assert "no network in tests" in str(info.value)
    assert urls and all(u.endswith("train-images-idx3-ubyte.gz") for u in urls)
    cache = isolated / "xdg" / "latentforge" / "mnist"
    assert list(cache.iterdir()) == []  # no partial file left behind
    # default: no download attempted at all
    with pytest.raises(FileNotFoundError):
        datasets.load_mnist()
    assert len(urls) == len(datasets._MIRRORS["mnist"])
