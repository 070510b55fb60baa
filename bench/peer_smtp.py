"""Peer for the digest benchmark's sending half: Python's smtplib sends N multipart
(text + HTML) messages of the same size as paperscout's digests to the same loopback SMTP
server, over CONNECTIONS connections at once. Prints mails/s and peak RSS.
    python3 bench/peer_smtp.py HOST:PORT N BYTES_PER_MAIL CONNECTIONS
"""
import resource
import smtplib
import sys
import threading
import time
from email.message import EmailMessage

host, port = sys.argv[1].split(":")
n, size, conns = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
words = ("retrieval dense sparse encoder transformer contrastive embedding passage ranking "
         "claim evidence protein cell gene study results method model ").split()


def message(i):
    body = " ".join(words[(i + j) % len(words)] for j in range(size // 16))
    m = EmailMessage()
    m["From"] = "paperscout <digest@papers.example.org>"
    m["To"] = f"reader{i}@example.org"
    m["Subject"] = "paperscout · 5 trending, 3 for you"
    m.set_content(body)
    m.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
    return m


def worker(ids):
    with smtplib.SMTP(host, int(port)) as s:
        for i in ids:
            s.send_message(message(i))


start = time.perf_counter()
threads = [threading.Thread(target=worker, args=(range(k, n, conns),)) for k in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"peer (smtplib, {conns} connections): {n} mails in {elapsed:.1f} s, {n / elapsed:.0f} mails/s; peak RSS {peak:.0f} MiB")
