// Tern's own declarations of the few CUDA driver, NVRTC and cuBLASLt entry points it calls.
// Nothing here links against CUDA: TernCUDA dlopen()s the libraries at run time and casts each
// symbol to one of these function-pointer types. Values follow the public API documentation.
#ifndef TERN_CCUDA_H
#define TERN_CCUDA_H

#include <stddef.h>
#include <stdint.h>

// ---- CUDA driver API ----
typedef int TernCUresult;                 // 0 = success
typedef int TernCUdevice;
typedef uint64_t TernCUdeviceptr;
typedef struct TernCUctx_st *TernCUcontext;
typedef struct TernCUmod_st *TernCUmodule;
typedef struct TernCUfunc_st *TernCUfunction;
typedef struct TernCUstream_st *TernCUstream;
typedef struct TernCUevent_st *TernCUevent;
typedef struct TernCUgraph_st *TernCUgraph;
typedef struct TernCUgraphExec_st *TernCUgraphExec;

enum {
    TERN_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    TERN_CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    TERN_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    TERN_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    TERN_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    TERN_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    TERN_CU_STREAM_NON_BLOCKING = 1,
    TERN_CU_EVENT_DEFAULT = 0,
    TERN_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
};

typedef TernCUresult (*TernPFN_cuInit)(unsigned int flags);
typedef TernCUresult (*TernPFN_cuDriverGetVersion)(int *version);
typedef TernCUresult (*TernPFN_cuDeviceGetCount)(int *count);
typedef TernCUresult (*TernPFN_cuDeviceGet)(TernCUdevice *device, int ordinal);
typedef TernCUresult (*TernPFN_cuDeviceGetName)(char *name, int length, TernCUdevice device);
typedef TernCUresult (*TernPFN_cuDeviceGetAttribute)(int *value, int attribute, TernCUdevice device);
typedef TernCUresult (*TernPFN_cuDevicePrimaryCtxRetain)(TernCUcontext *context, TernCUdevice device);
typedef TernCUresult (*TernPFN_cuCtxSetCurrent)(TernCUcontext context);
typedef TernCUresult (*TernPFN_cuCtxSynchronize)(void);
typedef TernCUresult (*TernPFN_cuGetErrorName)(TernCUresult error, const char **name);
typedef TernCUresult (*TernPFN_cuGetErrorString)(TernCUresult error, const char **text);
typedef TernCUresult (*TernPFN_cuMemGetInfo)(size_t *free, size_t *total);
typedef TernCUresult (*TernPFN_cuMemAlloc)(TernCUdeviceptr *pointer, size_t bytes);
typedef TernCUresult (*TernPFN_cuMemFree)(TernCUdeviceptr pointer);
typedef TernCUresult (*TernPFN_cuMemAllocHost)(void **pointer, size_t bytes);
typedef TernCUresult (*TernPFN_cuMemFreeHost)(void *pointer);
typedef TernCUresult (*TernPFN_cuMemcpyHtoDAsync)(TernCUdeviceptr dst, const void *src, size_t bytes, TernCUstream stream);
typedef TernCUresult (*TernPFN_cuMemcpyDtoHAsync)(void *dst, TernCUdeviceptr src, size_t bytes, TernCUstream stream);
typedef TernCUresult (*TernPFN_cuMemcpyDtoDAsync)(TernCUdeviceptr dst, TernCUdeviceptr src, size_t bytes, TernCUstream stream);
typedef TernCUresult (*TernPFN_cuMemsetD8Async)(TernCUdeviceptr dst, unsigned char value, size_t count, TernCUstream stream);
typedef TernCUresult (*TernPFN_cuStreamCreate)(TernCUstream *stream, unsigned int flags);
typedef TernCUresult (*TernPFN_cuStreamDestroy)(TernCUstream stream);
typedef TernCUresult (*TernPFN_cuStreamSynchronize)(TernCUstream stream);
typedef TernCUresult (*TernPFN_cuEventCreate)(TernCUevent *event, unsigned int flags);
typedef TernCUresult (*TernPFN_cuEventDestroy)(TernCUevent event);
typedef TernCUresult (*TernPFN_cuEventRecord)(TernCUevent event, TernCUstream stream);
typedef TernCUresult (*TernPFN_cuEventSynchronize)(TernCUevent event);
typedef TernCUresult (*TernPFN_cuEventElapsedTime)(float *milliseconds, TernCUevent start, TernCUevent end);
typedef TernCUresult (*TernPFN_cuModuleLoadData)(TernCUmodule *module, const void *image);
typedef TernCUresult (*TernPFN_cuModuleGetFunction)(TernCUfunction *function, TernCUmodule module, const char *name);
typedef TernCUresult (*TernPFN_cuFuncSetAttribute)(TernCUfunction function, int attribute, int value);
typedef TernCUresult (*TernPFN_cuLaunchKernel)(TernCUfunction function,
                                               unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                                               unsigned int blockX, unsigned int blockY, unsigned int blockZ,
                                               unsigned int sharedBytes, TernCUstream stream,
                                               void **parameters, void **extra);
