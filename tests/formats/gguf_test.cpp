// GGUF: writer/reader round trips of every metadata type and tensor type (quantized blocks
// included), hand-made files for what the writer never produces (nested arrays, version 2,
// custom alignment, unknown tensor types), the typed accessors, and a table of corrupt files
// that must each fail with a message naming the fault.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "test_util.h"

namespace encore {
namespace {

using test::Bytes;
using test::expect_error;
using test::TempDir;

GgufFile parse(const std::vector<uint8_t>& bytes) {
    return GgufFile::from_memory(bytes.data(), bytes.size(), "mem.gguf");
}

// Header of a hand-made GGUF file.
Bytes gguf_header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    Bytes b;
    b.raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
    return b;
}

// A tensor info; dims innermost first, as in the file.
void tensor_info(Bytes& b, std::string_view name, std::vector<uint64_t> dims, uint32_t type,
                 uint64_t offset) {
    b.str(name).u32(uint32_t(dims.size()));
    for (uint64_t d : dims) b.u64(d);
    b.u32(type).u64(offset);
}

std::vector<uint8_t> quantized(DType type, const std::vector<float>& values) {
    std::vector<uint8_t> out(size_t(dtype_row_bytes(type, int64_t(values.size()))));
    quantize_row(type, values.data(), out.data(), int64_t(values.size()));
    return out;
}

TEST(Gguf, WriterReaderRoundTrip) {
    TempDir dir;
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    auto randn = [&](size_t n) {
        std::vector<float> v(n);
        for (float& x : v) x = normal(rng);
        return v;
    };
    const std::vector<float> f32 = randn(2 * 3 * 4);
    std::vector<uint16_t> f16(5 * 7), bf16(3);
    for (size_t i = 0; i < f16.size(); ++i) f16[i] = f32_to_f16(normal(rng));
    for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = f32_to_bf16(normal(rng));
    const std::vector<uint8_t> q8 = quantized(DType::q8_0, randn(3 * 64));
    const std::vector<uint8_t> q4 = quantized(DType::q4_0, randn(2 * 2 * 32));
    const std::vector<int32_t> i32 = {1, -2, 3, -4};

    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u8("t.u8", 200);
    w.set_i8("t.i8", -100);
    w.set_u16("t.u16", 60000);
    w.set_i16("t.i16", -30000);
    w.set_u32("t.u32", 4000000000u);
    w.set_i32("t.i32", -2000000000);
    w.set_u64("t.u64", 18446744073709551615ull);
    w.set_i64("t.i64", std::numeric_limits<int64_t>::min());
    w.set_f32("t.f32", 0.1f);
    w.set_f64("t.f64", -2.5e-300);
    w.set_bool("t.bool", true);
    w.set_string_array("t.strings", {"a", "", "h\xc3\xa9llo", std::string("z\0z", 3)});
    w.set_f32_array("t.floats", {1.5f, -0.0f, 1e30f});
    w.set_i32_array("t.ints", {-1, 0, 2147483647});
    w.set_i32_array("t.empty", {});
    w.set_u32("t.replaced", 1);
    w.set_u32("t.replaced", 2);  // keeps its position
    w.add_tensor("f32", DType::f32, {2, 3, 4}, f32.data());
    w.add_tensor("f16", DType::f16, {5, 7}, f16.data());
    w.add_tensor("bf16", DType::bf16, {3}, bf16.data());
    w.add_tensor("q8_0", DType::q8_0, {3, 64}, q8.data());
    w.add_tensor("q4_0", DType::q4_0, {2, 2, 32}, q4.data());
    w.add_tensor("i32", DType::i32, {4}, i32.data());
    const std::string path = dir.file("rt.gguf");
    w.write(path);
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"rt.gguf"});

    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.data_offset() % 32, 0u);
    ASSERT_EQ(f.metadata().size(), 18u);  // 17 set (one twice) + general.alignment
    EXPECT_EQ(f.metadata()[0].key, "general.architecture");
    EXPECT_EQ(f.metadata()[16].key, "t.replaced");
    EXPECT_EQ(f.metadata()[17].key, "general.alignment");
    EXPECT_EQ(f.get_int("t.replaced"), 2);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("t.u8"), 200);
    EXPECT_EQ(f.get_int("t.i8"), -100);
    EXPECT_EQ(f.get_int("t.u16"), 60000);
    EXPECT_EQ(f.get_int("t.i16"), -30000);
    EXPECT_EQ(f.get_int("t.u32"), 4000000000);
    EXPECT_EQ(f.get_int("t.i32"), -2000000000);
    EXPECT_EQ(f.get_int("t.i64"), std::numeric_limits<int64_t>::min());
    expect_error([&] { f.get_int("t.u64"); }, ErrorKind::format,
                 {"'t.u64'", "18446744073709551615", "beyond int64"});
    EXPECT_EQ(f.get_float("t.u64"), 18446744073709551615.0);
    EXPECT_EQ(f.get_float("t.f32"), double(0.1f));
    EXPECT_EQ(f.get_float("t.f64"), -2.5e-300);
    EXPECT_EQ(f.get_float("t.i8"), -100.0);
    EXPECT_TRUE(f.get_bool("t.bool"));
    EXPECT_EQ(f.get_string_array("t.strings"),
              (std::vector<std::string>{"a", "", "h\xc3\xa9llo", std::string("z\0z", 3)}));
    EXPECT_EQ(f.get_float_array("t.floats"), (std::vector<float>{1.5f, -0.0f, 1e30f}));
    EXPECT_EQ(f.get_int_array("t.ints"), (std::vector<int64_t>{-1, 0, 2147483647}));
    EXPECT_EQ(f.get_float_array("t.ints"), (std::vector<float>{-1.0f, 0.0f, 2147483647.0f}));
    EXPECT_EQ(f.array_length("t.strings"), 4u);
    EXPECT_EQ(f.array_length("t.empty"), 0u);
    EXPECT_TRUE(f.get_int_array("t.empty").empty());
    EXPECT_EQ(f.get_int("general.alignment"), 32);

    struct Want {
        const char* name;
        DType dtype;
        std::vector<int64_t> shape;
        const void* data;
        size_t n_bytes;
    };
    const std::vector<Want> want = {
        {"f32", DType::f32, {2, 3, 4}, f32.data(), f32.size() * 4},
        {"f16", DType::f16, {5, 7}, f16.data(), f16.size() * 2},
        {"bf16", DType::bf16, {3}, bf16.data(), bf16.size() * 2},
        {"q8_0", DType::q8_0, {3, 64}, q8.data(), q8.size()},
        {"q4_0", DType::q4_0, {2, 2, 32}, q4.data(), q4.size()},
        {"i32", DType::i32, {4}, i32.data(), i32.size() * 4},
    };
    ASSERT_EQ(f.tensors().size(), want.size());
    const uint8_t* base = static_cast<const uint8_t*>(f.get("f32").data) - f.data_offset();
    for (size_t i = 0; i < want.size(); ++i) {
        const Want& t = want[i];
        SCOPED_TRACE(t.name);
        const GgufTensorInfo& info = f.tensors()[i];
        EXPECT_EQ(info.name, t.name);
        EXPECT_TRUE(info.supported);
        EXPECT_EQ(info.ggml_type, ggml_type_of(t.dtype));
        EXPECT_EQ(info.offset % 32, 0u);
        EXPECT_EQ(info.n_bytes, t.n_bytes);
        const TensorView* v = f.find(t.name);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(v->dtype, t.dtype);
        ASSERT_EQ(v->n_dims, int(t.shape.size()));
        for (size_t d = 0; d < t.shape.size(); ++d) EXPECT_EQ(v->shape[d], t.shape[d]);
        EXPECT_EQ(v->n_bytes(), int64_t(t.n_bytes));
        EXPECT_EQ(static_cast<const uint8_t*>(v->data) - base,
                  int64_t(f.data_offset() + info.offset));
        EXPECT_EQ(std::memcmp(v->data, t.data, t.n_bytes), 0);
    }
    // Quantized data survives: dequantized rows match the dequantized source blocks.
    const TensorView& qv = f.get("q8_0");
    std::vector<float> row(64), src_row(64);
    dequantize_row(DType::q8_0, qv.row(2), row.data(), 64);
    dequantize_row(DType::q8_0, q8.data() + 2 * qv.row_bytes(), src_row.data(), 64);
    EXPECT_EQ(row, src_row);
    EXPECT_EQ(f.find("nope"), nullptr);
    EXPECT_EQ(f.find_tensor("nope"), nullptr);
    expect_error([&] { f.get("nope"); }, ErrorKind::format, {"rt.gguf", "'nope'"});
}

