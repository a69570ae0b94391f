"""Real datasets, offline: MNIST and Fashion-MNIST read from their IDX files.

>>> from latentforge import datasets
>>> (X_train, y_train), (X_test, y_test) = datasets.load_mnist()      # doctest: +SKIP
>>> X_train.shape, X_train.dtype, y_train.dtype                        # doctest: +SKIP
((60000, 784), dtype('float32'), dtype('int64'))

Where the files are looked for, in this order (the first directory that holds every needed
file wins; each file may be gzipped, ``train-images-idx3-ubyte.gz``, or raw,
``train-images-idx3-ubyte``, and the raw one is preferred when both exist):

1. ``path=``, if given: ``<path>/<dataset>/`` then ``<path>/`` itself, so ``path`` may be a
   dataset root holding ``mnist/`` and ``fashion-mnist/`` or the directory of the four files;
2. ``$LATENTFORGE_DATA`` (one directory), with the same two layouts;
3. the per-user cache ``<cache>/<dataset>/``, where ``<cache>`` is
   ``$XDG_CACHE_HOME/latentforge`` or ``~/.cache/latentforge`` (see :func:`get_cache_dir`).

``<dataset>`` is ``mnist`` or ``fashion-mnist``. Whatever the source, the SHA-256 of each
*uncompressed* file is checked against the published one and a mismatch raises ``ValueError``
naming the file and both hashes; it does not fall through to the next place. The result of
a check is remembered for the life of the process, keyed by the file's real path, size and
modification time, so a repeated load skips the hashing. Nothing is downloaded unless
``download=True`` is passed; when nothing is found the ``FileNotFoundError`` lists every
place that was looked at and how to get the files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = [
    "FASHION_MNIST_CLASSES",
    "find_text_data",
    "get_cache_dir",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

PathLike = Union[str, "os.PathLike[str]"]

ENV_VAR = "LATENTFORGE_DATA"

_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the uncompressed IDX files.
_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

_MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

_SIZES = {"train": 60000, "test": 10000}

#: Class names of Fashion-MNIST, indexed by label.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# (real path, size, mtime_ns) -> SHA-256 hex digest of the uncompressed content.
_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()

# IDX type code -> (big-endian dtype, name)
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# --------------------------------------------------------------------------------------------
# IDX parsing
# --------------------------------------------------------------------------------------------


def _read_bytes(file: Path, gz: bool | None = None) -> bytes:
    """The uncompressed content of ``file`` (gzip-decompressed when its name ends in .gz)."""
    data = file.read_bytes()
    if file.name.endswith(".gz") if gz is None else gz:
        try:
            data = zlib.decompress(data, 31)  # 31: gzip header + trailer, one member
        except zlib.error:
            try:  # several gzip members, or trailing garbage gzip tolerates
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as err:
                raise ValueError(f"{file}: not a valid gzip file ({err})") from None
    return data


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    """Parse IDX bytes into a read-only array in native byte order (no copy for uint8)."""
    if len(data) < 4:
        raise ValueError(
            f"{name}: malformed IDX file: {len(data)} bytes, shorter than the 4-byte magic number"
        )
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise ValueError(
            f"{name}: malformed IDX file: magic number 0x{data[:4].hex()} does not start with "
            "two zero bytes (is it an IDX file? a gzipped file needs the .gz suffix)"
        )
    if type_code not in _IDX_TYPES:
        raise ValueError(
            f"{name}: malformed IDX file: unknown element type code 0x{type_code:02x} "
            f"(known: {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})"
        )
    if ndim == 0:
        raise ValueError(f"{name}: malformed IDX file: zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{name}: malformed IDX file: truncated header, {ndim} dimensions need {header} "
            f"bytes but the file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes"
        raise ValueError(
            f"{name}: malformed IDX file ({what}): header says shape {shape} of {dtype.name} "
            f"= {expected} bytes with the header, but the file has {len(data)}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    if not dtype.isnative and dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def read_idx(file: PathLike) -> np.ndarray:
    """Read one IDX file (gzipped if its name ends in ``.gz``, raw otherwise).

    Returns a read-only array with the file's shape and element type (uint8 for MNIST) in
    native byte order. No checksum is verified here; :func:`load_mnist` does that.
    Raises ``ValueError`` naming the file when the header is malformed, the element type
    unknown, or the data size disagrees with the header.
    """
    file = Path(file)
    return _parse_idx(_read_bytes(file), str(file))


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


def get_cache_dir() -> Path:
    """The per-user cache root: ``$XDG_CACHE_HOME/latentforge`` or ``~/.cache/latentforge``.

    Datasets live in one subdirectory each (``mnist/``, ``fashion-mnist/``). A relative or
    empty ``XDG_CACHE_HOME`` is ignored, as the XDG specification asks.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "latentforge"


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _candidates(dataset: str, path: PathLike | None) -> list[tuple[str, Path | None]]:
    """(label, directory) pairs in search order; directory None means 'not set'."""
    out: list[tuple[str, Path | None]] = []
    if path is not None:
        root = Path(os.fspath(path)).expanduser()
        out += [("path=", root / dataset), ("path=", root)]
    env = os.environ.get(ENV_VAR, "")
    if env:
        root = Path(env).expanduser()
        out += [(f"${ENV_VAR}", root / dataset), (f"${ENV_VAR}", root)]
    else:
        out.append((f"${ENV_VAR}", None))
    out.append(("cache", get_cache_dir() / dataset))
    return out


