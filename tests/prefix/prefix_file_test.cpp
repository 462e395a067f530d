// Saved prefixes (engine/prefix_file.h) on the bundled model, cpu backend: a loaded prefix gives
// bitwise the logits of a computed one for any continuation and publishes its blocks; files of
// another model, plan or KV storage type, truncated, bit-flipped or otherwise wrong are refused
// with one-line errors of the right kind, leaving the sequence empty and the pool's accounting
// unchanged; failed saves leave no file behind.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "engine/prefix_file.h"
#include "engine/sequence.h"
#include "model/random_model.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

namespace fs = std::filesystem;

std::string brown_dir() {
    return std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l";
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, std::span<const uint8_t> bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    std::memcpy(&b[at], &v, 4);
}

// Rewrites the checksums of a file whose contents a test changed on purpose.
void fix_checksums(std::vector<uint8_t>& b, size_t header_bytes) {
    put_u32(b, header_bytes - 4, uint32_t(crc32_z(0, b.data(), header_bytes - 4)));
    put_u32(b, b.size() - 4, uint32_t(crc32_z(0, b.data(), b.size() - 4)));
}

// What a failed load must leave exactly as it was.
struct PoolState {
    int32_t n_available, n_referenced, n_cached;
    int64_t published, hits, evictions;
    bool operator==(const PoolState&) const = default;
};
PoolState pool_state(const Engine& e) {
    const PrefixStats& s = e.kv().stats();
    return {e.kv().n_available(), e.kv().n_referenced(), e.kv().n_cached(), s.published, s.hits,
            s.evictions};
}

class PrefixFileTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { model_ = Model::load(brown_dir()); }
    static void TearDownTestSuite() { model_.reset(); }

    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("encore_prefix_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    static std::unique_ptr<Engine> engine(const std::string& plan = "",
                                          EngineOptions options = {}) {
        return std::make_unique<Engine>(
            model_, LayerPlan::parse(plan, int(model_->spec().n_layers)), options);
    }
    // The first n tokens of the held-out text (BOS first).
    static std::vector<int32_t> text_tokens(size_t n, size_t skip = 0) {
        std::ifstream in(brown_dir() + "/heldout.txt");
        std::string text((std::istreambuf_iterator<char>(in)), {});
        std::vector<int32_t> ids = model_->tokenizer().encode(text.substr(0, 20000), true);
        EXPECT_GE(ids.size(), skip + n);
        return std::vector<int32_t>(ids.begin() + int64_t(skip), ids.begin() + int64_t(skip + n));
    }
    // Logits of every continuation token after `seq`'s tokens, computed on a fork.
    static std::vector<float> continuation_logits(const Sequence& seq,
                                                  const std::vector<int32_t>& cont) {
        auto item = seq.fork();
        item->prefill(cont, Logits::all);
        return std::vector<float>(item->logits().begin(), item->logits().end());  // [n, vocab]
    }
    // The same logits computed from scratch by an engine without a prefix cache.
    static std::vector<float> scratch_logits(const std::string& plan, EngineOptions options,
                                             const std::vector<int32_t>& prefix,
                                             const std::vector<int32_t>& cont) {
        options.prefix_cache = false;
        auto e = engine(plan, options);
        Sequence s(*e);
        std::vector<int32_t> all = prefix;
        all.insert(all.end(), cont.begin(), cont.end());
        s.prefill(all, Logits::all);
        const auto l = s.logits();
        const size_t vocab = size_t(e->vocab_size());
        return std::vector<float>(l.begin() + int64_t(prefix.size() * vocab), l.end());
    }
    // Saves a freshly computed prefix of n tokens; returns its path.
    fs::path saved_prefix(size_t n, const std::string& plan = "") {
        auto e = engine(plan);
        Sequence seq(*e);
        seq.prefill(text_tokens(n), Logits::none);
        const fs::path path = dir_ / ("prefix_" + std::to_string(n) + ".bin");
        PrefixFile::save(seq, path.string());
        return path;
    }
    // Expects load() to fail with `kind`, one line, leaving `seq` empty and the pool unchanged.
    static std::string expect_load_error(Engine& e, Sequence& seq, const fs::path& path,
                                         ErrorKind kind) {
        const PoolState before = pool_state(e);
        try {
            PrefixFile::load(seq, path.string());
        } catch (const Error& err) {
            EXPECT_EQ(err.kind(), kind) << err.what();
            EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << err.what();
            EXPECT_EQ(seq.size(), 0);
            EXPECT_TRUE(seq.block_table().empty());
            EXPECT_EQ(pool_state(e), before);
            return err.what();
        }
        ADD_FAILURE() << path << ": load succeeded, expected " << error_kind_name(kind);
        return {};
    }

    static std::shared_ptr<Model> model_;
    fs::path dir_;
};

