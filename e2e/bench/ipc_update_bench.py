"""Issue 16's numbers: a PyTorch trainer on the engine's GPU pushes a checkpoint as SGLang's
clients do (CUDA IPC handles, push_weights.py's payloads), CYCLES times whole and in buckets,
and prints a table: time per update over HTTP and on the engine's side (the reply's
duration_ms), its GB/s, and whether device memory grew over the cycles.
  python3 ipc_update_bench.py URL CHECKPOINT.safetensors [--cycles 100] [--bucket-mib 64]
"""
import argparse, gc, os, statistics, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../trainer"))
from push_weights import push_all, read_safetensors  # noqa: E402


def update(url, state, bucket_bytes):
    """One whole update: every tensor, in one request or in buckets. Returns (wall ms, engine ms)."""
    started = time.perf_counter()
    replies = push_all(url, state, bucket_bytes)
    wall = (time.perf_counter() - started) * 1000
    for r in replies:
        if not r.get("success"):
            sys.exit(f"update failed: {r}")
    update.last_message = replies[-1]["message"]
    return wall, sum(r["duration_ms"] for r in replies), len(replies)


def device_free(cuda):
    """The GPU's free bytes (every process's use counts), once the trainer let go what it sent."""
    if not cuda:
        return 0
    gc.collect()
    torch.cuda.ipc_collect()
    torch.cuda.synchronize()
    return torch.cuda.mem_get_info()[0]


def main():
    args = argparse.ArgumentParser()
    args.add_argument("url")
    args.add_argument("checkpoint")
    args.add_argument("--cycles", type=int, default=100)
    args.add_argument("--bucket-mib", type=int, default=64)
    args.add_argument("--device", default="cuda", help="cpu: the tensors travel by shared memory")
    a = args.parse_args()
    cuda = a.device.startswith("cuda")
    state = {n: t.to(a.device).contiguous() for n, t in read_safetensors(a.checkpoint).items()}
    gb = sum(t.numel() * t.element_size() for t in state.values()) / 1e9
    print(f"| trainer push | updates | GB each | requests each | HTTP ms median | p90 | engine ms median "
          f"| engine GB/s | device free change over the updates, MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    said = []
    for label, bucket_bytes in (("whole", 0), (f"{a.bucket_mib} MiB buckets", a.bucket_mib << 20)):
        for _ in range(3):
            update(a.url, state, bucket_bytes)
        free_before = device_free(cuda)
        walls, engine = [], []
        for _ in range(a.cycles):
            wall, ms, requests = update(a.url, state, bucket_bytes)
            walls.append(wall); engine.append(ms)
        grew = (free_before - device_free(cuda)) / 2**20
        walls.sort()
        median = statistics.median(engine)
        print(f"| {label} | {a.cycles} | {gb:.2f} | {requests} | {statistics.median(walls):.1f} | "
              f"{walls[int(0.9 * (len(walls) - 1))]:.1f} | {median:.1f} | {gb / (median / 1000):.0f} | {grew:+.0f} |")
        said.append(f"{label}, the last reply: {update.last_message}")
    print("\n" + "\n".join(said))


if __name__ == "__main__":
    main()
