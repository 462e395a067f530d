// Saving and loading a Sequence's prefix (tokens + KV) as a checksummed file (see
// prefix_file.h for the format). Loading validates the whole file before it takes a single block.
#include "engine/prefix_file.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/sequence.h"

namespace encore {

static_assert(std::endian::native == std::endian::little,
              "prefix files are little-endian; this build reads and writes them natively");

namespace {

constexpr char k_magic[8] = {'E', 'N', 'C', 'P', 'R', 'F', 'X', '\0'};
constexpr uint32_t k_version = 1;          // f32 KV
constexpr uint32_t k_version_kv_type = 2;  // f16 / bf16 KV: the kv_type field present
constexpr DType k_kv_types[] = {DType::f32, DType::f16, DType::bf16};  // by their field value
constexpr uint64_t k_header_align = 64;
constexpr uint64_t k_max_header_bytes = 1 << 20;  // strings are short; anything larger is corrupt
constexpr uint32_t k_max_dim = 1 << 16;           // bound on instances, heads, head_dim, block

uint32_t crc32_of(uint32_t crc, const void* data, uint64_t n) {
    if (n == 0) return crc;  // zlib returns the initial value for a null buffer
    return uint32_t(::crc32_z(crc, static_cast<const Bytef*>(data), size_t(n)));
}

template <typename T>
T load_le(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template <typename T>
void append_le(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void append_string(std::string& out, std::string_view s) {
    append_le(out, uint32_t(s.size()));
    out.append(s);
}

// Reads the fields of a header whose checksum already matched; bounds are still checked, since
// a well-checksummed header can be written by something else than encore.
class HeaderReader {
  public:
    HeaderReader(const uint8_t* data, uint64_t end, uint64_t pos, const std::string& path)
        : data_(data), end_(end), pos_(pos), path_(path) {}

    const uint8_t* take(uint64_t n, const char* field) {
        if (n > end_ - pos_)
            fail(ErrorKind::format, "{}: header field '{}' runs past the header ({} bytes)", path_,
                 field, end_ + 4);
        const uint8_t* p = data_ + pos_;
        pos_ += n;
        return p;
    }
    uint32_t u32(const char* field) { return load_le<uint32_t>(take(4, field)); }
    uint64_t left() const { return end_ - pos_; }
    uint64_t u64(const char* field) { return load_le<uint64_t>(take(8, field)); }
    std::string str(const char* field) {
        const uint32_t n = u32(field);
        const uint8_t* p = take(n, field);
        return std::string(reinterpret_cast<const char*>(p), n);
    }
    int dim(const char* field) {
        const uint32_t v = u32(field);
        if (v == 0 || v > k_max_dim)
            fail(ErrorKind::format, "{}: header field '{}' = {} is out of range (1-{})", path_,
                 field, v, k_max_dim);
        return int(v);
    }
    // The padding up to the checksum must be zeros (it is checksummed too, but a writer that is
    // not encore could put anything there).
    void expect_zeros() {
        for (uint64_t i = pos_; i < end_; ++i)
            if (data_[i] != 0)
                fail(ErrorKind::format, "{}: non-zero byte in the header padding at offset {}",
                     path_, i);
    }

  private:
    const uint8_t* data_;
    uint64_t end_, pos_;
    const std::string& path_;
};

// Checks the structure of a prefix file held in memory: magic, header checksum, version,
// fields, and the file size against the lengths the header gives. The data checksum is not
// checked here.
PrefixFileInfo parse_header(const uint8_t* data, uint64_t size, const std::string& path) {
    const uint64_t magic_seen = std::min<uint64_t>(size, sizeof k_magic);
    if (magic_seen > 0 && std::memcmp(data, k_magic, size_t(magic_seen)) != 0)
        fail(ErrorKind::format, "{}: not an encore prefix file (bad magic)", path);
    if (size < 16)
        fail(ErrorKind::format, "{}: truncated: {} bytes, a prefix file header is at least {}",
             path, size, k_header_align);
    PrefixFileInfo info;
    info.file_bytes = size;
    info.header_bytes = load_le<uint32_t>(data + 12);
    if (info.header_bytes < k_header_align || info.header_bytes % k_header_align != 0 ||
        info.header_bytes > k_max_header_bytes)
        fail(ErrorKind::format, "{}: header size {} is invalid (a multiple of {} up to {})", path,
             info.header_bytes, k_header_align, k_max_header_bytes);
    if (info.header_bytes > size)
        fail(ErrorKind::format, "{}: truncated: {} bytes, the header alone is {}", path, size,
             info.header_bytes);
    const uint64_t crc_at = info.header_bytes - 4;
    const uint32_t header_crc = load_le<uint32_t>(data + crc_at);
    if (crc32_of(0, data, crc_at) != header_crc)
        fail(ErrorKind::format, "{}: header checksum mismatch (corrupted file)", path);
    info.version = load_le<uint32_t>(data + 8);
    if (info.version != k_version && info.version != k_version_kv_type)
        fail(ErrorKind::unsupported,
             "{}: prefix file format version {}; this encore reads versions {} and {}", path,
             info.version, k_version, k_version_kv_type);

    HeaderReader r(data, crc_at, 16, path);
    info.model_identity = r.str("model identity");
    info.plan = r.str("layer plan");
    info.model_name = r.str("model name");
    info.n_instances = r.dim("n_instances");
    info.n_kv_heads = r.dim("n_kv_heads");
    info.head_dim = r.dim("head_dim");
    info.block_size = r.dim("block_size");
    const uint64_t n_tokens = r.u64("n_tokens");
    if (r.left() >= 4) {
        const uint32_t precision = r.u32("precision");
        if (precision > 1)
            fail(ErrorKind::format, "{}: header field 'precision' = {} is out of range (0-1)", path,
                 precision);
        info.precision = precision == 1 ? Precision::fast : Precision::standard;
    }
    if (r.left() >= 4) {
        const uint32_t kv_type = r.u32("kv_type");
        if (kv_type > 2)
            fail(ErrorKind::format, "{}: header field 'kv_type' = {} is out of range (0-2)", path,
                 kv_type);
        info.kv_type = k_kv_types[kv_type];
    }
    if ((info.kv_type != DType::f32) != (info.version == k_version_kv_type))
        fail(ErrorKind::format, "{}: format version {} with KV type {}", path, info.version,
             dtype_name(info.kv_type));
    r.expect_zeros();
    if (n_tokens > uint64_t(INT32_MAX))
        fail(ErrorKind::format, "{}: n_tokens = {} is out of range (0-{})", path, n_tokens,
             INT32_MAX);
    info.n_tokens = int64_t(n_tokens);

    // Bounded above: fits easily in 64 bits (2^31 tokens x 2^51 bytes would not, hence 128).
    const unsigned __int128 kv_bytes = (unsigned __int128)n_tokens * uint64_t(info.n_instances) *
                                       2 * uint64_t(info.n_kv_heads) * uint64_t(info.head_dim) *
                                       uint64_t(kv_type_bytes(info.kv_type));
    const unsigned __int128 expected =
        (unsigned __int128)info.header_bytes + n_tokens * sizeof(int32_t) + kv_bytes + 4;
    if (expected != size) {
        const bool fits = expected <= ~uint64_t(0);
        fail(ErrorKind::format,
             "{}: {}: {} bytes, {} tokens x {} instances x {} kv heads x {} head_dim of {} need {}",
             path, size < expected ? "truncated" : "trailing bytes", size, n_tokens,
             info.n_instances, info.n_kv_heads, info.head_dim, dtype_name(info.kv_type),
             fits ? fmt::format("{}", uint64_t(expected)) : std::string("more than 2^64"));
    }
    info.kv_offset = info.header_bytes + n_tokens * sizeof(int32_t);
    return info;
}

// A buffered writer that keeps the running crc32 of everything written.
class ChecksumWriter {
  public:
    explicit ChecksumWriter(AtomicFileWriter& out) : out_(out) { buffer_.reserve(k_capacity); }

    void write(const void* data, size_t n) {
        crc_ = crc32_of(crc_, data, n);
        const auto* p = static_cast<const char*>(data);
        if (buffer_.size() + n > k_capacity) flush();
        if (n >= k_capacity) {
            out_.write(p, n);
            return;
        }
        buffer_.insert(buffer_.end(), p, p + n);
    }
    void flush() {
        if (!buffer_.empty()) out_.write(buffer_.data(), buffer_.size());
        buffer_.clear();
    }
    uint32_t crc() const { return crc_; }

  private:
    static constexpr size_t k_capacity = 1 << 20;
    AtomicFileWriter& out_;
    std::vector<char> buffer_;
    uint32_t crc_ = 0;
};

}  // namespace

void PrefixFile::save(const Sequence& seq, const std::string& path) {
    seq.check_live();
    const Engine& engine = seq.engine();
    const KvPool& kv = engine.kv();
    const KvShape& shape = kv.shape();
    const int64_t n = seq.size();
    const int B = kv.block_size();

    const DType kv_type = kv.type();
    std::string header(k_magic, sizeof k_magic);
    append_le(header, kv_type == DType::f32 ? k_version : k_version_kv_type);
    append_le(header, uint32_t(0));  // header_bytes, set below
    append_string(header, engine.model().identity());
    append_string(header, engine.plan().to_spec());
    append_string(header, engine.model().path());
    append_le(header, uint32_t(shape.n_instances));
    append_le(header, uint32_t(shape.n_kv_heads));
    append_le(header, uint32_t(shape.head_dim));
    append_le(header, uint32_t(shape.block_size));
    append_le(header, uint64_t(n));
    if (engine.precision() == Precision::fast || kv_type != DType::f32)
        append_le(header, uint32_t(engine.precision() == Precision::fast ? 1 : 0));
    if (kv_type != DType::f32)
        append_le(header,
                  uint32_t(std::find(std::begin(k_kv_types), std::end(k_kv_types), kv_type) -
                           std::begin(k_kv_types)));
    const uint64_t header_bytes =
        (header.size() + 4 + k_header_align - 1) / k_header_align * k_header_align;
    if (header_bytes > k_max_header_bytes)
        fail(ErrorKind::invalid_argument, "{}: model name or plan too long for a prefix file",
             path);
    header.resize(size_t(header_bytes - 4), '\0');
    const uint32_t header_bytes32 = uint32_t(header_bytes);
    std::memcpy(header.data() + 12, &header_bytes32, 4);
    append_le(header, crc32_of(0, header.data(), header.size()));

    AtomicFileWriter file(path);
    ChecksumWriter out(file);
    out.write(header.data(), header.size());
    out.write(seq.tokens_.data(), size_t(n) * sizeof(int32_t));  // [n_tokens]
    // [n_instances][2][n_kv_heads][n_tokens][head_dim], gathered block by block (through a host
    // row buffer: the pool may be device memory).
    Backend& backend = const_cast<Engine&>(engine).backend();
    const size_t element = size_t(kv_type_bytes(kv_type));
    std::vector<uint8_t> host_rows(size_t(B) * size_t(shape.head_dim) * element);
    for (int ii = 0; ii < shape.n_instances; ++ii) {
        const KvLayerView view = kv.layer_view(ii);
        for (int which = 0; which < 2; ++which)
            for (int h = 0; h < shape.n_kv_heads; ++h)
                for (size_t b = 0; b < seq.blocks_.size(); ++b) {
                    const int64_t rows = std::min<int64_t>(B, n - int64_t(b) * B);
                    const int32_t block = seq.blocks_[b];
                    const int64_t index =
                        which == 0 ? view.k_index(block, h) : view.v_index(block, h);
                    const uint8_t* src = static_cast<const uint8_t*>(view.pool) + index * element;
                    const size_t bytes = size_t(rows) * size_t(shape.head_dim) * element;
                    backend.to_host(host_rows.data(), src, bytes);
                    out.write(host_rows.data(), bytes);
                }
    }
    const uint32_t crc = out.crc();
    out.write(&crc, sizeof crc);
    out.flush();
    file.commit();
}

PrefixFileInfo PrefixFile::read_info(const std::string& path) {
    const MappedFile file(path);
    return parse_header(file.data(), file.size(), path);
}

void PrefixFile::load(Sequence& seq, const std::string& path) {
    seq.check_live();
    if (seq.size() != 0)
        fail(ErrorKind::invalid_argument,
             "{}: a prefix loads only into an empty sequence (this one holds {} tokens)", path,
             seq.size());
    Engine& engine = seq.engine_;
    KvPool& kv = engine.kv();
    const KvShape& shape = kv.shape();

    // Validate everything first.
    const MappedFile file(path);
    const uint8_t* data = file.data();
    const PrefixFileInfo info = parse_header(data, file.size(), path);
    const uint32_t stored_crc = load_le<uint32_t>(data + file.size() - 4);
    if (crc32_of(0, data, file.size() - 4) != stored_crc)
        fail(ErrorKind::format, "{}: checksum mismatch (corrupted file)", path);
    const Model& model = engine.model();
    if (info.model_identity != model.identity())
        fail(ErrorKind::invalid_argument,
             "{}: saved for model {} ({}), but this engine runs model {} ({})", path,
             info.model_identity, info.model_name, model.identity(), model.path());
    const std::string plan = engine.plan().to_spec();
    if (info.plan != plan)
        fail(ErrorKind::invalid_argument,
             "{}: saved with layer plan '{}', but this engine runs layer plan '{}'", path,
             info.plan, plan);
    if (info.precision != engine.precision())
        fail(ErrorKind::invalid_argument,
             "{}: saved at --precision {}, but this engine runs --precision {}", path,
             precision_name(info.precision), precision_name(engine.precision()));
    if (info.kv_type != kv.type())
        fail(ErrorKind::invalid_argument,
             "{}: saved with --kv-type {}, but this engine runs --kv-type {} (a prefix loads only "
             "into an engine of its KV type; save it again with --kv-type {})",
             path, dtype_name(info.kv_type), dtype_name(kv.type()), dtype_name(kv.type()));
    if (info.n_instances != shape.n_instances || info.n_kv_heads != shape.n_kv_heads ||
        info.head_dim != shape.head_dim)
        fail(ErrorKind::invalid_argument,
             "{}: KV shape {} instances x {} kv heads x {} head_dim, but this engine has {} x {} "
             "x {}",
             path, info.n_instances, info.n_kv_heads, info.head_dim, shape.n_instances,
             shape.n_kv_heads, shape.head_dim);
    const int64_t n = info.n_tokens;
    std::vector<int32_t> tokens(static_cast<size_t>(n));  // [n_tokens]
    std::memcpy(tokens.data(), data + info.header_bytes, size_t(n) * sizeof(int32_t));
    const int64_t vocab = engine.vocab_size();
    for (int64_t i = 0; i < n; ++i)
        if (tokens[size_t(i)] < 0 || tokens[size_t(i)] >= vocab)
            fail(ErrorKind::format, "{}: token {} has id {}, out of range (vocabulary 0-{})", path,
                 i, tokens[size_t(i)], vocab - 1);
    if (n == 0) return;

    // Take the blocks; checked first so that no cached block is evicted for a load that fails.
    const int B = kv.block_size();
    const int64_t n_blocks = (n + B - 1) / B;
    if (n_blocks > kv.n_available())
        fail(ErrorKind::out_of_memory,
             "{}: {} tokens need {} KV blocks, the pool has {} of {} available; raise --kv-budget",
             path, n, n_blocks, kv.n_available(), kv.n_blocks());
    std::vector<int32_t> blocks;  // [n_blocks]
    blocks.reserve(size_t(n_blocks));
    try {
        while (int64_t(blocks.size()) < n_blocks) blocks.push_back(kv.allocate());
    } catch (...) {
        for (int32_t b : blocks) kv.release(b);
        throw;
    }

    // Scatter [n_instances][2][n_kv_heads][n_tokens][head_dim] into the blocks.
    const uint8_t* src = data + info.kv_offset;
    const size_t element = size_t(kv_type_bytes(kv.type()));
    const size_t row_bytes = size_t(shape.head_dim) * element;
    for (int ii = 0; ii < shape.n_instances; ++ii) {
        const KvLayerView view = kv.layer_view(ii);
        for (int which = 0; which < 2; ++which)
            for (int h = 0; h < shape.n_kv_heads; ++h) {
                for (int64_t b = 0; b < n_blocks; ++b) {
                    const int64_t rows = std::min<int64_t>(B, n - b * B);
                    const int32_t block = blocks[size_t(b)];
                    const int64_t index =
                        which == 0 ? view.k_index(block, h) : view.v_index(block, h);
                    uint8_t* dst = static_cast<uint8_t*>(view.pool) + index * element;
                    engine.backend().from_host(dst, src + size_t(b) * size_t(B) * row_bytes,
                                               size_t(rows) * row_bytes);
                }
                src += size_t(n) * row_bytes;
            }
    }

    seq.tokens_ = std::move(tokens);
    seq.blocks_ = std::move(blocks);
    seq.block_hashes_.clear();
    seq.logits_.clear();
    seq.logit_positions_.clear();
    engine.publish_full_blocks(seq);
}

}  // namespace encore
