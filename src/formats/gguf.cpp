// Reading GGUF files (see gguf.h). The whole file is walked once at open with a bounded reader:
// every count and length is checked against the bytes left before anything is allocated or
// skipped, every tensor against the data section and the other tensors. Metadata values are
// decoded later, on request, from the already validated bytes.
#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace encore {

static_assert(std::endian::native == std::endian::little,
              "GGUF is read in place: little-endian only");

std::string gguf_type_name(GgufType type) {
    switch (type) {
        case GgufType::uint8:
            return "uint8";
        case GgufType::int8:
            return "int8";
        case GgufType::uint16:
            return "uint16";
        case GgufType::int16:
            return "int16";
        case GgufType::uint32:
            return "uint32";
        case GgufType::int32:
            return "int32";
        case GgufType::float32:
            return "float32";
        case GgufType::boolean:
            return "bool";
        case GgufType::string:
            return "string";
        case GgufType::array:
            return "array";
        case GgufType::uint64:
            return "uint64";
        case GgufType::int64:
            return "int64";
        case GgufType::float64:
            return "float64";
    }
    return "type " + std::to_string(uint32_t(type));
}

std::string ggml_type_name(uint32_t ggml_type) {
    static const char* const names[] = {
        "F32",     "F16",    "Q4_0",    "Q4_1",  nullptr,  nullptr, "Q5_0",  "Q5_1",
        "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
        "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
        "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16",  nullptr,
        nullptr,   nullptr,  "TQ1_0",   "TQ2_0", nullptr,  nullptr, nullptr, "MXFP4",
    };
    if (ggml_type < std::size(names) && names[ggml_type]) return names[ggml_type];
    return "type " + std::to_string(ggml_type);
}

uint32_t ggml_type_of(DType type) {
    switch (type) {
        case DType::f32:
            return k_ggml_type_f32;
        case DType::f16:
            return k_ggml_type_f16;
        case DType::bf16:
            return k_ggml_type_bf16;
        case DType::q8_0:
            return k_ggml_type_q8_0;
        case DType::q4_0:
            return k_ggml_type_q4_0;
        case DType::i32:
            return k_ggml_type_i32;
    }
    fail(ErrorKind::internal, "unknown DType {}", int(type));
}

namespace {

constexpr int k_max_array_depth = 8;
constexpr uint64_t k_min_tensor_info_bytes = 8 + 4 + 4 + 8;  // empty name, no dims
constexpr uint64_t k_min_kv_bytes = 8 + 4 + 1;               // empty key, one-byte value

bool to_dtype(uint32_t ggml_type, DType* out) {
    switch (ggml_type) {
        case k_ggml_type_f32:
            *out = DType::f32;
            return true;
        case k_ggml_type_f16:
            *out = DType::f16;
            return true;
        case k_ggml_type_bf16:
            *out = DType::bf16;
            return true;
        case k_ggml_type_q8_0:
            *out = DType::q8_0;
            return true;
        case k_ggml_type_q4_0:
            *out = DType::q4_0;
            return true;
        case k_ggml_type_i32:
            *out = DType::i32;
            return true;
        default:
            return false;
    }
}

// Bytes of one value of a fixed-size type, 0 for string and array, -1 for unknown codes.
int fixed_size(GgufType type) {
    switch (type) {
        case GgufType::uint8:
        case GgufType::int8:
        case GgufType::boolean:
            return 1;
        case GgufType::uint16:
        case GgufType::int16:
            return 2;
        case GgufType::uint32:
        case GgufType::int32:
        case GgufType::float32:
            return 4;
        case GgufType::uint64:
        case GgufType::int64:
        case GgufType::float64:
            return 8;
        case GgufType::string:
        case GgufType::array:
            return 0;
    }
    return -1;
}

// Smallest encoding of one value: what bounds an array's element count by the bytes left.
uint64_t min_size(GgufType type) {
    if (type == GgufType::string) return 8;
    if (type == GgufType::array) return 4 + 8;
    return uint64_t(fixed_size(type));
}

bool is_integer(GgufType t) {
    switch (t) {
        case GgufType::uint8:
        case GgufType::int8:
        case GgufType::uint16:
        case GgufType::int16:
        case GgufType::uint32:
        case GgufType::int32:
        case GgufType::uint64:
        case GgufType::int64:
            return true;
        default:
            return false;
    }
}

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// An integer value at p; `fits` false for a uint64 beyond int64.
int64_t load_int(GgufType t, const uint8_t* p, bool* fits) {
    *fits = true;
    switch (t) {
        case GgufType::uint8:
            return load<uint8_t>(p);
        case GgufType::int8:
            return load<int8_t>(p);
        case GgufType::uint16:
            return load<uint16_t>(p);
        case GgufType::int16:
            return load<int16_t>(p);
        case GgufType::uint32:
            return load<uint32_t>(p);
        case GgufType::int32:
            return load<int32_t>(p);
        case GgufType::int64:
            return load<int64_t>(p);
        case GgufType::uint64: {
            const uint64_t v = load<uint64_t>(p);
            *fits = v <= uint64_t(std::numeric_limits<int64_t>::max());
            return int64_t(v);
        }
        default:
            return 0;
    }
}

// A cursor over the file that never reads past its end; each failure names the file, the offset
// and what was being read.
class Reader {
  public:
    Reader(const uint8_t* data, uint64_t size, const std::string& path)
        : data_(data), size_(size), path_(path) {}

