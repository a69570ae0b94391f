"""word2vec with noise-contrastive estimation, reproduced with latentforge (results in RESULTS.md).

The reference configuration of the word2vec tutorial our reference texts follow (TensorFlow's
``nce_loss``): skip-gram, NCE with 64 noise words drawn from the log-uniform (Zipfian) sampler
over frequency-sorted ids, a window of 5, plain SGD (word2vec's linearly decaying rate). Trained
on the English corpus of the data set, then: the nearest neighbours (cosine) of twenty frequent
words, WordSim353 / SimLex-999 rho and analogy accuracy, and a t-SNE map of the 500 most
frequent words (``lf.models.TSNE``, labelled points through ``lf.viz.text_scatter``).

    python benchmarks/reproduce_word2vec.py [--tokens N] [--epochs E] [--figure PATH]

(``benchmarks/reproduce_word2vec.py`` is a thin wrapper around this module.) Needs
``text/corpus.txt.gz`` and ``text/eval/`` (``LATENTFORGE_DATA``; see
``latentforge.datasets.find_text_data``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time

import latentforge as lf

#: Twenty frequent words of different kinds whose neighbours are printed.
PROBE_WORDS = ("god", "king", "water", "house", "war", "money", "day", "black", "three", "man",
               "woman", "city", "computer", "file", "music", "church", "horse", "green", "good",
               "law")
# Stop words and punctuation-like tokens left out of the t-SNE map (they crowd its centre).
_MAP_SKIP = frozenset(
    "the of and to a in is or that for as by with be it an which on are this from not 's at "
    "his he i was you have any one all but if can has their they its also used them when will "
    "may so no there been these such other more into than only were had this some".split())


def _corpus(text_dir, tokens: int | None, workdir: str) -> tuple[str, int]:
    """The training file: the whole corpus (gzip, streamed) or its first ``tokens``."""
    src = os.path.join(text_dir, "corpus.txt.gz")
    if tokens is None:
        return src, 15_721_789
    path = os.path.join(workdir, "corpus.txt")
    n = 0
    with gzip.open(src, "rb") as f, open(path, "wb") as out:
        for line in f:
            out.write(line)
            n += len(line.split())
            if n >= tokens:
                break
    return path, n


def run(tokens: int | None = None, epochs: int = 1, seed: int = 0, figure: str | None = None,
        verbose: int = 1) -> dict:
    from latentforge import datasets
    from latentforge.models import TSNE, Word2Vec

    text_dir, report = datasets.find_text_data()
    if text_dir is None:
        raise SystemExit("the word2vec text data was not found: " + "; ".join(report))
    with tempfile.TemporaryDirectory() as tmp:
        path, n_tok = _corpus(str(text_dir), tokens, tmp)
        model = Word2Vec(vector_size=128, window=5, min_count=5, sg=1, loss="nce",
                         negative=64, noise="log_uniform", remove_accidental_hits=True,
                         sample=1e-3, alpha=0.025, min_alpha=1e-4, epochs=epochs, seed=seed,
                         verbose=verbose)
        t0 = time.perf_counter()
        model.fit(corpus_file=path)
        wall = time.perf_counter() - t0
    kv = model.wv
    ev = os.path.join(str(text_dir), "eval")
    (_, _), (ws, _), _ = kv.evaluate_word_pairs(os.path.join(ev, "wordsim353.tsv"))
    (_, _), (sl, _), _ = kv.evaluate_word_pairs(os.path.join(ev, "simlex999.txt"))
    an, _ = kv.evaluate_word_analogies(os.path.join(ev, "questions-words.txt"),
                                       restrict_vocab=30000)
    neighbours = {w: [k for k, _ in kv.most_similar(w, topn=8)] for w in PROBE_WORDS if w in kv}
    words = [w for w in kv.index_to_key if w not in _MAP_SKIP and w.isalpha()][:500]
    Y = TSNE(perplexity=15, random_state=seed).fit_transform(kv[words])
    if figure:
        ax = lf.viz.text_scatter(Y, words)
        ax.set_title(f"t-SNE of the 500 most frequent words (skip-gram, NCE k=64, "
                     f"{n_tok / 1e6:.1f}M tokens x {epochs} epoch(s))")
        ax.figure.savefig(figure, dpi=100, bbox_inches="tight")
    return {"tokens": n_tok, "epochs": epochs, "wall_s": wall, "vocab": len(kv),
            "loss": model.history_["loss"], "wordsim353": ws, "simlex999": sl, "analogy": an,
            "neighbours": neighbours, "words_per_s": model.history_["words_per_s"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=None,
                   help="train on the first N tokens (default: the whole 15.7M corpus)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=os.path.join("benchmarks", "figures",
                                                    "word2vec_nce_tsne.png"))
    a = p.parse_args(argv)
    r = run(a.tokens, a.epochs, a.seed, a.figure)
    print(f"skip-gram, NCE (64 log-uniform noise words), window 5, dim 128: {r['tokens']:,} "
          f"tokens x {r['epochs']} epoch(s), vocabulary {r['vocab']:,}, {r['wall_s']:.0f} s "
          f"({lf.get_num_threads()} threads)")
    print("  mean loss per epoch: " + ", ".join(f"{v:.4f}" for v in r["loss"]))
    print(f"  WordSim353 rho {r['wordsim353']:.3f}, SimLex-999 rho {r['simlex999']:.3f}, "
          f"analogy accuracy {r['analogy']:.3f}")
    print("  nearest neighbours:")
    for w, ns in r["neighbours"].items():
        print(f"    {w:>9}: {', '.join(ns)}")
    if a.figure:
        print(f"  t-SNE map: {a.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
