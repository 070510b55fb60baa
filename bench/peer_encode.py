"""The peer for `paperscout bench encode`: sentence-transformers encoding the same documents
(title + " " + text of the first N BEIR corpus records) with the same model files, batch size
and thread count. Prints one JSON object like paperscout's.

    python3 bench/peer_encode.py --beir DIR --model MODEL_DIR [--limit N] [--threads 2]
"""
import argparse
import json
import resource
import time

parser = argparse.ArgumentParser()
parser.add_argument("--beir", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--limit", type=int, default=1000)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

torch.set_num_threads(args.threads)
texts = []
with open(f"{args.beir}/corpus.jsonl") as f:
    for line in f:
        d = json.loads(line)
        title, text = " ".join(d.get("title", "").split()), " ".join(d["text"].split())
        texts.append(f"{title} {text}" if title and text else (title or text))
        if len(texts) >= args.limit:
            break

model = SentenceTransformer(args.model, device="cpu")
model.max_seq_length = 256
start = time.perf_counter()
model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
seconds = time.perf_counter() - start
print(json.dumps({
    "peer": f"sentence-transformers {__import__('sentence_transformers').__version__} (torch {torch.__version__})",
    "precision": "fp32",
    "docs": len(texts),
    "docs_per_s": round(len(texts) / seconds, 2),
    "seconds": round(seconds, 2),
    "batch_size": args.batch_size,
    "threads": args.threads,
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
}))
