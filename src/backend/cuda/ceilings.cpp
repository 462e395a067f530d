// Measures the GPU's ceilings (see ceilings.h).
#include "backend/cuda/ceilings.h"

#include "core/error.h"

#ifdef ENCORE_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/kernels.h"

namespace encore {

namespace {

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Milliseconds of `work` between two events, median of `repeats` after two warm-ups.
template <typename F>
double time_ms(cudaStream_t stream, int repeats, F&& work) {
    cudaEvent_t t0, t1;
    cuda::check_cuda(cudaEventCreate(&t0), "event");
    cuda::check_cuda(cudaEventCreate(&t1), "event");
    std::vector<double> ms;
    for (int r = 0; r < repeats + 2; ++r) {
        cuda::check_cuda(cudaEventRecord(t0, stream), "event");
        work();
        cuda::check_cuda(cudaEventRecord(t1, stream), "event");
        cuda::check_cuda(cudaEventSynchronize(t1), "timed work");
        float elapsed = 0;
        cuda::check_cuda(cudaEventElapsedTime(&elapsed, t0, t1), "event");
        if (r >= 2) ms.push_back(double(elapsed));
    }
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    return median_of(ms);
}

}  // namespace

DeviceCeilings measure_cuda_ceilings(int device) {
    using cuda::check_cuda;
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    DeviceCeilings c;
    c.device_name = prop.name;
    c.memory_gib = double(prop.totalGlobalMem) / double(1 << 30);
    cudaStream_t stream;
    check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    {  // bf16 GEMM 8192^3, f32 accumulation and output, random inputs
        const int64_t n = 8192;
        void *a, *b;
        float* y;
        check_cuda(cudaMalloc(&a, size_t(n * n * 2)), "GEMM inputs");
        check_cuda(cudaMalloc(&b, size_t(n * n * 2)), "GEMM inputs");
        check_cuda(cudaMalloc(reinterpret_cast<void**>(&y), size_t(n * n * 4)), "GEMM output");
        cuda::launch_fill_random(a, DType::bf16, n * n, 1.0f, 1, stream);
        cuda::launch_fill_random(b, DType::bf16, n * n, 1.0f, 2, stream);
        {
            cuda::Gemm gemm(stream, false);
            const double ms = time_ms(stream, 10, [&] { gemm.run(DType::bf16, a, n, n, b, n, y); });
            c.gemm_tflops = 2.0 * double(n) * double(n) * double(n) / (ms * 1e-3) / 1e12;
        }
        cudaFree(a);
        cudaFree(b);
        cudaFree(y);
    }
    {  // device-to-device copy of 4 GiB
        const size_t bytes = size_t(4) << 30;
        void *src, *dst;
        check_cuda(cudaMalloc(&src, bytes), "copy buffers");
        check_cuda(cudaMalloc(&dst, bytes), "copy buffers");
        cuda::launch_fill_random(src, DType::f32, int64_t(bytes / 4), 1.0f, 3, stream);
        const double ms = time_ms(stream, 10, [&] {
            check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream), "copy");
        });
        c.copy_gbps = 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
        cudaFree(src);
        cudaFree(dst);
    }
    cudaStreamDestroy(stream);
    return c;
}

}  // namespace encore

#else

namespace encore {

DeviceCeilings measure_cuda_ceilings(int) {
    fail(ErrorKind::unsupported, "this build of encore has no CUDA backend");
}

}  // namespace encore

#endif  // ENCORE_HAVE_CUDA
