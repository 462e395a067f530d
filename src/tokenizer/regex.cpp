// PCRE2 wrapper with Oniguruma semantics (see regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace encore {

namespace {

// Oniguruma's Unicode `\s`: U+0009..U+000D, U+0085 and General_Category Z (Zs, Zl, Zp).
constexpr const char* k_space_items = "\\t-\\r\\x{85}\\p{Z}";

// Per-thread JIT stack and match context (the default 32 KiB JIT stack is too small for long
// runs of white space under `\s+(?!\S)`).
struct ThreadMatchState {
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jit_stack = nullptr;
    ThreadMatchState() {
        context = pcre2_match_context_create(nullptr);
        jit_stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
        if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
        // Bounds for hostile patterns (fuzzing): a failure becomes an Error, not a hang.
        if (context) {
            pcre2_set_match_limit(context, 10'000'000);
            pcre2_set_depth_limit(context, 1'000'000);
            pcre2_set_heap_limit(context, 256 * 1024);  // KiB
        }
    }
    ~ThreadMatchState() {
        if (jit_stack) pcre2_jit_stack_free(jit_stack);
        if (context) pcre2_match_context_free(context);
    }
};

ThreadMatchState& thread_state() {
    thread_local ThreadMatchState state;
    return state;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
    if (n < 0) return "error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(buffer), size_t(n));
}

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
    std::string out;
    out.reserve(p.size() + 32);
    bool in_class = false;
    size_t i = 0;
    while (i < p.size()) {
        char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            char e = p[i + 1];
            if (e == 's') {
                if (in_class) {
                    out += k_space_items;
                } else {
                    out += '[';
                    out += k_space_items;
                    out += ']';
                }
            } else if (e == 'S' && !in_class) {
                out += "[^";
                out += k_space_items;
                out += ']';
            } else {
                out += c;
                out += e;
            }
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out += c;
            ++i;
            // A ']' right after '[' or '[^' is a literal.
            if (i < p.size() && p[i] == '^') out += p[i++];
            if (i < p.size() && p[i] == ']') out += p[i++];
            continue;
        }
        if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
            // POSIX class [:name:] inside a bracket expression.
            size_t end = p.find(":]", i + 2);
            if (end != std::string_view::npos) {
                out.append(p.substr(i, end + 2 - i));
                i = end + 2;
                continue;
            }
        }
        if (in_class && c == ']') in_class = false;
        out += c;
        ++i;
    }
    return out;
}

Regex Regex::compile(std::string_view pattern, std::string_view what) {
    std::string translated = onig_to_pcre2(pattern);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                      PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (!code) {
        fail(ErrorKind::format, "{}: bad regular expression /{}/: {} at offset {}", what, pattern,
             pcre2_message(error_code), size_t(error_offset));
    }
    Regex r;
    r.pattern_ = std::string(pattern);
    r.code_ =
        std::shared_ptr<void>(code, [](void* c) { pcre2_code_free(static_cast<pcre2_code*>(c)); });
    r.jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return r;
}

Regex Regex::literal(std::string_view literal, std::string_view what) {
    std::string escaped;
    for (char c : literal) {
        auto u = static_cast<unsigned char>(c);
        bool plain =
            u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!plain) escaped += '\\';
        escaped += c;
    }
    Regex r = compile(escaped, what);
    r.pattern_ = std::string(literal);
    return r;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> matches;
    if (!code_) return matches;
    auto* code = static_cast<pcre2_code*>(code_.get());
    ThreadMatchState& state = thread_state();
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    if (!md) fail(ErrorKind::out_of_memory, "regular expression /{}/: out of memory", pattern_);
    std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> guard(md, pcre2_match_data_free);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t n = text.size();
    size_t last_end = 0;
    bool have_last = false;
    size_t last_match_end = 0;
    bool use_jit = jit_;
    while (last_end <= n) {
        uint32_t options = PCRE2_NO_UTF_CHECK | (use_jit ? 0 : PCRE2_NO_JIT);
        int rc = pcre2_match(code, subject, n, last_end, options, md, state.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && use_jit) {
            use_jit = false;  // retry this search with the interpreter
            continue;
        }
        if (rc < 0) {
            fail(ErrorKind::invalid_argument,
                 "regular expression /{}/ failed on a text of {} bytes: {}", pattern_, n,
                 pcre2_message(rc));
        }
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e < s) e = s;  // \K tricks; not used by tokenizers
        if (s == e && have_last && last_match_end == e) {
            // Oniguruma: no empty match right after the previous match; step one character.
            last_end =
                e < n ? e + utf8::sequence_length(static_cast<unsigned char>(text[e])) : n + 1;
            continue;
        }
        last_end = e;
        have_last = true;
        last_match_end = e;
        matches.emplace_back(s, e);
    }
    return matches;
}

}  // namespace encore