    uint64_t pos() const { return pos_; }
    uint64_t left() const { return size_ - pos_; }

    template <typename... Args>
    void need(uint64_t n, fmt::format_string<Args...> what, Args&&... args) {
        if (n > left())
            fail(ErrorKind::format, "{}: {} needs {} bytes at offset {}, but the file ends at {}",
                 path_, fmt::format(what, std::forward<Args>(args)...), n, pos_, size_);
    }
    template <typename T, typename... Args>
    T read(fmt::format_string<Args...> what, Args&&... args) {
        need(sizeof(T), what, std::forward<Args>(args)...);
        const T v = load<T>(data_ + pos_);
        pos_ += sizeof(T);
        return v;
    }
    void skip(uint64_t n) { pos_ += n; }  // after need()
    // A length-prefixed string.
    template <typename... Args>
    std::string_view read_string(fmt::format_string<Args...> what, Args&&... args) {
        if (left() < 8 || load<uint64_t>(data_ + pos_) > left() - 8) {
            const std::string w = fmt::format(what, std::forward<Args>(args)...);
            if (left() < 8)
                fail(ErrorKind::format,
                     "{}: {}: string length needs 8 bytes at offset {}, but the file ends at {}",
                     path_, w, pos_, size_);
            fail(ErrorKind::format,
                 "{}: {}: string length {} at offset {} exceeds the {} bytes left in the file",
                 path_, w, load<uint64_t>(data_ + pos_), pos_, left() - 8);
        }
        const uint64_t n = load<uint64_t>(data_ + pos_);
        const std::string_view s(reinterpret_cast<const char*>(data_ + pos_ + 8), size_t(n));
        pos_ += 8 + n;
        return s;
    }

