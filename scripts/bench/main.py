"""`make bench`: the assistant under campaign load, on this machine, in one run.

1. Single-machine stack (as `make run`, SQLite, Zalo enabled against a fake Zalo):
   cold start; the baseline (bare Rasa REST round trip of a rule-answered message);
   sequential FAQ; 8 concurrent users over REST; users over the Zalo connector;
   a sustained phase; RSS of each process.
2. Scaled stack (nginx, PostgreSQL tracker, Redis lock store) with 1 and then 2 replicas of
   Rasa and of the action server: the same sustained load, so the two are comparable.
3. Index build time and retrieval latency at 160, 1,000 and 10,000 entries.
4. The staff desk with 1,000 open tickets: queue page, and ``/health`` while queue pages render.

Numbers from a shared 2-core machine are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from helpline.channels.outbox import Outbox
from helpline.stack import Ports, Stack
from helpline.stack_scaled import ScaledPorts, ScaledStack, drop_databases
from scripts.bench import desk_bench, index_bench, profile_summary
from scripts.bench.clients import RestClient, SeenTexts, TimedZalo, reply_ok, rest_user, run_users, zalo_user
from scripts.bench.report import (
    client_cpu_seconds,
    named_cpu_seconds,
    pct,
    print_cpu,
    print_latency,
    print_rss,
    tree_cpu_seconds,
    tree_rss_mb,
)
from scripts.bench.workload import BASELINE_TEXT, Workload

DROP = {"DATABASE_URL", "HELPLINE_STAFF_TOKEN", "RASA_TOKEN"}
CHANNEL_PREFIXES = ("ZALO_", "FACEBOOK_", "TELEGRAM_", "HELPLINE_PG_", "HELPLINE_REDIS_")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


def base_env(fake: TimedZalo | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROP and not k.startswith(CHANNEL_PREFIXES)}
    if fake is not None:
        env.update(fake.env())
    env["HELPLINE_LOG_LEVEL"] = "WARNING"
    # Every simulated user comes from 127.0.0.1: per-IP abuse limits would measure the limiter.
    env["HELPLINE_RATE_LIMIT_IP"] = "off"
    env["HELPLINE_RATE_LIMIT_WEBHOOK_IP"] = "off"
    env["HELPLINE_RATE_LIMIT_NEW_IP"] = "off"
    env["HELPLINE_REST_ENABLED"] = "1"  # simulated users speak REST, also through the scaled stack's nginx
    return env


def start_timed(stack: Stack, url: str) -> float:
    """Seconds from spawning the processes to the first FAQ answer."""
    started = time.perf_counter()
    stack.start_all(timeout=300)
    client = RestClient(url)
    try:
        if not reply_ok("faq", client.say("bench-cold", "mua bán người là gì")):
            raise RuntimeError("the first answer was a fallback")
    finally:
        client.close()
    return time.perf_counter() - started


def sequential(url: str, texts: list[str], kind: str) -> list[float]:
    client = RestClient(url)
    out = []
    try:
        for i, text in enumerate(texts):
            start = time.perf_counter()
            # An emergency pauses its conversation: each one gets a new sender.
            sender = f"bench-seq-{kind}-{i if kind == 'emergency' else i // 5}"
            ok = reply_ok(kind, client.say(sender, text))
            if ok:
                out.append((time.perf_counter() - start) * 1000)
    finally:
        client.close()
    return out


def cpu_of(stack: Stack, servers: bool = False) -> dict[str, float]:
    """CPU seconds so far of each process of the stack, and of the benchmark's own simulated users;
    ``servers`` adds PostgreSQL and Redis (shared with the machine: only other jobs' use is noise)."""
    out = {name: tree_cpu_seconds(s.process.pid) for name, s in stack.services.items() if s.process is not None}
    if servers:
        out["postgresql"] = named_cpu_seconds("postgres")
        out["redis"] = named_cpu_seconds("redis-server")
    out["bench users"] = client_cpu_seconds()
    return out


def rss_of(stack: Stack) -> dict[str, float]:
    return {name: tree_rss_mb(s.process.pid) for name, s in stack.services.items() if s.process is not None}


def start_profilers(stack: Stack, folder: Path, seconds: float) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    """py-spy on Rasa and the action server during the saturating phase (raw profiles in ``folder``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in ("rasa", "actions"):
        service = stack.services[name]
        if service.process is None:
            continue
        raw = folder / f"{name}.raw"
        cmd = [spy, "record", "-p", str(service.process.pid), "--subprocesses", "--format", "raw", "-o", str(raw),
               "-d", str(max(1, int(seconds) - 2)), "-r", "200", "--nonblocking"]
        out.append((name, raw, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    return out


def print_profiles(profilers: list[tuple[str, Path, subprocess.Popen[bytes]]]) -> None:
    for name, raw, process in profilers:
        process.wait(timeout=120)
        if not raw.is_file():
            print(f"  profile of {name}: py-spy wrote nothing (exit {process.returncode})")
            continue
        print(f"  where {name}'s active CPU samples go (py-spy, {raw}):")
        for label, share in profile_summary.summarise(raw)[:12]:
            print(f"    {share:5.1f}%  {label}")


def single_stack(args: argparse.Namespace, workload: Workload, tmp: Path) -> dict[str, Any]:
    fake = TimedZalo().start()
    rasa, actions, handoff = free_ports(3)
    stack = Stack(tmp / "single", Ports(rasa=rasa, actions=actions, handoff=handoff), log_dir=tmp,
                  env=base_env(fake))
    url = f"http://127.0.0.1:{rasa}"
    seen = SeenTexts()
    out: dict[str, Any] = {}
    try:
        print("== single-machine stack (make run): starting ...", flush=True)
        out["cold"] = start_timed(stack, url)
        sequential(url, [BASELINE_TEXT] * 5 + ["tong dai 111 la gi"] * 3, "small_talk")  # warm-up
        base = sequential(url, [BASELINE_TEXT] * args.rounds, "small_talk")
        questions = [workload.questions[i % 40] for i in range(args.rounds)]
        faq = sequential(url, questions, "faq")
        emergency = sequential(url, [workload.emergencies[i % len(workload.emergencies)]
                                     for i in range(args.rounds // 2)], "emergency")
        out["baseline_p50"], out["faq_seq_p50"] = pct(base, 50), pct(faq, 50)
        print(f"\nCold start (processes spawned -> first FAQ answer): {out['cold']:.1f} s")
        print(f"\nSequential, 1 user, {args.rounds} messages each (fresh sender every 5 messages)")
        print(f"  baseline: bare Rasa REST round trip, rule-answered '{BASELINE_TEXT}' (no action server): "
              f"p50 {pct(base, 50):.1f} ms, p95 {pct(base, 95):.1f} ms")
        print(f"  FAQ (first {min(40, args.rounds)} eval questions, each new then repeated): "
              f"p50 {pct(faq, 50):.1f} ms, p95 {pct(faq, 95):.1f} ms")
        print(f"  emergency ({len(emergency)} labelled messages, new sender each): p50 {pct(emergency, 50):.1f} ms, "
              f"p95 {pct(emergency, 95):.1f} ms")
        print(f"  FAQ / baseline (p50): {pct(faq, 50) / max(pct(base, 50), 1e-9):.2f}x")

        think = (args.think_min, args.think_max)
        samples, wall = run_users(rest_user(url, workload, seen, "think", think), args.users, args.think_duration,
                                  10_000)
        print_latency(f"REST, {args.users} concurrent users, realistic conversations with {think[0]:g}-{think[1]:g} s "
                      f"between messages (people read and type), {args.think_duration:.0f} s", samples, wall)
        out["rest"] = samples
        profilers = start_profilers(stack, args.profile, args.duration) if args.profile else []
        samples, wall = run_users(rest_user(url, workload, seen, "rest8"), args.users, args.duration, 10_000)
        print_profiles(profilers)
        print_latency(f"REST, {args.users} concurrent users, no pause between messages (saturating), "
                      f"{args.duration:.0f} s", samples, wall)
        out["rest_saturated"] = samples
        faq_ms = [s.ms for s in samples if s.kind == "faq" and s.ok]
        print(f"  FAQ / baseline (p50 at {args.users} users): {pct(faq_ms, 50) / max(pct(base, 50), 1e-9):.2f}x")

        samples, wall = run_users(zalo_user(url, fake, workload, seen, "zalo"), args.zalo_users, args.zalo_duration,
                                  10_000)
        print_latency(f"Zalo OA connector (signed webhook -> first reply at the fake Zalo API), {args.zalo_users} "
                      f"users, {args.zalo_duration:.0f} s", samples, wall)
        out["zalo"] = samples
        time.sleep(3)  # the last replies leave the outbox
        sent = Outbox.from_url(f"sqlite:///{tmp / 'single' / 'handoff.db'}").list("sent", "zalo", 100_000)
        waits = [(i.sent_at - i.created_at).total_seconds() * 1000 for i in sent if i.sent_at is not None]
        print(f"  outbox, stored -> delivered: p50 {pct(waits, 50):.0f} ms, p95 {pct(waits, 95):.0f} ms "
              f"({len(waits)} messages)")

        cpu_before = cpu_of(stack)
        samples, wall = run_users(rest_user(url, workload, seen, "sustain"), args.sustain_users, args.sustain, 100_000)
        print_latency(f"Sustained: REST, {args.sustain_users} users, {args.sustain:.0f} s", samples, wall)
        print_cpu(cpu_before, cpu_of(stack), len(samples), wall)
        out["sustained"] = (len(samples) / wall, sum(1 for s in samples if not s.ok))
        out["rss"] = rss_of(stack)
        print_rss("RSS per process tree (after the load)", out["rss"])
    finally:
        stack.stop_all()
        fake.stop()
    return out


def scaled_stack(args: argparse.Namespace, workload: Workload, tmp: Path, replicas: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    ports = free_ports(4 + 2 * replicas)
    env = base_env(None)
    env.update(HELPLINE_PG_DB=f"helpline_bench_{tag}", HELPLINE_TRACKER_DB=f"helpline_bench_{tag}_tracker",
               HELPLINE_REDIS_DB="4", HELPLINE_REDIS_PREFIX=f"bench{tag}")
    layout = ScaledPorts(rasa=ports[0], actions=ports[1], handoff=ports[2],
                         rasa_replicas=tuple(ports[3:3 + replicas]),
                         actions_replicas=tuple(ports[3 + replicas:3 + 2 * replicas]), rasa_api=ports[-1])
    stack = ScaledStack(tmp / f"scaled{replicas}", layout, log_dir=tmp / f"logs{replicas}", env=env)
    (tmp / f"logs{replicas}").mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{layout.rasa}"
    out: dict[str, Any] = {}
    try:
        print(f"\n== scaled stack, {replicas} replica(s) of Rasa and of the action server: starting ...", flush=True)
        out["cold"] = start_timed(stack, url)
        sequential(url, [BASELINE_TEXT] * 5 + ["tong dai 111 la gi"] * 3, "small_talk")
        cpu_before = cpu_of(stack, servers=True)
        samples, wall = run_users(rest_user(url, workload, SeenTexts(), f"scaled{replicas}"), args.sustain_users,
                                  args.scale_duration, 100_000)
        print_latency(f"Scaled, {replicas} replica(s), through nginx: {args.sustain_users} users, "
                      f"{args.scale_duration:.0f} s (cold start {out['cold']:.1f} s)", samples, wall)
        print_cpu(cpu_before, cpu_of(stack, servers=True), len(samples), wall)
        out["throughput"] = len(samples) / wall
        out["errors"] = sum(1 for s in samples if not s.ok)
        out["rss"] = rss_of(stack)
        print_rss(f"RSS per process tree, {replicas} replica(s)", out["rss"])
    finally:
        stack.stop_all()
        drop_databases(stack.env)
    return out


def summary(single: dict[str, Any], scaled: dict[int, dict[str, Any]]) -> None:
    rest, busy = single["rest"], single["rest_saturated"]
    faq95 = pct([s.ms for s in rest if s.kind == "faq" and s.ok], 95)
    emergency95 = pct([s.ms for s in rest if s.kind == "emergency" and s.ok], 95)
    busy_faq95 = pct([s.ms for s in busy if s.kind == "faq" and s.ok], 95)
    busy_emergency95 = pct([s.ms for s in busy if s.kind == "emergency" and s.ok], 95)
    rate, errors = single["sustained"]
    rss = sum(single["rss"].values())
    print("\nTargets (this run)")
    checks = [
        (f"FAQ p95, 8 users with pauses {faq95:.0f} ms <= 150 ms", faq95 <= 150),
        (f"FAQ p95, 8 users without pauses {busy_faq95:.0f} ms <= 150 ms", busy_faq95 <= 150),
        (f"emergency p95, 8 users with pauses {emergency95:.0f} ms <= 100 ms", emergency95 <= 100),
        (f"emergency p95, 8 users without pauses {busy_emergency95:.0f} ms <= 100 ms", busy_emergency95 <= 100),
        (f"sustained {rate:.1f} msg/s >= 60 with {errors} errors", rate >= 60 and errors == 0),
        (f"total RSS (single stack) {rss:.0f} MB <= 3072 MB", rss <= 3072),
        (f"cold start {single['cold']:.1f} s <= 45 s", single["cold"] <= 45),
        (f"queue page with 1,000 open tickets p50 {single['desk']['queue_p50']:.0f} ms < 200 ms",
         single["desk"]["queue_p50"] < 200),
    ]
    for text, ok in checks:
        print(f"  {'OK  ' if ok else 'MISS'} {text}")
    if 1 in scaled and 2 in scaled:
        one, two = scaled[1], scaled[2]
        print(f"  scale-out: {two['throughput']:.1f} msg/s with 2 replicas vs {one['throughput']:.1f} with 1 "
              f"({two['throughput'] / max(one['throughput'], 1e-9):.2f}x); total RSS "
              f"{sum(two['rss'].values()):.0f} MB vs {sum(one['rss'].values()):.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="sequential messages for the baseline and FAQ")
    parser.add_argument("--users", type=int, default=8, help="concurrent REST users")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the concurrent REST phase")
    parser.add_argument("--think-min", type=float, default=1.0, help="seconds between a user's messages (min)")
    parser.add_argument("--think-max", type=float, default=3.0, help="seconds between a user's messages (max)")
    parser.add_argument("--think-duration", type=float, default=60.0, help="seconds of the phase with pauses")
    parser.add_argument("--zalo-users", type=int, default=8)
    parser.add_argument("--zalo-duration", type=float, default=20.0)
    parser.add_argument("--sustain-users", type=int, default=16)
    parser.add_argument("--sustain", type=float, default=60.0, help="seconds of the sustained phase")
    parser.add_argument("--scale-duration", type=float, default=30.0, help="seconds per scaled configuration")
    parser.add_argument("--skip-scaled", action="store_true", help="no 1-vs-2 replica comparison")
    parser.add_argument("--skip-index", action="store_true", help="no index build/retrieval benchmark")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="record py-spy profiles of Rasa and the action server during the saturating phase")
    args = parser.parse_args(argv)
    print(f"load average before the run: {os.getloadavg()[0]:.2f} (2 cores); numbers are noisy when it is high")
    workload = Workload()
    scaled: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="helpline-bench-") as name:
        tmp = Path(name)
        single = single_stack(args, workload, tmp)
        if not args.skip_scaled:
            for replicas in (1, 2):
                scaled[replicas] = scaled_stack(args, workload, tmp, replicas)
    if not args.skip_index:
        print("\n== index benchmark", flush=True)
        index_bench.run()
    print("\n== staff desk under a ticket flood", flush=True)
    single["desk"] = desk_bench.run()
    summary(single, scaled)
    errors = single["sustained"][1] + sum(s["errors"] for s in scaled.values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
