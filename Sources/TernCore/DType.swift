/// Element types Tern reads from checkpoints and stores in tensors.
public enum DType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case f8e4m3 = "F8_E4M3"
    case i8 = "I8"
    case u8 = "U8"
    case i32 = "I32"
    case i64 = "I64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .f8e4m3, .i8, .u8: return 1
        case .i64: return 8
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16, .f8e4m3: return true
        default: return false
        }
    }

    /// The name safetensors headers use.
    public var safetensorsName: String { rawValue }

    public init?(safetensorsName: String) { self.init(rawValue: safetensorsName) }

    /// Parses the `torch_dtype` / `dtype` strings found in config.json.
    public init?(torchName: String) {
        switch torchName.lowercased() {
        case "float32", "float", "fp32": self = .f32
        case "float16", "half", "fp16": self = .f16
        case "bfloat16", "bf16": self = .bf16
        default: return nil
        }
    }

    public var description: String { rawValue }
}
