// Writes the sample GGUF file that tests/extra/gguf_js.sh checks with an independent parser
// (@huggingface/gguf): when ENCORE_GGUF_SAMPLE_DIR is set, `sample.gguf` (metadata of every type
// GgufWriter writes, tensors of every type with assorted shapes) and `sample.expect.json` (what
// that file must contain, stated from the values given to the writer, not read back) go there.
// Without the variable the test is skipped. The expectation format is documented in
// tests/gguf_js/check.mjs.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"

namespace encore {
namespace {

using ojson = nlohmann::ordered_json;

struct SampleTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;  // outermost first
    std::vector<uint8_t> bytes;
};

std::vector<uint8_t> make_data(DType dtype, const std::vector<int64_t>& shape, std::mt19937& rng) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> normal;
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) v = normal(rng);
    std::vector<uint8_t> out;
    if (dtype == DType::i32) {
        out.resize(size_t(n) * 4);
        for (int64_t i = 0; i < n; ++i) {
            const int32_t v = int32_t(i * 7919) - 1000;
            std::memcpy(out.data() + i * 4, &v, 4);
        }
        return out;
    }
    const int64_t row = shape.back();
    const int64_t row_bytes = dtype_row_bytes(dtype, row);
    out.resize(size_t(n / row * row_bytes));
    for (int64_t r = 0; r < n / row; ++r)
        quantize_row(dtype, values.data() + r * row, out.data() + r * row_bytes, row);
    return out;
}

TEST(GgufSample, WriteForIndependentParser) {
    const char* dir = std::getenv("ENCORE_GGUF_SAMPLE_DIR");
    if (!dir || !*dir) GTEST_SKIP() << "ENCORE_GGUF_SAMPLE_DIR not set";
    const std::string gguf_path = std::string(dir) + "/sample.gguf";
    const std::string expect_path = std::string(dir) + "/sample.expect.json";

    GgufWriter w;
    ojson meta = ojson::object();
    auto expect = [&](const std::string& key, const char* type, ojson value) {
        meta[key] = {{"type", type}, {"value", std::move(value)}};
    };
    auto expect_array = [&](const std::string& key, const char* elem, ojson value) {
        meta[key] = {{"type", "array"}, {"element_type", elem}, {"value", std::move(value)}};
    };
    w.set_string("general.architecture", "llama");
    expect("general.architecture", "string", "llama");
    w.set_string("general.name", "encore sample \xe2\x9c\x93 \xf0\x9f\xa6\x99");
    expect("general.name", "string", "encore sample \xe2\x9c\x93 \xf0\x9f\xa6\x99");
    w.set_string("sample.empty_string", "");
    expect("sample.empty_string", "string", "");
    w.set_u8("sample.u8", 255);
    expect("sample.u8", "uint8", 255);
    w.set_i8("sample.i8", -128);
    expect("sample.i8", "int8", -128);
    w.set_u16("sample.u16", 65535);
    expect("sample.u16", "uint16", 65535);
    w.set_i16("sample.i16", -32768);
    expect("sample.i16", "int16", -32768);
    w.set_u32("sample.u32", 4294967295u);
    expect("sample.u32", "uint32", 4294967295u);
    w.set_i32("sample.i32", std::numeric_limits<int32_t>::min());
    expect("sample.i32", "int32", std::numeric_limits<int32_t>::min());
    // 64-bit integers as decimal strings: JSON numbers lose precision beyond 2^53.
    w.set_u64("sample.u64", std::numeric_limits<uint64_t>::max());
    expect("sample.u64", "uint64", std::to_string(std::numeric_limits<uint64_t>::max()));
    w.set_i64("sample.i64", std::numeric_limits<int64_t>::min() + 1);
    expect("sample.i64", "int64", std::to_string(std::numeric_limits<int64_t>::min() + 1));
    w.set_f32("sample.f32", 0.1f);
    expect("sample.f32", "float32", double(0.1f));
    w.set_f64("sample.f64", 1.0 / 3.0);
    expect("sample.f64", "float64", 1.0 / 3.0);
    w.set_bool("sample.true", true);
    expect("sample.true", "bool", true);
    w.set_bool("sample.false", false);
    expect("sample.false", "bool", false);
    const std::vector<std::string> strings = {
        "<s>", "", "\xe2\x96\x81hello", "a b", std::string("nul\0in", 6), "\xc4\xa0world"};
    w.set_string_array("tokenizer.ggml.tokens", strings);
    expect_array("tokenizer.ggml.tokens", "string", strings);
    const std::vector<float> floats = {0.0f, -1.5f, 3.4028235e38f, 1e-45f, 0.2f};
    w.set_f32_array("tokenizer.ggml.scores", floats);
    ojson float_values = ojson::array();
    for (float f : floats) float_values.push_back(double(f));
    expect_array("tokenizer.ggml.scores", "float32", float_values);
    const std::vector<int32_t> ints = {1, 2, 3, -2147483647 - 1, 2147483647};
    w.set_i32_array("tokenizer.ggml.token_type", ints);
    expect_array("tokenizer.ggml.token_type", "int32", ints);
    w.set_i32_array("sample.empty_array", {});
    expect_array("sample.empty_array", "int32", ojson::array());
    expect("general.alignment", "uint32", 32);  // added by the writer

    std::mt19937 rng(1234);
    std::vector<SampleTensor> tensors = {
        {"token_embd.weight", DType::q8_0, {5, 64}, {}},
        {"blk.0.attn_q.weight", DType::q4_0, {3, 96}, {}},
        {"blk.0.attn_norm.weight", DType::f32, {7}, {}},
        {"blk.0.ffn_up.weight", DType::f16, {4, 6}, {}},
        {"blk.0.ffn_down.weight", DType::bf16, {6, 4}, {}},
        {"sample.f32_3d", DType::f32, {2, 3, 5}, {}},
        {"sample.bf16_4d", DType::bf16, {1, 2, 3, 4}, {}},
        {"sample.q4_0_3d", DType::q4_0, {2, 1, 32}, {}},
        {"sample.i32", DType::i32, {9}, {}},
    };
    ojson tensor_expect = ojson::array();
    uint64_t offset = 0;
    for (SampleTensor& t : tensors) {
        t.bytes = make_data(t.dtype, t.shape, rng);
        w.add_tensor(t.name, t.dtype, t.shape, t.bytes.data());
        ojson ne = ojson::array();
        for (size_t i = t.shape.size(); i-- > 0;) ne.push_back(t.shape[i]);
        const uint32_t crc = uint32_t(
            crc32(0, reinterpret_cast<const Bytef*>(t.bytes.data()), uInt(t.bytes.size())));
        tensor_expect.push_back({{"name", t.name},
                                 {"ne", ne},
                                 {"type", ggml_type_of(t.dtype)},
                                 {"offset", offset},
                                 {"n_bytes", t.bytes.size()},
                                 {"crc32", crc}});
        offset += (t.bytes.size() + 31) / 32 * 32;  // the spec: each tensor aligned
    }
    w.write(gguf_path);

    // Where the data section starts is the one number taken from encore's own reader: the
    // independent parser must agree with it.
    const GgufFile f = GgufFile::open(gguf_path);
    ojson expect_json = {{"version", 3},
                         {"alignment", 32},
                         {"tensor_data_offset", f.data_offset()},
                         {"exact_metadata", true},
                         {"exact_tensors", true},
                         {"metadata", meta},
                         {"tensors", tensor_expect}};
    std::ofstream out(expect_path);
    out << expect_json.dump(2) << "\n";
    ASSERT_TRUE(out.good());
}

}  // namespace
}  // namespace encore
