// Writing GGUF files (see gguf_writer.h). Values are encoded when set; write() lays out the
// header, metadata, tensor infos and the aligned data section in one pass.
#include "formats/gguf_writer.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace encore {

namespace {

constexpr size_t k_ggml_max_name = 64;  // ggml's name buffer, terminating zero included

template <typename T>
void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.append(s);
}

template <typename T>
std::string encode(T v) {
    std::string out;
    put<T>(out, v);
    return out;
}

}  // namespace

void GgufWriter::set(std::string_view key, GgufType type, std::string value) {
    if (key.empty()) fail(ErrorKind::invalid_argument, "GGUF metadata key is empty");
    for (Kv& kv : kvs_) {
        if (kv.key == key) {
            kv.type = type;
            kv.value = std::move(value);
            return;
        }
    }
    kvs_.push_back(Kv{std::string(key), type, std::move(value)});
}

bool GgufWriter::has(std::string_view key) const {
    for (const Kv& kv : kvs_)
        if (kv.key == key) return true;
    return false;
}

void GgufWriter::set_string(std::string_view key, std::string_view value) {
    std::string out;
    put_string(out, value);
    set(key, GgufType::string, std::move(out));
}
void GgufWriter::set_u8(std::string_view key, uint8_t v) {
    set(key, GgufType::uint8, encode(v));
}
void GgufWriter::set_i8(std::string_view key, int8_t v) {
    set(key, GgufType::int8, encode(v));
}
void GgufWriter::set_u16(std::string_view key, uint16_t v) {
    set(key, GgufType::uint16, encode(v));
}
void GgufWriter::set_i16(std::string_view key, int16_t v) {
    set(key, GgufType::int16, encode(v));
}
void GgufWriter::set_u32(std::string_view key, uint32_t v) {
    set(key, GgufType::uint32, encode(v));
}
void GgufWriter::set_i32(std::string_view key, int32_t v) {
    set(key, GgufType::int32, encode(v));
}
void GgufWriter::set_u64(std::string_view key, uint64_t v) {
    set(key, GgufType::uint64, encode(v));
}
void GgufWriter::set_i64(std::string_view key, int64_t v) {
    set(key, GgufType::int64, encode(v));
}
void GgufWriter::set_f32(std::string_view key, float v) {
    set(key, GgufType::float32, encode(v));
}
void GgufWriter::set_f64(std::string_view key, double v) {
    set(key, GgufType::float64, encode(v));
}
void GgufWriter::set_bool(std::string_view key, bool v) {
    set(key, GgufType::boolean, encode<uint8_t>(v ? 1 : 0));
}

void GgufWriter::set_string_array(std::string_view key, const std::vector<std::string>& values) {
    std::string out;
    put<uint32_t>(out, uint32_t(GgufType::string));
    put<uint64_t>(out, values.size());
    for (const std::string& s : values) put_string(out, s);
    set(key, GgufType::array, std::move(out));
}

void GgufWriter::set_f32_array(std::string_view key, const std::vector<float>& values) {
    std::string out;
    put<uint32_t>(out, uint32_t(GgufType::float32));
    put<uint64_t>(out, values.size());
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    set(key, GgufType::array, std::move(out));
}

void GgufWriter::set_i32_array(std::string_view key, const std::vector<int32_t>& values) {
    std::string out;
    put<uint32_t>(out, uint32_t(GgufType::int32));
    put<uint64_t>(out, values.size());
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int32_t));
    set(key, GgufType::array, std::move(out));
}

void GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                            const void* data) {
    if (name.empty() || name.size() >= k_ggml_max_name)
        fail(ErrorKind::invalid_argument, "GGUF tensor name '{}' must be 1 to {} bytes", name,
             k_ggml_max_name - 1);
    for (const Tensor& t : tensors_)
        if (t.name == name) fail(ErrorKind::invalid_argument, "GGUF tensor '{}' added twice", name);
    if (shape.empty() || shape.size() > 4)
        fail(ErrorKind::invalid_argument, "GGUF tensor '{}': {} dimensions (1 to 4 allowed)", name,
             shape.size());
    uint64_t n_rows = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] < 0)
            fail(ErrorKind::invalid_argument, "GGUF tensor '{}': negative dimension {}", name,
                 shape[i]);
        if (i + 1 < shape.size() && __builtin_mul_overflow(n_rows, uint64_t(shape[i]), &n_rows))
            fail(ErrorKind::invalid_argument, "GGUF tensor '{}': too many elements", name);
    }
    const int64_t row = shape.back();
    if (row % dtype_block_elems(dtype) != 0)
        fail(ErrorKind::invalid_argument,
             "GGUF tensor '{}': innermost dimension {} is not a multiple of the {} block size {}",
             name, row, dtype_name(dtype), dtype_block_elems(dtype));
    uint64_t n_bytes = 0;
    if (__builtin_mul_overflow(n_rows, uint64_t(dtype_row_bytes(dtype, row)), &n_bytes))
        fail(ErrorKind::invalid_argument, "GGUF tensor '{}': too many elements", name);
    if (n_bytes > 0 && !data) fail(ErrorKind::invalid_argument, "GGUF tensor '{}': no data", name);
    tensors_.push_back(Tensor{std::move(name), dtype, std::move(shape), data, n_bytes});
}

void GgufWriter::write(const std::string& path) const {
    uint64_t alignment = k_gguf_default_alignment;
    bool has_alignment = false;
    for (const Kv& kv : kvs_) {
        if (kv.key != "general.alignment") continue;
        uint32_t a = 0;
        if (kv.type == GgufType::uint32) std::memcpy(&a, kv.value.data(), 4);
        if (a == 0 || (a & (a - 1)) != 0)
            fail(ErrorKind::invalid_argument, "{}: general.alignment must be a uint32 power of two",
                 path);
        alignment = a;
        has_alignment = true;
    }

    std::string head;
    head.append("GGUF", 4);
    put<uint32_t>(head, 3);
    put<uint64_t>(head, tensors_.size());
    put<uint64_t>(head, kvs_.size() + (has_alignment ? 0 : 1));
    for (const Kv& kv : kvs_) {
        put_string(head, kv.key);
        put<uint32_t>(head, uint32_t(kv.type));
        head.append(kv.value);
    }
    if (!has_alignment) {
        put_string(head, "general.alignment");
        put<uint32_t>(head, uint32_t(GgufType::uint32));
        put<uint32_t>(head, uint32_t(alignment));
    }
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        put_string(head, t.name);
        put<uint32_t>(head, uint32_t(t.shape.size()));
        for (size_t i = t.shape.size(); i-- > 0;) put<uint64_t>(head, uint64_t(t.shape[i]));
        put<uint32_t>(head, ggml_type_of(t.dtype));
        put<uint64_t>(head, offset);
        offset += (t.n_bytes + alignment - 1) / alignment * alignment;
    }

    AtomicFileWriter out(path);
    out.write(head);
    out.write_zeros(size_t((alignment - head.size() % alignment) % alignment));
    for (const Tensor& t : tensors_) {
        if (t.n_bytes > 0) out.write(t.data, size_t(t.n_bytes));
        out.write_zeros(size_t((alignment - t.n_bytes % alignment) % alignment));
    }
    out.commit();
}

}  // namespace encore
