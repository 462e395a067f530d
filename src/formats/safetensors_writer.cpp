// Writing safetensors files (see safetensors.h): a JSON header, padded with spaces so that the
// data section starts at a multiple of 8 bytes, then the tensors packed back to back without
// holes, largest element size first so that each is aligned. Everything goes through
// AtomicFileWriter.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "formats/safetensors.h"

namespace encore {

std::string_view safetensors_dtype_name(DType type) {
    switch (type) {
        case DType::f32:
            return "F32";
        case DType::f16:
            return "F16";
        case DType::bf16:
            return "BF16";
        case DType::i32:
            return "I32";
        case DType::q8_0:
        case DType::q4_0:
            break;
    }
    fail(ErrorKind::unsupported, "safetensors cannot hold {} tensors", dtype_name(type));
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // nlohmann::ordered_json keeps the tensors in the order given.
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [key, value] : metadata) meta[key] = value;
        header["__metadata__"] = std::move(meta);
    }
    // The data is laid out by element size, largest first (stable), so that every tensor is
    // aligned to its element size, as the reference implementation does.
    std::vector<size_t> order(tensors.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return dtype_block_bytes(tensors[a].dtype) > dtype_block_bytes(tensors[b].dtype);
    });
    std::set<std::string_view> names;
    std::vector<uint64_t> sizes;
    uint64_t offset = 0;
    for (size_t i : order) {
        const TensorToWrite& t = tensors[i];
        if (t.name.empty() || t.name == "__metadata__")
            fail(ErrorKind::invalid_argument, "{}: invalid tensor name '{}'", path, t.name);
        if (!names.insert(t.name).second)
            fail(ErrorKind::invalid_argument, "{}: tensor '{}' given twice", path, t.name);
        if (dtype_is_quantized(t.dtype))
            fail(ErrorKind::unsupported, "{}: tensor '{}': safetensors cannot hold {} tensors",
                 path, t.name, dtype_name(t.dtype));
        const std::string_view dtype = safetensors_dtype_name(t.dtype);
        uint64_t n_bytes = uint64_t(dtype_block_bytes(t.dtype));
        for (int64_t d : t.shape) {
            if (d < 0)
                fail(ErrorKind::invalid_argument, "{}: tensor '{}': negative dimension {}", path,
                     t.name, d);
            if (__builtin_mul_overflow(n_bytes, uint64_t(d), &n_bytes))
                fail(ErrorKind::invalid_argument, "{}: tensor '{}': too many elements", path,
                     t.name);
        }
        if (n_bytes > 0 && !t.data)
            fail(ErrorKind::invalid_argument, "{}: tensor '{}': no data", path, t.name);
        header[t.name] = {
            {"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + n_bytes}}};
        sizes.push_back(n_bytes);
        offset += n_bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');

    AtomicFileWriter out(path);
    const uint64_t header_len = text.size();
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = uint8_t(header_len >> (8 * i));
    out.write(len_bytes, 8);
    out.write(text);
    for (size_t k = 0; k < order.size(); ++k)
        if (sizes[k] > 0) out.write(tensors[order[k]].data, sizes[k]);
    out.commit();
}

}  // namespace encore
