// swift-tools-version:6.0
import PackageDescription

// Release builds target Haswell (AVX2 + FMA): without it SIMD multiply-adds become calls to fmaf.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))]

let package = Package(
    name: "Tern",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tern", targets: ["tern"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
    ],
    targets: [
        // Shared vocabulary: dtypes, number formats, errors.
        .target(name: "TernCore", swiftSettings: fastMath),
        // Hugging Face checkpoints: safetensors (memory-mapped), sharded indexes, dummy weights.
        .target(name: "TernCheckpoint", dependencies: ["TernCore"], swiftSettings: fastMath),
        // Backend-neutral operation set and the CPU backend.
        .target(name: "TernBackend", dependencies: ["TernCore"], swiftSettings: fastMath),
        // Declarations of the CUDA driver / NVRTC / cuBLASLt entry points TernCUDA loads with dlopen.
        .target(name: "CCUDA"),
        // The CUDA backend: dlopen-ed driver, NVRTC-compiled kernels (Kernels/*.cu), cuBLASLt GEMMs.
        .target(name: "TernCUDA", dependencies: ["TernCore", "TernBackend", "CCUDA"], resources: [.copy("Kernels")], swiftSettings: fastMath),
        // Model configs and graphs written against the operation set.
        .target(name: "TernModels", dependencies: ["TernCore", "TernCheckpoint", "TernBackend"], swiftSettings: fastMath),
        // tokenizer.json: normalizers, pre-tokenizers, BPE, decoders, streaming detokenizer.
        .target(name: "TernTokenizer", swiftSettings: fastMath),
        // Jinja-subset interpreter for chat templates.
        .target(name: "TernChatTemplate"),
        // Continuous batching: scheduler, paged KV pool, radix prefix cache, sampling.
        .target(name: "TernEngine", dependencies: ["TernCore", "TernBackend", "TernModels", "TernTokenizer"], swiftSettings: fastMath),
        // HTTP front end: OpenAI-compatible and SGLang-native APIs, streaming, metrics.
        .target(
            name: "TernServer",
            dependencies: [
                "TernCore", "TernModels", "TernEngine", "TernTokenizer", "TernChatTemplate",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // Prefill-decode disaggregation (KV transfer backends, prefill/decode runners) and the router.
        .target(
            name: "TernDisaggregation",
            dependencies: [
                "TernCore", "TernBackend", "TernEngine", "TernServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Benchmark client: load generation, serving metrics, concurrency sweeps, Pareto plots.
        .target(
            name: "TernBench",
            dependencies: [
                "TernCore", "TernTokenizer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .executableTarget(
            name: "tern",
            dependencies: [
                "TernCore", "TernCheckpoint", "TernBackend", "TernModels", "TernTokenizer", "TernChatTemplate", "TernEngine", "TernServer", "TernCUDA",
                "TernBench", "TernDisaggregation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastMath),
        .testTarget(name: "TernCheckpointTests", dependencies: ["TernCheckpoint", "TernCore"], exclude: ["Data"]),
        .testTarget(name: "TernBackendTests", dependencies: ["TernBackend"]),
        .testTarget(name: "TernModelsTests", dependencies: ["TernModels", "TernCheckpoint", "TernBackend"]),
        .testTarget(name: "TernEngineTests", dependencies: ["TernEngine", "TernModels", "TernBackend", "TernCheckpoint", "TernCore", "TernTokenizer"]),
        .testTarget(
            name: "TernServerTests",
            dependencies: [
                "TernServer", "TernEngine", "TernModels", "TernBackend",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(
            name: "TernBenchTests",
            dependencies: ["TernBench", "TernServer", "TernEngine", "TernModels", "TernBackend",
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "TernDisaggregationTests",
            dependencies: [
                "TernDisaggregation", "TernServer", "TernEngine", "TernModels", "TernBackend",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        .testTarget(name: "TernTokenizerTests", dependencies: ["TernTokenizer"], exclude: ["Data"]),
        .testTarget(name: "TernChatTemplateTests", dependencies: ["TernChatTemplate"], exclude: ["Data"]),
    ],
    swiftLanguageModes: [.v6]
)