std::shared_ptr<Model> PrefixFileTest::model_;

TEST_F(PrefixFileTest, LoadedPrefixGivesBitwiseTheLogitsOfAComputedOne) {
    for (size_t n : {size_t(1), size_t(16), size_t(40)}) {
        SCOPED_TRACE("prefix of " + std::to_string(n) + " tokens");
        const std::vector<int32_t> prefix = text_tokens(n);
        auto saver = engine();
        Sequence computed(*saver);
        computed.prefill(prefix, Logits::none);
        const fs::path path = dir_ / "p.bin";
        PrefixFile::save(computed, path.string());

        auto loader = engine();  // a fresh pool: nothing cached
        Sequence loaded(*loader);
        PrefixFile::load(loaded, path.string());
        EXPECT_EQ(loaded.tokens(), prefix);
        EXPECT_EQ(loader->kv().stats().published, int64_t(n / 16));
        for (size_t m : {size_t(1), size_t(7), size_t(30)}) {
            const std::vector<int32_t> cont = text_tokens(m, 60);
            const std::vector<float> want = continuation_logits(computed, cont);
            const std::vector<float> got = continuation_logits(loaded, cont);
            ASSERT_EQ(got.size(), m * size_t(loader->vocab_size()));
            EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                << "continuation of " << m << " tokens";
            const std::vector<float> scratch = scratch_logits("", {}, prefix, cont);
            EXPECT_EQ(std::memcmp(got.data(), scratch.data(), got.size() * sizeof(float)), 0)
                << "continuation of " << m << " tokens vs from scratch";
        }
        // Continuing the loaded sequence itself (writes into its partial last block).
        const std::vector<int32_t> cont = text_tokens(20, 80);
        computed.prefill(cont, Logits::all);
        loaded.prefill(cont, Logits::all);
        EXPECT_EQ(std::memcmp(loaded.logits().data(), computed.logits().data(),
                              loaded.logits().size() * sizeof(float)),
                  0);
    }
}

TEST_F(PrefixFileTest, LoadedFullBlocksArePublishedForLaterSequences) {
    const std::vector<int32_t> prefix = text_tokens(40);
    const fs::path path = saved_prefix(40);
    auto e = engine();
    {
        Sequence loaded(*e);
        PrefixFile::load(loaded, path.string());
        EXPECT_EQ(e->kv().stats().published, 2);
        EXPECT_EQ(e->kv().n_referenced(), 3);
    }  // freed: the published blocks stay cached
    EXPECT_EQ(e->kv().n_referenced(), 0);
    EXPECT_EQ(e->kv().n_cached(), 2);
    Sequence later(*e);
    std::vector<int32_t> tokens = prefix;
    tokens.push_back(5);
    later.prefill(tokens, Logits::last);
    EXPECT_EQ(e->kv().stats().hits, 2);
    EXPECT_EQ(later.last_logits().size(), size_t(e->vocab_size()));
    const std::vector<float> scratch = scratch_logits("", {}, prefix, {5});
    EXPECT_EQ(
        std::memcmp(later.last_logits().data(), scratch.data(), scratch.size() * sizeof(float)), 0);
}

