// Writing GGUF v3 files as ggml / llama.cpp read them: metadata in insertion order (with
// `general.alignment` = 32 unless set), tensor infos with dims innermost first, and the data
// section aligned, each tensor padded to the alignment. Used by `encore convert` and for test
// data. The file is written through AtomicFileWriter, so a failure leaves nothing behind.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "formats/gguf.h"

namespace encore {

class GgufWriter {
  public:
    // Setting a key again replaces its value and keeps its position. Keys must be non-empty.
    void set_string(std::string_view key, std::string_view value);
    void set_u8(std::string_view key, uint8_t value);
    void set_i8(std::string_view key, int8_t value);
    void set_u16(std::string_view key, uint16_t value);
    void set_i16(std::string_view key, int16_t value);
    void set_u32(std::string_view key, uint32_t value);
    void set_i32(std::string_view key, int32_t value);
    void set_u64(std::string_view key, uint64_t value);
    void set_i64(std::string_view key, int64_t value);
    void set_f32(std::string_view key, float value);
    void set_f64(std::string_view key, double value);
    void set_bool(std::string_view key, bool value);
    void set_string_array(std::string_view key, const std::vector<std::string>& values);
    void set_f32_array(std::string_view key, const std::vector<float>& values);
    void set_i32_array(std::string_view key, const std::vector<int32_t>& values);
    bool has(std::string_view key) const;

    // Adds a tensor of `dtype` (f32, f16, bf16, q8_0, q4_0, i32) with `shape` outermost first
    // (1 to 4 dims; for quantized types the innermost a multiple of 32). `data` holds the rows
    // back to back and must stay valid until write() returns. ErrorKind::invalid_argument for a
    // duplicate name, a name of 64 bytes or more (ggml's limit), or a bad shape.
    void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data);

    size_t n_tensors() const { return tensors_.size(); }
    size_t n_kv() const { return kvs_.size(); }

    void write(const std::string& path) const;

  private:
    struct Kv {
        std::string key;
        GgufType type;
        std::string value;  // the encoded value (arrays: element type, count, elements)
    };
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;  // outermost first
        const void* data;
        uint64_t n_bytes;
    };
    void set(std::string_view key, GgufType type, std::string value);

    std::vector<Kv> kvs_;
    std::vector<Tensor> tensors_;
};

}  // namespace encore
