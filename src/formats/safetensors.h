// The safetensors format (Hugging Face): one file is an 8-byte little-endian header length, a
// JSON header naming each tensor's dtype, shape and byte range, and the raw data section. This
// file owns reading one such file (memory-mapped, tensors exposed in place as TensorViews, every
// header field validated), reading a sharded checkpoint directory (`model.safetensors.index.json`
// mapping tensor names to shard files), and writing a file (used for `encore logits -o` and for
// test data). It knows tensors and metadata only, never which tensor plays which role in a model.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace encore {

// One tensor of a safetensors file as its header declares it.
struct SafetensorsTensor {
    std::string name;
    std::string dtype_name;      // as written in the header: "BF16", "F32", "I64", ...
    std::vector<int64_t> shape;  // outermost first, as in the header
    uint64_t data_begin = 0;     // byte range inside the data section (header `data_offsets`)
    uint64_t data_end = 0;
    // True when encore can use the tensor: dtype F32, F16, BF16 or I32 and at most 4 dims. Only
    // then is `view` set; SafetensorsFile::find fails with ErrorKind::unsupported otherwise.
    bool supported = false;
    TensorView view;  // points into the mapped file; data may be unaligned if the header is
};

class SafetensorsFile {
  public:
    // Maps and validates `path`. ErrorKind::io when it cannot be opened, ErrorKind::format naming
    // the file and the field at fault when the header is malformed, ErrorKind::unsupported for a
    // dtype that safetensors itself does not define.
    explicit SafetensorsFile(const std::string& path);
    // Parses `size` bytes at `data` that the caller keeps alive and unchanged as long as this
    // object lives; `name` stands for the path in messages (fuzzing, tests).
    static SafetensorsFile from_memory(const uint8_t* data, uint64_t size, std::string name);

    SafetensorsFile(SafetensorsFile&&) = default;
    SafetensorsFile& operator=(SafetensorsFile&&) = default;

    const std::string& path() const { return path_; }
    // In the order of their data offsets.
    const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
    // The header's `__metadata__` (empty when absent).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // nullptr when there is no such tensor.
    const SafetensorsTensor* find_entry(std::string_view name) const;
    // nullptr when there is no such tensor; fails with ErrorKind::unsupported naming the tensor
    // and its dtype when the tensor exists but encore cannot use it.
    const TensorView* find(std::string_view name) const;
    // Like find, but a missing tensor fails with ErrorKind::format naming the file.
    const TensorView& get(std::string_view name) const;

  private:
    SafetensorsFile() = default;
    void parse(const uint8_t* data, uint64_t size);

    std::string path_;
    std::unique_ptr<MappedFile> file_;  // null for from_memory
    std::vector<SafetensorsTensor> tensors_;
    std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
    std::map<std::string, std::string> metadata_;
};

// The view of a tensor entry, or ErrorKind::unsupported naming `path`, the tensor and its dtype.
const TensorView& safetensors_view(const SafetensorsTensor& tensor, const std::string& path);

// A model's weights as Hugging Face stores them: `model.safetensors.index.json` whose
// `weight_map` maps each tensor name to a shard file in the same directory, or a single
// `model.safetensors`.
class SafetensorsCheckpoint {
  public:
    // Reads the index if present, else model.safetensors. Verifies that every tensor the index
    // names is in the shard it names and that no tensor is in two shards. Tensors present in a
    // shard but missing from the index are served too (as transformers does).
    static SafetensorsCheckpoint open_dir(const std::string& dir);
    // A checkpoint of one file (any name).
    static SafetensorsCheckpoint open_file(const std::string& path);
    // A directory goes to open_dir, anything else to open_file.
    static SafetensorsCheckpoint open(const std::string& path);

    const std::string& path() const { return path_; }
    // nullptr when absent; ErrorKind::unsupported when present with a dtype encore cannot use.
    const TensorView* find(std::string_view name) const;
    // Like find, but a missing tensor fails with ErrorKind::format naming the checkpoint.
    const TensorView& get(std::string_view name) const;
    const SafetensorsTensor* find_entry(std::string_view name) const;
    // The file a tensor is stored in (for messages), nullptr when absent.
    const SafetensorsFile* file_of(std::string_view name) const;
    // Every tensor name, sorted.
    std::vector<std::string> names() const;
    const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

  private:
    struct Location {
        size_t file;
        const SafetensorsTensor* tensor;
    };
    void add_file(std::unique_ptr<SafetensorsFile> file);

    std::string path_;
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::unordered_map<std::string, Location> tensors_;
};

// A tensor to write: `data` holds n_elements of `dtype` (row-major, shape outermost first) and
// must stay valid until the write returns.
struct TensorToWrite {
    std::string name;
    DType dtype = DType::f32;
    std::vector<int64_t> shape;  // outermost first
    const void* data = nullptr;
};

// The safetensors dtype name of `type` ("F32", "F16", "BF16", "I32"); ErrorKind::unsupported for
// the block-quantized types, which safetensors cannot hold.
std::string_view safetensors_dtype_name(DType type);

// Writes a safetensors file: the data section starts at an 8-byte aligned offset (the header is
// padded with spaces) and holds the tensors packed without holes, ordered by element size
// (largest first, otherwise as given) so that each is aligned. Written through AtomicFileWriter,
// so a failure leaves no file behind. ErrorKind::invalid_argument for duplicate or empty names, a
// negative dimension or a null data pointer with non-zero size; ErrorKind::unsupported for a
// quantized dtype.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace encore
