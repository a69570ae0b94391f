"""word2vec vs gensim on one corpus file: words/s, WordSim353/SimLex rho, analogy accuracy.

Both libraries train from the same plain-text ``corpus_file`` (gensim's ``corpus_file`` mode,
the fastest it has) with the issue's settings: ``vector_size=100, window=5, min_count=5,
sample=1e-3, epochs=5``, negative sampling, the same thread count, in three configurations:
skip-gram with 5 and 15 negatives and CBOW with 5 (gensim's ``cbow_mean=1``, as ours).

Corpus: the English corpus of the word2vec data set (``corpus.txt.gz`` found by
:func:`latentforge.datasets.find_text_data`: ``$LATENTFORGE_DATA/text/``, the cache), its
first ~2M tokens by default (whole lines), all 15.7M with ``full``. Without it (a fresh
machine) a synthetic Zipfian corpus stands in, said in the table's first line, and the
quality columns are empty.

Reported per run: ``words/s`` = corpus tokens x epochs / training seconds (the same numerator
for both libraries, so the ratio is the ratio of training times; vocabulary building is timed
apart), the Spearman rho of WordSim353 and SimLex-999 and the analogy accuracy
(``questions-words.txt``, ``restrict_vocab=30000``). Both models are evaluated by
:class:`latentforge.models.KeyedVectors`, whose evaluation reproduces gensim 4.4's to the
last question (tests/models/test_word2vec_model.py). With ``repeats`` > 1 the libraries alternate
(``_harness.interleave``) and the medians are shown. gensim's inner loop calls OpenBLAS
``sdot``/``saxpy``: the ``OPENBLAS_*`` environment it ran with is printed in the header.
Both run at their defaults; note that gensim's ``corpus_file`` mode decays the learning rate
per worker thread (each measures its progress against the whole corpus), so with ``w`` threads
it ends near ``alpha * (1 - 1/w) / epochs``, while ours decays to ``min_alpha`` (the
effect on quality is measured in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np

from ._harness import (
    env_report,
    fmt,
    fmt_ratio,
    format_table,
    interleave,
    machine_meta,
    say,
    suite_main,
    suite_parser,
    thread_limits,
)

SUITE = "word2vec"

#: The issue's settings, shared by every configuration.
COMMON = {"vector_size": 100, "window": 5, "min_count": 5, "sample": 1e-3, "epochs": 5}
#: Configurations: name -> (sg, negative).
CONFIGS = {"skip-gram neg 5": (1, 5), "CBOW neg 5": (0, 5), "skip-gram neg 15": (1, 15)}
#: Default corpus size in tokens (whole lines: a little more).
DEFAULT_TOKENS = 2_000_000
SMOKE_TOKENS = 30_000


def _prepare_corpus(tokens: int | None, workdir: str, seed: int) -> dict[str, Any]:
    """Write the training corpus to ``workdir/corpus.txt``; returns its description."""
    from latentforge import datasets

    path = os.path.join(workdir, "corpus.txt")
    text_dir, report = datasets.find_text_data()
    n_tok = n_lines = 0
    if text_dir is not None:
        with gzip.open(text_dir / "corpus.txt.gz", "rb") as src, open(path, "wb") as dst:
            for line in src:
                dst.write(line)
                n_tok += len(line.split())
                n_lines += 1
                if tokens is not None and n_tok >= tokens:
                    break
        return {"path": path, "tokens": n_tok, "lines": n_lines, "eval": str(text_dir / "eval"),
                "name": f"corpus.txt.gz ({'all' if tokens is None else 'first'} {n_tok:,} "
                        "tokens)", "note": None}
    # A synthetic stand-in: Zipfian words, sentences of 5..30 tokens.
    rng = np.random.default_rng(seed)
    want = tokens or DEFAULT_TOKENS
    with open(path, "w", encoding="ascii") as dst:
        while n_tok < want:
            ids = rng.zipf(1.3, size=(1000, 30))
            lens = rng.integers(5, 31, 1000)
            rows = []
            for r, n in zip(ids, lens):
                rows.append(" ".join(f"w{int(x) % 20000}" for x in r[:n]))
                n_tok += int(n)
            n_lines += len(rows)
            dst.write("\n".join(rows) + "\n")
    looked = "; ".join(x.strip(" -") for x in report)
    note = (f"the word2vec text data was not found ({looked}): using a synthetic Zipfian corpus "
            f"of {n_tok:,} tokens, without quality scores; set LATENTFORGE_DATA=<dir with "
            "text/corpus.txt.gz and text/eval/>")
    return {"path": path, "tokens": n_tok, "lines": n_lines, "eval": None,
            "name": f"synthetic Zipfian ({n_tok:,} tokens)", "note": note}


def _train_lf(path: str, params: dict[str, Any], threads: int, seed: int) -> dict[str, Any]:
    from latentforge.models import Word2Vec

    m = Word2Vec(workers=threads, seed=seed, **params)
    t0 = time.perf_counter()
    m.build_vocab(corpus_file=path)
    t1 = time.perf_counter()
    m.train(corpus_file=path)
    t2 = time.perf_counter()
    return {"vocab_s": t1 - t0, "train_s": t2 - t1, "kv": m.wv, "vocab": len(m.index_to_key_)}


def _train_gensim(path: str, params: dict[str, Any], threads: int, seed: int) -> dict[str, Any]:
    from gensim.models import Word2Vec

    from latentforge.models import KeyedVectors

    p = dict(params)
    m = Word2Vec(vector_size=p["vector_size"], window=p["window"], min_count=p["min_count"],
                 sample=p["sample"], epochs=p["epochs"], sg=p["sg"], negative=p["negative"],
                 hs=0, cbow_mean=1, workers=threads, seed=seed)
    t0 = time.perf_counter()
    m.build_vocab(corpus_file=path)
    t1 = time.perf_counter()
    effective, _ = m.train(corpus_file=path, total_examples=m.corpus_count,
                           total_words=m.corpus_total_words, epochs=m.epochs)
    t2 = time.perf_counter()
    kv = KeyedVectors(list(m.wv.index_to_key), m.wv.vectors)
    return {"vocab_s": t1 - t0, "train_s": t2 - t1, "kv": kv, "vocab": len(kv),
            "effective_words": int(effective)}


def _quality(kv, eval_dir: str | None) -> dict[str, Any]:
    if eval_dir is None:
        return {}
    out: dict[str, Any] = {}
    for key, name in (("wordsim353_rho", "wordsim353.tsv"), ("simlex999_rho", "simlex999.txt")):
        try:
            (_, _), (rho, _), oov = kv.evaluate_word_pairs(os.path.join(eval_dir, name))
            out[key], out[key.replace("rho", "oov_pct")] = float(rho), float(oov)
        except ValueError:  # every pair out of the vocabulary (a tiny smoke corpus)
            out[key] = None
    try:
        score, _ = kv.evaluate_word_analogies(os.path.join(eval_dir, "questions-words.txt"),
                                              restrict_vocab=30000)
        out["analogy_accuracy"] = float(score)
    except ValueError:
        out["analogy_accuracy"] = None
    return out


def run(full: bool = False, repeats: int | None = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: int | None = None, smoke: bool = False,
        tokens: int | None = None, configs=None, seed: int = 0, **_: Any):
    """Train each configuration with each library ``repeats`` times (default 1), alternating;
    ``tokens``: corpus size (default 2M; ``full``: the whole corpus; ``smoke``: 30k tokens,
    one configuration, 1 epoch, 32 dimensions). ``configs``: names of :data:`CONFIGS`."""
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    repeats = max(1, int(repeats or 1))
    if tokens is None:
        tokens = SMOKE_TOKENS if smoke else (None if full else DEFAULT_TOKENS)
    names = list(configs or (["skip-gram neg 5"] if smoke else CONFIGS))
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; known: {list(CONFIGS)}")
    common = dict(COMMON, **({"epochs": 1, "vector_size": 32} if smoke else {}))
    have_gensim = importlib.util.find_spec("gensim") is not None
    gensim_version = None
    if have_gensim:
        import gensim

        gensim_version = gensim.__version__
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lf_w2v_") as workdir, \
            thread_limits(threads, progress=progress, tag=SUITE) as nthreads:
        say(progress, f"[{SUITE}] preparing the corpus")
        corpus = _prepare_corpus(tokens, workdir, seed)
        libs: dict[str, Any] = {"latentforge": _train_lf}
        if have_gensim:
            libs["gensim"] = _train_gensim
        for name in names:
            sg, neg = CONFIGS[name]
            params = dict(common, sg=sg, negative=neg)
            runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
            errors: dict[str, str] = {}

            def make(lib, fn, params=params, runs=runs):
                return lambda: runs[lib].append(fn(corpus["path"], params, nthreads, seed))

            interleave({lib: make(lib, fn) for lib, fn in libs.items()}, repeats, number=1,
                       warmup=False, settle=0.5, errors=errors,
                       on_start=lambda lib, rnd, name=name: say(
                           progress, f"[{SUITE}] {name}: {lib} (run {rnd + 1}/{repeats})"))
            for lib in libs:
                r: dict[str, Any] = {"config": name, "library": lib, "error": errors.get(lib)}
                done = runs[lib]
                if done and not r["error"]:
                    train_s = statistics.median(d["train_s"] for d in done)
                    r.update(train_s=train_s, train_s_all=[d["train_s"] for d in done],
                             vocab_s=statistics.median(d["vocab_s"] for d in done),
                             vocab=done[-1]["vocab"],
                             words_per_s=corpus["tokens"] * params["epochs"] / train_s)
                    if "effective_words" in done[-1]:
                        r["effective_words_per_s"] = done[-1]["effective_words"] / train_s
                    say(progress, f"[{SUITE}] {name}: {lib} evaluating")
                    try:
                        r.update(_quality(done[-1]["kv"], corpus["eval"]))
                    except Exception as exc:  # report, keep going
                        r["error"] = f"evaluation: {type(exc).__name__}: {exc}"
                elif not r["error"]:
                    r["error"] = "no run finished"
                results.append(r)
    rows = []
    for name in names:
        by = [r for r in results if r["config"] == name]
        lf_row = next((r for r in by if r["library"] == "latentforge" and not r["error"]), None)
        for r in by:
            if r["error"]:
                rows.append([name, r["library"], f"ERROR: {r['error']}"])
                continue
            speed = (fmt_ratio(r["words_per_s"] / next(
                     (g["words_per_s"] for g in by if g["library"] == "gensim"
                      and not g["error"]), float("nan"))) if r is lf_row and len(by) > 1 else "")
            rows.append([name, r["library"], f"{r['words_per_s'] / 1e3:,.0f}k",
                         f"{r['train_s']:.1f}", f"{r['vocab_s']:.1f}",
                         fmt(r.get("wordsim353_rho"), ".3f"), fmt(r.get("simlex999_rho"), ".3f"),
                         fmt(r.get("analogy_accuracy"), ".3f"), speed])
    env = env_report()
    blas = ", ".join(f"{k}={v}" for k, v in env.items() if k.startswith("OPENBLAS") and v) \
        or "OPENBLAS_* unset"
    notes = [n for n in (corpus["note"],) if n]
    if not have_gensim:
        notes.append("gensim is not installed (pip install 'latentforge[bench]' or gensim): "
                     "latentforge alone")
    p = common
    lines = notes + [
        f"word2vec on {corpus['name']}, {corpus['lines']:,} lines: dim {p['vector_size']}, "
        f"window {p['window']}, min_count {p['min_count']}, sample {p['sample']:g}, "
        f"{p['epochs']} epochs, negative sampling",
        f"  threads={nthreads}; gensim {gensim_version or 'not installed'} (corpus_file mode, "
        f"{blas}, as-is); words/s = corpus tokens x epochs / training s"
        + (f"; medians of {repeats} alternating runs" if repeats > 1 else ""),
        "  quality of both models measured by lf KeyedVectors (gensim's semantics); analogies "
        "restrict_vocab=30000",
        "",
        format_table(["config", "library", "words/s", "train s", "vocab s", "WS353 rho",
                      "SimLex rho", "analogy", "lf speed-up"], rows, align="llrrrrrrr")]
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, {
        "suite": SUITE, "threads": nthreads, "corpus": corpus["name"],
        "corpus_tokens": corpus["tokens"], "gensim": gensim_version, "params": common,
        "repeats": repeats, "notes": notes, **machine_meta()})


def main(argv=None) -> int:
    p = suite_parser(__doc__.splitlines()[0], full_help="the whole 15.7M-token corpus")
    p.add_argument("--tokens", type=int, default=None, help="corpus tokens (whole lines)")
    p.add_argument("--config", action="append", choices=list(CONFIGS), default=None,
                   help="configuration (repeatable; default: all three)")
    args = p.parse_args(argv)
    return suite_main(run, args, tokens=args.tokens, configs=args.config)


if __name__ == "__main__":
    sys.exit(main())