def _describe_missing(directory: Path, stems: list[str]) -> str:
    if not directory.exists():
        return "does not exist"
    if not directory.is_dir():
        return "is not a directory"
    missing = [s + "[.gz]" for s in stems if _find_file(directory, s) is None]
    if len(missing) == len(stems):
        return "none of the files"
    return "missing " + ", ".join(missing)


def _search(dataset: str, path: PathLike | None, probe):
    """Walk the candidate directories of ``dataset`` in order. ``probe(directory)`` returns
    ``(found, why)``: the first ``found`` that is not None ends the search. Returns ``(found or
    None, report lines)``, one line per place looked at and why it did not do."""
    report: list[str] = []
    seen: set[str] = set()
    for label, directory in _candidates(dataset, path):
        if directory is None:
            report.append(f"  - {label}: not set")
            continue
        key = os.path.abspath(directory)
        if key in seen:
            continue
        seen.add(key)
        found, why = probe(directory)
        if found is not None:
            return found, report
        report.append(f"  - {key} ({label}): {why}")
    return None, report


def _locate(dataset: str, stems: list[str], path: PathLike | None):
    """Return ({stem: file}, report lines). The dict is empty when nothing complete is found."""

    def probe(directory: Path):
        if directory.is_dir():
            found = {s: _find_file(directory, s) for s in stems}
            if all(f is not None for f in found.values()):
                return found, ""
        return None, _describe_missing(directory, stems)

    found, report = _search(dataset, path, probe)
    return found or {}, report


def _not_found_message(dataset: str, stems: list[str], report: list[str]) -> str:
    title = _TITLES[dataset]
    names = ", ".join(f"{s}.gz" for s in stems)
    return (
        f"{title} files not found. Looked in:\n"
        + "\n".join(report)
        + f"\nExpected files (gzipped, or uncompressed without .gz): {names}.\n"
        f"To get them: set ${ENV_VAR} to a directory holding them (directly or in a "
        f"'{dataset}/' subdirectory), pass path=<that directory>, or pass download=True "
        f"(needs a network) to fetch them into {get_cache_dir() / dataset} from "
        f"{_MIRRORS[dataset][0]}"
    )


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _cache_key(file: Path) -> tuple[str, int, int]:
    st = file.stat()
    return (os.path.realpath(file), st.st_size, st.st_mtime_ns)


def _check_digest(dataset: str, stem: str, file: Path, actual: str) -> None:
    expected = _SHA256[dataset][stem]
    if actual == expected:
        return
    hint = ""
    for other, table in _SHA256.items():
        for other_stem, digest in table.items():
            if digest == actual and (other, other_stem) != (dataset, stem):
                hint = f" (this is {_TITLES[other]}'s {other_stem}: wrong directory?)"
    raise ValueError(
        f"{_TITLES[dataset]} file {file} failed its SHA-256 check: expected {expected}, "
        f"got {actual} (hash of the uncompressed content){hint}. The file is corrupt or not "
        "the published one; delete it and get a fresh copy."
    )


def _load_verified(dataset: str, stem: str, file: Path) -> np.ndarray:
    key = _cache_key(file)
    data = _read_bytes(file)
    # Parse first: a truncated or non-IDX file gets the specific error, not just a hash one.
    arr = _parse_idx(data, str(file))
    with _DIGESTS_LOCK:
        actual = _DIGESTS.get(key)
    if actual is None:
        actual = hashlib.sha256(data).hexdigest()
        with _DIGESTS_LOCK:
            _DIGESTS[key] = actual
    _check_digest(dataset, stem, file, actual)
    return arr


