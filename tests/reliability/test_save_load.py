"""``model.save(path)`` / ``lf.load(path)`` for every estimator (format: latentforge.persist).

A loaded model must be the same model: same class, same parameters, the same object graph of
fitted state (arrays bit for bit, shared objects still shared) and bit-identical outputs, and
it must go on the same way (partial_fit, Gibbs sampling, refitting). A damaged, truncated,
foreign or newer file must be a clear FormatError, and an interrupted save must leave
neither a file under the final name nor a temporary file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import latentforge as lf
from latentforge import nn
from latentforge.persist import FORMAT_VERSION, FormatError
from latentforge.tensor import Tensor


def _data(n=120, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1.0).astype(np.int64)
    return X, y


M = lf.models
# name -> (factory, label kind or None for unsupervised, methods whose outputs must match)
CASES = {
    "PCA": (lambda: M.PCA(4, random_state=0), None, ("transform", "inverse_transform")),
    "PCA-whiten-randomized": (
        lambda: M.PCA(3, whiten=True, svd_solver="randomized",
                      random_state=np.random.default_rng(1)),
        None, ("transform",)),
    "RBM": (lambda: M.RBM(n_hidden=8, n_iter=2, random_state=0), None,
            ("transform", "reconstruct", "free_energy", "score_samples")),
    "RBM-pcd-momentum": (
        lambda: M.RBM(n_hidden=8, n_iter=2, persistent=True, momentum=0.5, weight_decay=1e-3,
                      batch_size=32, random_state=0),
        None, ("transform", "reconstruct")),
    "DBN": (lambda: M.DBN(hidden=(8, 4), rbm_params=dict(n_iter=1), random_state=0), None,
            ("transform",)),
    "Autoencoder": (lambda: M.Autoencoder(hidden=8, n_epochs=2, random_state=0), None,
                    ("transform", "reconstruct", "score")),
    "Autoencoder-deep-bn-topk-untied": (
        lambda: M.Autoencoder(hidden=(8, 4), tied=False, batchnorm=True, sparsity=("topk", 2),
                              corruption=("mask", 0.2), n_epochs=2, random_state=0),
        None, ("transform", "reconstruct")),
    "Autoencoder-deep-tied-mse": (
        lambda: M.Autoencoder(hidden=(8, 4), loss="mse", activation="tanh", n_epochs=2,
                              random_state=0),
        None, ("transform", "reconstruct")),
    "StackedAutoencoder": (
        lambda: M.StackedAutoencoder(hidden=(8, 4), n_epochs=1, random_state=0), None,
        ("transform",)),
    "MLPClassifier": (
        lambda: M.MLPClassifier(hidden=(8,), dropout=0.2, max_epochs=3, random_state=0),
        "int", ("predict", "predict_proba")),
    "MLPClassifier-str": (
        lambda: M.MLPClassifier(hidden=(8, 6), max_epochs=2, early_stopping=False,
                                random_state=0),
        "str", ("predict", "predict_proba")),
    "DNN-ae-str": (lambda: M.DNN(hidden=(8,), pretrain="ae", max_epochs=2, random_state=0),
                   "str", ("predict", "predict_proba")),
    "DNN-rbm": (lambda: M.DNN(hidden=(8, 4), pretrain="rbm",
                              pretrain_params=dict(n_iter=1), max_epochs=2, random_state=0),
                "int", ("predict", "predict_proba")),
    "DNN-none-str": (lambda: M.DNN(hidden=(8,), pretrain=None, max_epochs=2, random_state=0),
                     "str", ("predict",)),
    "TSNE": (lambda: M.TSNE(perplexity=5, max_iter=250, random_state=0), None, ()),
}


def _labels(kind, y):
    return np.array(["no", "yes"])[y] if kind == "str" else y


def _fit(name):
    make, kind, _ = CASES[name]
    X, y = _data()
    model = make()
    if kind is None:
        model.fit(X)
    else:
        model.fit(X, _labels(kind, y))
    return model, X, y


def _assert_same(a, b, where="model", pairs=None):
    """``b`` is a faithful copy of ``a``: same types, values bit for bit, and the same
    sharing (an object met twice in ``a`` is met twice, as one object, in ``b``)."""
    pairs = {} if pairs is None else pairs
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, (np.ndarray, Tensor, nn.Module, np.random.Generator,
                      np.random.RandomState)) or hasattr(a, "get_params"):
        if id(a) in pairs:
            assert pairs[id(a)][1] is b, f"{where}: sharing differs"
            return
        pairs[id(a)] = (a, b)  # a kept alive: its id is not reused
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.flags.c_contiguous == b.flags.c_contiguous, where
        assert a.flags.f_contiguous == b.flags.f_contiguous, where
        if a.dtype.hasobject:
            assert a.tolist() == b.tolist(), f"{where}: values differ"
        else:
            assert a.tobytes() == b.tobytes(), f"{where}: values differ"
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or a == b, where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{where}[{i}]", pairs)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]", pairs)
    elif isinstance(a, Tensor):
        assert a.requires_grad == b.requires_grad, where
        _assert_same(a.data, b.data, f"{where}.data", pairs)
    elif isinstance(a, np.random.Generator):
        _assert_same(a.bit_generator.state, b.bit_generator.state, f"{where}.state", pairs)
    elif isinstance(a, np.random.RandomState):
        _assert_same(a.get_state(legacy=False), b.get_state(legacy=False), where, pairs)
    elif isinstance(a, nn.Module) or hasattr(a, "get_params"):
        _assert_same(vars(a), vars(b), where, pairs)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


# ---------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", list(CASES))
def test_fitted_model_round_trips_bit_for_bit(name, tmp_path):
    model, X, _ = _fit(name)
    path = tmp_path / "model.npz"
    assert model.save(path) is None
    again = lf.load(path)
    assert type(again) is type(model)
    _assert_same(model, again)
    for method in CASES[name][2]:
        arg = model.transform(X) if method == "inverse_transform" else X
        _assert_same(getattr(model, method)(arg), getattr(again, method)(arg), method)
    # Saving the loaded model writes the same content (nothing was lost or added).
    again.save(tmp_path / "again.npz")
    meta = [np.load(p, allow_pickle=False)["__meta__"].tobytes()
            for p in (path, tmp_path / "again.npz")]
    assert meta[0] == meta[1]


@pytest.mark.parametrize("name", list(CASES))
def test_unfitted_model_round_trips_and_fits_the_same(name, tmp_path):
    make, kind, methods = CASES[name]
    model = make()
    model.save(str(tmp_path / "m.npz"))
    again = lf.load(str(tmp_path / "m.npz"))
    _assert_same(model, again)
    if name == "PCA-whiten-randomized":  # its Generator is consumed by fit: compare below
        return
    X, y = _data()
    fit = (lambda m: m.fit(X)) if kind is None else (lambda m: m.fit(X, _labels(kind, y)))
    fit(model)
    fit(again)
    if name == "TSNE":
        assert np.array_equal(model.embedding_, again.embedding_)
    for method in methods[:1]:
        assert np.array_equal(getattr(model, method)(X), getattr(again, method)(X))


def test_generator_random_state_continues_where_it_was(tmp_path):
    model = M.PCA(3, svd_solver="randomized", random_state=np.random.default_rng(7))
    model.save(tmp_path / "m.npz")
    again = lf.load(tmp_path / "m.npz")
    assert again.random_state is not model.random_state
    X, _ = _data()
    assert np.array_equal(model.fit_transform(X), again.fit_transform(X))
    # After fitting, the Generator has advanced; a save captures its current state.
    model.save(tmp_path / "m.npz")
    later = lf.load(tmp_path / "m.npz")
    assert np.array_equal(model.random_state.random(5), later.random_state.random(5))


@pytest.mark.parametrize("bitgen", ["PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"])
def test_every_numpy_bit_generator_round_trips(bitgen, tmp_path):
    gen = np.random.Generator(getattr(np.random, bitgen)(11))
    gen.random(3)
    model = M.RBM(n_hidden=3, random_state=gen)
    model.other_ = np.random.RandomState(getattr(np.random, bitgen)(5))
    model.other_.normal()  # RandomState caches a Gaussian: saved too
    model.save(tmp_path / "m.npz")
    again = lf.load(tmp_path / "m.npz")
    _assert_same(model, again)
    assert np.array_equal(gen.random(4), again.random_state.random(4))
    assert model.other_.normal() == again.other_.normal()


def test_fitted_state_carries_on_identically(tmp_path):
    """Not only the outputs: the training state (velocities, PCD chains, Philox offsets,
    sampling counters) continues the same way after loading."""
    rbm, X, _ = _fit("RBM-pcd-momentum")
    rbm.save(tmp_path / "rbm.npz")
    again = lf.load(tmp_path / "rbm.npz")
    assert np.array_equal(rbm.gibbs(X[:5], steps=2), again.gibbs(X[:5], steps=2))
    rbm.partial_fit(X)
    again.partial_fit(X)
    _assert_same(rbm, again)
    assert np.array_equal(rbm.gibbs(X[:5]), again.gibbs(X[:5]))


def test_tied_weights_stay_one_parameter(tmp_path):
    ae, X, _ = _fit("Autoencoder-deep-tied-mse")
    ae.save(tmp_path / "ae.npz")
    again = lf.load(tmp_path / "ae.npz")
    dec = [m for m in again.decoder_.layers if isinstance(m, nn.Linear)]
    enc = [m for m in again.encoder_.layers if isinstance(m, nn.Linear)]
    assert dec[0].weight is enc[-1].weight and dec[-1].weight is enc[0].weight
    assert dec[0]._tied_to is enc[-1]
    assert len(again.network_.parameters()) == len(ae.network_.parameters())
    # A further training step updates the shared weight once, as in the original.
    again.fit(X)
    ae.fit(X)
    assert np.array_equal(ae.transform(X), again.transform(X))


def test_string_labels_and_classes_round_trip(tmp_path):
    for name in ("MLPClassifier-str", "DNN-ae-str"):
        model, X, y = _fit(name)
        model.save(tmp_path / "m.npz")
        again = lf.load(tmp_path / "m.npz")
        assert again.classes_.dtype == model.classes_.dtype
        assert list(again.classes_) == ["no", "yes"]
        assert np.array_equal(again.predict(X), model.predict(X))
        assert again.score(X, _labels("str", y)) == model.score(X, _labels("str", y))


def test_a_pretrained_classifier_round_trips_and_is_an_mlp(tmp_path):
    dbn, X, y = _fit("DBN")
    clf = dbn.to_classifier(2, max_epochs=2, random_state=0).fit(X, y)
    clf.save(tmp_path / "clf.npz")
    again = lf.load(tmp_path / "clf.npz", M.MLPClassifier)  # a subclass is accepted
    assert type(again) is type(clf)
    _assert_same(clf, again)
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_every_value_kind_round_trips(tmp_path):
    model = M.PCA(2)
    arr = np.arange(4.0)
    model.extra_ = {
        "nan": float("nan"), "inf": -math.inf, 3: (1, 2.5, None, True), (1, "a"): "tuple key",
        "f32": np.float32(1.5), "i64": np.int64(-3), "bool": np.bool_(True),
        "complex": np.complex128(1 + 2j), "str_scalar": np.str_("s"),
        "dtype": np.dtype(">f8"), "type": np.float32, "unicode": np.array(["a", "bc"]),
        "objects": np.array(["x", "yz"], dtype=object), "bytes": np.array([b"x", b"yy"]),
        "empty": np.zeros((0, 3), np.float32), "fortran": np.asfortranarray(np.ones((2, 3))),
        "big-endian": np.arange(3, dtype=">i4"), "zero-d": np.array(2.0),
        "nested": [[{"k": [1, 2**70]}]], "alias": (arr, arr), "tensor": Tensor(np.ones(2)),
    }
    model.save(tmp_path / "m.npz")
    again = lf.load(tmp_path / "m.npz")
    _assert_same(model, again)
    assert again.extra_["alias"][0] is again.extra_["alias"][1]
    assert again.extra_["objects"].dtype == object


def test_path_may_be_str_or_pathlib(tmp_path):
    model, X, _ = _fit("PCA")
    model.save(str(tmp_path / "a.npz"))
    model.save(tmp_path / "b.npz")
    for p in (tmp_path / "a.npz", str(tmp_path / "b.npz")):
        assert np.array_equal(lf.load(p).transform(X), model.transform(X))
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]


# ---------------------------------------------------------------------- the format


def _read(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(arrays.pop("__meta__").tobytes()), arrays


def _write_as_documented(path, meta, arrays, payload_sha256=None):
    """A model file written from the persist docstring alone (not with its code)."""
    names = list(arrays)
    h = hashlib.sha256()
    for n in names:
        a = arrays[n]
        h.update(f"{n}\0{a.dtype.str}\0{','.join(str(s) for s in a.shape)}\0".encode())
        h.update(a.tobytes(order="C"))
    meta = dict(meta, arrays=names, payload_sha256=payload_sha256 or h.hexdigest())
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.comment = b"LATENTFORGE-SHA256:" + b"0" * 64
    head = buf.getvalue()[:-64]
    Path(path).write_bytes(head + hashlib.sha256(head).hexdigest().encode())


@pytest.fixture
def saved(tmp_path):
    model, X, _ = _fit("PCA")
    path = tmp_path / "pca.npz"
    model.save(path)
    return model, X, path


def test_file_is_a_plain_npz_as_documented(saved, tmp_path):
    model, X, path = saved
    meta, arrays = _read(path)
    assert meta["format"] == "latentforge.model" and meta["format_version"] == FORMAT_VERSION
    assert meta["latentforge_version"] == lf.__version__
    assert meta["class"] == "PCA" and meta["params"]["n_components"] == 4
    assert set(meta) == {"format", "format_version", "latentforge_version", "class", "id",
                         "params", "attributes", "arrays", "payload_sha256"}
    assert sorted(meta["arrays"]) == sorted(arrays)
    assert meta["attributes"]["n_components_"] == 4
    assert meta["attributes"]["_out_dtype"] == {"__dtype__": "<f4"}
    data = path.read_bytes()
    assert zipfile.ZipFile(path).comment == b"LATENTFORGE-SHA256:" + data[-64:]
    assert hashlib.sha256(data[:-64]).hexdigest().encode() == data[-64:]
    # The same content written from the documentation alone loads as the same model.
    _write_as_documented(tmp_path / "doc.npz", {k: meta[k] for k in meta
                                               if k not in ("arrays", "payload_sha256")},
                         arrays)
    again = lf.load(tmp_path / "doc.npz")
    _assert_same(model, again)


@pytest.mark.parametrize("keep", [0, 1, 30, 0.5, -1, -64, -70, -200])
def test_truncated_file_is_a_format_error(saved, keep):
    _, _, path = saved
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data) if keep else 0
    path.write_bytes(data[:n])
    with pytest.raises(FormatError, match=r"pca\.npz: .*(truncated|empty|damaged|not a)"):
        lf.load(path)


def test_a_flipped_byte_anywhere_is_a_format_error(saved):
    _, _, path = saved
    data = bytearray(path.read_bytes())
    meta_at = bytes(data).index(b'"format"')
    positions = sorted({*np.linspace(0, len(data) - 1, 40).astype(int).tolist(), 0, 5, 30,
                        meta_at, meta_at + 3, len(data) - 1, len(data) - 64, len(data) - 70,
                        len(data) - 90})
    for pos in positions:
        for bit in (0x01, 0x80):
            bad = bytearray(data)
            bad[pos] ^= bit
            path.write_bytes(bytes(bad))
            with pytest.raises(FormatError, match="pca.npz") as info:
                lf.load(path)
            assert "damaged" in str(info.value) or "not a" in str(info.value), pos


def test_appended_bytes_are_a_format_error(saved):
    _, _, path = saved
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(FormatError):
        lf.load(path)


def test_newer_format_version_asks_for_an_upgrade(saved):
    _, _, path = saved
    meta, arrays = _read(path)
    meta["format_version"] = FORMAT_VERSION + 1
    _write_as_documented(path, meta, arrays)
    with pytest.raises(FormatError, match=rf"format version {FORMAT_VERSION + 1}.*upgrade"):
        lf.load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format="something.else"), "not a latentforge model file"),
    (lambda m: m.update(format_version="1"), "format_version"),
    (lambda m: m.update({"class": "Popen"}), "'Popen', which is not a latentforge model"),
    (lambda m: m["params"].update(no_such_param=1), "do not fit"),
    (lambda m: m["attributes"].update(x_={"__module__": "Popen", "id": 99, "attributes": {}}),
     "not a latentforge layer"),
    (lambda m: m["attributes"].update(x_={"__ref__": 12345}), "undefined object"),
    (lambda m: m["attributes"].update(x_={"__array__": "a999"}), "missing array"),
    (lambda m: m["attributes"].update(x_={"__float__": "1e400"}), "non-finite float"),
    (lambda m: m["attributes"].update(x_={"__tuple__": [], "__dict__": {}}), "one tag"),
    (lambda m: m["attributes"].update(x_={"__generator__": "Evil", "id": 98}), "bit generator"),
])
def test_malformed_metadata_is_a_format_error(saved, edit, message):
    _, _, path = saved
    meta, arrays = _read(path)
    edit(meta)
    _write_as_documented(path, meta, arrays)
    with pytest.raises(FormatError, match=message):
        lf.load(path)


def test_arrays_that_do_not_match_the_metadata_checksum(saved):
    _, _, path = saved
    meta, arrays = _read(path)
    name = next(k for k, a in arrays.items() if a.dtype.kind == "f" and a.size)
    arrays[name] = arrays[name] + 1  # what a careless repacking could do
    _write_as_documented(path, meta, arrays, payload_sha256=meta["payload_sha256"])
    with pytest.raises(FormatError, match="payload_sha256"):
        lf.load(path)


_UNPICKLED = []


class _Trap:
    """Unpickling this would record itself: load must never unpickle anything."""

    def __reduce__(self):
        return (_UNPICKLED.append, ("unpickled",))


def test_a_pickled_member_is_refused_without_unpickling(saved):
    _, _, path = saved
    meta, arrays = _read(path)
    arrays["a0"] = np.array([_Trap()], dtype=object)
    _write_as_documented(path, meta, arrays)
    with pytest.raises(FormatError):
        lf.load(path)
    assert _UNPICKLED == []


def test_wrong_class_is_a_format_error(saved):
    _, _, path = saved
    with pytest.raises(FormatError, match=r"pca\.npz: holds a PCA, not a RBM"):
        lf.load(path, M.RBM)
    assert type(lf.load(path, M.PCA)) is M.PCA
    with pytest.raises(TypeError, match="cls must be a class"):
        lf.load(path, "PCA")


def test_other_files_are_format_errors(saved, tmp_path):
    model, X, _ = saved
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=X)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    for path, message in ((text, "not an .npz"), (plain, "without the latentforge checksum"),
                          (pickled, "not an .npz"), (empty, "empty")):
        with pytest.raises(FormatError, match=message) as info:
            lf.load(path)
        assert str(path) in str(info.value) and info.value.path == str(path)
        assert isinstance(info.value, ValueError)
    with pytest.raises(FileNotFoundError):
        lf.load(tmp_path / "missing.npz")
    err = pickle.loads(pickle.dumps(FormatError("p.npz", "why")))
    assert (err.path, err.reason, str(err)) == ("p.npz", "why", "p.npz: why")


def test_unsupported_values_are_refused_before_writing(tmp_path):
    model, _, _ = _fit("PCA")
    model.hook_ = lambda x: x
    with pytest.raises(TypeError, match=r"PCA\.hook_.*function.*never code"):
        model.save(tmp_path / "m.npz")
    del model.hook_
    model.cycle_ = []
    model.cycle_.append(model.cycle_)
    with pytest.raises(ValueError, match="cycle"):
        model.save(tmp_path / "m.npz")
    del model.cycle_

    class MyPCA(M.PCA):
        pass

    with pytest.raises(TypeError, match="latentforge estimator"):
        MyPCA().save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="latentforge estimator"):
        lf.persist.save(object(), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_interrupted_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch, existing,
                                                           exc):
    model, X, _ = _fit("PCA")
    path = tmp_path / "m.npz"
    if existing:
        M.PCA(2).fit(X).save(path)
    before = _listing(tmp_path)
    seen = []
    write_array = np.lib.format.write_array

    def failing(fp, array, *args, **kwargs):
        seen.append(sorted(os.listdir(tmp_path)))
        if len(seen) == 3:  # two members are in the temporary file by now
            raise exc
        return write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(type(exc)):
        model.save(path)
    monkeypatch.undo()
    assert len(seen) == 3
    assert len(seen[-1]) == len(before) + 1  # it failed mid-write, with a temporary file
    assert _listing(tmp_path) == before  # the old file untouched, no temporary left
    if existing:
        assert lf.load(path).n_components_ == 2


@pytest.mark.parametrize("exc", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_failed_fsync_leaves_the_old_file(tmp_path, monkeypatch, exc):
    model, X, _ = _fit("PCA")
    path = tmp_path / "m.npz"
    M.PCA(2).fit(X).save(path)
    before = _listing(tmp_path)

    def failing(fd):
        raise exc

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(type(exc)):
        model.save(path)
    monkeypatch.undo()
    assert _listing(tmp_path) == before


def test_save_syncs_then_renames_a_complete_file_over_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    old, X, _ = _fit("PCA")
    old.save(path)
    inode = os.stat(path).st_ino
    new = M.PCA(2).fit(X)
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        events.append("fsync")
        return fsync(fd)

    def recording_replace(src, dst):
        events.append("replace")
        assert os.path.dirname(src) == os.path.dirname(os.path.abspath(dst))
        assert lf.load(src).n_components_ == 2  # complete before it takes the final name
        assert lf.load(dst).n_components_ == 4  # ... while the old file is still whole
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    new.save(path)
    monkeypatch.undo()
    assert events[:2] == ["fsync", "replace"]
    assert os.listdir(tmp_path) == ["m.npz"]
    assert os.stat(path).st_ino != inode  # a new file took the name: no in-place rewrite
    assert np.array_equal(lf.load(path).transform(X), new.transform(X))


def test_saved_file_has_ordinary_permissions(tmp_path):
    reference = tmp_path / "plain"
    reference.write_bytes(b"")
    M.PCA(2).save(tmp_path / "m.npz")
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == os.stat(reference).st_mode & 0o777
