"""The PyTorch probe's decode attention alone (torch_decode_probe.py's SDPA call: dense
[batch, kv heads, context, 64] bf16 caches, 32 query heads, enable_gqa), timed per backend at the
shapes of attention_decode_probe.cu, so the KV read rates sit side by side:
  python3 e2e/bench/sdpa_decode_probe.py 256 8192 64 8192 ...   (pairs of batch, context)
SCRUB=1 times each call alone after writing 256 MB (no call finds the KV in L2), as the CUDA probe's
SCRUB=1 does; otherwise 20 calls back to back.
"""
import os, sys, warnings, torch, torch.nn.functional as F
from contextlib import nullcontext
from torch.nn.attention import SDPBackend, sdpa_kernel

NH, NKV, HD = 32, 8, 64
args = [int(a) for a in sys.argv[1:]] or [256, 8192, 64, 8192, 8, 8192, 128, 2048, 256, 2048]
backends = {'default': None, 'flash': SDPBackend.FLASH_ATTENTION, 'efficient': SDPBackend.EFFICIENT_ATTENTION,
            'cudnn': SDPBackend.CUDNN_ATTENTION}
warnings.filterwarnings('ignore')
scrub = torch.empty(256 << 20, dtype=torch.uint8, device='cuda') if os.environ.get('SCRUB') == '1' else None


def time_ms(run, reps=20):
    """Mean ms a call: each alone after a scrub with SCRUB=1, else reps back to back."""
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    if scrub is None:
        start.record()
        for _ in range(reps):
            run()
        stop.record()
        torch.cuda.synchronize()
        return start.elapsed_time(stop) / reps
    total = 0.0
    for i in range(reps):
        scrub.fill_(i)
        start.record()
        run()
        stop.record()
        torch.cuda.synchronize()
        total += start.elapsed_time(stop)
    return total / reps


print('| batch | context | backend | us | KV TB/s |\n| --- | --- | --- | --- | --- |')
for batch, context in zip(args[::2], args[1::2]):
    q = torch.randn(batch, NH, 1, HD, device='cuda', dtype=torch.bfloat16)
    k = torch.randn(batch, NKV, context, HD, device='cuda', dtype=torch.bfloat16)
    v = torch.randn(batch, NKV, context, HD, device='cuda', dtype=torch.bfloat16)
    kv_bytes = 2 * k.numel() * 2
    for name, backend in backends.items():
        def run():
            with sdpa_kernel(backend) if backend is not None else nullcontext():
                return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        try:
            run()
        except RuntimeError as error:
            print(f'| {batch} | {context} | {name} | refused: {str(error).splitlines()[0][:60]} | |')
            continue
        for _ in range(3):
            run()
        ms = time_ms(run)
        print(f'| {batch} | {context} | {name} | {ms * 1e3:.1f} | {kv_bytes / ms / 1e9:.2f} |', flush=True)
    del q, k, v