# --------------------------------------------------------------------------------------------
# Download (tested against a local HTTP server)
# --------------------------------------------------------------------------------------------


class _Progress:
    """A download progress line on ``stream``: redrawn in place (``\\r``) on a terminal, else
    one line per quarter, so logs stay short. Sizes in MB, speed in MB/s."""

    def __init__(self, stream: Any, label: str, total: int | None):
        self.stream, self.label, self.total = stream, label, total
        self.done = 0
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.next_quarter = 0

    def _line(self) -> str:
        mb = self.done / 1e6
        rate = mb / max(time.perf_counter() - self.t0, 1e-9)
        if self.total:
            pct = 100.0 * self.done / self.total
            return (f"downloading {self.label}: {mb:.1f}/{self.total / 1e6:.1f} MB "
                    f"({pct:3.0f}%), {rate:.1f} MB/s")
        return f"downloading {self.label}: {mb:.1f} MB, {rate:.1f} MB/s"

    def update(self, n: int) -> None:
        self.done += n
        if self.stream is None:
            return
        if self.tty:
            self.stream.write("\r" + self._line())
            self.stream.flush()
        elif self.total and 4 * self.done >= self.next_quarter * self.total:
            self.stream.write(self._line() + "\n")
            self.stream.flush()
            self.next_quarter = 4 * self.done // self.total + 1

    def close(self, status: str) -> None:
        if self.stream is None:
            return
        if self.tty:
            self.stream.write("\r" + self._line() + f" {status}\n")
        else:
            self.stream.write(f"downloading {self.label}: {status}\n")
        self.stream.flush()


def _download(dataset: str, stems: list[str], timeout: float = 60.0,
              progress: Any = None) -> None:
    """Fetch ``stems`` (gzipped) into the cache, verifying each before an atomic rename.

    Each file is written to a temporary file in the target directory, its uncompressed
    SHA-256 checked, then renamed into place (``os.replace``), so an interrupted or corrupt
    download never leaves a file under the final name. Mirrors are tried in order (a mirror
    serving a file that fails its hash is skipped like an unreachable one); raises
    ``OSError`` listing every URL tried and its error when none works. ``progress``: a text
    stream for a progress line per file (None: silent).
    """
    target = get_cache_dir() / dataset
    target.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        if _find_file(target, stem) is not None:
            continue
        errors = []
        for mirror in _MIRRORS[dataset]:
            url = mirror + stem + ".gz"
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=target)
            bar = None
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                    length = r.headers.get("Content-Length")
                    bar = _Progress(progress, f"{_TITLES[dataset]} {stem}.gz from {mirror}",
                                    int(length) if length and length.isdigit() else None)
                    while chunk := r.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
                actual = hashlib.sha256(_read_bytes(Path(tmp), gz=True)).hexdigest()
                _check_digest(dataset, stem, Path(url), actual)
                os.replace(tmp, target / (stem + ".gz"))
                bar.close("done, SHA-256 verified")
                break
            except (OSError, ValueError) as err:  # URLError is an OSError
                if bar is not None:
                    bar.close(f"failed ({err})")
                errors.append(f"{url}: {err}")
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            raise OSError(
                f"could not download {_TITLES[dataset]} {stem}.gz into {target}:\n  "
                + "\n  ".join(errors)
            )


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------


def _load(dataset, path, return_test, flatten, download, progress=True):
    parts = ["train", "test"] if return_test else ["train"]
    stems = [_FILES[f"{part}_{kind}"] for part in parts for kind in ("images", "labels")]
    files, report = _locate(dataset, stems, path)
    if not files:
        message = _not_found_message(dataset, stems, report)
        if not download:
            raise FileNotFoundError(message)
        try:
            _download(dataset, stems,
                      progress=(sys.stderr if progress is True else (progress or None)))
        except OSError as err:
            raise FileNotFoundError(
                f"{message}\ndownload=True was given but failed: {err}"
            ) from err
        files = {s: _find_file(get_cache_dir() / dataset, s) for s in stems}

    out = []
    for part in parts:
        img_stem, lab_stem = _FILES[f"{part}_images"], _FILES[f"{part}_labels"]
        images = _load_verified(dataset, img_stem, files[img_stem])
        labels = _load_verified(dataset, lab_stem, files[lab_stem])
        # The hashes pin the content; these checks guard the invariants the code relies on.
        n = _SIZES[part]
        if images.shape != (n, 28, 28) or images.dtype != np.uint8 or labels.shape != (n,):
            raise ValueError(
                f"{files[img_stem]}, {files[lab_stem]}: unexpected shapes {images.shape}, "
                f"{labels.shape}"
            )
        X = np.divide(images, np.float32(255), dtype=np.float32)
        if flatten:
            X = X.reshape(n, 28 * 28)
        out.append((X, labels.astype(np.int64)))
    return tuple(out) if return_test else out[0]