// cuLaunchKernelEx (CUDA 12+): a launch with attributes. Tern uses one attribute,
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (6) with value 1 (programmatic dependent
// launch). Layouts as in the driver API: the attribute value is a 64-byte union at offset 8.
enum { TERN_CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6 };
typedef struct TernCUlaunchAttribute {
    int id;
    char pad[4];
    union { char raw[64]; int programmaticStreamSerializationAllowed; unsigned long long align; } value;
} TernCUlaunchAttribute;
typedef struct TernCUlaunchConfig {
    unsigned int gridDimX, gridDimY, gridDimZ;
    unsigned int blockDimX, blockDimY, blockDimZ;
    unsigned int sharedMemBytes;
    TernCUstream hStream;
    TernCUlaunchAttribute *attrs;
    unsigned int numAttrs;
} TernCUlaunchConfig;
typedef TernCUresult (*TernPFN_cuLaunchKernelEx)(const TernCUlaunchConfig *config, TernCUfunction function,
                                                 void **parameters, void **extra);
typedef TernCUresult (*TernPFN_cuStreamBeginCapture)(TernCUstream stream, int mode);
typedef TernCUresult (*TernPFN_cuStreamEndCapture)(TernCUstream stream, TernCUgraph *graph);
typedef TernCUresult (*TernPFN_cuGraphInstantiateWithFlags)(TernCUgraphExec *exec, TernCUgraph graph, unsigned long long flags);
typedef TernCUresult (*TernPFN_cuGraphLaunch)(TernCUgraphExec exec, TernCUstream stream);
typedef TernCUresult (*TernPFN_cuGraphExecDestroy)(TernCUgraphExec exec);
typedef TernCUresult (*TernPFN_cuGraphDestroy)(TernCUgraph graph);

// CUDA IPC (PD disaggregation: a decode server's KV pool opened by a prefill server on the same node).
typedef struct { char reserved[64]; } TernCUipcMemHandle;
enum { TERN_CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS = 1 };
typedef TernCUresult (*TernPFN_cuIpcGetMemHandle)(TernCUipcMemHandle *handle, TernCUdeviceptr pointer);
typedef TernCUresult (*TernPFN_cuIpcOpenMemHandle)(TernCUdeviceptr *pointer, TernCUipcMemHandle handle, unsigned int flags);
typedef TernCUresult (*TernPFN_cuIpcCloseMemHandle)(TernCUdeviceptr pointer);
typedef TernCUresult (*TernPFN_cuMemGetAddressRange)(TernCUdeviceptr *base, size_t *size, TernCUdeviceptr pointer);
typedef TernCUresult (*TernPFN_cuDeviceGetPCIBusId)(char *busId, int length, TernCUdevice device);

// ---- NVRTC ----
typedef int TernNVRTCResult;              // 0 = success
typedef struct TernNVRTCProgram_st *TernNVRTCProgram;

typedef const char *(*TernPFN_nvrtcGetErrorString)(TernNVRTCResult result);
typedef TernNVRTCResult (*TernPFN_nvrtcVersion)(int *major, int *minor);
typedef TernNVRTCResult (*TernPFN_nvrtcCreateProgram)(TernNVRTCProgram *program, const char *source, const char *name,
                                                      int headerCount, const char *const *headers,
                                                      const char *const *includeNames);
typedef TernNVRTCResult (*TernPFN_nvrtcDestroyProgram)(TernNVRTCProgram *program);
typedef TernNVRTCResult (*TernPFN_nvrtcCompileProgram)(TernNVRTCProgram program, int optionCount, const char *const *options);
typedef TernNVRTCResult (*TernPFN_nvrtcGetProgramLogSize)(TernNVRTCProgram program, size_t *size);
typedef TernNVRTCResult (*TernPFN_nvrtcGetProgramLog)(TernNVRTCProgram program, char *log);
typedef TernNVRTCResult (*TernPFN_nvrtcGetCUBINSize)(TernNVRTCProgram program, size_t *size);
typedef TernNVRTCResult (*TernPFN_nvrtcGetCUBIN)(TernNVRTCProgram program, char *cubin);

// ---- cuBLASLt ----
typedef int TernCublasStatus;             // 0 = success
typedef struct TernCublasLtContext_st *TernCublasLtHandle;
typedef struct TernCublasLtMatmulDesc_st *TernCublasLtMatmulDesc;
typedef struct TernCublasLtMatrixLayout_st *TernCublasLtMatrixLayout;
typedef struct TernCublasLtMatmulPreference_st *TernCublasLtMatmulPreference;

/// Opaque algorithm descriptor (8 × 64-bit words in the public API).
typedef struct { uint64_t data[8]; } TernCublasLtMatmulAlgo;

typedef struct {
    TernCublasLtMatmulAlgo algo;
    size_t workspaceSize;
    TernCublasStatus state;
    float wavesCount;
    int reserved[4];
} TernCublasLtHeuristicResult;

enum {
    TERN_CUDA_R_32F = 0,
    TERN_CUDA_R_16F = 2,
    TERN_CUDA_R_16BF = 14,
    TERN_CUDA_R_8F_E4M3 = 28,
    TERN_CUBLAS_COMPUTE_32F = 68,
    TERN_CUBLAS_OP_N = 0,
    TERN_CUBLAS_OP_T = 1,
    TERN_CUBLASLT_MATMUL_DESC_TRANSA = 3,
    TERN_CUBLASLT_MATMUL_DESC_TRANSB = 4,
    TERN_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
    TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
    TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
    TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,
    TERN_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
    TERN_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,
};

typedef TernCublasStatus (*TernPFN_cublasLtCreate)(TernCublasLtHandle *handle);
typedef TernCublasStatus (*TernPFN_cublasLtDestroy)(TernCublasLtHandle handle);
typedef const char *(*TernPFN_cublasLtGetStatusString)(TernCublasStatus status);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulDescCreate)(TernCublasLtMatmulDesc *desc, int computeType, int scaleType);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulDescDestroy)(TernCublasLtMatmulDesc desc);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulDescSetAttribute)(TernCublasLtMatmulDesc desc, int attribute,
                                                                   const void *value, size_t size);
