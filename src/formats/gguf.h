// The GGUF format of ggml / llama.cpp (versions 2 and 3, little-endian): a header, typed
// key-value metadata, tensor infos (name, dims innermost first, ggml type, offset) and an aligned
// data section. This file owns reading such a file: everything is validated once at open
// (bounded by the bytes actually present, so lying counts and lengths never cause huge
// allocations), metadata values are decoded from the mapping on request with type-checked
// accessors, and tensors are exposed in place as TensorViews with the shape outermost first.
// Tensors of ggml types encore does not handle are listed but fail when their data is asked for.
// The writer is in gguf_writer.h; both share the type codes declared here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace encore {

// Metadata value types, with their codes in the file.
enum class GgufType : uint32_t {
    uint8 = 0,
    int8 = 1,
    uint16 = 2,
    int16 = 3,
    uint32 = 4,
    int32 = 5,
    float32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    uint64 = 10,
    int64 = 11,
    float64 = 12,
};
// "uint32", "string", "array", ...; "type N" for codes outside the enum.
std::string gguf_type_name(GgufType type);

// ggml tensor type codes that encore reads and writes.
constexpr uint32_t k_ggml_type_f32 = 0;
constexpr uint32_t k_ggml_type_f16 = 1;
constexpr uint32_t k_ggml_type_q4_0 = 2;
constexpr uint32_t k_ggml_type_q8_0 = 8;
constexpr uint32_t k_ggml_type_i32 = 26;
constexpr uint32_t k_ggml_type_bf16 = 30;
// "F32", "Q4_K", ... (ggml's names), "type N" for unknown codes.
std::string ggml_type_name(uint32_t ggml_type);
// The ggml type code of a DType.
uint32_t ggml_type_of(DType type);

constexpr uint32_t k_gguf_default_alignment = 32;

// One metadata entry; the value stays in the file and is decoded by the GgufFile accessors.
struct GgufKv {
    std::string key;
    GgufType type = GgufType::uint8;
    GgufType elem_type = GgufType::uint8;  // arrays: the element type
    uint64_t n_elems = 0;                  // arrays: the element count
    uint64_t offset = 0;  // file offset of the value (arrays: of the first element)
    uint64_t size = 0;    // bytes of the value (arrays: of all elements)
};

struct GgufTensorInfo {
    std::string name;
    uint32_t ggml_type = 0;
    int n_dims = 0;
    std::array<int64_t, 4> shape{};  // outermost first (the file stores innermost first)
    uint64_t offset = 0;             // relative to the start of the data section
    // True when the ggml type is F32, F16, BF16, Q8_0, Q4_0 or I32; only then is `view` set and
    // the size known.
    bool supported = false;
    uint64_t n_bytes = 0;  // 0 when unsupported
    TensorView view;
    std::string shape_string() const;  // "[4096, 256]", outermost first
};

class GgufFile {
  public:
    // Maps and validates `path`: ErrorKind::io when it cannot be opened, ErrorKind::format naming
    // the file and the field at fault when malformed, ErrorKind::unsupported for other versions
    // or big-endian files.
    static GgufFile open(const std::string& path);
    // Parses `size` bytes that the caller keeps alive and unchanged while this object lives;
    // `name` stands for the path in messages.
    static GgufFile from_memory(const uint8_t* data, uint64_t size, std::string name);

    GgufFile(GgufFile&&) = default;
    GgufFile& operator=(GgufFile&&) = default;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // file offset of the data section

    // ---- metadata ----
    // All entries in file order.
    const std::vector<GgufKv>& metadata() const { return kvs_; }
    bool has(std::string_view key) const { return find_kv(key) != nullptr; }
    const GgufKv* find_kv(std::string_view key) const;
    // Each getter fails with ErrorKind::format naming the key when it is absent, and naming the
    // key, the expected and the actual type when the type does not fit.
    std::string get_string(std::string_view key) const;
    int64_t get_int(std::string_view key) const;   // any integer type; uint64 beyond int64 fails
    double get_float(std::string_view key) const;  // float32, float64 or any integer type
    bool get_bool(std::string_view key) const;
    std::vector<std::string> get_string_array(std::string_view key) const;
    std::vector<float> get_float_array(std::string_view key) const;  // float32/64 or integers
    std::vector<int64_t> get_int_array(std::string_view key) const;  // any integer type
    uint64_t array_length(std::string_view key) const;
    // The value printed for people: strings quoted, arrays as their first `max_elems` elements
    // and their length.
    std::string value_summary(const GgufKv& kv, size_t max_elems = 8) const;

    // ---- tensors ----
    // In file order.
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    // nullptr when absent (the info of an unsupported tensor is still returned).
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    // nullptr when absent; ErrorKind::unsupported naming the tensor and its ggml type when the
    // tensor exists with a type encore does not handle.
    const TensorView* find(std::string_view name) const;
    // Like find, but a missing tensor fails with ErrorKind::format naming the file.
    const TensorView& get(std::string_view name) const;
    // The view of one tensor info, or ErrorKind::unsupported.
    const TensorView& view(const GgufTensorInfo& tensor) const;

  private:
    GgufFile() = default;
    void parse(const uint8_t* data, uint64_t size);
    const GgufKv& require(std::string_view key) const;

    std::string path_;
    std::unique_ptr<MappedFile> file_;  // null for from_memory
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint32_t alignment_ = k_gguf_default_alignment;
    uint64_t data_offset_ = 0;
    std::vector<GgufKv> kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace encore
