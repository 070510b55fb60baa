"""The ONNX Runtime peer for `paperscout bench encode`: the same model exported to ONNX and
quantised with ONNX Runtime's dynamic int8 quantisation (per-channel weights, activations per
tensor at run time), encoding the same documents (title + " " + text of the first N BEIR
corpus records) with the same batch size, thread count and 256-token truncation, mean-pooled
and normalised as sentence-transformers does. Prints one JSON object per precision like
paperscout's.

    python3 bench/peer_encode_ort.py --beir DIR --model MODEL_DIR [--limit N] [--threads 2]
        [--work DIR]

Needs torch, transformers (from sentence-transformers), onnx and onnxruntime.
"""
import argparse
import json
import os
import resource
import time

parser = argparse.ArgumentParser()
parser.add_argument("--beir", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--limit", type=int, default=1000)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--work", default="target/bench/ort")
args = parser.parse_args()

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

texts = []
with open(f"{args.beir}/corpus.jsonl") as f:
    for line in f:
        d = json.loads(line)
        title, text = " ".join(d.get("title", "").split()), " ".join(d["text"].split())
        texts.append(f"{title} {text}" if title and text else (title or text))
        if len(texts) >= args.limit:
            break

os.makedirs(args.work, exist_ok=True)
fp32_path = os.path.join(args.work, "model.onnx")
int8_path = os.path.join(args.work, "model-int8.onnx")
tokenizer = AutoTokenizer.from_pretrained(args.model)
if not os.path.exists(int8_path):
    class Encoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = Encoder(AutoModel.from_pretrained(args.model).eval())
    sample = tokenizer(["a sample text"], return_tensors="pt")
    torch.onnx.export(
        model,
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        fp32_path,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True)

for precision, path in [("int8", int8_path), ("fp32", fp32_path)]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    # Batches sorted by length, as sentence-transformers does, so padding stays small.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    start = time.perf_counter()
    out = [None] * len(texts)
    for b in range(0, len(order), args.batch_size):
        idx = order[b:b + args.batch_size]
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=256, return_tensors="np")
        feeds = {k: enc[k].astype(np.int64) for k in ["input_ids", "attention_mask", "token_type_ids"]}
        hidden = session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        for j, i in enumerate(idx):
            out[i] = pooled[j]
    seconds = time.perf_counter() - start
    print(json.dumps({
        "peer": f"onnxruntime {ort.__version__} (dynamic int8 quantisation, per-channel)" if precision == "int8" else f"onnxruntime {ort.__version__}",
        "precision": precision,
        "docs": len(texts),
        "docs_per_s": round(len(texts) / seconds, 2),
        "seconds": round(seconds, 2),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }), flush=True)
