import CCUDA
import Foundation

/// The CUDA driver API entry points Tern calls, loaded from libcuda.so.1.
final class CUDADriver: @unchecked Sendable {
    let library: DynamicLibrary
    let cuInit: TernPFN_cuInit
    let cuDriverGetVersion: TernPFN_cuDriverGetVersion
    let cuDeviceGetCount: TernPFN_cuDeviceGetCount
    let cuDeviceGet: TernPFN_cuDeviceGet
    let cuDeviceGetName: TernPFN_cuDeviceGetName
    let cuDeviceGetAttribute: TernPFN_cuDeviceGetAttribute
    let cuDevicePrimaryCtxRetain: TernPFN_cuDevicePrimaryCtxRetain
    let cuCtxSetCurrent: TernPFN_cuCtxSetCurrent
    let cuCtxSynchronize: TernPFN_cuCtxSynchronize
    let cuGetErrorName: TernPFN_cuGetErrorName
    let cuGetErrorString: TernPFN_cuGetErrorString
    let cuMemGetInfo: TernPFN_cuMemGetInfo
    let cuMemAlloc: TernPFN_cuMemAlloc
    let cuMemFree: TernPFN_cuMemFree
    let cuMemAllocHost: TernPFN_cuMemAllocHost
    let cuMemFreeHost: TernPFN_cuMemFreeHost
    let cuMemcpyHtoDAsync: TernPFN_cuMemcpyHtoDAsync
    let cuMemcpyDtoHAsync: TernPFN_cuMemcpyDtoHAsync
    let cuMemcpyDtoDAsync: TernPFN_cuMemcpyDtoDAsync
    let cuMemsetD8Async: TernPFN_cuMemsetD8Async
    let cuStreamCreate: TernPFN_cuStreamCreate
    let cuStreamDestroy: TernPFN_cuStreamDestroy
    let cuStreamSynchronize: TernPFN_cuStreamSynchronize
    let cuEventCreate: TernPFN_cuEventCreate
    let cuEventDestroy: TernPFN_cuEventDestroy
    let cuEventRecord: TernPFN_cuEventRecord
    let cuEventSynchronize: TernPFN_cuEventSynchronize
    let cuEventElapsedTime: TernPFN_cuEventElapsedTime
    let cuModuleLoadData: TernPFN_cuModuleLoadData
    let cuModuleGetFunction: TernPFN_cuModuleGetFunction
    let cuFuncSetAttribute: TernPFN_cuFuncSetAttribute
    let cuLaunchKernel: TernPFN_cuLaunchKernel
    /// nil on drivers older than CUDA 12 (programmatic dependent launch is then off).
    let cuLaunchKernelEx: TernPFN_cuLaunchKernelEx?
    let cuStreamBeginCapture: TernPFN_cuStreamBeginCapture
    let cuStreamEndCapture: TernPFN_cuStreamEndCapture
    let cuGraphInstantiateWithFlags: TernPFN_cuGraphInstantiateWithFlags
    let cuGraphLaunch: TernPFN_cuGraphLaunch
    let cuGraphExecDestroy: TernPFN_cuGraphExecDestroy
    let cuGraphDestroy: TernPFN_cuGraphDestroy
    let cuIpcGetMemHandle: TernPFN_cuIpcGetMemHandle
    let cuIpcOpenMemHandle: TernPFN_cuIpcOpenMemHandle
    let cuIpcCloseMemHandle: TernPFN_cuIpcCloseMemHandle
    let cuMemGetAddressRange: TernPFN_cuMemGetAddressRange
    let cuDeviceGetPCIBusId: TernPFN_cuDeviceGetPCIBusId