TEST(Gguf, WrongTypesNameKeyAndBothTypes) {
    TempDir dir;
    GgufWriter w;
    w.set_string("s", "x");
    w.set_f32("f", 1.0f);
    w.set_i32_array("ints", {1});
    w.set_string_array("strs", {"a"});
    const std::string path = dir.file("types.gguf");
    w.write(path);
    const GgufFile f = GgufFile::open(path);
    expect_error([&] { f.get_int("s"); }, ErrorKind::format,
                 {"types.gguf", "'s'", "string", "integer"});
    expect_error([&] { f.get_int("f"); }, ErrorKind::format, {"'f'", "float32", "integer"});
    expect_error([&] { f.get_string("f"); }, ErrorKind::format,
                 {"'f'", "float32", "expected string"});
    expect_error([&] { f.get_bool("f"); }, ErrorKind::format, {"'f'", "float32", "bool"});
    expect_error([&] { f.get_float("s"); }, ErrorKind::format, {"'s'", "string", "number"});
    expect_error([&] { f.get_string_array("ints"); }, ErrorKind::format,
                 {"'ints'", "array of int32", "array of string"});
    expect_error([&] { f.get_int_array("strs"); }, ErrorKind::format,
                 {"'strs'", "array of string", "array of integers"});
    expect_error([&] { f.get_float_array("s"); }, ErrorKind::format, {"'s'", "string"});
    expect_error([&] { f.array_length("s"); }, ErrorKind::format, {"'s'", "an array"});
    expect_error([&] { f.get_string("absent"); }, ErrorKind::format, {"'absent'", "missing"});
    EXPECT_FALSE(f.has("absent"));
    EXPECT_TRUE(f.has("s"));
}

