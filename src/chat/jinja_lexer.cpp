// The Jinja lexer (see jinja_lexer.h): a direct scanner that reproduces jinja2 3.1's regex lexer
// for the settings transformers uses, including where lstrip_blocks applies (only when the text
// between the last newline, or the start of a line, and the tag is whitespace) and the bracket
// balancing that lets `}}` close a dict inside `{{ ... }}`.
#include "chat/jinja_lexer.h"

#include <fmt/format.h>

#include <cstdlib>

#include "chat/jinja_value.h"

namespace encore::jinja {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

// Python's str.rstrip(): trailing Unicode whitespace.
std::string rstrip_py(const std::string& s) {
    size_t end = s.size();
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
        const std::u32string cp = utf8_decode(s.substr(start, end - start));
        if (cp.size() != 1 || !is_py_space(cp[0])) break;
        end = start;
    }
    return s.substr(0, end);
}

// Python's re `\s+` fullmatch over s[from:] (non-empty, all whitespace).
bool all_space_from(const std::string& s, size_t from) {
    if (from >= s.size()) return false;
    const std::u32string cp = utf8_decode(s.substr(from));
    for (char32_t c : cp)
        if (!is_py_space(c)) return false;
    return true;
}

int count_newlines(const std::string& s, size_t from, size_t to) {
    int n = 0;
    for (size_t i = from; i < to; ++i) n += s[i] == '\n';
    return n;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A string literal's body decoded as jinja2 does (Python's unicode-escape codec).
std::string decode_string(const std::string& body, int line) {
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (c != '\\' || i + 1 >= body.size()) {
            out += c;
            continue;
        }
        const char e = body[++i];
        auto hex = [&](int n_digits) {
            char32_t cp = 0;
            for (int k = 0; k < n_digits; ++k) {
                const int h =
                    i + 1 + size_t(k) < body.size() ? hex_value(body[i + 1 + size_t(k)]) : -1;
                if (h < 0) throw SyntaxError("truncated \\x, \\u or \\U escape in a string", line);
                cp = cp * 16 + char32_t(h);
            }
            i += size_t(n_digits);
            if (cp > 0x10ffff) throw SyntaxError("illegal Unicode character in a string", line);
            out += utf8_encode(std::u32string(1, cp));
        };
        switch (e) {
            case '\n':
                break;
            case '\\':
                out += '\\';
                break;
            case '\'':
                out += '\'';
                break;
            case '"':
                out += '"';
                break;
            case 'a':
                out += '\a';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'v':
                out += '\v';
                break;
            case 'x':
                hex(2);
                break;
            case 'u':
                hex(4);
                break;
            case 'U':
                hex(8);
                break;
            default:
                if (e >= '0' && e <= '7') {
                    char32_t cp = char32_t(e - '0');
                    for (int k = 0;
                         k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
                         ++k)
                        cp = cp * 8 + char32_t(body[++i] - '0');
                    out += utf8_encode(std::u32string(1, cp));
                } else {
                    out += '\\';
                    out += e;
                }
        }
    }
    return out;
}

class Lexer {
  public:
    explicit Lexer(std::string source) : src_(std::move(source)) {}

    std::vector<Token> run() {
        bool line_starting = true;
        while (pos_ < src_.size()) {
            const size_t tag = find_tag(pos_);
            if (tag == std::string::npos) {
                emit_data(src_.substr(pos_), line_);
                line_ += count_newlines(src_, pos_, src_.size());
                pos_ = src_.size();
                break;
            }
            const char kind = src_[tag + 1];
            const char sign =
                tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                    ? src_[tag + 2]
                    : 0;
            std::string text = src_.substr(pos_, tag - pos_);
            const int text_line = line_;
            line_ += count_newlines(src_, pos_, tag);
            if (sign == '-') {
                text = rstrip_py(text);
            } else if (sign != '+' && kind != '{') {  // lstrip_blocks
                const size_t l_pos =
                    text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
                if ((l_pos > 0 || line_starting) && all_space_from(text, l_pos)) text.resize(l_pos);
            }
            emit_data(text, text_line);
            pos_ = tag + 2 + (sign ? 1 : 0);
            if (kind == '#') {
                line_starting = lex_comment();
            } else if (kind == '%' && lex_raw()) {
                line_starting = src_[pos_ - 1] == '\n';
            } else {
                line_starting = lex_tag(kind == '{');
            }
        }
        tokens_.push_back(Token{Tok::eof, "", line_});
        return std::move(tokens_);
    }

