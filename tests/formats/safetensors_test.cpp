// safetensors: write/read round trips of every dtype, the bundled demo checkpoint, sharded
// checkpoint directories, and a table of corrupt files that must each fail with a message naming
// the fault (never crash, never succeed).
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"

namespace encore {
namespace {

using test::Bytes;
using test::expect_error;
using test::TempDir;

// A safetensors file made of a header text and a data section.
std::vector<uint8_t> make_file(std::string_view header, const std::vector<uint8_t>& data = {}) {
    Bytes b;
    b.u64(header.size()).raw(header);
    b.b.insert(b.b.end(), data.begin(), data.end());
    return b.b;
}

SafetensorsFile parse(const std::vector<uint8_t>& bytes) {
    return SafetensorsFile::from_memory(bytes.data(), bytes.size(), "mem.safetensors");
}

TEST(Safetensors, RoundTripEveryDtype) {
    TempDir dir;
    std::vector<float> f32(6);
    for (size_t i = 0; i < f32.size(); ++i) f32[i] = float(i) * 0.5f - 1.0f;
    std::vector<uint16_t> f16(24), bf16(5);
    for (size_t i = 0; i < f16.size(); ++i) f16[i] = f32_to_f16(float(i) / 7.0f);
    for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = f32_to_bf16(float(i) * 3.25f);
    std::vector<int32_t> i32 = {-7, 0, 7, 1 << 30};
    const float scalar = 42.5f;

    const std::vector<TensorToWrite> tensors = {
        {"a.f32", DType::f32, {2, 3}, f32.data()}, {"b.f16", DType::f16, {2, 3, 2, 2}, f16.data()},
        {"c.bf16", DType::bf16, {5}, bf16.data()}, {"d.i32", DType::i32, {2, 2}, i32.data()},
        {"e.scalar", DType::f32, {}, &scalar},     {"f.empty", DType::f32, {0, 3}, nullptr},
    };
    const std::string path = dir.file("rt.safetensors");
    write_safetensors(path, tensors, {{"format", "pt"}, {"note", "round \"trip\""}});
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"rt.safetensors"});

    const std::vector<uint8_t> raw = test::read_bytes(path);
    uint64_t header_len;
    std::memcpy(&header_len, raw.data(), 8);
    EXPECT_EQ((8 + header_len) % 8, 0u) << "data section must start 8-byte aligned";

    const SafetensorsFile file(path);
    EXPECT_EQ(file.metadata().at("format"), "pt");
    EXPECT_EQ(file.metadata().at("note"), "round \"trip\"");
    ASSERT_EQ(file.tensors().size(), tensors.size());
    for (const TensorToWrite& t : tensors) {
        SCOPED_TRACE(t.name);
        const TensorView* v = file.find(t.name);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(v->dtype, t.dtype);
        ASSERT_EQ(v->n_dims, int(t.shape.size()));
        for (size_t i = 0; i < t.shape.size(); ++i) EXPECT_EQ(v->shape[i], t.shape[i]);
        const int64_t n_bytes = v->n_elements() * dtype_block_bytes(t.dtype);
        if (n_bytes > 0) {
            EXPECT_EQ(std::memcmp(v->data, t.data, size_t(n_bytes)), 0);
        }
        // The writer orders the data by element size, so every view is aligned.
        EXPECT_EQ(reinterpret_cast<uintptr_t>(v->data) % dtype_block_bytes(t.dtype), 0u);
    }
    EXPECT_EQ(file.find("missing"), nullptr);
    expect_error([&] { file.get("missing"); }, ErrorKind::format, {"rt.safetensors", "missing"});
    // Tensors are listed in data order: the 4-byte types first, in the order given.
    std::vector<std::string> order;
    for (const SafetensorsTensor& t : file.tensors()) order.push_back(t.name);
    EXPECT_EQ(order, (std::vector<std::string>{"a.f32", "d.i32", "e.scalar", "f.empty", "b.f16",
                                               "c.bf16"}));
    // The data section is packed without holes and ends with the last tensor (the reference
    // implementation insists on both).
    uint64_t end = 0;
    for (const SafetensorsTensor& t : file.tensors()) {
        EXPECT_EQ(t.data_begin, end) << t.name;
        end = t.data_end;
    }
    EXPECT_EQ(8 + header_len + end, raw.size());
}

