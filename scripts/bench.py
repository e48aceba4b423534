"""`make bench`: reply latency through the REST channel and memory of each process.

Starts its own stack on free ports with a throw-away data folder (or uses a
running one with --url), then prints p50/p95 per message type, throughput with
concurrent users, and the RSS of each process tree. Figures on a shared
machine are noisy: compare the ratios printed in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpline.stack import Ports, Stack  # noqa: E402

MESSAGES = {
    "small_talk": ["chào bạn", "cam on ban nhe", "bạn là người hay máy?", "tam biet"],
    "faq": [
        "Tội mua bán người bị phạt tù bao nhiêu năm?",
        "tong dai 111 la gi vay",
        "nạn nhân bị mua bán được hỗ trợ những gì?",
        "dau hieu viec nhe luong cao la gi",
        "môi giới hôn nhân với người nước ngoài có phạm tội không?",
    ],
    "emergency": ["cuu toi voi toi bi nhot o campuchia", "Tôi bị giữ hộ chiếu và không cho về", "help toi bi ban roi"],
}


def post(url: str, sender: str, message: str) -> float:
    body = json.dumps({"sender": sender, "message": message}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - loopback
        replies = json.loads(resp.read())
    elapsed = time.perf_counter() - start
    if not replies:
        raise RuntimeError(f"empty reply to {message!r}")
    return elapsed * 1000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def sequential(url: str, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {kind: [] for kind in MESSAGES}
    for kind, messages in MESSAGES.items():
        for i in range(rounds):
            # Emergencies pause the conversation, so each one needs a new sender.
            sender = f"bench-{kind}-{uuid.uuid4().hex[:6]}" if kind == "emergency" else f"bench-{kind}"
            out[kind].append(post(url, sender, messages[i % len(messages)]))
    return out


def concurrent(url: str, users: int, per_user: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    mix = MESSAGES["faq"] + MESSAGES["small_talk"]

    def user(n: int) -> None:
        nonlocal errors
        for i in range(per_user):
            try:
                ms = post(url, f"bench-user-{n}", mix[(n + i) % len(mix)])
                with lock:
                    latencies.append(ms)
            except Exception:
                with lock:
                    errors += 1

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, errors


def tree_rss_mb(pid: int) -> float:
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, StopIteration):
            continue
    return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="sequential messages per type")
    parser.add_argument("--users", type=int, default=4, help="concurrent simulated users")
    parser.add_argument("--per-user", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="helpline-bench-") as tmp:
        stack = Stack(Path(tmp) / "data", Ports(rasa=5105, actions=5155, handoff=5180), log_dir=Path(tmp))
        t0 = time.perf_counter()
        try:
            stack.start_all(timeout=300)
            url = f"http://127.0.0.1:{stack.ports.rasa}/webhooks/rest/webhook"
            post(url, "bench-warm", "mua ban nguoi la gi")
            cold = time.perf_counter() - t0
            for _ in range(5):
                post(url, "bench-warm", "mua ban nguoi la gi")
            seq = sequential(url, args.rounds)
            wall, lat, errors = concurrent(url, args.users, args.per_user)
            rss = {name: tree_rss_mb(s.process.pid) for name, s in stack.services.items() if s.process}
        finally:
            stack.stop_all()

    print(f"\nCold start (processes started -> first FAQ answer): {cold:.1f} s\n")
    print(f"{'message type':<14}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for kind, values in seq.items():
        print(f"{kind:<14}{len(values):>5}{pct(values, 50):>10.1f}{pct(values, 95):>10.1f}"
              f"{statistics.mean(values):>10.1f}")
    base = pct(seq["small_talk"], 50)
    print(f"\nFAQ p50 / small-talk p50 (rule only, no action server): {pct(seq['faq'], 50) / base:.2f}x")
    print(f"Emergency p50 / small-talk p50: {pct(seq['emergency'], 50) / base:.2f}x")
    n = len(lat)
    print(f"\n{args.users} concurrent users x {args.per_user} messages: {n / wall:.1f} msg/s, "
          f"p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms, errors {errors}")
    print("\nRSS per process tree:")
    for name, mb in rss.items():
        print(f"  {name:<8}{mb:>8.0f} MB")
    print(f"  {'total':<8}{sum(rss.values()):>8.0f} MB")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