    init() throws {
        let l = try DynamicLibrary(["libcuda.so.1", "libcuda.so"])
        library = l
        cuInit = try l.symbol("cuInit", as: TernPFN_cuInit.self)
        cuDriverGetVersion = try l.symbol("cuDriverGetVersion", as: TernPFN_cuDriverGetVersion.self)
        cuDeviceGetCount = try l.symbol("cuDeviceGetCount", as: TernPFN_cuDeviceGetCount.self)
        cuDeviceGet = try l.symbol("cuDeviceGet", as: TernPFN_cuDeviceGet.self)
        cuDeviceGetName = try l.symbol("cuDeviceGetName", as: TernPFN_cuDeviceGetName.self)
        cuDeviceGetAttribute = try l.symbol("cuDeviceGetAttribute", as: TernPFN_cuDeviceGetAttribute.self)
        cuDevicePrimaryCtxRetain = try l.symbol("cuDevicePrimaryCtxRetain", as: TernPFN_cuDevicePrimaryCtxRetain.self)
        cuCtxSetCurrent = try l.symbol("cuCtxSetCurrent", as: TernPFN_cuCtxSetCurrent.self)
        cuCtxSynchronize = try l.symbol("cuCtxSynchronize", as: TernPFN_cuCtxSynchronize.self)
        cuGetErrorName = try l.symbol("cuGetErrorName", as: TernPFN_cuGetErrorName.self)
        cuGetErrorString = try l.symbol("cuGetErrorString", as: TernPFN_cuGetErrorString.self)
        cuMemGetInfo = try l.symbol("cuMemGetInfo_v2", as: TernPFN_cuMemGetInfo.self)
        cuMemAlloc = try l.symbol("cuMemAlloc_v2", as: TernPFN_cuMemAlloc.self)
        cuMemFree = try l.symbol("cuMemFree_v2", as: TernPFN_cuMemFree.self)
        cuMemAllocHost = try l.symbol("cuMemAllocHost_v2", as: TernPFN_cuMemAllocHost.self)
        cuMemFreeHost = try l.symbol("cuMemFreeHost", as: TernPFN_cuMemFreeHost.self)
        cuMemcpyHtoDAsync = try l.symbol("cuMemcpyHtoDAsync_v2", as: TernPFN_cuMemcpyHtoDAsync.self)
        cuMemcpyDtoHAsync = try l.symbol("cuMemcpyDtoHAsync_v2", as: TernPFN_cuMemcpyDtoHAsync.self)
        cuMemcpyDtoDAsync = try l.symbol("cuMemcpyDtoDAsync_v2", as: TernPFN_cuMemcpyDtoDAsync.self)
        cuMemsetD8Async = try l.symbol("cuMemsetD8Async", as: TernPFN_cuMemsetD8Async.self)
        cuStreamCreate = try l.symbol("cuStreamCreate", as: TernPFN_cuStreamCreate.self)
        cuStreamDestroy = try l.symbol("cuStreamDestroy_v2", "cuStreamDestroy", as: TernPFN_cuStreamDestroy.self)
        cuStreamSynchronize = try l.symbol("cuStreamSynchronize", as: TernPFN_cuStreamSynchronize.self)
        cuEventCreate = try l.symbol("cuEventCreate", as: TernPFN_cuEventCreate.self)
        cuEventDestroy = try l.symbol("cuEventDestroy_v2", "cuEventDestroy", as: TernPFN_cuEventDestroy.self)
        cuEventRecord = try l.symbol("cuEventRecord", as: TernPFN_cuEventRecord.self)
        cuEventSynchronize = try l.symbol("cuEventSynchronize", as: TernPFN_cuEventSynchronize.self)
        cuEventElapsedTime = try l.symbol("cuEventElapsedTime_v2", "cuEventElapsedTime", as: TernPFN_cuEventElapsedTime.self)
        cuModuleLoadData = try l.symbol("cuModuleLoadData", as: TernPFN_cuModuleLoadData.self)
        cuModuleGetFunction = try l.symbol("cuModuleGetFunction", as: TernPFN_cuModuleGetFunction.self)
        cuFuncSetAttribute = try l.symbol("cuFuncSetAttribute", as: TernPFN_cuFuncSetAttribute.self)
        cuLaunchKernel = try l.symbol("cuLaunchKernel", as: TernPFN_cuLaunchKernel.self)
        cuLaunchKernelEx = try? l.symbol("cuLaunchKernelEx", as: TernPFN_cuLaunchKernelEx.self)
        cuStreamBeginCapture = try l.symbol("cuStreamBeginCapture_v2", as: TernPFN_cuStreamBeginCapture.self)
        cuStreamEndCapture = try l.symbol("cuStreamEndCapture", as: TernPFN_cuStreamEndCapture.self)
        cuGraphInstantiateWithFlags = try l.symbol("cuGraphInstantiateWithFlags", as: TernPFN_cuGraphInstantiateWithFlags.self)
        cuGraphLaunch = try l.symbol("cuGraphLaunch", as: TernPFN_cuGraphLaunch.self)
        cuGraphExecDestroy = try l.symbol("cuGraphExecDestroy", as: TernPFN_cuGraphExecDestroy.self)
        cuGraphDestroy = try l.symbol("cuGraphDestroy", as: TernPFN_cuGraphDestroy.self)
        cuIpcGetMemHandle = try l.symbol("cuIpcGetMemHandle", as: TernPFN_cuIpcGetMemHandle.self)
        cuIpcOpenMemHandle = try l.symbol("cuIpcOpenMemHandle_v2", "cuIpcOpenMemHandle", as: TernPFN_cuIpcOpenMemHandle.self)
        cuIpcCloseMemHandle = try l.symbol("cuIpcCloseMemHandle", as: TernPFN_cuIpcCloseMemHandle.self)
        cuMemGetAddressRange = try l.symbol("cuMemGetAddressRange_v2", as: TernPFN_cuMemGetAddressRange.self)
        cuDeviceGetPCIBusId = try l.symbol("cuDeviceGetPCIBusId", as: TernPFN_cuDeviceGetPCIBusId.self)
    }

