// Saved prefixes: a Sequence's tokens and KV cache written to a file, and read back into an
// empty sequence of an engine with the same model and layer plan, so that a long prompt prefix
// (a few-shot rubric, a system prompt) is computed once and reused across runs. A loaded
// sequence holds bitwise the KV its engine would have computed, so any continuation gives
// bitwise the logits of a sequence that computed the prefix itself; its full blocks are
// published to the prefix index, so later sequences starting with the prefix reuse them.
//
// File format, version 1 or 2 (all integers little-endian):
//
//   header
//     char[8]   magic "ENCPRFX\0"
//     u32       format version: 1 for an f32 KV pool (as before KV storage types existed), 2 for
//               f16 / bf16, so that a reader that knows only version 1 refuses the file plainly
//     u32       header_bytes: size of the whole header, padding and header_crc included (the
//               tokens start here; always a multiple of 64 so the arrays below are aligned)
//     u32 + [n] model identity (Model::identity(), length-prefixed bytes)
//     u32 + [n] layer plan spec (LayerPlan::to_spec())
//     u32 + [n] model name (the path it was loaded from; informational, not checked)
//     u32       n_instances   (layer instances of the plan)
//     u32       n_kv_heads
//     u32       head_dim
//     u32       block_size    (of the saving engine; informational: the layout below does not
//                              depend on it, so an engine with another block size can load)
//     u64       n_tokens
//     [u32      precision: 1 = Precision::fast; written only then or with kv_type, so that files
//               of the default precision are unchanged (the zeros of the padding read as the
//               default)]
//     [u32      kv_type: 0 = f32, 1 = f16, 2 = bf16, the KV storage type of the saving engine;
//               written only when not f32 (version 2)]
//     zeros     up to header_bytes - 4
//     u32       header_crc: zlib crc32 of bytes [0, header_bytes - 4)
//   i32  tokens[n_tokens]
//   kv_type  kv[n_instances][2 (K, V)][n_kv_heads][n_tokens][head_dim]  (the pool's bits)
//
// The K/V are the pool's elements as stored. A file loads only into an engine of the same KV type:
// converting would not give what that engine computes (each layer's K/V depend on the types the
// layers before it attended over), so another type is refused with an error naming both.
//   u32  crc: zlib crc32 of every byte before it
//
// The header has its own checksum so that its lengths are trusted before the file size is
// checked against them; the trailing checksum covers everything.
#pragma once

#include <cstdint>
#include <string>

#include "backend/backend.h"

namespace encore {

class Sequence;

struct PrefixFileInfo {
    uint32_t version = 0;
    std::string model_identity;  // Model::identity() of the saving engine
    std::string plan;            // LayerPlan::to_spec() of the saving engine
    std::string model_name;      // where the model was loaded from (informational)
    int n_instances = 0;
    int n_kv_heads = 0;
    int head_dim = 0;
    int block_size = 0;
    int64_t n_tokens = 0;
    Precision precision = Precision::standard;  // of the saving engine's matmuls
    DType kv_type = DType::f32;                 // KV storage type of the saving engine
    uint64_t header_bytes = 0;                  // offset of the tokens
    uint64_t kv_offset = 0;                     // offset of the K/V array
    uint64_t file_bytes = 0;                    // size of the whole file
};

struct PrefixFile {
    // Writes the sequence's tokens and KV (atomically: temporary file, then rename). Fails with
    // invalid_argument on a freed sequence, io when the file cannot be written.
    static void save(const Sequence& seq, const std::string& path);

    // Fills an empty, live sequence from a file. Everything is validated before the sequence or
    // the pool is touched: magic, version, checksums, lengths against the file size (format),
    // model identity, plan, precision, KV storage type and KV shape against the engine
    // (invalid_argument, naming both),
    // token ids (format). Then blocks are taken (out_of_memory if the pool cannot supply them,
    // with nothing changed), the KV copied in, and full blocks hashed and published. On any
    // error the sequence stays empty and the pool's accounting is unchanged.
    static void load(Sequence& seq, const std::string& path);

    // Reads and checks the header (magic, version, header checksum, file size); the data
    // checksum is verified by load().
    static PrefixFileInfo read_info(const std::string& path);
};

// Convenience spellings of the above.
inline void save_prefix(const Sequence& seq, const std::string& path) {
    PrefixFile::save(seq, path);
}
inline void load_prefix(Sequence& seq, const std::string& path) {
    PrefixFile::load(seq, path);
}

}  // namespace encore