TEST(Safetensors, WriterRejectsBadInputAndLeavesNoFile) {
    TempDir dir;
    const std::string path = dir.file("bad.safetensors");
    const float x[4] = {};
    expect_error(
        [&] {
            write_safetensors(path, {{"q", DType::q8_0, {32}, x}});
        },
        ErrorKind::unsupported, {"bad.safetensors", "'q'", "q8_0"});
    expect_error(
        [&] {
            write_safetensors(path, {{"a", DType::f32, {1}, x}, {"a", DType::f32, {1}, x}});
        },
        ErrorKind::invalid_argument, {"'a'", "twice"});
    expect_error(
        [&] {
            write_safetensors(path, {{"a", DType::f32, {-1}, x}});
        },
        ErrorKind::invalid_argument, {"negative"});
    expect_error(
        [&] {
            write_safetensors(path, {{"a", DType::f32, {2}, nullptr}});
        },
        ErrorKind::invalid_argument, {"no data"});
    expect_error(
        [&] {
            write_safetensors(path, {{"__metadata__", DType::f32, {1}, x}});
        },
        ErrorKind::invalid_argument, {"__metadata__"});
    expect_error([&] { write_safetensors(dir.file("no/such/dir.safetensors"), {}); }, ErrorKind::io,
                 {"no/such/dir"});
    EXPECT_TRUE(dir.entries().empty());
}

TEST(Safetensors, BundledDemoModel) {
    const std::string dir = std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l";
    const nlohmann::json config = nlohmann::json::parse(test::read_bytes(dir + "/config.json"));
    const int64_t n_layers = config["num_hidden_layers"], n_embd = config["hidden_size"];
    const int64_t n_heads = config["num_attention_heads"];
    const int64_t n_kv_heads = config["num_key_value_heads"];
    const int64_t n_ff = config["intermediate_size"], n_vocab = config["vocab_size"];
    const int64_t head_dim = n_embd / n_heads;
    ASSERT_EQ(n_layers, 12);
    ASSERT_EQ(head_dim, 32);

    const SafetensorsFile file(dir + "/model.safetensors");
    EXPECT_EQ(file.metadata().at("format"), "pt");
    // Embedding, 9 tensors per layer, final norm; tied embeddings: no lm_head.
    EXPECT_EQ(file.tensors().size(), size_t(2 + 9 * n_layers));
    EXPECT_EQ(file.find("lm_head.weight"), nullptr);
    EXPECT_EQ(file.find("model.layers.12.input_layernorm.weight"), nullptr);

    auto expect_shape = [&](const std::string& name, std::vector<int64_t> shape) {
        SCOPED_TRACE(name);
        const TensorView* v = file.find(name);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(v->dtype, DType::bf16);
        ASSERT_EQ(v->n_dims, int(shape.size()));
        for (size_t i = 0; i < shape.size(); ++i) EXPECT_EQ(v->shape[i], shape[i]);
    };
    expect_shape("model.embed_tokens.weight", {n_vocab, n_embd});
    expect_shape("model.norm.weight", {n_embd});
    for (int il = 0; il < n_layers; ++il) {
        const std::string p = "model.layers." + std::to_string(il) + ".";
        expect_shape(p + "self_attn.q_proj.weight", {n_heads * head_dim, n_embd});
        expect_shape(p + "self_attn.k_proj.weight", {n_kv_heads * head_dim, n_embd});
        expect_shape(p + "self_attn.v_proj.weight", {n_kv_heads * head_dim, n_embd});
        expect_shape(p + "self_attn.o_proj.weight", {n_embd, n_heads * head_dim});
        expect_shape(p + "mlp.gate_proj.weight", {n_ff, n_embd});
        expect_shape(p + "mlp.up_proj.weight", {n_ff, n_embd});
        expect_shape(p + "mlp.down_proj.weight", {n_embd, n_ff});
        expect_shape(p + "input_layernorm.weight", {n_embd});
        expect_shape(p + "post_attention_layernorm.weight", {n_embd});
    }
    // The data is real: norm weights are finite and not all zero; the embedding varies.
    const TensorView& norm = file.get("model.norm.weight");
    const auto* w = static_cast<const uint16_t*>(norm.data);
    double sum = 0;
    for (int64_t i = 0; i < norm.n_elements(); ++i) {
        ASSERT_TRUE(std::isfinite(bf16_to_f32(w[i])));
        sum += std::fabs(bf16_to_f32(w[i]));
    }
    EXPECT_GT(sum, 0.0);

    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(dir);
    EXPECT_EQ(ckpt.names().size(), file.tensors().size());
    EXPECT_EQ(ckpt.get("model.norm.weight").n_elements(), n_embd);
}

