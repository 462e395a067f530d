// Host-memory defaults of the Backend memory interface (see backend.h), used by the CPU backends;
// the names of the matmul precisions and of the KV storage types.
#include "backend/backend.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace encore {

void* Backend::allocate(size_t bytes) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) fail(ErrorKind::out_of_memory, "cannot allocate {} bytes of host memory", bytes);
    std::memset(p, 0, rounded);
    return p;
}

void Backend::deallocate(void* p) {
    std::free(p);
}

void Backend::copy(void* dst, const void* src, size_t bytes) {
    std::memcpy(dst, src, bytes);
}

void Backend::to_host(void* host_dst, const void* src, size_t bytes) {
    std::memcpy(host_dst, src, bytes);
}

void Backend::from_host(void* dst, const void* host_src, size_t bytes) {
    std::memcpy(dst, host_src, bytes);
}

std::shared_ptr<float> Backend::allocate_shared(size_t n_floats) {
    // The host memory of allocate(), freed as deallocate() frees it, without this backend.
    void* p = Backend::allocate(n_floats * sizeof(float));
    return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}

Precision parse_precision(const std::string& text, const std::string& what) {
    if (text == "default") return Precision::standard;
    if (text == "fast") return Precision::fast;
    fail(ErrorKind::invalid_argument, "{} '{}': expected default or fast", what, text);
}

const char* precision_name(Precision precision) {
    return precision == Precision::fast ? "fast" : "default";
}

DType parse_kv_type(const std::string& text, const std::string& what) {
    if (text == "f32") return DType::f32;
    if (text == "f16") return DType::f16;
    if (text == "bf16") return DType::bf16;
    fail(ErrorKind::invalid_argument, "{} '{}': expected f32, f16 or bf16", what, text);
}

int64_t kv_type_bytes(DType type) {
    ENCORE_ASSERT(type == DType::f32 || type == DType::f16 || type == DType::bf16);
    return type == DType::f32 ? 4 : 2;
}
#ifndef ENCORE_HAVE_CUDA
// Built without the CUDA backend (no nvcc found, or -DENCORE_CUDA=OFF).
std::unique_ptr<Backend> make_cuda_backend(const DeviceOptions&) {
    fail(ErrorKind::unsupported,
         "device 'cuda': this build of encore has no CUDA backend (configure with nvcc present "
         "and -DENCORE_CUDA=ON)");
}

bool cuda_available(std::string* why) {
    if (why) *why = "this build of encore has no CUDA backend";
    return false;
}
#endif

}  // namespace encore
