#!/usr/bin/env python3
"""Compile-checks every kernel of Sources/TernCUDA/Kernels with NVRTC (no GPU needed), the way
TernCUDA compiles them at run time: each .cu alone, the .cuh files as in-memory headers.
Uses the NVRTC of the pip package nvidia-cuda-nvrtc (cu13) when present, or TERN_NVRTC_DIR."""
import ctypes, glob, os, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
kernel_dir = os.environ.get("TERN_KERNEL_DIR", os.path.join(root, "Sources/TernCUDA/Kernels"))
candidates = [os.environ.get("TERN_NVRTC_DIR", ""),
              "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib", "/usr/local/cuda/lib64"]
lib = None
for d in candidates:
    p = os.path.join(d, "libnvrtc.so.13")
    if d and os.path.exists(p):
        lib = ctypes.CDLL(p)
        break
if lib is None:
    sys.exit("libnvrtc.so.13 not found")
arch = sys.argv[1] if len(sys.argv) > 1 else "sm_90a"
headers = {os.path.basename(h): open(h).read() for h in glob.glob(os.path.join(kernel_dir, "*.cuh"))}
names = sorted(headers)
options = [f"--gpu-architecture={arch}", "--std=c++17", "-default-device", "--use_fast_math", "-lineinfo"] + os.environ.get("TERN_NVRTC_EXTRA", "").split()
failed = 0
for path in sorted(glob.glob(os.path.join(kernel_dir, "*.cu"))):
    prog = ctypes.c_void_p()
    hs = (ctypes.c_char_p * len(names))(*[headers[n].encode() for n in names])
    ns = (ctypes.c_char_p * len(names))(*[n.encode() for n in names])
    lib.nvrtcCreateProgram(ctypes.byref(prog), open(path).read().encode(), os.path.basename(path).encode(), len(names), hs, ns)
    opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
    rc = lib.nvrtcCompileProgram(prog, len(options), opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    cubin = ctypes.c_size_t()
    if rc == 0:
        lib.nvrtcGetCUBINSize(prog, ctypes.byref(cubin))
    text = log.value.decode().strip()
    print(f"{os.path.basename(path)}: {'ok' if rc == 0 else 'FAILED'} ({cubin.value} bytes cubin)")
    if text:
        print(text)
    failed += rc != 0
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
sys.exit(1 if failed else 0)
