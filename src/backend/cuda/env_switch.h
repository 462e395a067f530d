// The CUDA backend's environment switches (ENCORE_CUDA_*: another path or setting, for
// comparisons), read by one helper so that each says only its name and the value that turns it.
#pragma once

#include <cstdlib>
#include <cstring>

namespace encore::cuda {

// Whether the environment variable `name` is set to exactly `value`.
inline bool env_equals(const char* name, const char* value) {
    const char* set = std::getenv(name);
    return set && std::strcmp(set, value) == 0;
}

}  // namespace encore::cuda