void write_shards(const TempDir& dir, const std::vector<float>& data) {
    write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                      {{"a", DType::f32, {2}, data.data()}, {"b", DType::f32, {3}, data.data()}});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                      {{"c", DType::f32, {2, 2}, data.data()}});
}

void write_index(const TempDir& dir, const nlohmann::json& weight_map) {
    const std::string text =
        nlohmann::json{{"metadata", {{"total_size", 36}}}, {"weight_map", weight_map}}.dump(2);
    test::write_bytes(dir.file("model.safetensors.index.json"),
                      std::vector<uint8_t>(text.begin(), text.end()));
}

TEST(Safetensors, ShardedCheckpoint) {
    TempDir dir;
    const std::vector<float> data = {1, 2, 3, 4};
    write_shards(dir, data);
    write_index(dir, {{"a", "model-00001-of-00002.safetensors"},
                      {"b", "model-00001-of-00002.safetensors"},
                      {"c", "model-00002-of-00002.safetensors"}});
    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir.path());
    EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(ckpt.files().size(), 2u);
    const TensorView* c = ckpt.find("c");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->shape_string(), "[2, 2]");
    EXPECT_EQ(static_cast<const float*>(c->data)[3], 4.0f);
    EXPECT_NE(ckpt.file_of("c")->path().find("00002"), std::string::npos);
    EXPECT_EQ(ckpt.find("d"), nullptr);
    expect_error([&] { ckpt.get("d"); }, ErrorKind::format, {"'d'"});
}

TEST(Safetensors, ShardedCheckpointErrors) {
    const std::vector<float> data = {1, 2, 3, 4};
    const std::string s1 = "model-00001-of-00002.safetensors";
    const std::string s2 = "model-00002-of-00002.safetensors";
    {
        TempDir dir;  // the index puts a tensor in the wrong shard
        write_shards(dir, data);
        write_index(dir, {{"a", s1}, {"b", s1}, {"c", s1}});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"index.json", "'c'", s1});
    }
    {
        TempDir dir;  // the index names a tensor no shard has
        write_shards(dir, data);
        write_index(dir, {{"a", s1}, {"b", s1}, {"c", s2}, {"zz", s2}});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"'zz'"});
    }
    {
        TempDir dir;  // one tensor in two shards
        write_shards(dir, data);
        write_safetensors(dir.file(s2), {{"a", DType::f32, {2}, data.data()}});
        write_index(dir, {{"a", s1}, {"b", s1}, {"x", s2}});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"'a'", "two shards"});
    }
    {
        TempDir dir;  // a missing shard file
        write_shards(dir, data);
        write_index(dir, {{"a", s1}, {"b", s1}, {"c", "model-00003.safetensors"}});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::io,
                     {"model-00003.safetensors"});
    }
    {
        TempDir dir;  // a shard outside the directory
        write_shards(dir, data);
        write_index(dir, {{"a", "../" + s1}});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"'a'", "not a file inside"});
    }
    {
        TempDir dir;  // weight_map of the wrong type, then a shard name of the wrong type
        write_shards(dir, data);
        write_index(dir, nlohmann::json::array());
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"weight_map"});
        write_index(dir, {{"a", 5}});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"weight_map 'a'", "not a string"});
        const std::string bad = "{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}";
        test::write_bytes(dir.file("model.safetensors.index.json"),
                          std::vector<uint8_t>(bad.begin(), bad.end()));
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::format,
                     {"duplicate key 'a'"});
    }
    {
        TempDir dir;  // nothing there
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.path()); }, ErrorKind::io,
                     {"model.safetensors"});
        expect_error([&] { SafetensorsCheckpoint::open_dir(dir.file("nope")); }, ErrorKind::io,
                     {"not a directory"});
        expect_error([&] { SafetensorsFile f(dir.file("nope.safetensors")); }, ErrorKind::io,
                     {"nope.safetensors"});
    }
}

