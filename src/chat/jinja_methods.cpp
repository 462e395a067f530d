// Python behaviour that templates reach directly: the methods of str, dict and list they call
// (`content.strip()`, `message.get('x')`, `d.items()` ...), the operators (+ - * / // % ** ~
// and `in`, with Python's type errors), and the globals of transformers' environment (range,
// namespace, dict, raise_exception, strftime_now, cycler-free subset).
#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "chat/jinja_builtins.h"

namespace encore::jinja {

namespace {

std::u32string chars_arg(const Args& args, size_t i, const char* name, bool& given) {
    const Value v = args.get(i, name);
    given = !(v.is_undefined() || v.is_none());
    if (given && !v.is_string()) throw RenderError(fmt::format("strip arg must be None or str"));
    return given ? utf8_decode(v.str()) : std::u32string();
}

bool in_set(char32_t c, const std::u32string& set, bool whitespace) {
    return whitespace ? is_py_space(c) : set.find(c) != std::u32string::npos;
}

}  // namespace

// Python's str.strip/lstrip/rstrip.
std::string py_strip(const std::string& s, bool left, bool right, const std::u32string* chars) {
    const std::u32string u = utf8_decode(s);
    size_t b = 0, e = u.size();
    const bool ws = chars == nullptr;
    const std::u32string empty;
    const std::u32string& set = chars ? *chars : empty;
    if (left)
        while (b < e && in_set(u[b], set, ws)) ++b;
    if (right)
        while (e > b && in_set(u[e - 1], set, ws)) --e;
    if (b == 0 && e == u.size()) return s;
    return utf8_encode(u.substr(b, e - b));
}

// Python's str.split(sep=None, maxsplit=-1).
List py_split(const std::string& s, const Value& sep, int64_t maxsplit) {
    List out;
    if (sep.is_none() || sep.is_undefined()) {
        const std::u32string u = utf8_decode(s);
        size_t i = 0;
        while (true) {
            while (i < u.size() && is_py_space(u[i])) ++i;
            if (i >= u.size()) break;
            if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
                size_t e = u.size();
                while (e > i && is_py_space(u[e - 1])) --e;
                out.emplace_back(utf8_encode(u.substr(i, e - i)));
                break;
            }
            size_t j = i;
            while (j < u.size() && !is_py_space(u[j])) ++j;
            out.emplace_back(utf8_encode(u.substr(i, j - i)));
            i = j;
        }
        return out;
    }
    if (!sep.is_string()) throw RenderError(fmt::format("must be str or None, not {}", sep.type_name()));
    const std::string& d = sep.str();
    if (d.empty()) throw RenderError("empty separator");
    size_t start = 0;
    while (true) {
        const size_t p = s.find(d, start);
        if (p == std::string::npos || (maxsplit >= 0 && int64_t(out.size()) == maxsplit)) {
            out.emplace_back(s.substr(start));
            break;
        }
        out.emplace_back(s.substr(start, p - start));
        start = p + d.size();
    }
    return out;
}

// Python's str.replace(old, new, count).
std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count) {
    std::string out;
    if (old.empty()) {
        const std::u32string u = utf8_decode(s);
        int64_t n = 0;
        for (size_t i = 0; i <= u.size(); ++i) {
            if (count < 0 || n < count) {
                out += with;
                ++n;
            }
            if (i < u.size()) out += utf8_encode(std::u32string(1, u[i]));
        }
        return out;
    }
    size_t start = 0;
    int64_t n = 0;
    while (count < 0 || n < count) {
        const size_t p = s.find(old, start);
        if (p == std::string::npos) break;
        out.append(s, start, p - start);
        out += with;
        start = p + old.size();
        ++n;
    }
    out.append(s, start, std::string::npos);
    return out;
}

std::string py_case(const std::string& s, int mode);  // jinja_filters.cpp: 0 lower, 1 upper