typedef TernCublasStatus (*TernPFN_cublasLtMatrixLayoutCreate)(TernCublasLtMatrixLayout *layout, int dataType,
                                                               uint64_t rows, uint64_t columns, int64_t leadingDimension);
typedef TernCublasStatus (*TernPFN_cublasLtMatrixLayoutSetAttribute)(TernCublasLtMatrixLayout layout, int attribute,
                                                                     const void *value, size_t size);
typedef TernCublasStatus (*TernPFN_cublasLtMatrixLayoutDestroy)(TernCublasLtMatrixLayout layout);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulPreferenceCreate)(TernCublasLtMatmulPreference *preference);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulPreferenceDestroy)(TernCublasLtMatmulPreference preference);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulPreferenceSetAttribute)(TernCublasLtMatmulPreference preference,
                                                                         int attribute, const void *value, size_t size);
typedef TernCublasStatus (*TernPFN_cublasLtMatmulAlgoGetHeuristic)(TernCublasLtHandle handle, TernCublasLtMatmulDesc desc,
                                                                   TernCublasLtMatrixLayout a, TernCublasLtMatrixLayout b,
                                                                   TernCublasLtMatrixLayout c, TernCublasLtMatrixLayout d,
                                                                   TernCublasLtMatmulPreference preference,
                                                                   int requested, TernCublasLtHeuristicResult *results,
                                                                   int *returned);
typedef TernCublasStatus (*TernPFN_cublasLtMatmul)(TernCublasLtHandle handle, TernCublasLtMatmulDesc desc,
                                                   const void *alpha, const void *a, TernCublasLtMatrixLayout aLayout,
                                                   const void *b, TernCublasLtMatrixLayout bLayout,
                                                   const void *beta, const void *c, TernCublasLtMatrixLayout cLayout,
                                                   void *d, TernCublasLtMatrixLayout dLayout,
                                                   const TernCublasLtMatmulAlgo *algo, void *workspace,
                                                   size_t workspaceBytes, TernCUstream stream);

#endif
