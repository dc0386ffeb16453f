import CCUDA
import Foundation

/// Run-time compilation of CUDA C++ to a cubin for one GPU architecture (libnvrtc).
final class NVRTCCompiler: @unchecked Sendable {
    private let library: DynamicLibrary
    private let getErrorString: TernPFN_nvrtcGetErrorString
    private let version: TernPFN_nvrtcVersion
    private let createProgram: TernPFN_nvrtcCreateProgram
    private let destroyProgram: TernPFN_nvrtcDestroyProgram
    private let compileProgram: TernPFN_nvrtcCompileProgram
    private let getLogSize: TernPFN_nvrtcGetProgramLogSize
    private let getLog: TernPFN_nvrtcGetProgramLog
    private let getCubinSize: TernPFN_nvrtcGetCUBINSize
    private let getCubin: TernPFN_nvrtcGetCUBIN

    init() throws {
        var names = ["libnvrtc.so.13", "libnvrtc.so"]
        if let dir = ProcessInfo.processInfo.environment["TERN_NVRTC_DIR"] { names.insert(dir + "/libnvrtc.so.13", at: 0) }
        let l = try DynamicLibrary(names)
        library = l
        getErrorString = try l.symbol("nvrtcGetErrorString", as: TernPFN_nvrtcGetErrorString.self)
        version = try l.symbol("nvrtcVersion", as: TernPFN_nvrtcVersion.self)
        createProgram = try l.symbol("nvrtcCreateProgram", as: TernPFN_nvrtcCreateProgram.self)
        destroyProgram = try l.symbol("nvrtcDestroyProgram", as: TernPFN_nvrtcDestroyProgram.self)
        compileProgram = try l.symbol("nvrtcCompileProgram", as: TernPFN_nvrtcCompileProgram.self)
        getLogSize = try l.symbol("nvrtcGetProgramLogSize", as: TernPFN_nvrtcGetProgramLogSize.self)
        getLog = try l.symbol("nvrtcGetProgramLog", as: TernPFN_nvrtcGetProgramLog.self)
        getCubinSize = try l.symbol("nvrtcGetCUBINSize", as: TernPFN_nvrtcGetCUBINSize.self)
        getCubin = try l.symbol("nvrtcGetCUBIN", as: TernPFN_nvrtcGetCUBIN.self)
    }

    var versionString: String {
        var major: Int32 = 0, minor: Int32 = 0
        _ = version(&major, &minor)
        return "\(major).\(minor)"
    }

    private func check(_ result: TernNVRTCResult, _ call: String) throws {
        guard result != 0 else { return }
        throw CUDAError(call: call, code: Int(result), message: getErrorString(result).map { String(cString: $0) } ?? "unknown")
    }

    /// Compiles `source` (named `name` in diagnostics, so errors read `name(line): error ...`)
    /// with in-memory `headers` (include name → text). Returns the cubin and the compiler log.
    func compile(source: String, name: String, headers: [String: String], options: [String]) throws -> (cubin: [UInt8], log: String) {
        let headerNames = Array(headers.keys.sorted())
        var program: TernNVRTCProgram?
        let cHeaders = headerNames.map { strdup(headers[$0]!) }
        let cNames = headerNames.map { strdup($0) }
        let cOptions = options.map { strdup($0) }
        defer { (cHeaders + cNames + cOptions).forEach { free($0) } }
        try cHeaders.map { UnsafePointer($0) }.withUnsafeBufferPointer { h in
            try cNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { n in
                try check(createProgram(&program, source, name, Int32(headerNames.count), h.baseAddress, n.baseAddress),
                          "nvrtcCreateProgram(\(name))")
            }
        }
        defer { _ = destroyProgram(&program) }
        let result = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer { o in
            compileProgram(program, Int32(options.count), o.baseAddress)
        }
        var logSize = 0
        try check(getLogSize(program, &logSize), "nvrtcGetProgramLogSize")
        var logBytes = [CChar](repeating: 0, count: max(logSize, 1))
        try check(getLog(program, &logBytes), "nvrtcGetProgramLog")
        let log = String(cString: logBytes)
        if result != 0 {
            throw CUDAError(call: "nvrtcCompileProgram(\(name))", code: Int(result),
                            message: (getErrorString(result).map { String(cString: $0) } ?? "") + "\n" + log)
        }
        var size = 0
        try check(getCubinSize(program, &size), "nvrtcGetCUBINSize")
        var cubin = [UInt8](repeating: 0, count: size)
        try cubin.withUnsafeMutableBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: size) { try check(getCubin(program, $0), "nvrtcGetCUBIN") }
        }
        return (cubin, log)
    }
}

/// Where kernel sources live: `TERN_KERNEL_DIR`, the resource folder beside the binary, the
/// source tree under the working directory, or the source tree this file was built from.
enum KernelSources {
    static func directory() throws -> URL {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["TERN_KERNEL_DIR"] { candidates.append(URL(fileURLWithPath: dir)) }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(executable.appendingPathComponent("Kernels"))
        candidates.append(executable.appendingPathComponent("Tern_TernCUDA.resources/Kernels"))
        candidates.append(URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("Sources/TernCUDA/Kernels"))
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Kernels"))
        for dir in candidates where fm.fileExists(atPath: dir.appendingPathComponent("common.cuh").path) { return dir }
        throw CUDAError.unavailable("kernel sources not found (set TERN_KERNEL_DIR); looked in " + candidates.map(\.path).joined(separator: ", "))
    }
}

/// Cubins on disk, keyed by a hash of source, headers, options, NVRTC and driver versions.
struct KernelDiskCache {
    let directory: URL

    static func standard() -> KernelDiskCache {
        let env = ProcessInfo.processInfo.environment
        let base = env["TERN_KERNEL_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: env["HOME"] ?? NSTemporaryDirectory()).appendingPathComponent(".cache/tern/kernels")
        return KernelDiskCache(directory: base)
    }

    func key(_ parts: [String]) -> String {
        // Two independent 64-bit FNV-1a hashes: collisions would need both to collide.
        var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4
        for part in parts {
            for byte in part.utf8 {
                a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
                b = (b ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 0x9E37
            }
            a = (a ^ 0xFF) &* 0x100_0000_01b3
        }
        return String(format: "%016llx%016llx", a, b)
    }

    func load(_ key: String) -> [UInt8]? {
        (try? Data(contentsOf: directory.appendingPathComponent(key + ".cubin"))).map { [UInt8]($0) }
    }

    func store(_ key: String, _ cubin: [UInt8]) {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let target = directory.appendingPathComponent(key + ".cubin")
        let temporary = directory.appendingPathComponent(key + ".\(getpid()).tmp")
        // Write then rename, so a concurrent reader never sees half a file.
        if (try? Data(cubin).write(to: temporary)) != nil { _ = rename(temporary.path, target.path) }
    }
}
