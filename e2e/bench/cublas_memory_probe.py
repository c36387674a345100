# How much device memory a cuBLAS handle keeps (driver's free memory, before and after).
import ctypes
import torch

torch.zeros(1, device="cuda")
torch.cuda.synchronize()
lib = ctypes.CDLL("/usr/local/cuda/lib64/libcublas.so.13")
MiB = 1024 * 1024


def free():
    torch.cuda.synchronize()
    return torch.cuda.mem_get_info()[0]


a = torch.randn(1024, 1024, device="cuda")
b = torch.randn(1024, 1024, device="cuda")
c = torch.empty(1024, 1024, device="cuda")
f0 = free()
h = ctypes.c_void_p()
assert lib.cublasCreate_v2(ctypes.byref(h)) == 0
f1 = free()
alpha = ctypes.c_float(1.0)
beta = ctypes.c_float(0.0)
for _ in range(2):
    r = lib.cublasSgemm_v2(h, 0, 0, 1024, 1024, 1024, ctypes.byref(alpha), ctypes.c_void_p(a.data_ptr()), 1024,
                           ctypes.c_void_p(b.data_ptr()), 1024, ctypes.byref(beta), ctypes.c_void_p(c.data_ptr()), 1024)
    assert r == 0, r
f2 = free()
ws = torch.empty(32 * MiB, dtype=torch.uint8, device="cuda")
f3 = free()
assert lib.cublasSetWorkspace_v2(h, ctypes.c_void_p(ws.data_ptr()), ctypes.c_size_t(32 * MiB)) == 0
f4 = free()
assert lib.cublasDestroy_v2(h) == 0
f5 = free()
print(f"create: {(f0 - f1) / MiB:.1f} MiB; first gemms: {(f1 - f2) / MiB:.1f} MiB; "
      f"own workspace set: {(f3 - f4) / MiB:.1f} MiB freed by it; destroy gives back {(f5 - f4) / MiB:.1f} MiB; "
      f"left after destroy vs before create: {(f0 - f5) / MiB:.1f} MiB (torch's 32 MiB workspace tensor included)")
