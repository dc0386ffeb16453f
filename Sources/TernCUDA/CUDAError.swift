/// A failed CUDA, NVRTC or cuBLASLt call, named by the call that failed.
public struct CUDAError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int
    public let message: String

    public init(call: String, code: Int, message: String) {
        self.call = call
        self.code = code
        self.message = message
    }

    public var description: String { "\(call) failed (\(code)): \(message)" }

    /// The CUDA stack is missing on this machine (no driver, no GPU, no library).
    public static func unavailable(_ what: String) -> CUDAError {
        CUDAError(call: "cuda", code: -1, message: what)
    }
}
