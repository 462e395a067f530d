// Llama-family models in GGUF files, both ways: reading a GGUF written by llama.cpp's converter
// or by encore (architectures llama, qwen2, qwen3; llama.cpp tensor names; the q/k row
// permutation llama.cpp applies for the llama architecture undone on load; llama3 RoPE scaling
// as `rope_freqs.weight`; the tokenizer from `tokenizer.ggml.*`, none for weights-only files whose
// `tokenizer.ggml.model` is "none" or "no_vocab" or absent), and writing one from any loaded Model
// (`encore convert`; a model without a tokenizer is written as weights-only, model "none"),
// optionally converting matrices to another dtype.
#pragma once

#include <memory>
#include <string>

#include "core/dtype.h"
#include "model/model.h"

namespace encore {

std::shared_ptr<Model> load_gguf_model(const std::string& path);

// Writes `model` as GGUF v3 to `path` (atomically), matrices in `matrix_dtype` (f32, f16, bf16,
// q8_0; quantized types need rows that are multiples of 32, other matrices stay as they are
// where they cannot be quantized) and norms/biases in f32.
void write_gguf_model(const Model& model, const std::string& path, DType matrix_dtype);

}  // namespace encore
