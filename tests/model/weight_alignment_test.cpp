// Weights on cache-line boundaries: a model copies the tensors it was handed off a boundary (as
// mapped files place them) into aligned memory, byte for byte, tied views sharing one copy, and
// leaves aligned ones where they are; and the memory a decoded token reads, as the bench's read
// roofline takes it.
#include "model/weight_alignment.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "model/random_model.h"

namespace encore {
namespace {

bool aligned(const TensorView& t) {
    return reinterpret_cast<uintptr_t>(t.data) % k_weight_alignment == 0;
}

TEST(WeightAlignment, CopiesMisalignedTensorsOnce) {
    alignas(64) static uint8_t file[4096];  // stands in for a mapped file
    std::iota(std::begin(file), std::end(file), uint8_t(0));
    Weights w;
    w.tok_embd = make_view(file + 16, DType::bf16, {4, 32});  // 256 bytes, off a line
    w.output = w.tok_embd;                                    // tied
    w.out_norm = make_view(file + 1024, DType::f32, {32});    // on a line
    LayerWeights L;
    L.wq = make_view(file + 2048 + 8, DType::f16, {3, 40});
    w.layers.push_back(L);

    Weights too_big = w;  // a limit below the copies' size: none made
    const AlignedWeights none = align_weights(too_big, 256);
    EXPECT_EQ(none.block, nullptr);
    EXPECT_EQ(none.unaligned_bytes, 256 + 256);  // tok_embd once, wq padded to a line
    EXPECT_EQ(too_big.tok_embd.data, file + 16);

    const AlignedWeights copies = align_weights(w, int64_t(1) << 30);
    ASSERT_NE(copies.block, nullptr);
    EXPECT_EQ(copies.copied_bytes, 256 + 3 * 40 * 2);
    EXPECT_EQ(copies.unaligned_bytes, 0);
    for (const TensorView* t : {&w.tok_embd, &w.output, &w.out_norm, &w.layers[0].wq})
        EXPECT_TRUE(aligned(*t));
    EXPECT_EQ(w.output.data, w.tok_embd.data);  // one copy for both views
    EXPECT_EQ(w.out_norm.data, file + 1024);    // not copied
    EXPECT_EQ(std::memcmp(w.tok_embd.data, file + 16, 256), 0);
    EXPECT_EQ(std::memcmp(w.layers[0].wq.data, file + 2048 + 8, 3 * 40 * 2), 0);

    EXPECT_EQ(align_weights(w, int64_t(1) << 30).block, nullptr);  // nothing left to copy
}

ModelSpec tiny_spec() {
    ModelSpec s;
    s.architecture = "llama";
    s.vocab_size = 50;
    s.n_embd = 32;
    s.n_ff = 48;
    s.n_layers = 3;
    s.n_heads = 2;
    s.n_kv_heads = 1;
    s.head_dim = 16;
    s.rope.theta = 10000;
    s.tied_embeddings = true;
    return s;
}

TEST(WeightAlignment, EveryModelTensorIsAligned) {
    const auto model = make_random_model(tiny_spec(), DType::bf16, 3);
    for (const auto& region : model->weights_read_per_token())
        EXPECT_EQ(reinterpret_cast<uintptr_t>(region.data()) % k_weight_alignment, 0u);
}

TEST(WeightsReadPerToken, EveryInstanceOfThePlan) {
    const auto model = make_random_model(tiny_spec(), DType::bf16, 3);
    const Weights& w = model->weights();
    const int64_t d = 32, row = d * 2;  // one bf16 embedding row
    int64_t layer_bytes = 0;
    for_each_tensor(w.layers[1], [&](const TensorView& t) {
        if (t.n_dims > 0) layer_bytes += t.n_bytes();
    });
    const int64_t all = model->weight_bytes_per_token();
    // Embedding row, 3 layers, output norm (f32) and the tied head.
    EXPECT_EQ(all, row + 3 * layer_bytes + d * 4 + w.output.n_bytes());

    const std::vector<int> plan = {0, 1, 1, 2};
    const auto regions = model->weights_read_per_token(&plan);
    EXPECT_EQ(model->weight_bytes_per_token(&plan), all + layer_bytes);
    EXPECT_EQ(regions.front().data(), w.tok_embd.data);  // in forward order
    EXPECT_EQ(regions.back().data(), w.output.data);
    int64_t of_layer_1 = 0;
    for (const auto& r : regions)
        if (r.data() == w.layers[1].wq.data) ++of_layer_1;
    EXPECT_EQ(of_layer_1, 2);
}

}  // namespace
}  // namespace encore