  private:
    const uint8_t* data_;
    uint64_t size_;
    const std::string& path_;
    uint64_t pos_ = 0;
};

// Walks one value of `type` (its type code already read), checking it lies inside the file.
void walk_value(Reader& r, const std::string& path, GgufType type, const std::string& key,
                int depth) {
    const int fs = fixed_size(type);
    if (fs < 0)
        fail(ErrorKind::format, "{}: metadata '{}': unknown value type {}", path, key,
             uint32_t(type));
    if (fs > 0) {
        r.need(uint64_t(fs), "metadata '{}' {} value", key, gguf_type_name(type));
        r.skip(uint64_t(fs));
    } else if (type == GgufType::string) {
        r.read_string("metadata '{}' value", key);
    } else {
        if (depth >= k_max_array_depth)
            fail(ErrorKind::format, "{}: metadata '{}': arrays nested deeper than {}", path, key,
                 k_max_array_depth);
        const auto elem = GgufType(r.read<uint32_t>("metadata '{}' array type", key));
        const uint64_t n = r.read<uint64_t>("metadata '{}' array length", key);
        const int efs = fixed_size(elem);
        if (efs < 0)
            fail(ErrorKind::format, "{}: metadata '{}': unknown array element type {}", path, key,
                 uint32_t(elem));
        if (n > r.left() / min_size(elem))
            fail(ErrorKind::format,
                 "{}: metadata '{}': array of {} {} elements cannot fit in the {} bytes left", path,
                 key, n, gguf_type_name(elem), r.left());
        if (efs > 0) {
            r.skip(n * uint64_t(efs));  // fits: checked above
        } else {
            for (uint64_t i = 0; i < n; ++i) walk_value(r, path, elem, key, depth + 1);
        }
    }
}

// The file offset just past the (validated) value of `type` at `pos`.
uint64_t value_end(const uint8_t* data, GgufType type, uint64_t pos) {
    const int fs = fixed_size(type);
    if (fs > 0) return pos + uint64_t(fs);
    if (type == GgufType::string) return pos + 8 + load<uint64_t>(data + pos);
    const auto elem = GgufType(load<uint32_t>(data + pos));
    const uint64_t n = load<uint64_t>(data + pos + 4);
    pos += 12;
    if (fixed_size(elem) > 0) return pos + n * uint64_t(fixed_size(elem));
    for (uint64_t i = 0; i < n; ++i) pos = value_end(data, elem, pos);
    return pos;
}

std::string quote(std::string_view s, size_t max_bytes = 64) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += char(c);
        }
    }
    out += s.size() > max_bytes ? "\"..." : "\"";
    return out;
}

std::string scalar_text(GgufType t, const uint8_t* p) {
    switch (t) {
        case GgufType::float32:
            return fmt::format("{}", load<float>(p));
        case GgufType::float64:
            return fmt::format("{}", load<double>(p));
        case GgufType::boolean:
            return load<uint8_t>(p) ? "true" : "false";
        case GgufType::uint64:
            return std::to_string(load<uint64_t>(p));
        default: {
            bool fits;
            return std::to_string(load_int(t, p, &fits));
        }
    }
}

std::string summarize(const uint8_t* data, GgufType type, uint64_t pos, size_t max_elems) {
    if (fixed_size(type) > 0) return scalar_text(type, data + pos);
    if (type == GgufType::string)
        return quote(std::string_view(reinterpret_cast<const char*>(data + pos + 8),
                                      size_t(load<uint64_t>(data + pos))));
    const auto elem = GgufType(load<uint32_t>(data + pos));
    const uint64_t n = load<uint64_t>(data + pos + 4);
    pos += 12;
    std::string out = "[";
    for (uint64_t i = 0; i < n && i < max_elems; ++i) {
        out += (i ? ", " : "") + summarize(data, elem, pos, max_elems);
        pos = value_end(data, elem, pos);
    }
    if (n > max_elems) out += ", ...";
    return out + fmt::format("] ({} x {})", n, gguf_type_name(elem));
}

}  // namespace

std::string GgufTensorInfo::shape_string() const {
    std::string s = "[";
    for (int i = 0; i < n_dims; ++i) s += (i ? ", " : "") + std::to_string(shape[size_t(i)]);
    return s + "]";
}

GgufFile GgufFile::open(const std::string& path) {
    GgufFile f;
    f.path_ = path;
    f.file_ = std::make_unique<MappedFile>(path);
    f.parse(f.file_->data(), f.file_->size());
    return f;
}

GgufFile GgufFile::from_memory(const uint8_t* data, uint64_t size, std::string name) {
    GgufFile f;
    f.path_ = std::move(name);
    f.parse(data, size);
    return f;
}

