import TernEngine
import TernServer

/// `--disaggregation-mode`: SGLang's names.
public enum DisaggregationMode: String, Sendable, CaseIterable {
    /// A unified server (prefill and decode together).
    case null
    case prefill
    case decode
}

/// `--disaggregation-transfer-backend`: `tcp` (host memory, any backend and network) or `cuda-ipc`
/// (GPU to GPU on one node). NCCL and RDMA engines (NIXL, Mooncake) would be further cases.
public enum TransferBackendKind: String, Sendable, CaseIterable {
    case tcp
    case cudaIPC = "cuda-ipc"

    public func make() -> any KVTransferBackend {
        switch self {
        case .tcp: return TCPKVTransfer()
        case .cudaIPC: return TCPKVTransfer(payload: .cudaIPC)
        }
    }
}

/// What `tern serve` needs to run as one side of a PD pair.
public struct DisaggregationSetup: Sendable {
    public var mode: DisaggregationMode
    public var transfer: any KVTransferBackend
    /// Address the prefill side's bootstrap service listens on.
    public var bootstrapHost: String
    public var bootstrapPort: Int
    /// Seconds a request may wait for its KV transfer (both sides).
    public var transferTimeout: Double

    public init(mode: DisaggregationMode, transfer: any KVTransferBackend, bootstrapHost: String = "0.0.0.0",
                bootstrapPort: Int = 8998, transferTimeout: Double = 300) {
        self.mode = mode
        self.transfer = transfer
        self.bootstrapHost = bootstrapHost
        self.bootstrapPort = bootstrapPort
        self.transferTimeout = transferTimeout
    }

    /// The runner factory for `ModelService(makeRunner:)`; nil for a unified server. A prefill server
    /// starts its bootstrap service here; `boundBootstrapPort` reports the port (useful with port 0).
    public func makeRunner(boundBootstrapPort: (@Sendable (Int) -> Void)? = nil) -> ((Engine) throws -> any PromptRunner)? {
        switch mode {
        case .null:
            return nil
        case .prefill:
            return { engine in
                try transfer.attach(engine: engine)
                let port = try transfer.startBootstrap(host: bootstrapHost, port: bootstrapPort)
                boundBootstrapPort?(port)
                return PrefillRunner(engine: engine, transfer: transfer, timeout: transferTimeout)
            }
        case .decode:
            return { engine in
                try transfer.attach(engine: engine)
                return DecodeRunner(engine: engine, transfer: transfer, timeout: transferTimeout)
            }
        }
    }
}