  private:
    size_t find_tag(size_t from) const {
        for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1))
            if (i + 1 < src_.size() &&
                (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
                return i;
        return std::string::npos;
    }

    void emit_data(const std::string& text, int line) {
        if (!text.empty()) tokens_.push_back(Token{Tok::data, text, line});
    }

    // After `{#`: skips to the first `#}` (with its -/+ sign); returns whether the match ended
    // with a newline (jinja2's line_starting).
    bool lex_comment() {
        const size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) throw SyntaxError("Missing end of comment tag", line_);
        line_ += count_newlines(src_, pos_, end);
        const char sign =
            end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
        pos_ = end + 2;
        if (sign == '-') {
            skip_whitespace();
        } else if (sign != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            ++line_;
        }
        return src_[pos_ - 1] == '\n';
    }

    void skip_whitespace() {
        while (pos_ < src_.size() && is_space(src_[pos_])) line_ += src_[pos_++] == '\n';
    }

    // After `{%`: `raw %}...{% endraw %}` becomes one data token.
    bool lex_raw() {
        size_t p = pos_;
        while (p < src_.size() && is_space(src_[p])) ++p;
        if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3])))
            return false;
        p += 3;
        while (p < src_.size() && is_space(src_[p])) ++p;
        if (src_.compare(p, 3, "-%}") == 0) {
            p += 3;
            while (p < src_.size() && is_space(src_[p])) ++p;
        } else if (src_.compare(p, 2, "%}") == 0) {
            p += 2;
        } else {
            return false;
        }
        line_ += count_newlines(src_, pos_, p);
        // Find `{%[-+]? endraw [-+]?%}`.
        for (size_t q = src_.find("{%", p); q != std::string::npos; q = src_.find("{%", q + 1)) {
            size_t r = q + 2;
            const char sign = r < src_.size() && (src_[r] == '-' || src_[r] == '+') ? src_[r] : 0;
            if (sign) ++r;
            while (r < src_.size() && is_space(src_[r])) ++r;
            if (src_.compare(r, 6, "endraw") != 0) continue;
            r += 6;
            while (r < src_.size() && is_space(src_[r])) ++r;
            std::string text = src_.substr(p, q - p);
            if (sign == '-') {
                text = rstrip_py(text);
            } else if (sign != '+') {
                const size_t l_pos =
                    text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
                if (l_pos > 0 && all_space_from(text, l_pos)) text.resize(l_pos);
            }
            size_t end;
            if (src_.compare(r, 3, "+%}") == 0) {
                end = r + 3;
            } else if (src_.compare(r, 3, "-%}") == 0) {
                end = r + 3;
                while (end < src_.size() && is_space(src_[end])) ++end;
            } else if (src_.compare(r, 2, "%}") == 0) {
                end = r + 2;
                if (end < src_.size() && src_[end] == '\n') ++end;
            } else {
                continue;
            }
            emit_data(text, line_);
            line_ += count_newlines(src_, p, end);
            pos_ = end;
            return true;
        }
        throw SyntaxError("Missing end of raw directive", line_);
    }

    // After `{{` or `{%`: expression tokens up to the matching end tag. Returns line_starting.
    bool lex_tag(bool variable) {
        tokens_.push_back(Token{variable ? Tok::var_begin : Tok::block_begin, "", line_});
        std::string balance;
        while (true) {
            if (pos_ >= src_.size())
                throw SyntaxError(
                    variable ? "unexpected end of template, expected 'end of print statement'."
                             : "unexpected end of template, expected 'end of statement block'.",
                    line_);
            if (balance.empty() && lex_end(variable)) return src_[pos_ - 1] == '\n';
            const char c = src_[pos_];
            if (is_space(c)) {
                skip_whitespace();
            } else if (is_digit(c)) {
                lex_number();
            } else if (is_name_start(c)) {
                size_t e = pos_;
                while (e < src_.size() && is_name_char(src_[e])) ++e;
                tokens_.push_back(Token{Tok::name, src_.substr(pos_, e - pos_), line_});
                pos_ = e;
            } else if (c == '\'' || c == '"') {
                lex_string(c);
            } else {
                lex_operator(balance);
            }
        }
    }

    bool lex_end(bool variable) {
        const char* end = variable ? "}}" : "%}";
        if (src_[pos_] == '-' && src_.compare(pos_ + 1, 2, end) == 0) {
            pos_ += 3;
            tokens_.push_back(Token{variable ? Tok::var_end : Tok::block_end, "", line_});
            skip_whitespace();
            return true;
        }
        if (!variable && src_[pos_] == '+' && src_.compare(pos_ + 1, 2, end) == 0) {
            pos_ += 3;
            tokens_.push_back(Token{Tok::block_end, "", line_});
            return true;
        }
        if (src_.compare(pos_, 2, end) == 0) {
            pos_ += 2;
            tokens_.push_back(Token{variable ? Tok::var_end : Tok::block_end, "", line_});
            if (!variable && pos_ < src_.size() && src_[pos_] == '\n') {  // trim_blocks
                ++pos_;
                ++line_;
            }
            return true;
        }
        return false;
    }

    void lex_number() {
        size_t e = pos_;
        auto digits = [&](size_t& p) {  // (\d+_)*\d+
            const size_t start = p;
            while (p < src_.size() &&
                   (is_digit(src_[p]) ||
                    (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1]) && p > start)))
                ++p;
            return p > start;
        };
        const bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
        digits(e);
        size_t f = e;
        bool is_float = false;
        if (!after_dot) {
            if (f + 1 < src_.size() && src_[f] == '.' && is_digit(src_[f + 1])) {
                ++f;
                digits(f);
                is_float = true;
            }
            if (f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
                size_t g = f + 1;
                if (g < src_.size() && (src_[g] == '+' || src_[g] == '-')) ++g;
                if (g < src_.size() && is_digit(src_[g])) {
                    digits(g);
                    f = g;
                    is_float = true;
                }
            }
        }
        std::string text;
        for (size_t i = pos_; i < (is_float ? f : e); ++i)
            if (src_[i] != '_') text += src_[i];
        Token t{is_float ? Tok::floating : Tok::integer, text, line_};
        if (is_float) {
            // strtod, like Python's float(): an overflowing literal is inf, not an error.
            t.floating = std::strtod(text.c_str(), nullptr);
        } else {
            if (text.size() > 1 && text[0] == '0' &&
                text.find_first_not_of('0') != std::string::npos) {
                // "0123": jinja2 lexes "0" then "123"; the parser then fails on two numbers.
                text = "0";
                e = pos_ + 1;
                t.text = text;
            }
            try {
                t.integer = std::stoll(text);
            } catch (const std::exception&) {
                throw SyntaxError(fmt::format("integer literal {} is out of range", text), line_);
            }
        }
        tokens_.push_back(t);
        pos_ = is_float ? f : e;
    }

    void lex_string(char quote) {
        size_t p = pos_ + 1;
        const int start_line = line_;
        while (p < src_.size() && src_[p] != quote) {
            if (src_[p] == '\\') ++p;
            ++p;
        }
        if (p >= src_.size())
            throw SyntaxError(
                fmt::format("unexpected char {} at {}", quote == '"' ? "'\"'" : "\"'\"", pos_),
                line_);
        const std::string body = src_.substr(pos_ + 1, p - pos_ - 1);
        line_ += count_newlines(src_, pos_, p);
        tokens_.push_back(Token{Tok::string, decode_string(body, start_line), start_line});
        pos_ = p + 1;
    }

    void lex_operator(std::string& balance) {
        static const char* two[] = {"//", "**", "==", "!=", ">=", "<="};
        for (const char* op : two)
            if (src_.compare(pos_, 2, op) == 0) {
                tokens_.push_back(Token{Tok::op, op, line_});
                pos_ += 2;
                return;
            }
        const char c = src_[pos_];
        if (std::string("+-/*%~[](){}><=.:|,;").find(c) == std::string::npos)
            throw SyntaxError(fmt::format("unexpected char '{}' at {}", c, pos_), line_);
        if (c == '(' || c == '[' || c == '{') {
            balance += c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (c == ')' || c == ']' || c == '}') {
            if (balance.empty()) throw SyntaxError(fmt::format("unexpected '{}'", c), line_);
            if (balance.back() != c)
                throw SyntaxError(fmt::format("unexpected '{}', expected '{}'", c, balance.back()),
                                  line_);
            balance.pop_back();
        }
        tokens_.push_back(Token{Tok::op, std::string(1, c), line_});
        ++pos_;
    }

    std::string src_;
    size_t pos_ = 0;
    int line_ = 1;
    std::vector<Token> tokens_;
};

// jinja2: newlines normalised to \n, then one trailing newline dropped.
std::string normalise(const std::string& source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

}  // namespace

std::vector<Token> lex(const std::string& source) {
    return Lexer(normalise(source)).run();
}

const char* token_description(const Token& t) {
    switch (t.type) {
        case Tok::data:
            return "template data";
        case Tok::var_begin:
            return "begin of print statement";
        case Tok::var_end:
            return "end of print statement";
        case Tok::block_begin:
            return "begin of statement block";
        case Tok::block_end:
            return "end of statement block";
        case Tok::name:
            return "name";
        case Tok::string:
            return "string";
        case Tok::integer:
            return "integer";
        case Tok::floating:
            return "float";
        case Tok::op:
            return "operator";
        case Tok::eof:
            return "end of template";
    }
    return "token";
}

}  // namespace encore::jinja
