"""Where the PyTorch probe's decode step spends its GPU time, kernel by kernel, so the engine's
profile-decode table has its counterpart: the probe's model and step (../shared/bench/
torch_decode_probe.py, everything above its timing loop) compiled as there, run STEPS times under
torch.profiler at BATCH x CTX, kernel time summed per kernel name and divided by STEPS.
  BATCH=256 CTX=512 STEPS=10 python3 e2e/bench/torch_probe_kernels.py .device/torch_decode_probe.py
"""
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

source = open(sys.argv[1]).read()
probe = {}
exec(source[: source.index("CTX=int(")], probe)
B, CTX, STEPS = (int(os.environ.get(k, d)) for k, d in (("BATCH", "256"), ("CTX", "512"), ("STEPS", "10")))
L, NKV, HD = probe["L"], probe["NKV"], probe["HD"]
fn = torch.compile(probe["step"], fullgraph=True, dynamic=False)
kc = [torch.zeros(B, NKV, CTX, HD, device="cuda", dtype=torch.bfloat16) for _ in range(L)]
vc = [torch.zeros(B, NKV, CTX, HD, device="cuda", dtype=torch.bfloat16) for _ in range(L)]
tok = torch.zeros(B, dtype=torch.long, device="cuda")
for _ in range(5):
    fn(tok, kc, vc)
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    for _ in range(STEPS):
        fn(tok, kc, vc)
    torch.cuda.synchronize()
totals = {}
for event in prof.events():
    if event.device_type == torch.autograd.DeviceType.CUDA:
        name = event.name[:60]
        us, n = totals.get(name, (0.0, 0))
        totals[name] = (us + event.device_time, n + 1)
grand = sum(us for us, _ in totals.values())
print(f"probe at batch {B} x context {CTX}, {STEPS} steps\n| kernel | launches | us per step | share |\n| --- | --- | --- | --- |")
for name, (us, n) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
    print(f"| {name} | {n} | {us / STEPS:.1f} | {us / grand:.1%} |")
print(f"| all | {sum(n for _, n in totals.values())} | {grand / STEPS:.1f} | |")