TEST(Gguf, WriterRejectsBadTensorsAndLeavesNoFile) {
    TempDir dir;
    const float x[64] = {};
    GgufWriter w;
    expect_error(
        [&] {
            w.add_tensor("q", DType::q8_0, {2, 33}, x);
        },
        ErrorKind::invalid_argument, {"'q'", "33", "block size 32"});
    expect_error([&] { w.add_tensor(std::string(64, 'n'), DType::f32, {1}, x); },
                 ErrorKind::invalid_argument, {"1 to 63 bytes"});
    expect_error([&] { w.add_tensor("z", DType::f32, {}, x); }, ErrorKind::invalid_argument,
                 {"'z'", "0 dimensions"});
    expect_error(
        [&] {
            w.add_tensor("z", DType::f32, {1, 1, 1, 1, 1}, x);
        },
        ErrorKind::invalid_argument, {"'z'", "5 dimensions"});
    expect_error([&] { w.add_tensor("z", DType::f32, {-1}, x); }, ErrorKind::invalid_argument,
                 {"negative"});
    expect_error([&] { w.add_tensor("z", DType::f32, {4}, nullptr); }, ErrorKind::invalid_argument,
                 {"no data"});
    w.add_tensor("a", DType::f32, {4}, x);
    expect_error([&] { w.add_tensor("a", DType::f32, {4}, x); }, ErrorKind::invalid_argument,
                 {"'a'", "twice"});
    w.set_string("general.alignment", "x");
    expect_error([&] { w.write(dir.file("bad.gguf")); }, ErrorKind::invalid_argument,
                 {"general.alignment"});
    EXPECT_TRUE(dir.entries().empty());
    expect_error([&] { w.set_u32("", 1); }, ErrorKind::invalid_argument, {"empty"});
}

TEST(Gguf, WriterHonoursCustomAlignment) {
    TempDir dir;
    const float x[3] = {1, 2, 3};
    GgufWriter w;
    w.set_u32("general.alignment", 64);
    w.add_tensor("a", DType::f32, {3}, x);
    w.add_tensor("b", DType::f32, {3}, x);
    w.write(dir.file("a64.gguf"));
    const GgufFile f = GgufFile::open(dir.file("a64.gguf"));
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.metadata().size(), 1u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    EXPECT_EQ(f.find_tensor("b")->offset, 64u);
}