void GgufFile::parse(const uint8_t* data, uint64_t size) {
    const std::string& p = path_;
    data_ = data;
    size_ = size;
    Reader r(data, size, p);

    r.need(4, "magic");
    if (std::memcmp(data, "GGUF", 4) != 0)
        fail(ErrorKind::format, "{}: not a GGUF file (magic bytes {:02x} {:02x} {:02x} {:02x})", p,
             data[0], data[1], data[2], data[3]);
    r.skip(4);
    version_ = r.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
        const uint32_t swapped = __builtin_bswap32(version_);
        if (swapped == 2 || swapped == 3)
            fail(ErrorKind::unsupported, "{}: big-endian GGUF files are not supported", p);
        fail(ErrorKind::unsupported, "{}: GGUF version {} is not supported (2 and 3 are)", p,
             version_);
    }
    const uint64_t n_tensors = r.read<uint64_t>("tensor count");
    const uint64_t n_kv = r.read<uint64_t>("metadata count");
    if (n_kv > r.left() / k_min_kv_bytes)
        fail(ErrorKind::format, "{}: metadata count {} cannot fit in the {} bytes left", p, n_kv,
             r.left());
    if (n_tensors > (r.left() - n_kv * k_min_kv_bytes) / k_min_tensor_info_bytes)
        fail(ErrorKind::format, "{}: tensor count {} cannot fit in the {} bytes left", p, n_tensors,
             r.left());

    // Metadata.
    kvs_.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        GgufKv kv;
        kv.key = std::string(r.read_string("metadata key {}", i));
        if (!kv_index_.emplace(kv.key, kvs_.size()).second)
            fail(ErrorKind::format, "{}: metadata key '{}' appears twice", p, kv.key);
        kv.type = GgufType(r.read<uint32_t>("metadata '{}' type", kv.key));
        if (fixed_size(kv.type) < 0)
            fail(ErrorKind::format, "{}: metadata '{}': unknown value type {}", p, kv.key,
                 uint32_t(kv.type));
        const uint64_t start = r.pos();
        walk_value(r, p, kv.type, kv.key, 0);
        if (kv.type == GgufType::array) {
            kv.elem_type = GgufType(load<uint32_t>(data + start));
            kv.n_elems = load<uint64_t>(data + start + 4);
            kv.offset = start + 12;
        } else {
            kv.offset = start;
        }
        kv.size = r.pos() - kv.offset;
        kvs_.push_back(std::move(kv));
    }

    if (const GgufKv* kv = find_kv("general.alignment")) {
        if (!is_integer(kv->type))
            fail(ErrorKind::format, "{}: metadata 'general.alignment' is {}, expected an integer",
                 p, gguf_type_name(kv->type));
        const int64_t a = get_int("general.alignment");
        if (a <= 0 || a > (int64_t(1) << 30) || (a & (a - 1)) != 0)
            fail(ErrorKind::format,
                 "{}: metadata 'general.alignment' is {}, not a power of two up to 2^30", p, a);
        alignment_ = uint32_t(a);
    }

    // Tensor infos.
    if (n_tensors > r.left() / k_min_tensor_info_bytes)
        fail(ErrorKind::format, "{}: tensor count {} cannot fit in the {} bytes left", p, n_tensors,
             r.left());
    tensors_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        t.name = std::string(r.read_string("tensor info {} name", i));
        const std::string& n = t.name;
        if (!tensor_index_.emplace(n, tensors_.size()).second)
            fail(ErrorKind::format, "{}: tensor '{}' appears twice", p, n);
        const uint32_t n_dims = r.read<uint32_t>("tensor '{}' n_dims", n);
        if (n_dims > 4)
            fail(ErrorKind::format, "{}: tensor '{}': {} dimensions (GGUF allows up to 4)", p, n,
                 n_dims);
        t.n_dims = int(n_dims);
        uint64_t n_elements = 1;
        bool overflow = false;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t dim = r.read<uint64_t>("tensor '{}' dimension {}", n, d);
            if (dim > uint64_t(std::numeric_limits<int64_t>::max()))
                fail(ErrorKind::format, "{}: tensor '{}': dimension {} is {}, beyond int64", p, n,
                     d, dim);
            t.shape[n_dims - 1 - d] = int64_t(dim);  // the file is innermost first
            overflow |= __builtin_mul_overflow(n_elements, dim, &n_elements);
        }
        const bool empty =
            std::find(t.shape.begin(), t.shape.begin() + n_dims, 0) != t.shape.begin() + n_dims;
        if (overflow && !empty)
            fail(ErrorKind::format, "{}: tensor '{}': shape {} has too many elements", p, n,
                 t.shape_string());
        if (empty) n_elements = 0;
        t.ggml_type = r.read<uint32_t>("tensor '{}' type", n);
        t.offset = r.read<uint64_t>("tensor '{}' offset", n);
        if (t.offset % alignment_ != 0)
            fail(ErrorKind::format,
                 "{}: tensor '{}': offset {} is not a multiple of the alignment {}", p, n, t.offset,
                 alignment_);

        DType dtype;
        if (to_dtype(t.ggml_type, &dtype)) {
            t.supported = true;
            const int64_t row = n_dims == 0 ? 1 : t.shape[n_dims - 1];
            const int64_t block = dtype_block_elems(dtype);
            if (row % block != 0)
                fail(ErrorKind::format,
                     "{}: tensor '{}': innermost dimension {} is not a multiple of the {} block "
                     "size {}",
                     p, n, row, ggml_type_name(t.ggml_type), block);
            const uint64_t n_rows = row == 0 ? 0 : n_elements / uint64_t(row);
            uint64_t row_bytes = 0;
            if (__builtin_mul_overflow(uint64_t(row / block), uint64_t(dtype_block_bytes(dtype)),
                                       &row_bytes) ||
                __builtin_mul_overflow(n_rows, row_bytes, &t.n_bytes))
                fail(ErrorKind::format, "{}: tensor '{}': shape {} is too large", p, n,
                     t.shape_string());
            t.view.dtype = dtype;
            t.view.n_dims = t.n_dims;
            t.view.shape = t.shape;
        }
        tensors_.push_back(std::move(t));
    }

    // Data section.
    const uint64_t pad = (alignment_ - r.pos() % alignment_) % alignment_;
    data_offset_ = r.pos() + pad;  // no overflow: pos <= size and alignment <= 2^30
    const uint64_t data_size = size > data_offset_ ? size - data_offset_ : 0;
    std::vector<const GgufTensorInfo*> placed;
    for (GgufTensorInfo& t : tensors_) {
        if (t.offset > data_size || (t.supported && t.n_bytes > data_size - t.offset))
            fail(ErrorKind::format,
                 "{}: tensor '{}': data at offset {} ({} bytes) lies beyond the end of the "
                 "{}-byte data section",
                 p, t.name, t.offset, t.n_bytes, data_size);
        if (!t.supported) continue;
        t.view.data = data + std::min(data_offset_ + t.offset, size);
        if (t.n_bytes > 0) placed.push_back(&t);
    }
    std::sort(placed.begin(), placed.end(),
              [](const auto* a, const auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < placed.size(); ++i) {
        const GgufTensorInfo& a = *placed[i - 1];
        const GgufTensorInfo& b = *placed[i];
        if (b.offset < a.offset + a.n_bytes)
            fail(ErrorKind::format,
                 "{}: tensor '{}': data at offset {} overlaps tensor '{}' at offset {} ({} bytes)",
                 p, b.name, b.offset, a.name, a.offset, a.n_bytes);
    }
}

