// Host-memory defaults of the Backend memory interface (see backend.h), used by the CPU backends;
// the names of the matmul precisions.
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

Precision parse_precision(const std::string& text, const std::string& what) {
    if (text == "default") return Precision::standard;
    if (text == "fast") return Precision::fast;
    fail(ErrorKind::invalid_argument, "{} '{}': expected default or fast", what, text);
}

const char* precision_name(Precision precision) {
    return precision == Precision::fast ? "fast" : "default";
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
