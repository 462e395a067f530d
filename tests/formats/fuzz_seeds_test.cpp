// Writes the seed corpora of the format fuzzers (fuzz/corpus/safetensors, fuzz/corpus/gguf) when
// ENCORE_FUZZ_SEED_DIR is set: small valid files covering every dtype, metadata type and layout
// feature the readers handle. Skipped otherwise. Regenerate the committed seeds with
//   ENCORE_FUZZ_SEED_DIR=fuzz/corpus build/encore_formats_tests --gtest_filter='FuzzSeeds.*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "formats/gguf_writer.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace encore {
namespace {

using test::Bytes;

TEST(FuzzSeeds, Write) {
    const char* dir = std::getenv("ENCORE_FUZZ_SEED_DIR");
    if (!dir || !*dir) GTEST_SKIP() << "ENCORE_FUZZ_SEED_DIR not set";
    const std::string st_dir = std::string(dir) + "/safetensors";
    const std::string gg_dir = std::string(dir) + "/gguf";
    std::filesystem::create_directories(st_dir);
    std::filesystem::create_directories(gg_dir);

    std::vector<float> f32(64);
    std::vector<uint16_t> f16(64), bf16(64);
    for (size_t i = 0; i < 64; ++i) {
        f32[i] = float(i) / 8.0f - 4.0f;
        f16[i] = f32_to_f16(f32[i]);
        bf16[i] = f32_to_bf16(f32[i]);
    }
    const int32_t i32[4] = {1, -1, 1 << 20, 0};

    write_safetensors(st_dir + "/small.safetensors",
                      {{"model.embed_tokens.weight", DType::bf16, {4, 8}, bf16.data()},
                       {"model.norm.weight", DType::f32, {8}, f32.data()},
                       {"model.layers.0.mlp.up_proj.weight", DType::f16, {2, 3, 4}, f16.data()}},
                      {{"format", "pt"}});
    write_safetensors(st_dir + "/odd.safetensors",
                      {{"scalar", DType::f32, {}, f32.data()},
                       {"empty", DType::f16, {0, 5}, nullptr},
                       {"ids", DType::i32, {2, 2}, i32},
                       {"four_d", DType::bf16, {1, 2, 1, 3}, bf16.data()}});
    {
        // Not written by encore: an I64 tensor, a 5-d tensor, a hole, an unpadded header.
        const std::string header =
            R"({"__metadata__":{"a":"b"},"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
            R"("x":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[16,24]},)"
            R"("y":{"dtype":"F16","shape":[3],"data_offsets":[28,34]}})";
        Bytes b;
        b.u64(header.size()).raw(header).zeros(34);
        test::write_bytes(st_dir + "/foreign.safetensors", b.b);
    }

    std::vector<uint8_t> q8(size_t(dtype_row_bytes(DType::q8_0, 64))),
        q4(size_t(dtype_row_bytes(DType::q4_0, 64)));
    quantize_row(DType::q8_0, f32.data(), q8.data(), 64);
    quantize_row(DType::q4_0, f32.data(), q4.data(), 64);
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 1);
    w.set_f32("llama.rope.freq_base", 10000.0f);
    w.set_f64("sample.f64", 0.5);
    w.set_u8("sample.u8", 1);
    w.set_i8("sample.i8", -1);
    w.set_u16("sample.u16", 2);
    w.set_i16("sample.i16", -2);
    w.set_i32("sample.i32", -3);
    w.set_u64("sample.u64", 4);
    w.set_i64("sample.i64", -4);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_string_array("tokenizer.ggml.tokens", {"<s>", "a", "b"});
    w.set_f32_array("tokenizer.ggml.scores", {0, -1, -2});
    w.set_i32_array("tokenizer.ggml.token_type", {3, 1, 1});
    w.add_tensor("token_embd.weight", DType::q8_0, {1, 64}, q8.data());
    w.add_tensor("blk.0.attn_q.weight", DType::q4_0, {2, 32}, q4.data());
    w.add_tensor("output_norm.weight", DType::f32, {2, 4}, f32.data());
    w.add_tensor("f16", DType::f16, {3}, f16.data());
    w.add_tensor("bf16", DType::bf16, {1, 1, 2, 2}, bf16.data());
    w.add_tensor("i32", DType::i32, {4}, i32);
    w.write(gg_dir + "/small.gguf");
    {
        // Not written by encore: version 2, alignment 16, nested arrays, an unsupported type.
        Bytes b;
        b.raw("GGUF").u32(2).u64(2).u64(3);
        b.str("nested").u32(9).u32(9).u64(2);
        b.u32(2).u64(2).put<uint16_t>(1).put<uint16_t>(2);
        b.u32(8).u64(1).str("s");
        b.str("bools").u32(9).u32(7).u64(2).u8(1).u8(0);
        b.str("general.alignment").u32(4).u32(16);
        b.str("k").u32(2).u64(256).u64(1).u32(12).u64(0);
        b.str("w").u32(2).u64(2).u64(2).u32(0).u64(144);
        b.pad_to(16).zeros(144);
        for (int i = 0; i < 4; ++i) b.f32(float(i));
        test::write_bytes(gg_dir + "/foreign.gguf", b.b);
    }
}

}  // namespace
}  // namespace encore
