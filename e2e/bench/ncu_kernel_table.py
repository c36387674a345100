"""Sums an ncu CSV (--metrics gpu__time_duration.sum --csv) by kernel: a table of where decode time goes.

  ncu --clock-control none --graph-profiling node --metrics gpu__time_duration.sum --csv \
      --print-units base node dist/bench/decode-bench.js ... > ncu.csv
  python3 e2e/bench/ncu_kernel_table.py ncu.csv [--steps N]
--steps divides the totals by the number of decode steps profiled, giving microseconds per step.
--from-last N --marker K keeps only the launches from the N-th last launch of kernel K on (say the
embedding's gatherRows, launched twice a decode step), so a prefill before the steps does not count.
"""
import argparse
import re
import csv
import io
from collections import defaultdict

parser = argparse.ArgumentParser()
parser.add_argument("csv")
parser.add_argument("--steps", type=int, default=1)
parser.add_argument("--from-last", type=int, default=0)
parser.add_argument("--marker", default="gatherRows")
args = parser.parse_args()

text = open(args.csv, encoding="utf-8", errors="replace").read()
start = text.find('"ID"')
launches = []
for row in csv.DictReader(io.StringIO(text[start:])):
    if row.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = re.sub(r"^void |\(anonymous namespace\)::|<unnamed>::", "", row["Kernel Name"])
    launches.append((name.split("(")[0].split("<")[0][:60], row))
if args.from_last:
    marks = [i for i, (name, _) in enumerate(launches) if name.endswith(args.marker)]
    if len(marks) < args.from_last:
        raise SystemExit(f"--from-last {args.from_last}: only {len(marks)} launches of {args.marker} in {args.csv}")
    launches = launches[marks[-args.from_last]:]
total_ns = defaultdict(float)
count = defaultdict(int)
for name, row in launches:
    total_ns[name] += float(row["Metric Value"].replace(",", ""))
    count[name] += 1

grand = sum(total_ns.values())
print(f"| kernel | launches | us per step | share |\n| --- | --- | --- | --- |")
for name, ns in sorted(total_ns.items(), key=lambda kv: -kv[1]):
    print(f"| {name} | {count[name]} | {ns / 1000 / args.steps:.1f} | {ns / grand:.1%} |")
print(f"| all | {sum(count.values())} | {grand / 1000 / args.steps:.1f} | |")
