import CCUDA
import Foundation

/// One kernel argument, passed by value to cuLaunchKernel.
enum KernelArgument {
    case pointer(UInt64)
    case int(Int32)
    case float(Float)
    case int64(Int64)
}

/// The compiled kernels: every `*.cu` file of the kernel folder compiled with NVRTC for this GPU
/// (cubins cached on disk), loaded as modules; functions looked up by their extern "C" name.
final class KernelLibrary: @unchecked Sendable {
    private let context: CUDAContext
    private var modules: [TernCUmodule] = []
    private var functions: [String: TernCUfunction] = [:]
    private let lock = NSLock()
    let compileLog: [String]

    init(context: CUDAContext, compiler: NVRTCCompiler, cache: KernelDiskCache = .standard()) throws {
        self.context = context
        let dir = try KernelSources.directory()
        let fm = FileManager.default
        let files = try fm.contentsOfDirectory(atPath: dir.path).sorted()
        var headers: [String: String] = [:]
        for file in files where file.hasSuffix(".cuh") {
            headers[file] = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
        }
        let options = ["--gpu-architecture=\(context.info.architecture)", "--std=c++17", "-default-device",
                       "--use_fast_math", "-lineinfo"]
        var log: [String] = []
        for file in files where file.hasSuffix(".cu") {
            let source = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            let key = cache.key([source] + headers.keys.sorted().map { $0 + headers[$0]! } + options
                                + [compiler.versionString, "\(context.info.driverVersion)"])
            var cubin = cache.load(key)
            if cubin == nil {
                let result = try compiler.compile(source: source, name: file, headers: headers, options: options)
                if !result.log.isEmpty { log.append(result.log) }
                cache.store(key, result.cubin)
                cubin = result.cubin
            }
            var module: TernCUmodule?
            try cubin!.withUnsafeBytes { bytes in
                try context.driver.check(context.driver.cuModuleLoadData(&module, bytes.baseAddress), "cuModuleLoadData(\(file))")
            }
            modules.append(module!)
        }
        compileLog = log
    }

    func function(_ name: String) throws -> TernCUfunction {
        lock.lock()
        defer { lock.unlock() }
        if let f = functions[name] { return f }
        for module in modules {
            var f: TernCUfunction?
            if context.driver.cuModuleGetFunction(&f, module, name) == 0, let f {
                functions[name] = f
                return f
            }
        }
        throw CUDAError(call: "cuModuleGetFunction(\(name))", code: 500, message: "no kernel named \(name) in the kernel modules")
    }

    /// Enqueues `name` on `stream` with `arguments` (in the kernel's parameter order).
    /// `programmaticDependency`: launch with programmatic stream serialization (PDL), so the kernel's
    /// blocks may start while the previous kernel on the stream still runs; such a kernel must
    /// execute `griddepcontrol.wait` before it reads anything the previous kernels wrote.
    func launch(_ name: String, grid: (Int, Int, Int), block: Int, sharedBytes: Int = 0, stream: TernCUstream?,
                programmaticDependency: Bool = false, _ arguments: [KernelArgument]) throws {
        let f = try function(name)
        if sharedBytes > 48 * 1024 {
            try context.driver.check(context.driver.cuFuncSetAttribute(f, Int32(TERN_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), Int32(sharedBytes)),
                                     "cuFuncSetAttribute(\(name))")
        }
        // Every argument lives in its own 8-byte slot; cuLaunchKernel reads the size it expects.
        var slots = [UInt64](repeating: 0, count: max(arguments.count, 1))
        for (i, a) in arguments.enumerated() {
            switch a {
            case .pointer(let p): slots[i] = p
            case .int(let v): slots[i] = UInt64(UInt32(bitPattern: v))
            case .float(let v): slots[i] = UInt64(v.bitPattern)
            case .int64(let v): slots[i] = UInt64(bitPattern: v)
            }
        }
        guard grid.0 > 0 && grid.1 > 0 && grid.2 > 0 else { return }
        try slots.withUnsafeMutableBufferPointer { buffer in
            var pointers: [UnsafeMutableRawPointer?] = (0..<arguments.count).map { UnsafeMutableRawPointer(buffer.baseAddress! + $0) }
            try pointers.withUnsafeMutableBufferPointer { params in
                if programmaticDependency, let launchEx = context.driver.cuLaunchKernelEx {
                    var attribute = TernCUlaunchAttribute()
                    attribute.id = Int32(TERN_CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION)
                    attribute.value.programmaticStreamSerializationAllowed = 1
                    try withUnsafeMutablePointer(to: &attribute) { attr in
                        var config = TernCUlaunchConfig(gridDimX: UInt32(grid.0), gridDimY: UInt32(grid.1), gridDimZ: UInt32(grid.2),
                                                        blockDimX: UInt32(block), blockDimY: 1, blockDimZ: 1,
                                                        sharedMemBytes: UInt32(sharedBytes), hStream: stream, attrs: attr, numAttrs: 1)
                        try context.driver.check(launchEx(&config, f, params.baseAddress, nil), "cuLaunchKernelEx(\(name))")
                    }
                    return
                }
                try context.driver.check(
                    context.driver.cuLaunchKernel(f, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block), 1, 1,
                                                  UInt32(sharedBytes), stream, params.baseAddress, nil),
                    "cuLaunchKernel(\(name))")
            }
        }
    }
}
