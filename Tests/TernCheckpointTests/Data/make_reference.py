# Generates reference.safetensors with the Python `safetensors` package (0.8.0 used), so the
# Swift reader is tested against files written by the reference implementation.
# Run from this directory: python3 make_reference.py   (needs: pip install safetensors numpy)
# The expected values are restated in SafeTensorsReferenceTests.swift.
import ctypes

import numpy as np
import safetensors
from safetensors import TensorSpec

arrays = {
    "f32": np.array([[1.5, -2.0, 0.25], [3.0, 4.0, -5.0]], dtype=np.float32),
    "f16": np.array([0.5, -1.0, 65504.0, 2.0**-24], dtype=np.float16),
    "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
    "u8": np.array([[0, 1], [254, 255]], dtype=np.uint8),
    "i32": np.array([-2147483648, 7, 2147483647], dtype=np.int32),
    "i64": np.array([-(2**40), 1, 2**62], dtype=np.int64),
    "f64": np.array([1.0, 2.0], dtype=np.float64),  # a dtype Tern does not support
    "model.layers.0.input_layernorm.weight": np.ones(8, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
    "scalar": np.array(7.0, dtype=np.float32),
}
# numpy has no bf16 / fp8: give raw bit patterns and let safetensors label them.
raw = {
    # bf16 bits of 1.0, -2.5, 0.15625, 3.0e38-ish (0x7F00 = 2^127)
    "bf16": ("bfloat16", [2, 2], np.array([0x3F80, 0xC020, 0x3E20, 0x7F00], dtype=np.uint16)),
    # e4m3fn codes of 1.0, -2.0, 448, 0.5, 2^-9 (smallest subnormal), -0.0
    "f8": ("float8_e4m3fn", [6], np.array([0x38, 0xC0, 0x7E, 0x30, 0x01, 0x80], dtype=np.uint8)),
}

specs = {}
for name, array in arrays.items():
    array = np.ascontiguousarray(array)
    specs[name] = TensorSpec(dtype=str(array.dtype), shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)
for name, (dtype, shape, array) in raw.items():
    specs[name] = TensorSpec(dtype=dtype, shape=shape, data_ptr=array.ctypes.data, data_len=array.nbytes)

safetensors.serialize_file(specs, "reference.safetensors", metadata={"format": "pt", "generator": "make_reference.py"})
