"""The peer for the "reader library" recommendation benchmark: arxiv-sanity-lite's ranker
(github.com/karpathy/arxiv-sanity-lite), i.e. one tf-idf matrix fitted on the whole corpus and,
per reader, a LinearSVC trained with the reader's library as positives and every other
document as a negative, ranking by the SVM's decision function.

    python3 bench/library_peer.py --beir DIR --split SPLIT.json [--out RANKINGS.jsonl]

DIR is a BEIR directory (corpus.jsonl with {"_id", "title", "text"} lines). SPLIT.json is
{"readers": [{"query": ..., "library": [ids], "not_interested": [ids] (optional),
"heldout": [ids]}, ...]}; "heldout" is not read here (the caller scores with it). Writes one
JSON line per reader, {"query": ..., "ranking": [top 100 ids]}, to --out (default stdout);
the candidates are all documents outside the library and outside not_interested. Progress
and timing go to stderr. Needs numpy and scikit-learn (bench/requirements-library.txt).

Settings and where they come from (arxiv-sanity-lite, current master):

  compute.py, the TfidfVectorizer it builds:
    input='content', encoding='utf-8', decode_error='replace', strip_accents='unicode',
    lowercase=True, analyzer='word', stop_words='english' (scikit-learn's English list),
    token_pattern (?u)\\b[a-zA-Z_][a-zA-Z0-9_]+\\b (a token starts with a letter or
    underscore and is at least two characters; pure numbers never become tokens),
    ngram_range=(1, 2), norm='l2', use_idf=True, smooth_idf=True, sublinear_tf=True.
  compute.py, its argparse defaults: --num 20000 (max_features), --min_df 5 (an int: a
    document count), --max_df 0.1 (a fraction of documents), --max_docs -1 (fit on every
    paper; no subsampling). Older revisions of the file had --num 10000 and --max_df 0.5;
    we follow master.
  compute.py, its corpus: each paper is the space-joined title, abstract ("summary") and
    author names; it fits on all papers and transforms all papers, cast to float32. BEIR
    has no authors, so each document here is title + " " + text.
  serve.py, svm_rank(): y = 1 for papers carrying the tag(s), 0 for every other paper;
    svm.LinearSVC(class_weight='balanced', verbose=False, max_iter=10000, tol=1e-6, C=C),
    fit on the full matrix, s = decision_function(x) over every paper, sorted descending.
  serve.py, main(): C falls back to 0.01 when no svm_c is given ("sensible default").
    The LinearSVC settings it leaves at their defaults (loss='squared_hinge', penalty='l2',
    fit_intercept=True, intercept_scaling=1) are left at the defaults here too; `dual` is
    set to True explicitly because that was scikit-learn's default when arxiv-sanity-lite
    was written (newer releases default to 'auto'). LinearSVC's random_state is fixed
    (0) so that runs repeat.
  serve.py, main(): "skip_have" drops papers already in the user's tags from the list;
    here that is the library (and, our addition, not_interested) being left out of the
    candidates. RET_NUM crops the list; we keep the top 100.

Ties in the decision function keep corpus order (a stable sort), so the output is
deterministic.
"""
import argparse
import json
import sys
import time

try:
    import numpy as np
    from sklearn import svm
    from sklearn.feature_extraction.text import TfidfVectorizer
except ImportError as e:  # pragma: no cover - depends on the machine
    missing = getattr(e, "name", None) or str(e)
    sys.stderr.write(
        f"library_peer.py: missing Python module '{missing}' (needs numpy and scikit-learn).\n"
        "Install with: python3 -m pip install scikit-learn\n"
        "  (or: python3 -m pip install -r bench/requirements-library.txt)\n"
    )
    sys.exit(2)

TOP_K = 100


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", required=True, help="BEIR directory holding corpus.jsonl")
    parser.add_argument("--split", required=True, help="readers JSON (library / not_interested / heldout)")
    parser.add_argument("--out", default=None, help="rankings JSONL (default stdout)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    ids, texts = [], []
    with open(f"{args.beir}/corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            ids.append(str(d["_id"]))
            # compute.py joins title, abstract and authors with spaces; no authors here.
            texts.append(" ".join([d.get("title") or "", d.get("text") or ""]))
    index = {pid: i for i, pid in enumerate(ids)}
    n = len(ids)

    with open(args.split, encoding="utf-8") as f:
        readers = json.load(f)["readers"]
    log(f"library_peer: {n} documents, {len(readers)} readers")

    # compute.py's vectorizer, fitted on every document, then applied to every document.
    vectorizer = TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="replace",
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
    )
    vectorizer.fit(texts)
    x = vectorizer.transform(texts).astype(np.float32)
    t_tfidf = time.perf_counter() - t0
    log(f"library_peer: tf-idf {x.shape[0]}x{x.shape[1]} in {t_tfidf:.2f}s")

    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    t1 = time.perf_counter()
    unknown = 0
    skipped = 0
    for r, reader in enumerate(readers):
        library = [index[p] for p in reader.get("library", []) if p in index]
        not_interested = [index[p] for p in (reader.get("not_interested") or []) if p in index]
        unknown += len(reader.get("library", [])) - len(library)
        unknown += len(reader.get("not_interested") or []) - len(not_interested)

        y = np.zeros(n, dtype=np.float32)
        y[library] = 1.0
        ranking = []
        if 0 < len(library) < n:
            clf = svm.LinearSVC(
                class_weight="balanced",
                verbose=False,
                max_iter=10000,
                tol=1e-6,
                C=0.01,
                dual=True,
                random_state=0,
            )
            clf.fit(x, y)
            s = clf.decision_function(x)
            excluded = np.zeros(n, dtype=bool)
            excluded[library] = True
            excluded[not_interested] = True
            order = np.argsort(-s, kind="stable")
            order = order[~excluded[order]][:TOP_K]
            ranking = [ids[i] for i in order]
        else:
            # serve.py returns nothing when there are no positives.
            skipped += 1
        out.write(json.dumps({"query": reader["query"], "ranking": ranking}) + "\n")
        if (r + 1) % 50 == 0 or r + 1 == len(readers):
            el = time.perf_counter() - t1
            log(f"library_peer: {r + 1}/{len(readers)} readers, {el:.1f}s ({1000 * el / (r + 1):.0f} ms/reader)")
    if out is not sys.stdout:
        out.close()
    else:
        out.flush()
    if unknown:
        log(f"library_peer: warning: {unknown} library/not_interested ids not in the corpus (ignored)")
    if skipped:
        log(f"library_peer: warning: {skipped} readers with an empty library got an empty ranking")
    total = time.perf_counter() - t0
    log(f"library_peer: done in {total:.2f}s (tf-idf {t_tfidf:.2f}s, SVMs {time.perf_counter() - t1:.2f}s)")


if __name__ == "__main__":
    main()