// A hand-made file with every value type, a nested array, version 2, alignment 16 and a
// tensor of a type encore does not handle.
TEST(Gguf, HandMadeFileWithNestedArraysAndUnknownTensorType) {
    Bytes b = gguf_header(2, 15, 2);
    b.str("u8").u32(0).u8(7);
    b.str("i8").u32(1).u8(0xff);
    b.str("u16").u32(2).put<uint16_t>(65535);
    b.str("i16").u32(3).put<int16_t>(-2);
    b.str("u32").u32(4).u32(5);
    b.str("i32").u32(5).i32(-5);
    b.str("f32").u32(6).f32(2.5f);
    b.str("bool").u32(7).u8(0);
    b.str("str").u32(8).str("hi \"there\"\n");
    b.str("u64").u32(10).u64(1ull << 40);
    b.str("i64").u32(11).put<int64_t>(-(1ll << 40));
    b.str("f64").u32(12).put<double>(0.25);
    // [[1, 2], [3]] as an array of arrays of uint16
    b.str("nested").u32(9).u32(9).u64(2);
    b.u32(2).u64(2).put<uint16_t>(1).put<uint16_t>(2);
    b.u32(2).u64(1).put<uint16_t>(3);
    b.str("bools").u32(9).u32(7).u64(3).u8(1).u8(0).u8(1);
    b.str("general.alignment").u32(4).u32(16);
    tensor_info(b, "k", {256, 2}, 12 /* Q4_K */, 0);
    tensor_info(b, "w", {3, 2}, 0 /* F32 */, 144 * 2);
    b.pad_to(16);
    const size_t data_start = b.size();
    b.zeros(144 * 2);
    for (int i = 0; i < 6; ++i) b.f32(float(i));

    const GgufFile f = parse(b.b);
    EXPECT_EQ(f.version(), 2u);
    EXPECT_EQ(f.alignment(), 16u);
    EXPECT_EQ(f.data_offset(), data_start);
    EXPECT_EQ(f.get_int("u8"), 7);
    EXPECT_EQ(f.get_int("i8"), -1);
    EXPECT_EQ(f.get_int("u16"), 65535);
    EXPECT_EQ(f.get_int("i16"), -2);
    EXPECT_EQ(f.get_float("f32"), 2.5);
    EXPECT_FALSE(f.get_bool("bool"));
    EXPECT_EQ(f.get_int("u64"), 1ll << 40);
    EXPECT_EQ(f.get_int("i64"), -(1ll << 40));
    EXPECT_EQ(f.get_float("f64"), 0.25);
    EXPECT_EQ(f.array_length("nested"), 2u);
    expect_error([&] { f.get_int_array("nested"); }, ErrorKind::format,
                 {"'nested'", "array of array"});
    expect_error([&] { f.get_int_array("bools"); }, ErrorKind::format, {"array of bool"});

    std::map<std::string, std::string> summary;
    for (const GgufKv& kv : f.metadata()) summary[kv.key] = f.value_summary(kv);
    EXPECT_EQ(summary["u8"], "7");
    EXPECT_EQ(summary["i8"], "-1");
    EXPECT_EQ(summary["u64"], "1099511627776");
    EXPECT_EQ(summary["str"], "\"hi \\\"there\\\"\\n\"");
    EXPECT_EQ(summary["f32"], "2.5");
    EXPECT_EQ(summary["bool"], "false");
    EXPECT_EQ(summary["nested"], "[[1, 2] (2 x uint16), [3] (1 x uint16)] (2 x array)");
    EXPECT_EQ(summary["bools"], "[true, false, true] (3 x bool)");
    EXPECT_EQ(f.value_summary(*f.find_kv("bools"), 2), "[true, false, ...] (3 x bool)");

    const GgufTensorInfo* k = f.find_tensor("k");
    ASSERT_NE(k, nullptr);
    EXPECT_FALSE(k->supported);
    EXPECT_EQ(k->shape_string(), "[2, 256]");
    EXPECT_EQ(ggml_type_name(k->ggml_type), "Q4_K");
    expect_error([&] { f.find("k"); }, ErrorKind::unsupported, {"mem.gguf", "'k'", "Q4_K (12)"});
    const TensorView& w = f.get("w");
    EXPECT_EQ(w.shape_string(), "[2, 3]");
    EXPECT_EQ(static_cast<const float*>(w.data)[5], 5.0f);
}

TEST(Gguf, EmptyFileWithoutTensorsOrPadding) {
    const GgufFile f = parse(gguf_header(0, 0).b);
    EXPECT_TRUE(f.metadata().empty());
    EXPECT_TRUE(f.tensors().empty());
}