static int64_t int_arg(const Args& args, size_t i, const char* name, int64_t def) {
    const Value v = args.get(i, name);
    if (v.is_undefined() || v.is_none()) return def;
    if (v.kind() != Kind::integer && v.kind() != Kind::boolean)
        throw RenderError(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
    return v.integer();
}

static std::string str_arg(const Args& args, size_t i, const char* name) {
    const Value v = args.get(i, name);
    if (!v.is_string())
        throw RenderError(fmt::format("must be str, not {}", v.is_undefined() ? "Undefined" : v.type_name()));
    return v.str();
}

static bool affix_match(const std::string& s, const Value& affix, bool prefix) {
    auto one = [&](const Value& a) {
        if (!a.is_string())
            throw RenderError(fmt::format("{} first arg must be str or a tuple of str, not {}",
                                          prefix ? "startswith" : "endswith", a.type_name()));
        const std::string& x = a.str();
        if (x.size() > s.size()) return false;
        return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (affix.is_list() && affix.is_tuple()) {
        for (const auto& a : affix.list())
            if (one(a)) return true;
        return false;
    }
    return one(affix);
}

static const char* k_str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "lower", "upper",
    "title", "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum",
    "isspace", "islower", "isupper", "format", "removeprefix", "removesuffix", "index", "rindex", "zfill",
    "ljust", "rjust", "center", "partition", "rpartition", "swapcase", "casefold", "isnumeric", "isdecimal"};
static const char* k_dict_methods[] = {"get", "items", "keys", "values", "copy"};
static const char* k_list_methods[] = {"index", "count", "copy"};

bool has_method(const Value& self, const std::string& name) {
    if (self.is_string()) {
        for (const char* m : k_str_methods)
            if (name == m) return true;
    } else if (self.is_dict() && !self.dict().is_namespace) {
        for (const char* m : k_dict_methods)
            if (name == m) return true;
    } else if (self.is_list()) {
        for (const char* m : k_list_methods)
            if (name == m) return true;
    }
    return false;
}

std::string jinja_title(const std::string& s);    // jinja_filters.cpp
std::string py_capitalize(const std::string& s);  // jinja_filters.cpp

static bool all_chars(const std::string& s, bool (*pred)(char32_t)) {
    const std::u32string u = utf8_decode(s);
    if (u.empty()) return false;
    for (char32_t c : u)
        if (!pred(c)) return false;
    return true;
}

static Value str_method(const std::string& s, const std::string& name, Args& args) {
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        bool given;
        const std::u32string chars = chars_arg(args, 0, "chars", given);
        return Value(py_strip(s, name != "rstrip", name != "lstrip", given ? &chars : nullptr));
    }
    if (name == "split" || name == "rsplit") {
        const Value sep = args.get(0, "sep");
        const int64_t maxsplit = int_arg(args, 1, "maxsplit", -1);
        if (name == "rsplit" && maxsplit >= 0) {
            // Split from the right: reverse, split with the reversed separator, reverse back.
            const std::u32string u = utf8_decode(s);
            const std::string rs = utf8_encode(std::u32string(u.rbegin(), u.rend()));
            Value rsep = sep;
            if (sep.is_string()) {
                const std::u32string su = utf8_decode(sep.str());
                rsep = Value(utf8_encode(std::u32string(su.rbegin(), su.rend())));
            }
            List parts = py_split(rs, rsep, maxsplit);
            List out;
            for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
                const std::u32string pu = utf8_decode(it->str());
                out.emplace_back(utf8_encode(std::u32string(pu.rbegin(), pu.rend())));
            }
            return Value(std::move(out));
        }
        return Value(py_split(s, sep, maxsplit));
    }
    if (name == "splitlines") {
        List out;
        const std::u32string u = utf8_decode(s);
        const bool keep = args.get(0, "keepends").truthy();
        size_t start = 0;
        for (size_t i = 0; i < u.size(); ++i) {
            const char32_t c = u[i];
            if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85 ||
                c == 0x2028 || c == 0x2029) {
                size_t end = i;
                if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ++i;
                out.emplace_back(utf8_encode(u.substr(start, (keep ? i + 1 : end) - start)));
                start = i + 1;
            }
        }
        if (start < u.size()) out.emplace_back(utf8_encode(u.substr(start)));
        return Value(std::move(out));
    }
    if (name == "startswith" || name == "endswith") return Value(affix_match(s, args.get(0, "prefix"), name == "startswith"));
    if (name == "lower") return Value(py_case(s, 0));
    if (name == "upper") return Value(py_case(s, 1));
    if (name == "casefold") return Value(py_case(s, 0));
    if (name == "swapcase") return Value(py_case(s, 2));
    if (name == "title") {
        // Python's str.title: a letter after a non-letter is upper-cased, others lower-cased.
        std::u32string u = utf8_decode(s);
        bool prev_letter = false;
        for (auto& c : u) {
            const std::string one = utf8_encode(std::u32string(1, c));
            const std::string lo = py_case(one, 0), up = py_case(one, 1);
            const bool letter = lo != up;
            const std::string r = letter ? (prev_letter ? lo : up) : one;
            const std::u32string ru = utf8_decode(r);
            if (ru.size() == 1) c = ru[0];
            prev_letter = letter;
        }
        return Value(utf8_encode(u));
    }
    if (name == "capitalize") return Value(py_capitalize(s));
    if (name == "replace")
        return Value(py_replace(s, str_arg(args, 0, "old"), str_arg(args, 1, "new"), int_arg(args, 2, "count", -1)));
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
        const std::string sub = str_arg(args, 0, "sub");
        const size_t p = name == "find" || name == "index" ? s.find(sub) : s.rfind(sub);
        if (p == std::string::npos) {
            if (name == "index" || name == "rindex") throw RenderError("substring not found");
            return Value(int64_t(-1));
        }
        return Value(int64_t(utf8_decode(s.substr(0, p)).size()));
    }
    if (name == "count") {
        const std::string sub = str_arg(args, 0, "sub");
        if (sub.empty()) return Value(int64_t(utf8_decode(s).size() + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value(n);
    }
    if (name == "join") {
        std::string out;
        bool first = true;
        for (const auto& item : args.get(0, "iterable").iterate()) {
            if (!item.is_string())
                throw RenderError(fmt::format("sequence item: expected str instance, {} found", item.type_name()));
            if (!first) out += s;
            first = false;
            out += item.str();
        }
        return Value(out);
    }
    if (name == "isdigit" || name == "isnumeric" || name == "isdecimal")
        return Value(all_chars(s, [](char32_t c) { return c >= '0' && c <= '9'; }));
    if (name == "isalpha")
        return Value(all_chars(s, [](char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c > 0x7f; }));
    if (name == "isalnum")
        return Value(all_chars(s, [](char32_t c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c > 0x7f;
        }));
    if (name == "isspace") return Value(all_chars(s, is_py_space));
    if (name == "islower" || name == "isupper") {
        bool cased = false;
        for (char32_t c : utf8_decode(s)) {
            const std::string one = utf8_encode(std::u32string(1, c));
            const std::string lo = py_case(one, 0), up = py_case(one, 1);
            if (lo == up) continue;
            cased = true;
            if ((name == "islower") != (one == lo)) return Value(false);
        }
        return Value(cased);
    }
    if (name == "removeprefix" || name == "removesuffix") {
        const std::string a = str_arg(args, 0, "affix");
        if (name == "removeprefix" && s.compare(0, a.size(), a) == 0 && a.size() <= s.size()) return Value(s.substr(a.size()));
        if (name == "removesuffix" && a.size() <= s.size() && !a.empty() && s.compare(s.size() - a.size(), a.size(), a) == 0)
            return Value(s.substr(0, s.size() - a.size()));
        return Value(s);
    }
    if (name == "zfill" || name == "ljust" || name == "rjust" || name == "center") {
        const int64_t width = int_arg(args, 0, "width", 0);
        const std::string fill = name == "zfill" ? "0" : args.has(1, "fillchar") ? str_arg(args, 1, "fillchar") : " ";
        const int64_t n = int64_t(utf8_decode(s).size());
        if (width <= n) return Value(s);
        const int64_t pad = width - n;
        auto rep = [&](int64_t k) {
            std::string r;
            for (int64_t i = 0; i < k; ++i) r += fill;
            return r;
        };
        if (name == "ljust") return Value(s + rep(pad));
        if (name == "rjust") return Value(rep(pad) + s);
        if (name == "zfill") {
            if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value(s.substr(0, 1) + rep(pad) + s.substr(1));
            return Value(rep(pad) + s);
        }
        const int64_t left = pad / 2 + (pad & width & 1);
        return Value(rep(left) + s + rep(pad - left));
    }
    if (name == "partition" || name == "rpartition") {
        const std::string sep = str_arg(args, 0, "sep");
        const size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
        if (p == std::string::npos)
            return name == "partition" ? Value(List{Value(s), Value(""), Value("")}, true)
                                       : Value(List{Value(""), Value(""), Value(s)}, true);
        return Value(List{Value(s.substr(0, p)), Value(sep), Value(s.substr(p + sep.size()))}, true);
    }
    if (name == "format") {
        // str.format with {} / {0} / {name} fields and no format specs.
        std::string out;
        size_t auto_index = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') {
                out += '{';
                ++i;
            } else if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') {
                out += '}';
                ++i;
            } else if (s[i] == '{') {
                const size_t e = s.find('}', i);
                if (e == std::string::npos) throw RenderError("Single '{' encountered in format string");
                const std::string field = s.substr(i + 1, e - i - 1);
                Value v;
                if (field.empty()) {
                    v = args.get(auto_index++, "");
                } else if (field.find_first_not_of("0123456789") == std::string::npos) {
                    v = args.get(size_t(std::stoul(field)), "");
                } else {
                    v = args.get(size_t(-1), field.c_str());
                }
                if (v.is_undefined() && !args.has(size_t(-1), field.c_str()))
                    throw RenderError(fmt::format("Replacement index {} out of range for positional args tuple", field));
                out += v.to_str();
                i = e;
            } else {
                out += s[i];
            }
        }
        return Value(out);
    }
    throw RenderError(fmt::format("'str' object has no attribute '{}'", name));
}

