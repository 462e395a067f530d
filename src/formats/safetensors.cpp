// Reading safetensors files and sharded safetensors checkpoints (see safetensors.h). Every header
// field is checked before a view is made: the header length against the file size, each tensor's
// dtype, shape and data_offsets against each other and the data section, and the tensors against
// one another (no overlaps, no duplicate names).
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace encore {

namespace {

using nlohmann::json;

constexpr uint64_t k_max_header_bytes = 100'000'000;  // as the reference implementation

struct DtypeInfo {
    std::string_view name;
    uint64_t size;  // bytes per element
    bool usable;    // maps to a DType
    DType dtype;
};

// The dtypes safetensors defines (sub-byte types excluded: they have no element size).
constexpr DtypeInfo k_dtypes[] = {
    {"F32", 4, true, DType::f32},      {"F16", 2, true, DType::f16},
    {"BF16", 2, true, DType::bf16},    {"I32", 4, true, DType::i32},
    {"F64", 8, false, DType::f32},     {"I64", 8, false, DType::f32},
    {"U64", 8, false, DType::f32},     {"U32", 4, false, DType::f32},
    {"I16", 2, false, DType::f32},     {"U16", 2, false, DType::f32},
    {"I8", 1, false, DType::f32},      {"U8", 1, false, DType::f32},
    {"BOOL", 1, false, DType::f32},    {"F8_E4M3", 1, false, DType::f32},
    {"F8_E5M2", 1, false, DType::f32}, {"F8_E8M0", 1, false, DType::f32},
};

const DtypeInfo* find_dtype(std::string_view name) {
    for (const DtypeInfo& d : k_dtypes)
        if (d.name == name) return &d;
    return nullptr;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// Nesting deeper than any safetensors header or index needs; bounds the parser's memory.
constexpr int k_max_json_depth = 32;

// Parses JSON text, rejecting duplicate keys in any object (nlohmann would keep the last one)
// and nesting deeper than k_max_json_depth.
json parse_json_strict(std::string_view text, const std::string& path, std::string_view what) {
    std::vector<std::set<std::string>> keys;  // one set per open object
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth > k_max_json_depth)
            fail(ErrorKind::format, "{}: {} nests deeper than {} levels", path, what,
                 k_max_json_depth);
        switch (event) {
            case json::parse_event_t::object_start:
                keys.emplace_back();
                break;
            case json::parse_event_t::object_end:
                if (!keys.empty()) keys.pop_back();
                break;
            case json::parse_event_t::key: {
                const std::string& key = parsed.get_ref<const std::string&>();
                if (!keys.empty() && !keys.back().insert(key).second)
                    fail(ErrorKind::format, "{}: {}: duplicate key '{}'", path, what, key);
                break;
            }
            default:
                break;
        }
        return true;
    };
    try {
        return json::parse(text.begin(), text.end(), callback);
    } catch (const json::exception& e) {
        fail(ErrorKind::format, "{}: {} is not valid JSON: {}", path, what, e.what());
    }
}

// A non-negative JSON integer that fits int64, or a format error naming `field`.
uint64_t json_count(const json& v, const std::string& path, const std::string& tensor,
                    std::string_view field) {
    if (v.is_number_unsigned()) {
        const uint64_t x = v.get<uint64_t>();
        if (x <= uint64_t(std::numeric_limits<int64_t>::max())) return x;
    }
    if (v.is_number_integer() && !v.is_number_unsigned())
        fail(ErrorKind::format, "{}: tensor '{}': {} has a negative value {}", path, tensor, field,
             v.dump());
    fail(ErrorKind::format, "{}: tensor '{}': {} has a value {} that is not an integer in range",
         path, tensor, field, v.dump());
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path)
    : path_(path), file_(std::make_unique<MappedFile>(path)) {
    parse(file_->data(), file_->size());
}

SafetensorsFile SafetensorsFile::from_memory(const uint8_t* data, uint64_t size, std::string name) {
    SafetensorsFile f;
    f.path_ = std::move(name);
    f.parse(data, size);
    return f;
}

void SafetensorsFile::parse(const uint8_t* data, uint64_t size) {
    const std::string& p = path_;
    if (size < 8)
        fail(ErrorKind::format, "{}: file is {} bytes, too short for the 8-byte header length", p,
             size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = header_len << 8 | data[i];
    if (header_len > size - 8)
        fail(ErrorKind::format, "{}: header length {} exceeds the {} bytes that follow it", p,
             header_len, size - 8);
    if (header_len > k_max_header_bytes)
        fail(ErrorKind::format, "{}: header length {} exceeds the limit of {} bytes", p, header_len,
             k_max_header_bytes);
    const std::string_view text(reinterpret_cast<const char*>(data + 8), size_t(header_len));
    const json header = parse_json_strict(text, p, "header");
    if (!header.is_object())
        fail(ErrorKind::format, "{}: header is a JSON {}, not an object", p, header.type_name());

    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = size - data_start;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object())
                fail(ErrorKind::format, "{}: __metadata__ is a JSON {}, not an object", p,
                     entry.type_name());
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string())
                    fail(ErrorKind::format,
                         "{}: __metadata__ '{}': value is a JSON {}, not a string", p, key,
                         value.type_name());
                metadata_[key] = value.get<std::string>();
            }
            continue;
        }
        if (!entry.is_object())
            fail(ErrorKind::format, "{}: tensor '{}': entry is a JSON {}, not an object", p, name,
                 entry.type_name());
        SafetensorsTensor t;
        t.name = name;

        const auto dtype_it = entry.find("dtype");
        if (dtype_it == entry.end())
            fail(ErrorKind::format, "{}: tensor '{}': missing field 'dtype'", p, name);
        if (!dtype_it->is_string())
            fail(ErrorKind::format, "{}: tensor '{}': dtype is a JSON {}, not a string", p, name,
                 dtype_it->type_name());
        t.dtype_name = dtype_it->get<std::string>();

        const auto shape_it = entry.find("shape");
        if (shape_it == entry.end())
            fail(ErrorKind::format, "{}: tensor '{}': missing field 'shape'", p, name);
        if (!shape_it->is_array())
            fail(ErrorKind::format, "{}: tensor '{}': shape is a JSON {}, not an array", p, name,
                 shape_it->type_name());
        uint64_t n_elements = 1;
        bool overflow = false;
        for (const json& d : *shape_it) {
            const uint64_t dim = json_count(d, p, name, "shape");
            t.shape.push_back(int64_t(dim));
            overflow |= __builtin_mul_overflow(n_elements, dim, &n_elements);
        }
        // A product that overflowed is only an error when no dimension is zero.
        if (overflow && std::find(t.shape.begin(), t.shape.end(), 0) == t.shape.end())
            fail(ErrorKind::format, "{}: tensor '{}': shape {} has too many elements", p, name,
                 shape_text(t.shape));
        if (overflow) n_elements = 0;

        const auto offsets_it = entry.find("data_offsets");
        if (offsets_it == entry.end())
            fail(ErrorKind::format, "{}: tensor '{}': missing field 'data_offsets'", p, name);
        if (!offsets_it->is_array() || offsets_it->size() != 2)
            fail(ErrorKind::format, "{}: tensor '{}': data_offsets is {}, not [begin, end]", p,
                 name, offsets_it->dump());
        t.data_begin = json_count((*offsets_it)[0], p, name, "data_offsets");
        t.data_end = json_count((*offsets_it)[1], p, name, "data_offsets");
        if (t.data_begin > t.data_end)
            fail(ErrorKind::format, "{}: tensor '{}': data_offsets [{}, {}] begin after end", p,
                 name, t.data_begin, t.data_end);
        if (t.data_end > data_size)
            fail(ErrorKind::format,
                 "{}: tensor '{}': data_offsets [{}, {}] end beyond the {}-byte data section", p,
                 name, t.data_begin, t.data_end, data_size);

        const DtypeInfo* info = find_dtype(t.dtype_name);
        if (!info)
            fail(ErrorKind::unsupported, "{}: tensor '{}': unknown dtype '{}'", p, name,
                 t.dtype_name);
        uint64_t n_bytes = 0;
        if (__builtin_mul_overflow(n_elements, info->size, &n_bytes) ||
            n_bytes != t.data_end - t.data_begin)
            fail(ErrorKind::format,
                 "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes, but {} {} needs {} "
                 "elements of {} bytes",
                 p, name, t.data_begin, t.data_end, t.data_end - t.data_begin, t.dtype_name,
                 shape_text(t.shape), n_elements, info->size);

        t.supported = info->usable && t.shape.size() <= 4;
        if (t.supported) {
            t.view.data = data + data_start + t.data_begin;
            t.view.dtype = info->dtype;
            t.view.n_dims = int(t.shape.size());
            for (size_t i = 0; i < t.shape.size(); ++i) t.view.shape[i] = t.shape[i];
        }
        tensors_.push_back(std::move(t));
    }

    std::sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& b) {
        return a.data_begin != b.data_begin ? a.data_begin < b.data_begin : a.data_end < b.data_end;
    });
    const SafetensorsTensor* prev = nullptr;  // the non-empty tensor ending last so far
    for (const SafetensorsTensor& t : tensors_) {
        if (t.data_begin == t.data_end) continue;
        if (prev && t.data_begin < prev->data_end)
            fail(ErrorKind::format,
                 "{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' at [{}, {}]", p,
                 t.name, t.data_begin, t.data_end, prev->name, prev->data_begin, prev->data_end);
        prev = &t;
    }
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorView& safetensors_view(const SafetensorsTensor& t, const std::string& path) {
    if (!t.supported) {
        if (t.shape.size() > 4)
            fail(ErrorKind::unsupported, "{}: tensor '{}': {} dimensions (encore handles up to 4)",
                 path, t.name, t.shape.size());
        fail(ErrorKind::unsupported,
             "{}: tensor '{}': dtype {} is not supported (supported: F32, F16, BF16, I32)", path,
             t.name, t.dtype_name);
    }
    return t.view;
}

