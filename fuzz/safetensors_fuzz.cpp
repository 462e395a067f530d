// libFuzzer target for the safetensors reader: parses the input as a whole file, then touches
// every byte of every tensor view and converts the first row of each aligned float tensor. Only
// encore::Error may escape the parser; anything else (a crash, a sanitizer report, another
// exception) is a bug.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace encore;
    try {
        const SafetensorsFile file = SafetensorsFile::from_memory(data, size, "fuzz.safetensors");
        volatile uint64_t sink = 0;
        for (const auto& [key, value] : file.metadata()) sink = sink + key.size() + value.size();
        for (const SafetensorsTensor& t : file.tensors()) {
            const TensorView* v = nullptr;
            try {
                v = file.find(t.name);
            } catch (const Error&) {
                continue;  // a dtype encore does not handle
            }
            if (!v || v != &file.get(t.name)) __builtin_trap();
            const int64_t n_bytes = v->n_elements() * dtype_block_bytes(v->dtype);
            if (uint64_t(n_bytes) != t.data_end - t.data_begin) __builtin_trap();
            const auto* bytes = static_cast<const uint8_t*>(v->data);
            uint64_t sum = 0;
            for (int64_t i = 0; i < n_bytes; ++i) sum += bytes[i];
            sink = sink + sum;
            const bool aligned =
                reinterpret_cast<uintptr_t>(v->data) % uintptr_t(dtype_block_bytes(v->dtype)) == 0;
            if (v->dtype != DType::i32 && aligned && v->n_elements() > 0) {
                std::vector<float> row(size_t(v->row_elems()));
                dequantize_row(v->dtype, v->row(v->n_rows() - 1), row.data(), v->row_elems());
            }
        }
    } catch (const Error&) {
    }
    return 0;
}