Value call_method(const Value& self, const std::string& name, Args& args) {
    if (self.is_string()) return str_method(self.str(), name, args);
    if (self.is_dict()) {
        const Dict& d = self.dict();
        if (name == "get") {
            const Value key = args.get(0, "key");
            if (key.is_string())
                if (const Value* v = d.find(key.str())) return *v;
            return args.has(1, "default") ? args.get(1, "default") : Value::none();
        }
        if (name == "items") {
            List out;
            for (const auto& [k, v] : d.items) out.emplace_back(List{Value(k), v}, true);
            return Value(std::move(out));
        }
        if (name == "keys") {
            List out;
            for (const auto& [k, v] : d.items) out.emplace_back(k);
            return Value(std::move(out));
        }
        if (name == "values") {
            List out;
            for (const auto& [k, v] : d.items) out.push_back(v);
            return Value(std::move(out));
        }
        if (name == "copy") return Value(std::make_shared<Dict>(d));
    }
    if (self.is_list()) {
        const List& l = self.list();
        if (name == "index") {
            const Value x = args.get(0, "value");
            for (size_t i = 0; i < l.size(); ++i)
                if (values_equal(l[i], x)) return Value(int64_t(i));
            throw RenderError(fmt::format("{} is not in list", x.repr()));
        }
        if (name == "count") {
            const Value x = args.get(0, "value");
            int64_t n = 0;
            for (const auto& e : l) n += values_equal(e, x);
            return Value(n);
        }
        if (name == "copy") return Value(List(l), self.is_tuple());
    }
    throw RenderError(fmt::format("'{}' object has no attribute '{}'", self.type_name(), name));
}

