// The one error type of encore. Every failure that a user can cause (a bad file, a bad flag, a
// token id out of range) is raised as an `Error` with a category and a one-line human message that
// names the file, field or value at fault. Callers at the edge (the CLI) print the message and exit
// non-zero; nothing below them prints or exits.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace encore {

enum class ErrorKind {
    invalid_argument,  // a flag, spec or value given by the user is wrong
    io,                // a file cannot be opened, read or written
    format,            // a file's contents are malformed (truncated, lying offsets, bad JSON)
    unsupported,       // well-formed but not something encore handles (unknown architecture)
    out_of_range,      // an index (token id, layer, position) is outside its valid range
    out_of_memory,     // a budget (KV pool) is exhausted
    internal,          // a broken invariant: a bug in encore
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const { return kind_; }

private:
    ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
    throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Checks an internal invariant; a failure is a bug in encore, not bad input.
#define ENCORE_ASSERT(cond)                                                                    \
    do {                                                                                       \
        if (!(cond))                                                                           \
            ::encore::fail(::encore::ErrorKind::internal, "internal error: {} ({}:{})", #cond, \
                           __FILE__, __LINE__);                                                \
    } while (0)

}  // namespace encore