TEST(Safetensors, DtypesEncoreDoesNotHandle) {
    const std::vector<uint8_t> data(16 + 4);
    const auto bytes =
        make_file(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                  R"("f8":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[16,20]}})",
                  data);
    const SafetensorsFile f = parse(bytes);  // listing works
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_FALSE(f.tensors()[0].supported);
    EXPECT_EQ(f.find_entry("ids")->dtype_name, "I64");
    expect_error([&] { f.find("ids"); }, ErrorKind::unsupported,
                 {"mem.safetensors", "'ids'", "I64"});
    expect_error([&] { f.find("f8"); }, ErrorKind::unsupported, {"'f8'", "F8_E4M3"});

    const auto unknown = make_file(R"({"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", {0});
    expect_error([&] { parse(unknown); }, ErrorKind::unsupported, {"'x'", "'Q7'"});

    const auto five_d = make_file(
        R"({"x":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", {0, 0, 0, 0});
    const SafetensorsFile g = parse(five_d);
    expect_error([&] { g.find("x"); }, ErrorKind::unsupported, {"'x'", "5 dimensions"});
}

TEST(Safetensors, EveryTruncationFails) {
    TempDir dir;
    const std::vector<float> data = {1, 2, 3, 4, 5, 6};
    const std::string path = dir.file("t.safetensors");
    write_safetensors(path,
                      {{"x", DType::f32, {2, 2}, data.data()}, {"y", DType::f32, {2}, data.data()}},
                      {{"k", "v"}});
    const std::vector<uint8_t> full = test::read_bytes(path);
    for (size_t n = 0; n < full.size(); ++n) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + std::ptrdiff_t(n));
        expect_error([&] { parse(cut); }, ErrorKind::format, {"mem.safetensors"},
                     "truncated to " + std::to_string(n));
    }
    // The same through a real file.
    const std::vector<uint8_t> cut(full.begin(), full.end() - 1);
    test::write_bytes(path, cut);
    expect_error([&] { SafetensorsFile f(path); }, ErrorKind::format,
                 {path, "'y'", "data_offsets"});
}

struct Corrupt {
    const char* label;
    std::vector<uint8_t> bytes;
    std::vector<std::string_view> needles;
};

