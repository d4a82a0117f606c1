"""Per-round ratio of each server to `bare` (req/s) and the same per server
CPU-second (rps*DUR/srv_cpu_s: robust to other work stealing CPU 0), with
medians. With the ablation's servers (`no-<part>`: `generated` without one
part), a part's cost is the median ratio gained by removing it.
Usage: python3 summarize.py rounds.csv [DUR=15]"""
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
dur = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
rps = lambda r: float(r["rps"])
eff = lambda r: float(r["rps"]) * dur / float(r["srv_cpu_s"])
for proto in ("rest", "grpc", "stream"):
    rs = [r for r in rows if r["proto"] == proto]
    if not rs:
        continue
    by = {(r["round"], r["server"]): r for r in rs}
    servers = [s for s in dict.fromkeys(r["server"] for r in rs) if s != "bare"]
    rounds = sorted({r["round"] for r in rs}, key=int)
    medians = {}
    for s in servers:
        rat = [rps(by[(n, s)]) / rps(by[(n, "bare")]) for n in rounds]
        crat = [eff(by[(n, s)]) / eff(by[(n, "bare")]) for n in rounds]
        print(f"{proto}: {s:>10} / bare per round: " + " ".join(f"{x:.3f}" for x in rat)
              + " | per CPU-second: " + " ".join(f"{x:.3f}" for x in crat))
        medians[s] = (statistics.median(rat), statistics.median(crat))
        med_rps = statistics.median(rps(by[(n, s)]) for n in rounds)
        bare_rps = statistics.median(rps(by[(n, "bare")]) for n in rounds)
        print(f"{proto}: {s:>10} MEDIAN ratio req/s {medians[s][0]:.3f} "
              f"(min {min(rat):.3f} max {max(rat):.3f}); per CPU-second {medians[s][1]:.3f} "
              f"(min {min(crat):.3f} max {max(crat):.3f}); median rps {med_rps:.0f} bare {bare_rps:.0f}")
    # A part's cost, paired within each round (the two builds measured
    # minutes apart at most): how much faster the build without it was than
    # the full one, as a fraction of the full one; the median of the rounds.
    for s in servers:
        if s.startswith("no-") and "generated" in medians:
            part = s[3:]
            gain = [rps(by[(n, s)]) / rps(by[(n, "generated")]) - 1 for n in rounds]
            cgain = [eff(by[(n, s)]) / eff(by[(n, "generated")]) - 1 for n in rounds]
            print(f"{proto}: cost of {part}: {statistics.median(gain):+.3f} of the full build's req/s "
                  f"(rounds {min(gain):+.3f} to {max(gain):+.3f}), "
                  f"{statistics.median(cgain):+.3f} per CPU-second")
