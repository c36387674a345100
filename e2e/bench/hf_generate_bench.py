"""Reference side of `pnpm bench:decode` on the device machine.

Makes a Llama-3.2-1B-shaped model with random weights (bfloat16, saved as safetensors, so the
engine loads the very same weights) and times PyTorch + transformers on it: prefill tokens/s
(one forward pass over batch x prompt tokens) and decode tokens/s (greedy generate of N new
tokens, minus the prefill). Prints a Markdown table shaped like the engine's.

  python3 e2e/bench/hf_generate_bench.py --out /tmp/llama-1b --batches 1,8,64 --prompt 128 --new 128
"""
import argparse
import json
import os
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def make_model(out: str) -> None:
    if os.path.exists(os.path.join(out, "config.json")):
        return
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, vocab_size=128256, max_position_embeddings=4096,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        bos_token_id=128000, eos_token_id=128001,
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)


def timed(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--batches", default="1,8,64")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--make-only", action="store_true", help="write the model and stop")
    args = parser.parse_args()
    make_model(args.out)
    if args.make_only:
        return
    model = LlamaForCausalLM.from_pretrained(args.out, dtype=torch.bfloat16).cuda().eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    print(f"transformers on {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| engine | batch | prefill tok/s | decode tok/s |")
    print("| --- | --- | --- | --- |")
    for batch in [int(b) for b in args.batches.split(",")]:
        ids = torch.randint(0, 128000, (batch, args.prompt), device="cuda")
        with torch.no_grad():
            model(ids)
            prefill = min(timed(lambda: model(ids)) for _ in range(3))
            gen = timed(lambda: model.generate(ids, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False))
        decode = batch * (args.new - 1) / max(gen - prefill, 1e-9)
        print(f"| transformers | {batch} | {batch * args.prompt / prefill:.0f} | {decode:.1f} |")


if __name__ == "__main__":
    main()
