"""A trainer's side of POST /update_weights_from_tensor, with torch only (no SGLang): the state
dict of a safetensors checkpoint pushed as SGLang's MultiprocessingSerializer sends it, as
(name, tensor) pairs or as slime's flattened buckets of at most --bucket-bytes.
  python3 push_weights.py URL CHECKPOINT.safetensors [--bucket-bytes N] [--device cpu|cuda]
Prints one JSON reply per request; exits 1 if any failed.
"""
import argparse, base64, gc, io, json, struct, sys, urllib.request
import torch
import torch.multiprocessing as mp
from multiprocessing.reduction import ForkingPickler

mp.set_sharing_strategy("file_system")  # CPU tensors travel by shared-memory name


def serialize(obj):  # what MultiprocessingSerializer.serialize(obj, output_str=True) makes
    buf = io.BytesIO()
    ForkingPickler(buf).dump(obj)
    return base64.b64encode(buf.getvalue()).decode()


def push(url, payload, load_format=None):
    body = {"serialized_named_tensors": [serialize(payload)], "load_format": load_format}
    req = urllib.request.Request(url + "/update_weights_from_tensor", json.dumps(body).encode(),
                                 {"content-type": "application/json"})
    try:
        return json.load(urllib.request.urlopen(req))
    except urllib.error.HTTPError as error:
        return json.load(error)


def bucket(named):  # slime's FlattenedTensorBucket, its metadata as dicts
    flat = torch.cat([t.flatten().view(torch.uint8) for _, t in named])
    metadata, at = [], 0
    for name, t in named:
        n = t.numel() * t.element_size()
        metadata.append({"name": name, "shape": t.shape, "dtype": t.dtype, "start_idx": at,
                         "end_idx": at + n, "numel": n})
        at += n
    return {"flattened_tensor": flat, "metadata": metadata}


def read_safetensors(path):
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        begin, end = (8 + size + o for o in e["data_offsets"])
        raw = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.uint8)
        out[name] = raw.view(dtypes[e["dtype"]]).reshape(e["shape"])
    return out


def push_all(url, state, bucket_bytes):
    if bucket_bytes == 0:
        return [push(url, list(state.items()))]
    replies, part, size = [], [], 0
    for name, t in state.items():
        part.append((name, t))
        size += t.numel() * t.element_size()
        if size >= bucket_bytes:
            replies.append(push(url, bucket(part), "flattened_bucket"))
            part, size = [], 0
    if part:
        replies.append(push(url, bucket(part), "flattened_bucket"))
    return replies


def main():
    args = argparse.ArgumentParser()
    args.add_argument("url")
    args.add_argument("checkpoint")
    args.add_argument("--bucket-bytes", type=int, default=0, help="0: every tensor in one list")
    args.add_argument("--device", default="cpu")
    args.add_argument("--poison", help="a tensor whose first value is sent as NaN")
    a = args.parse_args()
    state = {n: t.to(a.device).contiguous() for n, t in read_safetensors(a.checkpoint).items()}
    if a.poison:
        state[a.poison].view(-1)[0] = float("nan")
    replies = push_all(a.url, state, a.bucket_bytes)
    for reply in replies:
        print(json.dumps(reply))
    del state
    gc.collect()  # an HTTPError's traceback may hold a payload in a cycle
    held = 0
    if a.device.startswith("cuda"):  # a sent block stays allocated until the engine lets it go
        torch.cuda.ipc_collect()
        held = torch.cuda.memory_allocated()
        if held:
            print(f"the engine still holds {held} bytes of the sent tensors", file=sys.stderr)
    sys.exit(0 if all(r.get("success") for r in replies) and held == 0 else 1 if held else 2)


if __name__ == "__main__":
    main()
