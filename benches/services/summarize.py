"""Per-round ratio generated/bare (req/s) and the same per server CPU-second
(rps*DUR/srv_cpu_s: robust to other work stealing CPU 0), with medians.
Usage: python3 summarize.py rounds.csv [DUR=15]"""
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
dur = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
for proto in ("rest", "grpc", "stream"):
    rs = [r for r in rows if r["proto"] == proto]
    if not rs:
        continue
    by = {(r["round"], r["server"]): r for r in rs}
    rps = lambda r: float(r["rps"])
    eff = lambda r: float(r["rps"]) * dur / float(r["srv_cpu_s"])
    rat, crat = [], []
    print(f"{proto}: round  gen_rps  bare_rps  ratio | gen_req/cpu-s bare_req/cpu-s ratio | load1")
    for rnd in sorted({r["round"] for r in rs}, key=int):
        g, b = by[(rnd, "generated")], by[(rnd, "bare")]
        rat.append(rps(g) / rps(b)); crat.append(eff(g) / eff(b))
        print(f"{proto}: {rnd:>5} {rps(g):>8.0f} {rps(b):>9.0f} {rat[-1]:>6.3f} | {eff(g):>13.0f} {eff(b):>14.0f} {crat[-1]:>5.3f} | {g['load1']}/{b['load1']}")
    med = lambda s: statistics.median(f(by[k]) for k in by if k[1] == s for f in [rps])
    print(f"{proto}: MEDIAN ratio req/s {statistics.median(rat):.3f} (min {min(rat):.3f} max {max(rat):.3f}); "
          f"per CPU-second {statistics.median(crat):.3f} (min {min(crat):.3f} max {max(crat):.3f}); "
          f"median rps gen {med('generated'):.0f} bare {med('bare'):.0f}")