    /// Throws a `CUDAError` naming `call` unless `result` is CUDA_SUCCESS.
    func check(_ result: TernCUresult, _ call: @autoclosure () -> String) throws {
        guard result != 0 else { return }
        var name: UnsafePointer<CChar>?
        var text: UnsafePointer<CChar>?
        _ = cuGetErrorName(result, &name)
        _ = cuGetErrorString(result, &text)
        let message = [name, text].compactMap { $0.map { String(cString: $0) } }.joined(separator: ": ")
        throw CUDAError(call: call(), code: Int(result), message: message.isEmpty ? "unknown error" : message)
    }
}

/// What Tern reads about the GPU once.
public struct CUDADeviceInfo: Sendable {
    public var name: String
    public var computeMajor: Int
    public var computeMinor: Int
    public var multiprocessors: Int
    public var l2Bytes: Int
    public var maxSharedPerBlock: Int
    public var driverVersion: Int

    /// NVRTC's target: the arch-specific variant (sm_90a) where the chip has one.
    public var architecture: String {
        let base = "sm_\(computeMajor)\(computeMinor)"
        return computeMajor >= 9 ? base + "a" : base
    }
}

/// One GPU's primary context, made current on the threads that use it.
final class CUDAContext: @unchecked Sendable {
    let driver: CUDADriver
    let device: TernCUdevice
    let context: TernCUcontext
    let info: CUDADeviceInfo

    init(ordinal: Int = 0) throws {
        let d = try CUDADriver()
        driver = d
        try d.check(d.cuInit(0), "cuInit")
        var count: Int32 = 0
        try d.check(d.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard ordinal < count else { throw CUDAError.unavailable("no CUDA device \(ordinal) (\(count) present)") }
        var dev: TernCUdevice = 0
        try d.check(d.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet")
        device = dev
        var ctx: TernCUcontext?
        try d.check(d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        guard let ctx else { throw CUDAError.unavailable("no primary context") }
        context = ctx
        try d.check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        func attribute(_ a: Int32) throws -> Int {
            var v: Int32 = 0
            try d.check(d.cuDeviceGetAttribute(&v, a, dev), "cuDeviceGetAttribute(\(a))")
            return Int(v)
        }
        var nameBuffer = [CChar](repeating: 0, count: 256)
        try d.check(d.cuDeviceGetName(&nameBuffer, 255, dev), "cuDeviceGetName")
        var version: Int32 = 0
        try d.check(d.cuDriverGetVersion(&version), "cuDriverGetVersion")
        info = CUDADeviceInfo(
            name: String(cString: nameBuffer),
            computeMajor: try attribute(Int32(TERN_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)),
            computeMinor: try attribute(Int32(TERN_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)),
            multiprocessors: try attribute(Int32(TERN_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)),
            l2Bytes: try attribute(Int32(TERN_CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)),
            maxSharedPerBlock: try attribute(Int32(TERN_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)),
            driverVersion: Int(version))
    }

    /// Binds the context to the calling thread (the driver keeps one current context per thread).
    func makeCurrent() throws {
        try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    }

    func memoryInfo() throws -> (free: Int, total: Int) {
        var free = 0, total = 0
        try driver.check(driver.cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }
}