// ---- operators ----

static RenderError unsupported(const char* op, const Value& a, const Value& b) {
    return RenderError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name()));
}

static bool is_int(const Value& v) { return v.kind() == Kind::integer || v.kind() == Kind::boolean; }

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

static std::string printf_format(const std::string& fmt_str, const Value& args);

Value binary_op(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") return Value(a.to_str() + b.to_str());
    if (a.is_undefined()) throw RenderError(a.str());
    if (b.is_undefined()) throw RenderError(b.str());
    const bool numbers = a.is_number() && b.is_number();
    const bool ints = is_int(a) && is_int(b);
    if (op == "+") {
        if (ints) return Value(a.integer() + b.integer());
        if (numbers) return Value(a.number() + b.number());
        if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
        if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
            List out = a.list();
            out.insert(out.end(), b.list().begin(), b.list().end());
            return Value(std::move(out), a.is_tuple());
        }
        if (a.is_string() || a.is_list())
            throw RenderError(fmt::format("can only concatenate {} (not \"{}\") to {}", a.type_name(), b.type_name(), a.type_name()));
        throw unsupported("+", a, b);
    }
    if (op == "-") {
        if (ints) return Value(a.integer() - b.integer());
        if (numbers) return Value(a.number() - b.number());
        throw unsupported("-", a, b);
    }
    if (op == "*") {
        if (ints) return Value(a.integer() * b.integer());
        if (numbers) return Value(a.number() * b.number());
        const Value* seq = is_int(b) ? &a : is_int(a) ? &b : nullptr;
        const Value* count = is_int(b) ? &b : &a;
        if (seq && seq->is_string()) {
            std::string out;
            for (int64_t i = 0; i < count->integer(); ++i) out += seq->str();
            return Value(out);
        }
        if (seq && seq->is_list()) {
            List out;
            for (int64_t i = 0; i < count->integer(); ++i) out.insert(out.end(), seq->list().begin(), seq->list().end());
            return Value(std::move(out), seq->is_tuple());
        }
        throw RenderError(fmt::format("can't multiply sequence by non-int of type '{}'", b.type_name()));
    }
    if (op == "/") {
        if (!numbers) throw unsupported("/", a, b);
        if (b.number() == 0) throw RenderError("division by zero");
        return Value(a.number() / b.number());
    }
    if (op == "//") {
        if (!numbers) throw unsupported("//", a, b);
        if (b.number() == 0) throw RenderError(ints ? "integer division or modulo by zero" : "float floor division by zero");
        if (ints) return Value(floor_div(a.integer(), b.integer()));
        return Value(std::floor(a.number() / b.number()));
    }
    if (op == "%") {
        if (a.is_string()) return Value(printf_format(a.str(), b));
        if (!numbers) throw unsupported("%", a, b);
        if (b.number() == 0) throw RenderError(ints ? "integer division or modulo by zero" : "float modulo");
        if (ints) return Value(a.integer() - floor_div(a.integer(), b.integer()) * b.integer());
        double r = std::fmod(a.number(), b.number());
        if (r != 0 && ((r < 0) != (b.number() < 0))) r += b.number();
        return Value(r);
    }
    if (op == "**") {
        if (!numbers) throw unsupported("** or pow()", a, b);
        if (ints && b.integer() >= 0) {
            int64_t r = 1;
            for (int64_t i = 0; i < b.integer() && i < 64; ++i) r *= a.integer();
            return Value(r);
        }
        return Value(std::pow(a.number(), b.number()));
    }
    throw RenderError(fmt::format("unknown operator {}", op));
}

