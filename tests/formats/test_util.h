// Helpers shared by the format tests: a temporary directory removed with everything in it, whole
// file reads and writes, a little-endian byte builder for hand-made (and deliberately broken)
// files, and an assertion that a call throws encore::Error of a kind with a message containing
// given text.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace encore::test {

class TempDir {
  public:
    TempDir() {
        std::string templ = (std::filesystem::temp_directory_path() / "encore_fmt_XXXXXX").string();
        if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
    // Names of everything in the directory (to check nothing is left behind).
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(path_))
            out.push_back(e.path().filename().string());
        return out;
    }

  private:
    std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Little-endian byte builder.
struct Bytes {
    std::vector<uint8_t> b;

    Bytes& append(const void* p, size_t n) {
        const size_t at = b.size();
        b.resize(at + n);
        if (n > 0) std::memcpy(b.data() + at, p, n);
        return *this;
    }
    template <typename T>
    Bytes& put(T v) {
        return append(&v, sizeof(T));
    }
    Bytes& u8(uint8_t v) { return put(v); }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& i32(int32_t v) { return put(v); }
    Bytes& f32(float v) { return put(v); }
    Bytes& raw(std::string_view s) { return append(s.data(), s.size()); }
    Bytes& str(std::string_view s) { return u64(s.size()).raw(s); }
    Bytes& zeros(size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
    Bytes& pad_to(size_t alignment) {
        return zeros((alignment - b.size() % alignment) % alignment);
    }
    size_t size() const { return b.size(); }
};

// Runs fn, expecting encore::Error of `kind` whose message contains every piece of `needles`.
inline void expect_error(const std::function<void()>& fn, ErrorKind kind,
                         std::initializer_list<std::string_view> needles,
                         const std::string& label = "") {
    try {
        fn();
    } catch (const Error& e) {
        EXPECT_EQ(error_kind_name(e.kind()), std::string(error_kind_name(kind)))
            << label << ": " << e.what();
        const std::string msg = e.what();
        for (std::string_view n : needles)
            EXPECT_NE(msg.find(n), std::string::npos)
                << label << ": message '" << msg << "' lacks '" << n << "'";
        EXPECT_EQ(msg.find('\n'), std::string::npos) << label << ": multi-line message " << msg;
        return;
    } catch (const std::exception& e) {
        ADD_FAILURE() << label << ": threw a non-encore exception: " << e.what();
        return;
    }
    ADD_FAILURE() << label << ": did not throw";
}

}  // namespace encore::test
