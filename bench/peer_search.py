"""The peers for retrieval quality (BENCHMARKS.md, "Retrieval quality"): a standard BM25
(bm25s: English stop words, Snowball stemming, k1 1.2, b 0.75, title + text as one field),
sentence-transformers all-MiniLM-L6-v2 (exact cosine), and their convex fusion of z-score
normalised scores over the candidate set (the union of each side's top 100; BM25 weight 0.3),
scored as `paperscout eval` scores (nDCG@10, Recall@100, MRR@10, linear gain, trec_eval's
formulas). One JSON object per system.

    python3 bench/peer_search.py --beir DIR --qrels FILE --model MODEL_DIR [--threads 2]
        [--cache DIR]   (document embeddings kept there between runs, keyed by corpus)
"""
import argparse
import hashlib
import json
import math
import os
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--beir", required=True)
parser.add_argument("--qrels", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--bm25-weight", type=float, default=0.3)
parser.add_argument("--cache", default=None)
parser.add_argument("--bm25-only", action="store_true")
args = parser.parse_args()

ids, texts = [], []
empty = 0
with open(f"{args.beir}/corpus.jsonl") as f:
    for line in f:
        d = json.loads(line)
        title, text = " ".join((d.get("title") or "").split()), " ".join(d["text"].split())
        if not title and not text:
            empty += 1
            continue
        ids.append(str(d["_id"]))
        texts.append(f"{title} {text}" if title and text else (title or text))
queries = {}
with open(f"{args.beir}/queries.jsonl") as f:
    for line in f:
        d = json.loads(line)
        queries[str(d["_id"])] = d["text"]
qrels = {}
with open(args.qrels) as f:
    for i, line in enumerate(f):
        cols = line.rstrip("\n").split("\t")
        if i == 0 and cols[0] == "query-id":
            continue
        qrels.setdefault(cols[0], {})[cols[1]] = int(cols[2])
qids = sorted(q for q, j in qrels.items() if any(r > 0 for r in j.values()))


def metrics(ranked, judged):
    gains = [max(judged.get(d, 0), 0) for d in ranked[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((r for r in judged.values() if r > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    relevant = sum(1 for r in judged.values() if r > 0)
    found = sum(1 for d in ranked[:100] if judged.get(d, 0) > 0)
    rr = next((1 / (i + 1) for i, d in enumerate(ranked[:10]) if judged.get(d, 0) > 0), 0.0)
    return (dcg / idcg if idcg else 0.0, found / relevant if relevant else 0.0, rr)


def report(system, rankings, seconds):
    n = m = r = 0.0
    for q in qids:
        a, b, c = metrics(rankings[q], qrels[q])
        n, r, m = n + a, r + b, m + c
    k = len(qids)
    print(json.dumps({"system": system, "ndcg@10": round(n / k, 4), "recall@100": round(r / k, 4),
                      "mrr@10": round(m / k, 4), "queries": k, "documents": len(ids),
                      "empty_skipped": empty, "seconds": round(seconds, 1)}), flush=True)


import bm25s  # noqa: E402
import Stemmer  # noqa: E402

t = time.time()
stemmer = Stemmer.Stemmer("english")
retriever = bm25s.BM25(k1=1.2, b=0.75)
retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
q_tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer,
                          return_ids=False, show_progress=False)
bm25 = {}
for q, toks in zip(qids, q_tokens):
    bm25[q] = retriever.get_scores(toks) if toks else np.zeros(len(ids), dtype=np.float32)


def top(scores, k=100):
    idx = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [i for i in idx if scores[i] > 0] if scores is not None else idx


report("bm25s", {q: [ids[i] for i in top(bm25[q])] for q in qids}, time.time() - t)
if args.bm25_only:
    raise SystemExit(0)

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

torch.set_num_threads(args.threads)
t = time.time()
model = SentenceTransformer(args.model, device="cpu")
key = hashlib.sha256(("\n".join(ids) + str(len(texts))).encode()).hexdigest()[:16]
path = os.path.join(args.cache, f"st-{key}.npy") if args.cache else None
if path and os.path.exists(path):
    docs = np.load(path)
else:
    docs = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    if path:
        os.makedirs(args.cache, exist_ok=True)
        np.save(path, docs)
qv = model.encode([queries[q] for q in qids], batch_size=32, normalize_embeddings=True,
                  convert_to_numpy=True)
dense = {q: docs @ v for q, v in zip(qids, qv)}


def dense_top(scores, k=100):
    idx = np.argpartition(-scores, k)[:k]
    return idx[np.argsort(-scores[idx], kind="stable")]


report("sentence-transformers", {q: [ids[i] for i in dense_top(dense[q])] for q in qids},
       time.time() - t)


def zfuse(q, w):
    cand = sorted(set(top(bm25[q])) | set(dense_top(dense[q])))
    b, d = bm25[q][cand].astype(np.float64), dense[q][cand].astype(np.float64)
    zb = (b - b.mean()) / (b.std() or 1.0)
    zd = (d - d.mean()) / (d.std() or 1.0)
    fused = w * zb + (1 - w) * zd
    order = np.argsort(-fused, kind="stable")
    return [ids[cand[i]] for i in order[:100]]


report(f"z-score fusion, bm25 weight {args.bm25_weight}",
       {q: zfuse(q, args.bm25_weight) for q in qids}, 0.0)
