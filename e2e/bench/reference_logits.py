"""Reference logits and greedy tokens of a checkpoint on disk, for the engine's reference test.

Writes DIR/expected.json (the weights in float32) and DIR/expected.bfloat16.json (in bfloat16),
in the format of e2e/fixtures (see make_fixtures.py), from transformers' eager attention. Then:

  python3 e2e/bench/reference_logits.py --model /tmp/llama-1b
  TS_REFERENCE_MODEL=/tmp/llama-1b TS_DEVICE=cuda vitest run src/model/model-runner.reference.test.ts
"""
import argparse
import os
import sys

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_fixtures import make_case, prepare_for_generation, to_bfloat16_keeping_buffers, write_expected  # noqa: E402

PROMPTS = [[128000, 791, 4062, 14198, 39935, 35308, 927, 279], [128000] + list(range(1000, 1024))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--new", type=int, default=16)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model.to(device).eval()
    prepare_for_generation(model)
    cases = [make_case(model, prompt, args.new) for prompt in PROMPTS]
    write_expected(os.path.join(args.model, "expected.json"), "float32", cases)
    bf16 = to_bfloat16_keeping_buffers(model)
    prepare_for_generation(bf16)
    cases = [make_case(bf16, prompt, args.new) for prompt in PROMPTS]
    write_expected(os.path.join(args.model, "expected.bfloat16.json"), "bfloat16", cases)


if __name__ == "__main__":
    main()