const SafetensorsTensor* SafetensorsFile::find_entry(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
    const SafetensorsTensor* t = find_entry(name);
    return t ? &safetensors_view(*t, path_) : nullptr;
}

const TensorView& SafetensorsFile::get(std::string_view name) const {
    const TensorView* v = find(name);
    if (!v) fail(ErrorKind::format, "{}: no tensor named '{}'", path_, name);
    return *v;
}

// ---- sharded checkpoints ----

void SafetensorsCheckpoint::add_file(std::unique_ptr<SafetensorsFile> file) {
    const size_t index = files_.size();
    for (const SafetensorsTensor& t : file->tensors()) {
        const auto [it, inserted] = tensors_.emplace(t.name, Location{index, &t});
        if (!inserted)
            fail(ErrorKind::format, "{}: tensor '{}' is in two shards: {} and {}", path_, t.name,
                 files_[it->second.file]->path(), file->path());
    }
    files_.push_back(std::move(file));
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_file(const std::string& path) {
    SafetensorsCheckpoint c;
    c.path_ = path;
    c.add_file(std::make_unique<SafetensorsFile>(path));
    return c;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec) ? open_dir(path) : open_file(path);
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail(ErrorKind::io, "{}: not a directory", dir);
    const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
    if (!fs::exists(index_path, ec)) {
        const fs::path single = fs::path(dir) / "model.safetensors";
        if (!fs::exists(single, ec))
            fail(ErrorKind::io,
                 "{}: neither model.safetensors.index.json nor model.safetensors found", dir);
        SafetensorsCheckpoint c = open_file(single.string());
        c.path_ = dir;
        return c;
    }

    const std::string ip = index_path.string();
    const json index = parse_json_strict(read_file(ip), ip, "index");
    if (!index.is_object()) fail(ErrorKind::format, "{}: index is not a JSON object", ip);
    const auto map_it = index.find("weight_map");
    if (map_it == index.end()) fail(ErrorKind::format, "{}: missing field 'weight_map'", ip);
    if (!map_it->is_object())
        fail(ErrorKind::format, "{}: weight_map is a JSON {}, not an object", ip,
             map_it->type_name());

    std::vector<std::string> shards;  // in order of first mention
    std::set<std::string> seen;
    for (const auto& [name, shard] : map_it->items()) {
        if (!shard.is_string())
            fail(ErrorKind::format, "{}: weight_map '{}': shard is a JSON {}, not a string", ip,
                 name, shard.type_name());
        const std::string s = shard.get<std::string>();
        const fs::path sp(s);
        bool bad = s.empty() || sp.is_absolute();
        for (const fs::path& part : sp) bad |= part == "..";
        if (bad)
            fail(ErrorKind::format,
                 "{}: weight_map '{}': shard '{}' is not a file inside the checkpoint directory",
                 ip, name, s);
        if (seen.insert(s).second) shards.push_back(s);
    }

    SafetensorsCheckpoint c;
    c.path_ = dir;
    for (const std::string& s : shards)
        c.add_file(std::make_unique<SafetensorsFile>((fs::path(dir) / s).string()));
    for (const auto& [name, shard] : map_it->items()) {
        const std::string s = shard.get<std::string>();
        const auto it = c.tensors_.find(name);
        const size_t want = size_t(std::find(shards.begin(), shards.end(), s) - shards.begin());
        if (it == c.tensors_.end() || it->second.file != want)
            fail(ErrorKind::format, "{}: weight_map says tensor '{}' is in {}, but it is not there",
                 ip, name, s);
    }
    return c;
}

const SafetensorsTensor* SafetensorsCheckpoint::find_entry(std::string_view name) const {
    const auto it = tensors_.find(std::string(name));
    return it == tensors_.end() ? nullptr : it->second.tensor;
}

const SafetensorsFile* SafetensorsCheckpoint::file_of(std::string_view name) const {
    const auto it = tensors_.find(std::string(name));
    return it == tensors_.end() ? nullptr : files_[it->second.file].get();
}

const TensorView* SafetensorsCheckpoint::find(std::string_view name) const {
    const auto it = tensors_.find(std::string(name));
    if (it == tensors_.end()) return nullptr;
    return &safetensors_view(*it->second.tensor, files_[it->second.file]->path());
}

const TensorView& SafetensorsCheckpoint::get(std::string_view name) const {
    const TensorView* v = find(name);
    if (!v) fail(ErrorKind::format, "{}: no tensor named '{}'", path_, name);
    return *v;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& [name, loc] : tensors_) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace encore