// printf-style `str % args` (%s %r %d %i %f %%), as Python's str.__mod__ for simple formats.
static std::string printf_format(const std::string& f, const Value& args) {
    List values = args.is_list() && args.is_tuple() ? args.list() : List{args};
    size_t next = 0;
    std::string out;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] != '%') {
            out += f[i];
            continue;
        }
        if (++i >= f.size()) throw RenderError("incomplete format");
        const char c = f[i];
        if (c == '%') {
            out += '%';
            continue;
        }
        if (next >= values.size()) throw RenderError("not enough arguments for format string");
        const Value& v = values[next++];
        if (c == 's')
            out += v.to_str();
        else if (c == 'r')
            out += v.repr();
        else if ((c == 'd' || c == 'i') && v.is_number())
            out += std::to_string(int64_t(v.number()));
        else if (c == 'f' && v.is_number())
            out += fmt::format("{:.6f}", v.number());
        else
            throw RenderError(fmt::format("unsupported format character '{}'", c));
    }
    if (next < values.size()) throw RenderError("not all arguments converted during string formatting");
    return out;
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Kind::undefined:
            return false;
        case Kind::string:
            if (!item.is_string())
                throw RenderError(fmt::format("'in <string>' requires string as left operand, not {}",
                                              item.is_undefined() ? "Undefined" : item.type_name()));
            return container.str().find(item.str()) != std::string::npos;
        case Kind::list:
            for (const auto& e : container.list())
                if (values_equal(e, item)) return true;
            return false;
        case Kind::dict:
            return item.is_string() && container.dict().find(item.str()) != nullptr;
        default:
            throw RenderError(fmt::format("argument of type '{}' is not iterable", container.type_name()));
    }
}