_LOADER_DOC = """Load {title}: {n_train:,} training and {n_test:,} test 28x28 grey-scale images.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the files, or a dataset root holding a ``{dataset}/``
        subdirectory. Searched first; then ``$LATENTFORGE_DATA`` (same two layouts); then
        the per-user cache ``get_cache_dir() / "{dataset}"``.
    return_test : bool, default True
        Also load the test split. When False only the two training files are needed/read.
    flatten : bool, default True
        Images as rows of 784 pixels, shape ``(n, 784)``; False gives ``(n, 28, 28)``.
    download : bool, default False
        When the files are found nowhere, fetch the gzipped files from {mirror}
        (and mirrors) into the cache, each file verified (SHA-256) before it is renamed into
        place. Off by default: loading never touches the network unless asked.
    progress : bool or text stream, default True
        While downloading, a progress line per file (size, percentage, speed) on stderr
        (True), on the given stream, or none (False).

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        Or only ``(X_train, y_train)`` when ``return_test=False``. ``X`` is float32 in
        [0, 1] (pixel / 255), a fresh writable array; ``y`` is int64{labels}.

    Raises
    ------
    FileNotFoundError
        Nothing found (and no download): the message lists every directory looked at and
        how to get the files.
    ValueError
        A file's uncompressed SHA-256 differs from the published one (the message names
        the file and both hashes), or a file is not valid gzip/IDX.

    Each file's hash is computed once per process and remembered by (real path, size,
    mtime); later loads of the same files only decompress and convert.
    """


def load_mnist(
    path: PathLike | None = None,
    *,
    return_test: bool = True,
    flatten: bool = True,
    download: bool = False,
    progress: Any = True,
):
    return _load("mnist", path, return_test, flatten, download, progress)


def load_fashion_mnist(
    path: PathLike | None = None,
    *,
    return_test: bool = True,
    flatten: bool = True,
    download: bool = False,
    progress: Any = True,
):
    return _load("fashion-mnist", path, return_test, flatten, download, progress)


load_mnist.__doc__ = _LOADER_DOC.format(
    title="MNIST handwritten digits", dataset="mnist", n_train=60000, n_test=10000,
    mirror=_MIRRORS["mnist"][0], labels=" digits 0-9",
)
load_fashion_mnist.__doc__ = _LOADER_DOC.format(
    title="Fashion-MNIST (Zalando article images)", dataset="fashion-mnist", n_train=60000,
    n_test=10000, mirror=_MIRRORS["fashion-mnist"][0],
    labels=" classes 0-9, named in ``FASHION_MNIST_CLASSES``",
)


# --------------------------------------------------------------------------------------------
# Text (word2vec)
# --------------------------------------------------------------------------------------------

#: Files of the word2vec text data set, relative to its directory.
TEXT_FILES = ("corpus.txt.gz", "eval/wordsim353.tsv", "eval/simlex999.txt",
              "eval/questions-words.txt")


def find_text_data(path: PathLike | None = None) -> tuple[Path | None, list[str]]:
    """The directory of the word2vec text data (``corpus.txt.gz`` and ``eval/`` with
    ``wordsim353.tsv``, ``simlex999.txt``, ``questions-words.txt``), looked for as the image
    datasets are (``path``, then ``$LATENTFORGE_DATA``, then the cache; each as
    ``<dir>/text/`` then ``<dir>/``). Returns ``(directory or None, report)``: the report
    lists, one line each, the places looked at and what was missing (for a message).
    Nothing is downloaded: this data set is not published for download."""

    def probe(directory: Path):
        missing = [f for f in TEXT_FILES if not (directory / f).is_file()]
        if not missing:
            return directory, ""
        return None, ("does not exist" if not directory.exists()
                      else "none of the files" if len(missing) == len(TEXT_FILES)
                      else "missing " + ", ".join(missing))

    return _search("text", path, probe)
