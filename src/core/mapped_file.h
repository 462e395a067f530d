// Read-only memory mapping of a whole file (weights are used in place from the page cache, never
// copied), plus the atomic file writer every output of encore goes through: data is written to a
// temporary file beside the target and renamed over it only when complete, so a failure never
// leaves a half-written output behind.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace encore {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

// Reads a whole (small) file into a string; `.gz` files are decompressed.
std::string read_file(const std::string& path);

class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::string path);
    ~AtomicFileWriter();  // removes the temporary file unless commit() succeeded
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(const void* data, size_t n);
    void write(std::string_view s) { write(s.data(), s.size()); }
    void write_zeros(size_t n);
    uint64_t offset() const { return offset_; }
    // Flushes, fsyncs and renames the temporary file over the target.
    void commit();

private:
    std::string path_, tmp_path_;
    int fd_ = -1;
    uint64_t offset_ = 0;
    bool committed_ = false;
};

}  // namespace encore
