// Names of error categories, for messages and tests.
#include "core/error.h"

namespace encore {

const char* error_kind_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid_argument: return "invalid argument";
        case ErrorKind::io: return "i/o error";
        case ErrorKind::format: return "format error";
        case ErrorKind::unsupported: return "unsupported";
        case ErrorKind::out_of_range: return "out of range";
        case ErrorKind::out_of_memory: return "out of memory";
        case ErrorKind::internal: return "internal error";
    }
    return "error";
}

}  // namespace encore
