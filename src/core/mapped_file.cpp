// Memory-mapped input files and atomic output files (see mapped_file.h).
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace encore {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(ErrorKind::io, "{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(ErrorKind::io, "{}: not a regular file", path);
    }
    size_ = uint64_t(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            fail(ErrorKind::io, "{}: cannot map: {}", path, std::strerror(errno));
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::string read_file(const std::string& path) {
    const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
    if (!gz) {
        MappedFile file(path);
        return std::string(reinterpret_cast<const char*>(file.data()), file.size());
    }
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fail(ErrorKind::io, "{}: cannot open: {}", path, std::strerror(errno));
    std::string out;
    std::vector<char> buf(1 << 16);
    for (;;) {
        const int n = gzread(f, buf.data(), unsigned(buf.size()));
        if (n < 0) {
            gzclose(f);
            fail(ErrorKind::format, "{}: corrupt gzip data", path);
        }
        if (n == 0) break;
        out.append(buf.data(), size_t(n));
    }
    gzclose(f);
    return out;
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
    tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(ErrorKind::io, "{}: cannot create: {}", path_, std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        const ssize_t w = ::write(fd_, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail(ErrorKind::io, "{}: write failed: {}", path_, std::strerror(errno));
        }
        p += w;
        n -= size_t(w);
        offset_ += uint64_t(w);
    }
}

void AtomicFileWriter::write_zeros(size_t n) {
    static const char zeros[4096] = {};
    while (n > 0) {
        const size_t k = n < sizeof zeros ? n : sizeof zeros;
        write(zeros, k);
        n -= k;
    }
}

void AtomicFileWriter::commit() {
    if (::fsync(fd_) != 0) fail(ErrorKind::io, "{}: fsync failed: {}", path_, std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        fail(ErrorKind::io, "{}: cannot rename into place: {}", path_, std::strerror(errno));
    committed_ = true;
}

}  // namespace encore