TEST_F(PrefixFileTest, RepeatedLayerPlanRoundTrips) {
    const std::vector<int32_t> prefix = text_tokens(37);
    const fs::path path = saved_prefix(37, "rys:4,8");
    EXPECT_EQ(PrefixFile::read_info(path.string()).n_instances, 16);
    auto e = engine("rys:4,8");
    Sequence loaded(*e);
    PrefixFile::load(loaded, path.string());
    const std::vector<int32_t> cont = text_tokens(9, 50);
    const std::vector<float> got = continuation_logits(loaded, cont);
    const std::vector<float> want = scratch_logits("rys:4,8", {}, prefix, cont);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

TEST_F(PrefixFileTest, AnEngineWithAnotherBlockSizeLoadsToo) {
    const std::vector<int32_t> prefix = text_tokens(45);
    const fs::path path = saved_prefix(45);
    EngineOptions options;
    options.block_size = 8;
    auto e = engine("", options);
    Sequence loaded(*e);
    PrefixFile::load(loaded, path.string());
    EXPECT_EQ(e->kv().stats().published, 5);
    const std::vector<int32_t> cont = text_tokens(11, 50);
    const std::vector<float> got = continuation_logits(loaded, cont);
    const std::vector<float> want = scratch_logits("", options, prefix, cont);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

TEST_F(PrefixFileTest, ReadInfoDescribesTheFile) {
    const fs::path path = saved_prefix(40);
    const PrefixFileInfo info = PrefixFile::read_info(path.string());
    EXPECT_EQ(info.version, 1u);
    EXPECT_EQ(info.model_identity, model_->identity());
    EXPECT_EQ(info.plan, "0-11");
    EXPECT_EQ(info.model_name, model_->path());
    EXPECT_EQ(info.n_tokens, 40);
    EXPECT_EQ(info.n_instances, 12);
    EXPECT_EQ(info.n_kv_heads, int(model_->spec().n_kv_heads));
    EXPECT_EQ(info.head_dim, int(model_->spec().head_dim));
    EXPECT_EQ(info.block_size, 16);
    EXPECT_EQ(info.header_bytes % 64, 0u);
    EXPECT_EQ(info.file_bytes, fs::file_size(path));
    EXPECT_EQ(info.file_bytes, info.header_bytes + 40 * 4 +
                                   uint64_t(40 * 12 * 2 * info.n_kv_heads * info.head_dim * 4) + 4);
}

TEST_F(PrefixFileTest, EmptySequenceRoundTrips) {
    auto e = engine();
    Sequence empty(*e);
    const fs::path path = dir_ / "empty.bin";
    PrefixFile::save(empty, path.string());
    Sequence loaded(*e);
    PrefixFile::load(loaded, path.string());
    EXPECT_EQ(loaded.size(), 0);
    EXPECT_EQ(e->kv().n_referenced(), 0);
}

TEST_F(PrefixFileTest, RefusesAPrefixOfAnotherModel) {
    const fs::path path = saved_prefix(20);
    const auto other = make_random_model(model_->spec(), DType::f32, 3);
    ASSERT_NE(other->identity(), model_->identity());
    Engine e(other, LayerPlan::identity(int(other->spec().n_layers)));
    Sequence seq(e);
    const std::string msg = expect_load_error(e, seq, path, ErrorKind::invalid_argument);
    EXPECT_NE(msg.find(model_->identity()), std::string::npos) << msg;
    EXPECT_NE(msg.find(other->identity()), std::string::npos) << msg;
}

TEST_F(PrefixFileTest, RefusesAPrefixOfAnotherLayerPlan) {
    const fs::path path = saved_prefix(20);
    for (const char* plan : {"0-5", "rys:4,8", "0-10,11"}) {
        auto e = engine(plan);
        Sequence seq(*e);
        if (e->plan().to_spec() == "0-11") continue;  // the same plan spelled differently
        const std::string msg = expect_load_error(*e, seq, path, ErrorKind::invalid_argument);
        EXPECT_NE(msg.find("'0-11'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("'" + e->plan().to_spec() + "'"), std::string::npos) << msg;
    }
    // A file saved under a repeated plan is refused by the plain model too.
    const fs::path rys = saved_prefix(20, "rys:4,8");
    auto e = engine();
    Sequence seq(*e);
    expect_load_error(*e, seq, rys, ErrorKind::invalid_argument);
}

// A prefix computed at --precision fast records it: it loads into a fast engine (continuations
// bitwise those computed from scratch at fast) and is refused by a default one, and the reverse.
// Files of the default precision are byte for byte what they were before the field existed.
TEST_F(PrefixFileTest, PrecisionIsRecordedAndChecked) {
    EngineOptions fast;
    fast.precision = Precision::fast;
    const std::vector<int32_t> prefix = text_tokens(20);
    const fs::path path = dir_ / "fast.bin";
    {
        auto e = engine("", fast);
        Sequence seq(*e);
        seq.prefill(prefix, Logits::none);
        PrefixFile::save(seq, path.string());
    }
    EXPECT_EQ(PrefixFile::read_info(path.string()).precision, Precision::fast);
    const fs::path standard = saved_prefix(20);
    EXPECT_EQ(PrefixFile::read_info(standard.string()).precision, Precision::standard);
    // The default file's header padding is all zeros (as before the precision field).
    const std::vector<uint8_t> bytes = read_bytes(standard);
    const PrefixFileInfo info = PrefixFile::read_info(standard.string());
    const size_t fields_end = 16 + 4 * 3 + info.model_identity.size() + info.plan.size() +
                              info.model_name.size() + 4 * 4 + 8;
    for (size_t i = fields_end; i < info.header_bytes - 4; ++i) ASSERT_EQ(bytes[i], 0) << i;

    auto loader = engine("", fast);
    Sequence loaded(*loader);
    PrefixFile::load(loaded, path.string());
    const std::vector<int32_t> cont = text_tokens(9, 60);
    const std::vector<float> got = continuation_logits(loaded, cont);
    const std::vector<float> want = scratch_logits("", fast, prefix, cont);
    EXPECT_EQ(got, want);

    auto standard_engine = engine();
    Sequence seq(*standard_engine);
    const std::string msg =
        expect_load_error(*standard_engine, seq, path, ErrorKind::invalid_argument);
    EXPECT_NE(msg.find("--precision fast"), std::string::npos) << msg;
    auto fast_engine = engine("", fast);
    Sequence seq2(*fast_engine);
    expect_load_error(*fast_engine, seq2, standard, ErrorKind::invalid_argument);

    // A precision code other than 0 or 1 is a format error.
    std::vector<uint8_t> bad = read_bytes(path);
    put_u32(bad, fields_end, 7);  // the fast file has the same fields before its precision
    fix_checksums(bad, PrefixFile::read_info(path.string()).header_bytes);
    write_bytes(dir_ / "bad.bin", bad);
    auto e = engine("", fast);
    Sequence seq3(*e);
    expect_load_error(*e, seq3, dir_ / "bad.bin", ErrorKind::format);
}

// A prefix of an f16 or bf16 pool is saved in its storage type (format version 2, half the K/V
// bytes of the f32 file), loads bitwise into an engine of the same type, and is refused by an
// engine of another type with an error naming both (and an f32 file by a half-type engine).
TEST_F(PrefixFileTest, KvTypeIsRecordedAndChecked) {
    const std::vector<int32_t> prefix = text_tokens(40);  // two full blocks and a partial one
    const std::vector<int32_t> cont = text_tokens(9, 60);
    const fs::path f32_path = saved_prefix(40);
    const PrefixFileInfo f32_info = PrefixFile::read_info(f32_path.string());
    EXPECT_EQ(f32_info.kv_type, DType::f32);
    EXPECT_EQ(f32_info.version, 1u);
    const uint64_t f32_kv_bytes = f32_info.file_bytes - f32_info.kv_offset - 4;
    for (DType type : {DType::f16, DType::bf16}) {
        const std::string name(dtype_name(type));
        SCOPED_TRACE(name);
        EngineOptions half;
        half.kv_type = type;
        const fs::path path = dir_ / (name + ".bin");
        {
            auto e = engine("", half);
            Sequence seq(*e);
            seq.prefill(prefix, Logits::none);
            PrefixFile::save(seq, path.string());
        }
        const PrefixFileInfo info = PrefixFile::read_info(path.string());
        EXPECT_EQ(info.kv_type, type);
        EXPECT_EQ(info.version, 2u);
        EXPECT_EQ(2 * (info.file_bytes - info.kv_offset - 4), f32_kv_bytes);

        auto loader = engine("", half);
        Sequence loaded(*loader);
        PrefixFile::load(loaded, path.string());
        EXPECT_EQ(loader->kv().n_cached(), 2) << "full blocks were not published";
        EXPECT_EQ(continuation_logits(loaded, cont), scratch_logits("", half, prefix, cont));

        auto f32_engine = engine();
        Sequence seq(*f32_engine);
        const std::string msg =
            expect_load_error(*f32_engine, seq, path, ErrorKind::invalid_argument);
        EXPECT_NE(msg.find("--kv-type " + name), std::string::npos) << msg;
        EXPECT_NE(msg.find("--kv-type f32"), std::string::npos) << msg;
        auto half_engine = engine("", half);
        Sequence seq2(*half_engine);
        expect_load_error(*half_engine, seq2, f32_path, ErrorKind::invalid_argument);
    }
    // A kv_type code other than 0-2 is a format error.
    const fs::path path = dir_ / "f16.bin";
    std::vector<uint8_t> bad = read_bytes(path);
    const PrefixFileInfo info = PrefixFile::read_info(path.string());
    const size_t kv_type_at = 16 + 4 * 3 + info.model_identity.size() + info.plan.size() +
                              info.model_name.size() + 4 * 4 + 8 + 4;  // after the precision
    uint32_t code = 0;
    std::memcpy(&code, &bad[kv_type_at], 4);
    ASSERT_EQ(code, 1u) << "the field is not where the format says";
    put_u32(bad, kv_type_at, 9);
    fix_checksums(bad, info.header_bytes);
    write_bytes(dir_ / "bad.bin", bad);
    EngineOptions half;
    half.kv_type = DType::f16;
    auto e = engine("", half);
    Sequence seq(*e);
    expect_load_error(*e, seq, dir_ / "bad.bin", ErrorKind::format);
}

TEST_F(PrefixFileTest, TruncatedFilesAreFormatErrors) {
    const fs::path path = saved_prefix(40);
    const std::vector<uint8_t> bytes = read_bytes(path);
    const uint64_t header = PrefixFile::read_info(path.string()).header_bytes;
    std::vector<size_t> lengths;
    for (size_t n = 0; n <= header + 8; ++n) lengths.push_back(n);
    for (size_t n = header + 9; n < bytes.size(); n += 97) lengths.push_back(n);
    for (size_t k = 1; k <= 8; ++k) lengths.push_back(bytes.size() - k);
    auto e = engine();
    Sequence seq(*e);
    Sequence other(*e);  // the pool has blocks in use, cached and free
    other.prefill(text_tokens(35, 100), Logits::none);
    const fs::path cut = dir_ / "cut.bin";
    for (size_t n : lengths) {
        SCOPED_TRACE("truncated to " + std::to_string(n) + " of " + std::to_string(bytes.size()));
        write_bytes(cut, std::span(bytes).first(n));
        expect_load_error(*e, seq, cut, ErrorKind::format);
        EXPECT_THROW(PrefixFile::read_info(cut.string()), Error);
    }
    // Trailing bytes are refused as well.
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    write_bytes(cut, longer);
    expect_load_error(*e, seq, cut, ErrorKind::format);
}

TEST_F(PrefixFileTest, SingleBitFlipsAreFormatErrors) {
    const fs::path path = saved_prefix(40);
    const std::vector<uint8_t> bytes = read_bytes(path);
    const uint64_t header = PrefixFile::read_info(path.string()).header_bytes;
    std::vector<size_t> offsets;
    for (size_t i = 0; i < header + 16; ++i) offsets.push_back(i);
    for (size_t i = header + 16; i < bytes.size(); i += 61) offsets.push_back(i);
    for (size_t k = 1; k <= 8; ++k) offsets.push_back(bytes.size() - k);
    auto e = engine();
    Sequence seq(*e);
    const fs::path bad = dir_ / "flipped.bin";
    for (size_t at : offsets) {
        const int bit = int(at % 8);
        SCOPED_TRACE("bit " + std::to_string(bit) + " of byte " + std::to_string(at));
        std::vector<uint8_t> flipped = bytes;
        flipped[at] ^= uint8_t(1u << bit);
        write_bytes(bad, flipped);
        expect_load_error(*e, seq, bad, ErrorKind::format);
    }
    // The untouched file still loads into the same sequence.
    PrefixFile::load(seq, path.string());
    EXPECT_EQ(seq.size(), 40);
}

TEST_F(PrefixFileTest, TokenIdsOutOfRangeAreFormatErrors) {
    const fs::path path = saved_prefix(20);
    std::vector<uint8_t> bytes = read_bytes(path);
    const PrefixFileInfo info = PrefixFile::read_info(path.string());
    auto e = engine();
    Sequence seq(*e);
    for (int32_t id : {int32_t(model_->spec().vocab_size), -1}) {
        std::vector<uint8_t> b = bytes;
        std::memcpy(&b[info.header_bytes + 4 * 7], &id, 4);
        fix_checksums(b, info.header_bytes);
        const fs::path bad = dir_ / "bad_token.bin";
        write_bytes(bad, b);
        const std::string msg = expect_load_error(*e, seq, bad, ErrorKind::format);
        EXPECT_NE(msg.find(std::to_string(id)), std::string::npos) << msg;
    }
}

TEST_F(PrefixFileTest, OtherFormatVersionsAreUnsupported) {
    const fs::path path = saved_prefix(20);
    std::vector<uint8_t> bytes = read_bytes(path);
    const PrefixFileInfo info = PrefixFile::read_info(path.string());
    put_u32(bytes, 8, 3);
    fix_checksums(bytes, info.header_bytes);
    const fs::path bad = dir_ / "v3.bin";
    write_bytes(bad, bytes);
    auto e = engine();
    Sequence seq(*e);
    const std::string msg = expect_load_error(*e, seq, bad, ErrorKind::unsupported);
    EXPECT_NE(msg.find("version 3"), std::string::npos) << msg;
    // Version 2 is the one of f16 / bf16 pools: an f32 file marked version 2 is malformed.
    put_u32(bytes, 8, 2);
    fix_checksums(bytes, info.header_bytes);
    write_bytes(bad, bytes);
    expect_load_error(*e, seq, bad, ErrorKind::format);
}

TEST_F(PrefixFileTest, NotAPrefixFile) {
    const fs::path path = dir_ / "model.safetensors";
    fs::copy_file(brown_dir() + "/config.json", path);
    auto e = engine();
    Sequence seq(*e);
    const std::string msg = expect_load_error(*e, seq, path, ErrorKind::format);
    EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
}

TEST_F(PrefixFileTest, RefusesANonEmptyOrFreedSequence) {
    const fs::path path = saved_prefix(20);
    auto e = engine();
    Sequence seq(*e);
    seq.prefill(text_tokens(3), Logits::last);
    const PoolState before = pool_state(*e);
    try {
        PrefixFile::load(seq, path.string());
        ADD_FAILURE() << "loaded into a non-empty sequence";
    } catch (const Error& err) {
        EXPECT_EQ(err.kind(), ErrorKind::invalid_argument) << err.what();
    }
    EXPECT_EQ(seq.tokens(), text_tokens(3));
    EXPECT_EQ(seq.last_logits().size(), size_t(e->vocab_size()));
    EXPECT_EQ(pool_state(*e), before);

    seq.free();
    for (int save = 0; save < 2; ++save) {
        try {
            if (save)
                PrefixFile::save(seq, (dir_ / "freed.bin").string());
            else
                PrefixFile::load(seq, path.string());
            ADD_FAILURE() << "used a freed sequence";
        } catch (const Error& err) {
            EXPECT_EQ(err.kind(), ErrorKind::invalid_argument) << err.what();
        }
    }
    EXPECT_FALSE(fs::exists(dir_ / "freed.bin"));
}

TEST_F(PrefixFileTest, MissingFileIsAnIoError) {
    auto e = engine();
    Sequence seq(*e);
    const std::string msg = expect_load_error(*e, seq, dir_ / "nope.bin", ErrorKind::io);
    EXPECT_NE(msg.find("nope.bin"), std::string::npos);
    EXPECT_THROW(PrefixFile::read_info((dir_ / "nope.bin").string()), Error);
}

TEST_F(PrefixFileTest, FailedSavesLeaveNoFileBehind) {
    auto e = engine();
    Sequence seq(*e);
    seq.prefill(text_tokens(40), Logits::none);
    auto expect_io = [&](const fs::path& target) {
        try {
            PrefixFile::save(seq, target.string());
            ADD_FAILURE() << "saved to " << target;
        } catch (const Error& err) {
            EXPECT_EQ(err.kind(), ErrorKind::io) << err.what();
        }
    };
    expect_io(dir_ / "no_such_dir" / "p.bin");
    // The rename fails after the whole file was written to its temporary name.
    fs::create_directories(dir_ / "occupied" / "keep");
    expect_io(dir_ / "occupied");
    std::vector<std::string> left;
    for (const auto& entry : fs::recursive_directory_iterator(dir_))
        left.push_back(entry.path().lexically_relative(dir_).string());
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<std::string>{"occupied", "occupied/keep"}));
    EXPECT_EQ(seq.size(), 40);  // saving does not change the sequence
}

TEST_F(PrefixFileTest, OutOfMemoryLeavesNothingChanged) {
    const fs::path path = saved_prefix(40);  // 3 blocks
    auto probe = engine();
    const int64_t block_bytes = probe->kv().bytes_per_block();
    probe.reset();
    EngineOptions options;
    options.kv_budget_bytes = 3 * block_bytes;
    auto e = engine("", options);
    Sequence holder(*e);
    holder.prefill(text_tokens(5, 200), Logits::none);  // takes 1 of the 3 blocks
    Sequence seq(*e);
    expect_load_error(*e, seq, path, ErrorKind::out_of_memory);
    holder.free();
    PrefixFile::load(seq, path.string());
    EXPECT_EQ(seq.size(), 40);
    EXPECT_EQ(e->kv().n_available(), 0);
}

}  // namespace
}  // namespace encore