TEST(Gguf, TruncationFailsUnlessOnlyTrailingPaddingIsCut) {
    TempDir dir;
    const std::vector<float> x = {1, 2, 3, 4, 5};
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string_array("tokens", {"a", "bb", "ccc"});
    w.set_f32_array("scores", {1, 2, 3});
    w.add_tensor("a", DType::f32, {5}, x.data());
    w.add_tensor("b", DType::f32, {2, 2}, x.data());
    const std::string path = dir.file("t.gguf");
    w.write(path);
    const std::vector<uint8_t> full = test::read_bytes(path);
    const GgufFile f = parse(full);
    const GgufTensorInfo& last = f.tensors().back();
    const size_t needed = size_t(f.data_offset() + last.offset + last.n_bytes);
    ASSERT_LT(needed, full.size());  // the writer pads the last tensor too
    for (size_t n = 0; n < full.size(); ++n) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + std::ptrdiff_t(n));
        if (n < needed) {
            expect_error([&] { parse(cut); }, ErrorKind::format, {"mem.gguf"},
                         "truncated to " + std::to_string(n));
        } else {
            EXPECT_NO_THROW(parse(cut)) << n;
        }
    }
}

struct Corrupt {
    std::string label;
    std::vector<uint8_t> bytes;
    ErrorKind kind;
    std::vector<std::string> needles;
};

