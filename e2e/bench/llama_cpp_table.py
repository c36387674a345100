"""Markdown rows for llama.cpp in the decode benchmark table, from e2e/bench/llama_cpp_bench.sh's outputs.

  python3 e2e/bench/llama_cpp_table.py --label "v0.5.0 de3ff81" --npl 1,8,64 \
      --batched /tmp/out/llama_batched_bench.jsonl [--bench /tmp/out/llama_bench.json] \
      [--commands /tmp/out/llama_cpp_commands.txt] [--rows-only]

Rows come from llama-batched-bench (`--output-format jsonl`), B independent sequences of npp prompt
tokens then ntg generated tokens each: prefill tok/s = S_PP (B*npp / prefill time), decode tok/s =
S_TG (B*ntg / generation time, all sequences together). With several runs (one jsonl line per run and
batch) the median is taken. llama-bench's single-sequence numbers follow as a cross-check.
"""
import argparse
import json
import statistics
import sys


def load_jsonl(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def load_llama_bench(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # `-o json` prints one JSON array; tolerate stray log lines around it.
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ValueError(f"{path}: no JSON array found")
    return json.loads(text[start:end + 1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True, help="version/commit shown after 'llama.cpp'")
    ap.add_argument("--batched", required=True, help="llama-batched-bench jsonl lines")
    ap.add_argument("--bench", help="llama-bench -o json output")
    ap.add_argument("--commands", help="file with the commands that were run")
    ap.add_argument("--npl", default="1,8,64", help="batches that must be present")
    ap.add_argument("--rows-only", action="store_true")
    args = ap.parse_args()

    want = [int(b) for b in args.npl.split(",") if b.strip()]
    runs = load_jsonl(args.batched)
    by_pl: dict[int, list[dict]] = {}
    for r in runs:
        by_pl.setdefault(int(r["pl"]), []).append(r)
    missing = [b for b in want if b not in by_pl]
    if missing:
        print(f"llama_cpp_table: no llama-batched-bench result for batch {missing} in {args.batched} "
              "(batched-bench skips a configuration that does not fit in -c)", file=sys.stderr)
        return 1

    engine = f"llama.cpp {args.label}".strip()
    if not args.rows_only:
        print("| engine | batch | prefill tok/s | decode tok/s |")
        print("| --- | --- | --- | --- |")
    for b in want:
        rs = by_pl[b]
        pp = statistics.median(float(r["speed_pp"]) for r in rs)
        tg = statistics.median(float(r["speed_tg"]) for r in rs)
        print(f"| {engine} | {b} | {pp:.0f} | {tg:.1f} |")
    if args.rows_only:
        return 0

    print()
    r0 = by_pl[want[0]][0]
    print(f"llama-batched-bench: npp {r0['pp']}, ntg {r0['tg']}, n_kv_max {r0['n_kv_max']}, n_batch {r0['n_batch']}, "
          f"n_ubatch {r0['n_ubatch']}, flash_attn {r0['flash_attn']}, n_gpu_layers {r0['n_gpu_layers']}; "
          f"median of {min(len(by_pl[b]) for b in want)} run(s); spread (min-max):")
    for b in want:
        pps = [float(r["speed_pp"]) for r in by_pl[b]]
        tgs = [float(r["speed_tg"]) for r in by_pl[b]]
        print(f"- batch {b}: prefill {min(pps):.0f}-{max(pps):.0f}, decode {min(tgs):.1f}-{max(tgs):.1f} tok/s")

    if args.bench:
        tests = load_llama_bench(args.bench)
        if tests:
            t0 = tests[0]
            print()
            print(f"llama-bench (one sequence; build {t0.get('build_commit')} #{t0.get('build_number')}, "
                  f"{t0.get('backends')}, {t0.get('gpu_info') or t0.get('cpu_info')}, "
                  f"model {t0.get('model_type')}, fa {t0.get('flash_attn')}, ngl {t0.get('n_gpu_layers')}):")
            for t in tests:
                name = f"pp{t['n_prompt']}" if t.get("n_prompt") and not t.get("n_gen") else \
                       f"tg{t['n_gen']}" if t.get("n_gen") and not t.get("n_prompt") else \
                       f"pp{t.get('n_prompt')}+tg{t.get('n_gen')}"
                print(f"- {name}: {float(t['avg_ts']):.1f} ± {float(t.get('stddev_ts', 0)):.1f} tok/s")

    if args.commands:
        print()
        print("commands:")
        with open(args.commands, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    print(f"    {line.rstrip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