// ---- globals ----

void add_globals(Dict& globals) {
    globals.set("range", Value::function("range", [](Args& args) {
        int64_t start = 0, stop, step = 1;
        auto as_int = [](const Value& v) {
            if (v.kind() != Kind::integer && v.kind() != Kind::boolean)
                throw RenderError(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
            return v.integer();
        };
        if (args.positional.size() == 1) {
            stop = as_int(args.positional[0]);
        } else if (args.positional.size() >= 2) {
            start = as_int(args.positional[0]);
            stop = as_int(args.positional[1]);
            if (args.positional.size() >= 3) step = as_int(args.positional[2]);
        } else {
            throw RenderError("range expected at least 1 argument, got 0");
        }
        if (step == 0) throw RenderError("range() arg 3 must not be zero");
        List out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() >= 100000) throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
            out.emplace_back(i);
        }
        return Value(std::move(out));
    }));
    globals.set("namespace", Value::function("namespace", [](Args& args) {
        auto ns = std::make_shared<Dict>();
        ns->is_namespace = true;
        for (const auto& p : args.positional) {
            if (!p.is_dict()) throw RenderError("namespace() takes a mapping");
            for (const auto& [k, v] : p.dict().items) ns->set(k, v);
        }
        for (const auto& [k, v] : args.keywords) ns->set(k, v);
        return Value(std::move(ns));
    }));
    globals.set("dict", Value::function("dict", [](Args& args) {
        auto d = std::make_shared<Dict>();
        for (const auto& p : args.positional) {
            if (!p.is_dict()) throw RenderError("dict() takes a mapping");
            for (const auto& [k, v] : p.dict().items) d->set(k, v);
        }
        for (const auto& [k, v] : args.keywords) d->set(k, v);
        return Value(std::move(d));
    }));
    globals.set("raise_exception", Value::function("raise_exception", [](Args& args) -> Value {
        throw RaisedError(args.get(0, "message").to_str());
    }));
    globals.set("strftime_now", Value::function("strftime_now", [](Args& args) {
        const Value f = args.get(0, "format");
        if (!f.is_string()) throw RenderError("strftime() argument 1 must be str");
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[512];
        const size_t n = f.str().empty() ? 0 : std::strftime(buf, sizeof buf, f.str().c_str(), &tm);
        return Value(std::string(buf, n));
    }));
}

}  // namespace encore::jinja