std::vector<Corrupt> corrupt_cases() {
    std::vector<Corrupt> c;
    auto add = [&](std::string label, const Bytes& b, std::vector<std::string> needles,
                   ErrorKind kind = ErrorKind::format) {
        c.push_back({std::move(label), b.b, kind, std::move(needles)});
    };
    // One F32 tensor of 4 elements, as a well-formed base to break.
    auto one_tensor = [](std::vector<uint64_t> dims, uint32_t type, uint64_t offset,
                         size_t data_bytes) {
        Bytes b = gguf_header(1, 0);
        tensor_info(b, "t", std::move(dims), type, offset);
        b.pad_to(32).zeros(data_bytes);
        return b;
    };

    add("empty", Bytes(), {"magic"});
    add("bad magic", Bytes().raw("GGUS").u32(3).u64(0).u64(0), {"not a GGUF file", "47 47 55 53"});
    add("version 1", gguf_header(0, 0, 1), {"version 1"}, ErrorKind::unsupported);
    add("version 4", gguf_header(0, 0, 4), {"version 4"}, ErrorKind::unsupported);
    add("big-endian", gguf_header(0, 0, 0x03000000), {"big-endian"}, ErrorKind::unsupported);
    add("short header", Bytes().raw("GGUF").u32(3).u64(0), {"metadata count", "file ends"});
    add("2^60 tensors", gguf_header(uint64_t(1) << 60, 0), {"tensor count 1152921504606846976"});
    add("2^60 keys", gguf_header(0, uint64_t(1) << 60), {"metadata count 1152921504606846976"});
    add("2^64-1 keys", gguf_header(0, ~uint64_t(0)), {"metadata count"});
    {
        Bytes b = gguf_header(0, 1);
        b.u64(~uint64_t(0)).raw("key").zeros(8);
        add("key length lies", b, {"metadata key 0", "string length 18446744073709551615"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k").u32(8).u64(5).raw("abcd");
        add("string value one short", b, {"metadata 'k' value", "string length 5"});
    }
    {
        Bytes b = gguf_header(0, 2);
        b.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
        add("duplicate key", b, {"'k'", "twice"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k").u32(13).u32(1);
        add("unknown value type", b, {"'k'", "unknown value type 13"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k").u32(9).u32(99).u64(1).u32(0);
        add("unknown array type", b, {"'k'", "unknown array element type 99"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k").u32(9).u32(4).u64(uint64_t(1) << 62).u32(0);
        add("array length lies", b, {"'k'", "array of 4611686018427387904 uint32"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k").u32(9).u32(8).u64(1000).str("a");
        add("string array length lies", b, {"'k'", "array of 1000 string"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k").u32(9).u32(8).u64(2).str("a").u64(100).raw("b");
        add("string array element lies", b, {"'k'", "string length 100"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("k");
        b.u32(9);
        for (int i = 0; i < 12; ++i) b.u32(9).u64(1);
        b.u32(0).u64(0);
        add("arrays nested too deep", b, {"'k'", "nested deeper"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("general.alignment").u32(4).u32(24);
        add("alignment not power of two", b, {"general.alignment", "24"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("general.alignment").u32(4).u32(0);
        add("alignment zero", b, {"general.alignment", "is 0"});
    }
    {
        Bytes b = gguf_header(0, 1);
        b.str("general.alignment").u32(6).f32(32);
        add("alignment float", b, {"general.alignment", "float32"});
    }
    {
        Bytes b = gguf_header(1, 0);
        b.str("t").u32(5);
        for (int i = 0; i < 5; ++i) b.u64(1);
        b.u32(0).u64(0).pad_to(32).zeros(32);
        add("five dims", b, {"'t'", "5 dimensions"});
    }
    add("dim beyond int64", one_tensor({uint64_t(1) << 63}, 0, 0, 16), {"'t'", "beyond int64"});
    add("dims overflow", one_tensor({uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0, 16),
        {"'t'", "too many elements"});
    add("bytes overflow", one_tensor({uint64_t(1) << 62}, 0, 0, 16), {"'t'", "too large"});
    add("misaligned offset", one_tensor({4}, 0, 4, 32), {"'t'", "offset 4", "alignment 32"});
    add("tensor beyond EOF", one_tensor({4}, 0, 32, 16), {"'t'", "offset 32", "beyond the end"});
    add("tensor far beyond EOF", one_tensor({4}, 0, uint64_t(1) << 62, 16), {"'t'", "beyond"});
    add("tensor data one short", one_tensor({4}, 0, 0, 15), {"'t'", "16 bytes", "15-byte"});
    add("q8_0 row not multiple of 32", one_tensor({33, 2}, 8, 0, 128),
        {"'t'", "innermost dimension 33", "Q8_0 block size 32"});
    add("q4_0 size wrong", one_tensor({64, 2}, 2, 0, 71), {"'t'", "72 bytes"});
    add("unknown type beyond EOF", one_tensor({4}, 1000, 64, 16), {"'t'", "beyond"});
    {
        Bytes b = gguf_header(1, 0);
        b.str("t").u32(1).u64(4).u32(0).u32(0);
        add("tensor info cut", b, {"tensor 't' offset", "file ends"});
    }
    {
        Bytes b = gguf_header(2, 0);
        tensor_info(b, "a", {16}, 0, 0);
        tensor_info(b, "b", {4}, 0, 32);
        b.pad_to(32).zeros(64);
        add("overlapping tensors", b, {"'b'", "offset 32", "overlaps tensor 'a'"});
    }
    {
        Bytes b = gguf_header(2, 0);
        tensor_info(b, "a", {4}, 0, 0);
        tensor_info(b, "a", {4}, 0, 32);
        b.pad_to(32).zeros(64);
        add("duplicate tensor names", b, {"tensor 'a' appears twice"});
    }
    {
        Bytes b = gguf_header(1000, 0);
        tensor_info(b, "a", {4}, 0, 0);
        add("moderately lying tensor count", b, {"tensor count 1000"});
    }
    return c;
}

TEST(Gguf, CorruptFilesFailNamingTheFault) {
    for (const Corrupt& c : corrupt_cases()) {
        try {
            parse(c.bytes);
            ADD_FAILURE() << c.label << ": did not throw";
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_EQ(e.kind(), c.kind) << c.label << ": " << msg;
            EXPECT_EQ(msg.rfind("mem.gguf: ", 0), 0u) << c.label << ": " << msg;
            EXPECT_EQ(msg.find('\n'), std::string::npos) << c.label << ": " << msg;
            for (const std::string& n : c.needles)
                EXPECT_NE(msg.find(n), std::string::npos)
                    << c.label << ": message '" << msg << "' lacks '" << n << "'";
        }
    }
}

TEST(Gguf, OpenErrors) {
    TempDir dir;
    expect_error([&] { GgufFile::open(dir.file("absent.gguf")); }, ErrorKind::io, {"absent.gguf"});
    expect_error([&] { GgufFile::open(dir.path()); }, ErrorKind::io, {"not a regular file"});
    test::write_bytes(dir.file("short.gguf"), {'G', 'G'});
    expect_error([&] { GgufFile::open(dir.file("short.gguf")); }, ErrorKind::format,
                 {"short.gguf", "magic"});
}

}  // namespace
}  // namespace encore
