// libFuzzer target for the GGUF reader: parses the input as a whole file, reads every metadata
// value through the accessor its type calls for (and a wrong one), prints every value summary,
// and touches every byte of every supported tensor, converting its last row. Only encore::Error
// may escape; anything else is a bug.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"

namespace {

using namespace encore;

template <typename F>
void guarded(F&& f) {
    try {
        f();
    } catch (const Error&) {
    }
}

void read_value(const GgufFile& file, const GgufKv& kv, volatile uint64_t& sink) {
    sink = sink + file.value_summary(kv).size() + file.value_summary(kv, 1000).size();
    switch (kv.type) {
        case GgufType::string:
            sink = sink + file.get_string(kv.key).size();
            break;
        case GgufType::boolean:
            sink = sink + file.get_bool(kv.key);
            break;
        case GgufType::float32:
        case GgufType::float64:
            sink = sink + uint64_t(file.get_float(kv.key) != 0);
            break;
        case GgufType::array:
            sink = sink + file.array_length(kv.key);
            guarded([&] { sink = sink + file.get_string_array(kv.key).size(); });
            guarded([&] { sink = sink + file.get_float_array(kv.key).size(); });
            guarded([&] { sink = sink + file.get_int_array(kv.key).size(); });
            break;
        default:
            guarded([&] { sink = sink + uint64_t(file.get_int(kv.key)); });
            sink = sink + uint64_t(file.get_float(kv.key) != 0);
            break;
    }
    guarded([&] { file.get_bool(kv.key); });  // wrong for most types: must fail cleanly
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const GgufFile file = GgufFile::from_memory(data, size, "fuzz.gguf");
        volatile uint64_t sink = 0;
        for (const GgufKv& kv : file.metadata()) read_value(file, kv, sink);
        for (const GgufTensorInfo& t : file.tensors()) {
            if (file.find_tensor(t.name) != &t) __builtin_trap();
            const TensorView* v = nullptr;
            try {
                v = file.find(t.name);
            } catch (const Error&) {
                if (t.supported) __builtin_trap();
                continue;
            }
            // TensorView::n_rows() divides by the innermost dimension: only for non-empty views.
            if (v->n_elements() > 0 && uint64_t(v->n_bytes()) != t.n_bytes) __builtin_trap();
            const auto* bytes = static_cast<const uint8_t*>(v->data);
            uint64_t sum = 0;
            for (uint64_t i = 0; i < t.n_bytes; ++i) sum += bytes[i];
            sink = sink + sum;
            const bool aligned = reinterpret_cast<uintptr_t>(v->data) % 4 == 0;
            if (v->dtype != DType::i32 && aligned && v->n_elements() > 0) {
                std::vector<float> row(size_t(v->row_elems()));
                dequantize_row(v->dtype, v->row(v->n_rows() - 1), row.data(), v->row_elems());
            }
        }
    } catch (const Error&) {
    }
    return 0;
}
