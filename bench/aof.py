"""SET throughput with the AOF on: bocho-server next to redis-server, appendfsync
everysec and always (issue 7's speed targets: >= 0.50 of redis-server's ops/s with
everysec at -P 1, within 2x with always).

    python bench/aof.py [--requests N] [--clients C] [--pipelines 1,16] [--rounds R]
                        [--bocho-cmd CMD]

Each server runs in its own temp dir with `--appendonly yes --appendfsync <policy>
--aof-use-rdb-preamble yes --save ''`; redis-benchmark -t set runs against each in turn
(order alternating per round); the median ops/s and req/CPU-s per policy and pipeline
depth are printed with the bocho/redis ratio."""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Proc, bocho_binary, free_port, run_benchmark  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--policies", default="everysec,always")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bocho-cmd", default=None)
    args = ap.parse_args()
    bocho = shlex.split(args.bocho_cmd) if args.bocho_cmd else [bocho_binary()]
    pipelines = [int(p) for p in args.pipelines.split(",")]
    print(f"{'policy':9} {'-P':>3} {'bocho ops/s':>12} {'redis ops/s':>12} {'ratio':>6} "
          f"{'bocho req/CPU-s':>16} {'redis req/CPU-s':>16}")
    for policy in args.policies.split(","):
        common = ["--save", "", "--appendonly", "yes", "--appendfsync", policy,
                  "--aof-use-rdb-preamble", "yes", "--auto-aof-rewrite-percentage", "0",
                  "--bind", "127.0.0.1"]
        with tempfile.TemporaryDirectory(prefix="bocho-bench-aof-") as work:
            procs = []
            try:
                for name, start in (("bocho", bocho), ("redis", ["redis-server"])):
                    d = Path(work) / name
                    d.mkdir()
                    port = free_port()
                    procs.append(Proc(name, [*start, "--port", str(port), "--dir", str(d),
                                             *common], port, str(d)))
                for p in pipelines:
                    ops: dict[str, list[float]] = {"bocho": [], "redis": []}
                    per_cpu: dict[str, list[float]] = {"bocho": [], "redis": []}
                    n = args.requests * (4 if p > 1 else 1)
                    for r in range(args.rounds):
                        for proc in (procs if r % 2 == 0 else procs[::-1]):
                            rps, cpu = run_benchmark(proc, "set", p, n, args.clients)
                            ops[proc.name].append(rps)
                            per_cpu[proc.name].append(n / cpu if cpu else 0.0)
                    b, rd = (statistics.median(ops[k]) for k in ("bocho", "redis"))
                    bc, rc = (statistics.median(per_cpu[k]) for k in ("bocho", "redis"))
                    print(f"{policy:9} {p:>3} {b:>12.0f} {rd:>12.0f} {b / rd:>6.2f} "
                          f"{bc:>16.0f} {rc:>16.0f}", flush=True)
            finally:
                for proc in procs:
                    proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