// ---- metadata accessors ----

const GgufKv* GgufFile::find_kv(std::string_view key) const {
    const auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const GgufKv& GgufFile::require(std::string_view key) const {
    const GgufKv* kv = find_kv(key);
    if (!kv) fail(ErrorKind::format, "{}: metadata '{}' is missing", path_, key);
    return *kv;
}

namespace {

std::string type_text(const GgufKv& kv) {
    if (kv.type != GgufType::array) return gguf_type_name(kv.type);
    return "array of " + gguf_type_name(kv.elem_type);
}

[[noreturn]] void wrong_type(const std::string& path, const GgufKv& kv, std::string_view want) {
    fail(ErrorKind::format, "{}: metadata '{}' is {}, expected {}", path, kv.key, type_text(kv),
         want);
}

}  // namespace

std::string GgufFile::get_string(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (kv.type != GgufType::string) wrong_type(path_, kv, "string");
    return std::string(reinterpret_cast<const char*>(data_ + kv.offset + 8), size_t(kv.size - 8));
}

int64_t GgufFile::get_int(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (!is_integer(kv.type)) wrong_type(path_, kv, "an integer");
    bool fits;
    const int64_t v = load_int(kv.type, data_ + kv.offset, &fits);
    if (!fits)
        fail(ErrorKind::format, "{}: metadata '{}' is {}, beyond int64", path_, key,
             load<uint64_t>(data_ + kv.offset));
    return v;
}

double GgufFile::get_float(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (kv.type == GgufType::float32) return load<float>(data_ + kv.offset);
    if (kv.type == GgufType::float64) return load<double>(data_ + kv.offset);
    if (kv.type == GgufType::uint64) return double(load<uint64_t>(data_ + kv.offset));
    if (!is_integer(kv.type)) wrong_type(path_, kv, "a number");
    bool fits;
    return double(load_int(kv.type, data_ + kv.offset, &fits));
}

bool GgufFile::get_bool(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (kv.type != GgufType::boolean) wrong_type(path_, kv, "bool");
    return data_[kv.offset] != 0;
}

uint64_t GgufFile::array_length(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (kv.type != GgufType::array) wrong_type(path_, kv, "an array");
    return kv.n_elems;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (kv.type != GgufType::array || kv.elem_type != GgufType::string)
        wrong_type(path_, kv, "array of string");
    std::vector<std::string> out;
    out.reserve(size_t(kv.n_elems));
    uint64_t pos = kv.offset;
    for (uint64_t i = 0; i < kv.n_elems; ++i) {
        const uint64_t n = load<uint64_t>(data_ + pos);
        out.emplace_back(reinterpret_cast<const char*>(data_ + pos + 8), size_t(n));
        pos += 8 + n;
    }
    return out;
}

std::vector<float> GgufFile::get_float_array(std::string_view key) const {
    const GgufKv& kv = require(key);
    const GgufType e = kv.elem_type;
    if (kv.type != GgufType::array ||
        !(e == GgufType::float32 || e == GgufType::float64 || is_integer(e)))
        wrong_type(path_, kv, "array of float32");
    std::vector<float> out(size_t(kv.n_elems));
    const uint64_t es = uint64_t(fixed_size(e));
    for (uint64_t i = 0; i < kv.n_elems; ++i) {
        const uint8_t* p = data_ + kv.offset + i * es;
        bool fits;
        out[i] = e == GgufType::float32   ? load<float>(p)
                 : e == GgufType::float64 ? float(load<double>(p))
                 : e == GgufType::uint64  ? float(load<uint64_t>(p))
                                          : float(load_int(e, p, &fits));
    }
    return out;
}

std::vector<int64_t> GgufFile::get_int_array(std::string_view key) const {
    const GgufKv& kv = require(key);
    if (kv.type != GgufType::array || !is_integer(kv.elem_type))
        wrong_type(path_, kv, "array of integers");
    std::vector<int64_t> out(size_t(kv.n_elems));
    const uint64_t es = uint64_t(fixed_size(kv.elem_type));
    for (uint64_t i = 0; i < kv.n_elems; ++i) {
        bool fits;
        out[i] = load_int(kv.elem_type, data_ + kv.offset + i * es, &fits);
        if (!fits)
            fail(ErrorKind::format, "{}: metadata '{}' element {} is beyond int64", path_, key, i);
    }
    return out;
}

std::string GgufFile::value_summary(const GgufKv& kv, size_t max_elems) const {
    if (kv.type != GgufType::array) return summarize(data_, kv.type, kv.offset, max_elems);
    return summarize(data_, kv.type, kv.offset - 12, max_elems);
}

// ---- tensors ----

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& GgufFile::view(const GgufTensorInfo& t) const {
    if (!t.supported)
        fail(ErrorKind::unsupported,
             "{}: tensor '{}': ggml type {} ({}) is not supported (supported: F32, F16, BF16, "
             "Q8_0, Q4_0, I32)",
             path_, t.name, ggml_type_name(t.ggml_type), t.ggml_type);
    return t.view;
}

const TensorView* GgufFile::find(std::string_view name) const {
    const GgufTensorInfo* t = find_tensor(name);
    return t ? &view(*t) : nullptr;
}

const TensorView& GgufFile::get(std::string_view name) const {
    const TensorView* v = find(name);
    if (!v) fail(ErrorKind::format, "{}: no tensor named '{}'", path_, name);
    return *v;
}

}  // namespace encore