TEST(Safetensors, CorruptHeadersFailNamingTheFault) {
    const std::vector<uint8_t> d16(16);
    auto one = [&](std::string_view entry) {
        return make_file(std::string("{") + std::string(entry) + "}", d16);
    };
    std::vector<Corrupt> cases = {
        {"empty file", {}, {"too short"}},
        {"header length lies", Bytes().u64(1000).raw("{}").b, {"header length 1000"}},
        {"header length huge", Bytes().u64(uint64_t(1) << 63).raw("{}").b, {"header length"}},
        {"header length zero", Bytes().u64(0).b, {"not valid JSON"}},
        {"not json", make_file("{\"a\":"), {"not valid JSON"}},
        {"json array", make_file("[1, 2]"), {"header is a JSON array"}},
        {"json string", make_file("\"x\""), {"header is a JSON string"}},
        {"trailing garbage", make_file("{}x"), {"not valid JSON"}},
        {"bad utf-8", make_file("{\"\xff\":1}"), {"not valid JSON"}},
        {"entry not object", one(R"("x":[1])"), {"'x'", "not an object"}},
        {"missing dtype", one(R"("x":{"shape":[4],"data_offsets":[0,16]})"), {"'x'", "'dtype'"}},
        {"dtype not string",
         one(R"("x":{"dtype":7,"shape":[4],"data_offsets":[0,16]})"),
         {"'x'", "dtype is a JSON number"}},
        {"missing shape", one(R"("x":{"dtype":"F32","data_offsets":[0,16]})"), {"'x'", "'shape'"}},
        {"shape not array",
         one(R"("x":{"dtype":"F32","shape":4,"data_offsets":[0,16]})"),
         {"'x'", "shape is a JSON number"}},
        {"negative dim",
         one(R"("x":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"),
         {"'x'", "shape", "negative"}},
        {"float dim",
         one(R"("x":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]})"),
         {"'x'", "shape", "not an integer"}},
        {"huge dim",
         one(R"("x":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,16]})"),
         {"'x'", "shape"}},
        {"shape overflow",
         one(R"("x":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,16],"data_offsets":[0,16]})"),
         {"'x'", "too many elements"}},
        {"product overflows in bytes",
         one(R"("x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]})"),
         {"'x'", "data_offsets [0, 16]"}},
        {"missing offsets", one(R"("x":{"dtype":"F32","shape":[4]})"), {"'x'", "'data_offsets'"}},
        {"offsets of 3",
         one(R"("x":{"dtype":"F32","shape":[4],"data_offsets":[0,8,16]})"),
         {"'x'", "data_offsets is [0,8,16]"}},
        {"offsets not array",
         one(R"("x":{"dtype":"F32","shape":[4],"data_offsets":16})"),
         {"'x'", "data_offsets is 16"}},
        {"negative offset",
         one(R"("x":{"dtype":"F32","shape":[4],"data_offsets":[-1,16]})"),
         {"'x'", "data_offsets", "negative"}},
        {"begin after end",
         one(R"("x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]})"),
         {"'x'", "[8, 4]", "begin after end"}},
        {"end beyond data",
         one(R"("x":{"dtype":"F32","shape":[5],"data_offsets":[0,20]})"),
         {"'x'", "[0, 20]", "16-byte data section"}},
        {"huge end",
         one(R"("x":{"dtype":"F32","shape":[5],"data_offsets":[0,9223372036854775807]})"),
         {"'x'", "beyond"}},
        {"wrong size for shape",
         one(R"("x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]})"),
         {"'x'", "[0, 16] hold 16 bytes", "F32 [3]"}},
        {"wrong size for dtype",
         one(R"("x":{"dtype":"F16","shape":[4],"data_offsets":[0,16]})"),
         {"'x'", "F16 [4]"}},
        {"overlap",
         one(R"("x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"y":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})"),
         {"'y'", "[8, 16]", "overlap tensor 'x'"}},
        {"same range",
         one(R"("x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"y":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})"),
         {"overlap"}},
        {"duplicate name",
         one(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})"),
         {"duplicate key 'x'"}},
        {"metadata not object", one(R"("__metadata__":[1])"), {"__metadata__", "not an object"}},
        {"metadata value number",
         one(R"("__metadata__":{"format":1})"),
         {"__metadata__ 'format'", "not a string"}},
        {"metadata value null", one(R"("__metadata__":{"format":null})"), {"'format'", "null"}},
    };
    for (const Corrupt& c : cases) {
        try {
            parse(c.bytes);
            ADD_FAILURE() << c.label << ": did not throw";
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_EQ(e.kind(), ErrorKind::format) << c.label << ": " << msg;
            EXPECT_NE(msg.find("mem.safetensors: "), std::string::npos) << c.label << ": " << msg;
            for (std::string_view n : c.needles)
                EXPECT_NE(msg.find(n), std::string::npos)
                    << c.label << ": message '" << msg << "' lacks '" << n << "'";
        }
    }
}

TEST(Safetensors, HeaderLengthLimitAndNesting) {
    // A sparse file just large enough for a header length beyond the 100 MB limit.
    TempDir dir;
    const std::string path = dir.file("big.safetensors");
    test::write_bytes(path, Bytes().u64(100'000'001).raw("{}").b);
    std::filesystem::resize_file(path, 100'000'001 + 8);
    expect_error([&] { SafetensorsFile f(path); }, ErrorKind::format,
                 {path, "header length 100000001", "limit"});

    std::string deep(40, '[');
    deep += std::string(40, ']');
    expect_error([&] { parse(make_file("{\"x\":" + deep + "}")); }, ErrorKind::format,
                 {"nests deeper"});
}

TEST(Safetensors, EmptyTensorsAndHolesAreAccepted) {
    const std::vector<uint8_t> d(16);
    const SafetensorsFile f =
        parse(make_file(R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[4,4]},)"
                        R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("y":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]}})",
                        d));
    EXPECT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.find("e")->n_elements(), 0);
    EXPECT_TRUE(f.metadata().empty());
}

}  // namespace
}  // namespace encore
