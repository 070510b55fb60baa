"""The peer for the semantic part of `paperscout bench query`: sentence-transformers encoding
each judged query alone (batch of one), as a search does, with the same model files and
thread count. Prints one JSON object with p50/p99 in ms.

    python3 bench/peer_query.py --beir DIR --qrels FILE --model MODEL_DIR [--limit 809] [--threads 2]
"""
import argparse
import json
import math
import time

parser = argparse.ArgumentParser()
parser.add_argument("--beir", required=True)
parser.add_argument("--qrels", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--limit", type=int, default=809)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

torch.set_num_threads(args.threads)
judged = {line.split("\t")[0] for line in open(args.qrels).read().splitlines()[1:] if line.strip()}
queries = {}
for line in open(f"{args.beir}/queries.jsonl"):
    q = json.loads(line)
    if q["_id"] in judged:
        queries[q["_id"]] = q["text"]
texts = [queries[k] for k in sorted(queries)][: args.limit]

model = SentenceTransformer(args.model, device="cpu")
model.max_seq_length = 256
model.encode(["warm up"], normalize_embeddings=True)
ms = []
for t in texts:
    start = time.perf_counter()
    model.encode([t], batch_size=1, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    ms.append((time.perf_counter() - start) * 1000)
ms.sort()
pct = lambda p: ms[min(len(ms), max(1, math.ceil(len(ms) * p))) - 1]  # noqa: E731
print(json.dumps({
    "peer": f"sentence-transformers {__import__('sentence_transformers').__version__} (torch {torch.__version__})",
    "what": "query encoding, one at a time",
    "queries": len(ms),
    "p50_ms": round(pct(0.50), 2),
    "p99_ms": round(pct(0.99), 2),
    "mean_ms": round(sum(ms) / len(ms), 2),
}))
