// Jinja's filters as jinja2 3.1 defines them (with transformers' tojson replacing the built-in
// one: json.dumps with ensure_ascii=False, indent, separators, sort_keys), looked up by name
// when a template is parsed; also the case mapping (upper, lower, title, capitalize) that
// filters and str methods share.
#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "chat/jinja_builtins.h"
#include "chat/jinja_renderer.h"
#include "core/html.h"

namespace encore::jinja {

std::string py_strip(const std::string& s, bool left, bool right, const std::u32string* chars);
std::string py_replace(const std::string& s, const std::string& old, const std::string& with,
                       int64_t count);

// 0: lower, 1: upper, 2: swap case (per code point, as utf8proc maps it).
std::string py_case(const std::string& s, int mode) {
    bool ascii = true;
    for (unsigned char c : s) ascii &= c < 0x80;
    if (ascii) {
        std::string out = s;
        for (auto& c : out) {
            const bool up = c >= 'A' && c <= 'Z', lo = c >= 'a' && c <= 'z';
            if ((mode == 0 || (mode == 2 && up)) && up)
                c = char(c + 32);
            else if ((mode == 1 || (mode == 2 && lo)) && lo)
                c = char(c - 32);
        }
        return out;
    }
    std::u32string u = utf8_decode(s);
    for (auto& c : u) {
        const auto cp = utf8proc_int32_t(c);
        if (mode == 0)
            c = char32_t(utf8proc_tolower(cp));
        else if (mode == 1)
            c = char32_t(utf8proc_toupper(cp));
        else
            c = char32_t(utf8proc_tolower(cp) != cp ? utf8proc_tolower(cp) : utf8proc_toupper(cp));
    }
    return utf8_encode(u);
}

std::string py_capitalize(const std::string& s) {
    if (s.empty()) return s;
    const std::u32string u = utf8_decode(s);
    const std::string first = utf8_encode(u.substr(0, 1));
    return py_case(first, 1) + py_case(utf8_encode(u.substr(1)), 0);
}

// jinja2's title: words split at runs of whitespace, -, (, {, [, <.
std::string jinja_title(const std::string& s) {
    const std::u32string u = utf8_decode(s);
    std::string out;
    size_t i = 0;
    auto is_sep = [](char32_t c) {
        return is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    };
    while (i < u.size()) {
        size_t j = i;
        const bool sep = is_sep(u[i]);
        while (j < u.size() && is_sep(u[j]) == sep) ++j;
        const std::string part = utf8_encode(u.substr(i, j - i));
        out += sep ? part
                   : py_case(utf8_encode(u.substr(i, 1)), 1) +
                         py_case(utf8_encode(u.substr(i + 1, j - i - 1)), 0);
        i = j;
    }
    return out;
}

namespace {

Value arg(Args& a, size_t i, const char* name, Value def = Value()) {
    return a.has(i, name) ? a.get(i, name) : def;
}

int64_t int_of(const Value& v, const char* what) {
    if (v.kind() == Kind::integer || v.kind() == Kind::boolean) return v.integer();
    throw RenderError(
        fmt::format("'{}' object cannot be interpreted as an integer ({})", v.type_name(), what));
}

Value f_length(Renderer&, const Value& v, Args&) {
    switch (v.kind()) {
        case Kind::undefined:
            return Value(int64_t(0));
        case Kind::string:
            return Value(int64_t(utf8_decode(v.str()).size()));
        case Kind::list:
            return Value(int64_t(v.list().size()));
        case Kind::dict:
            return Value(int64_t(v.dict().items.size()));
        default:
            throw RenderError(fmt::format("object of type '{}' has no len()", v.type_name()));
    }
}
Value f_string(Renderer&, const Value& v, Args&) {
    return Value(v.to_str());
}
Value f_trim(Renderer&, const Value& v, Args& a) {
    const Value chars = arg(a, 0, "chars");
    if (chars.is_string()) {
        const std::u32string c = utf8_decode(chars.str());
        return Value(py_strip(v.to_str(), true, true, &c));
    }
    return Value(py_strip(v.to_str(), true, true, nullptr));
}
Value f_upper(Renderer&, const Value& v, Args&) {
    return Value(py_case(v.to_str(), 1));
}
Value f_lower(Renderer&, const Value& v, Args&) {
    return Value(py_case(v.to_str(), 0));
}
Value f_capitalize(Renderer&, const Value& v, Args&) {
    return Value(py_capitalize(v.to_str()));
}
Value f_title(Renderer&, const Value& v, Args&) {
    return Value(jinja_title(v.to_str()));
}
Value f_safe(Renderer&, const Value& v, Args&) {
    return Value(v.to_str());
}
Value f_escape(Renderer&, const Value& v, Args&) {
    return Value(html_escape(v.to_str()));
}
Value f_default(Renderer&, const Value& v, Args& a) {
    const Value def = arg(a, 0, "default_value", Value(""));
    const bool boolean = arg(a, 1, "boolean", Value(false)).truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return def;
    return v;
}
Value f_first(Renderer&, const Value& v, Args&) {
    const List items = v.iterate();
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return items.front();
}
Value f_last(Renderer&, const Value& v, Args&) {
    if (v.is_dict()) throw RenderError("'dict' object is not reversible");
    const List items = v.iterate();
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}
Value f_list(Renderer&, const Value& v, Args&) {
    return Value(v.iterate());
}
Value f_reverse(Renderer&, const Value& v, Args&) {
    if (v.is_string()) {
        const std::u32string u = utf8_decode(v.str());
        return Value(utf8_encode(std::u32string(u.rbegin(), u.rend())));
    }
    List items = v.iterate();
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
}
Value f_join(Renderer& r, const Value& v, Args& a) {
    const std::string sep = arg(a, 0, "d", Value("")).to_str();
    const Value attribute = arg(a, 1, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (const auto& item : v.iterate()) {
        if (!first) out += sep;
        first = false;
        out += attribute.is_none() ? item.to_str() : r.getitem(item, attribute).to_str();
    }
    return Value(out);
}
Value f_items(Renderer&, const Value& v, Args&) {
    if (v.is_undefined()) return Value(List{});
    if (!v.is_dict()) throw RenderError("Can only get item pairs from a mapping.");
    List out;
    for (const auto& [k, val] : v.dict().items) out.emplace_back(List{Value(k), val}, true);
    return Value(std::move(out));
}

// An attribute path "a.b.0" looked up item by item (jinja2's make_attrgetter).
Value get_path(Renderer& r, const Value& item, const Value& attribute) {
    if (!attribute.is_string()) return r.getitem(item, attribute);
    Value cur = item;
    const std::string& path = attribute.str();
    size_t start = 0;
    while (true) {
        const size_t dot = path.find('.', start);
        const std::string part =
            path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos)
            cur = r.getitem(cur, Value(int64_t(std::stoll(part))));
        else
            cur = r.getitem(cur, Value(part));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return cur;
}

Value f_map(Renderer& r, const Value& v, Args& a) {
    List out;
    const bool by_attribute = a.positional.empty();
    if (by_attribute) {
        const Value attribute = arg(a, 0, "attribute");
        const Value def = arg(a, 1, "default");
        for (const auto& item : v.iterate()) {
            Value x = get_path(r, item, attribute);
            if (x.is_undefined() && a.has(size_t(-1), "default")) x = def;
            out.push_back(std::move(x));
        }
        return Value(std::move(out));
    }
    const std::string name = a.positional[0].to_str();
    Args rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    rest.keywords = a.keywords;
    for (const auto& item : v.iterate()) {
        Args copy = rest;
        out.push_back(r.apply_filter(name, item, copy));
    }
    return Value(std::move(out));
}

// select / reject / selectattr / rejectattr.
Value select_common(Renderer& r, const Value& v, Args& a, bool by_attribute, bool keep) {
    size_t next = 0;
    Value attribute;
    if (by_attribute)
        attribute = a.positional.empty() ? arg(a, 0, "attribute") : a.positional[next++];
    std::string test;
    if (next < a.positional.size()) test = a.positional[next++].to_str();
    Args rest;
    rest.positional.assign(a.positional.begin() + long(std::min(next, a.positional.size())),
                           a.positional.end());
    List out;
    for (const auto& item : v.iterate()) {
        const Value x = by_attribute ? get_path(r, item, attribute) : item;
        bool pass;
        if (test.empty()) {
            pass = x.truthy();
        } else {
            Args copy = rest;
            pass = r.apply_test(test, x, copy);
        }
        if (pass == keep) out.push_back(item);
    }
    return Value(std::move(out));
}
Value f_select(Renderer& r, const Value& v, Args& a) {
    return select_common(r, v, a, false, true);
}
Value f_reject(Renderer& r, const Value& v, Args& a) {
    return select_common(r, v, a, false, false);
}
Value f_selectattr(Renderer& r, const Value& v, Args& a) {
    return select_common(r, v, a, true, true);
}
Value f_rejectattr(Renderer& r, const Value& v, Args& a) {
    return select_common(r, v, a, true, false);
}

Value f_tojson(Renderer&, const Value& v, Args& a) {
    const bool ensure_ascii = arg(a, 0, "ensure_ascii", Value(false)).truthy();
    const Value indent_v = arg(a, 1, "indent", Value::none());
    const Value separators = arg(a, 2, "separators", Value::none());
    const bool sort_keys = arg(a, 3, "sort_keys", Value(false)).truthy();
    int indent = -1;
    if (!indent_v.is_none()) indent = int(int_of(indent_v, "indent"));
    std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
    if (!separators.is_none()) {
        const List s = separators.iterate();
        if (s.size() != 2 || !s[0].is_string() || !s[1].is_string())
            throw RenderError("separators must be a pair of strings");
        item_sep = s[0].str();
        key_sep = s[1].str();
    }
    std::string out =
        json_dumps(v.to_json(), indent < 0 ? -1 : indent, item_sep, key_sep, sort_keys);
    if (ensure_ascii) {
        std::string esc;
        for (char32_t c : utf8_decode(out)) {
            if (c < 0x80) {
                esc += char(c);
            } else if (c < 0x10000) {
                esc += fmt::format("\\u{:04x}", uint32_t(c));
            } else {
                const uint32_t x = uint32_t(c) - 0x10000;
                esc += fmt::format("\\u{:04x}\\u{:04x}", 0xd800 + (x >> 10), 0xdc00 + (x & 0x3ff));
            }
        }
        out = esc;
    }
    return Value(out);
}

Value f_replace(Renderer&, const Value& v, Args& a) {
    const Value count = arg(a, 2, "count", Value::none());
    return Value(py_replace(v.to_str(), arg(a, 0, "old").to_str(), arg(a, 1, "new").to_str(),
                            count.is_none() ? -1 : int_of(count, "count")));
}

// Python's str.splitlines() of s.
std::vector<std::string> splitlines(const std::string& s) {
    std::vector<std::string> out;
    const std::u32string u = utf8_decode(s);
    size_t start = 0;
    for (size_t i = 0; i < u.size(); ++i) {
        const char32_t c = u[i];
        if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d ||
            c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029) {
            out.push_back(utf8_encode(u.substr(start, i - start)));
            if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ++i;
            start = i + 1;
        }
    }
    if (start < u.size()) out.push_back(utf8_encode(u.substr(start)));
    return out;
}

Value f_indent(Renderer&, const Value& v, Args& a) {
    const Value width = arg(a, 0, "width", Value(int64_t(4)));
    const bool first = arg(a, 1, "first", Value(false)).truthy();
    const bool blank = arg(a, 2, "blank", Value(false)).truthy();
    const std::string indention =
        width.is_string() ? width.str()
                          : std::string(size_t(std::max<int64_t>(0, int_of(width, "width"))), ' ');
    std::vector<std::string> lines = splitlines(v.to_str() + "\n");
    std::string rv;
    if (blank) {
        for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
    } else {
        rv = lines.empty() ? "" : lines[0];
        if (lines.size() > 1) {
            rv += "\n";
            for (size_t i = 1; i < lines.size(); ++i) {
                if (i > 1) rv += '\n';
                if (!lines[i].empty()) rv += indention + lines[i];
            }
        }
    }
    if (first) rv = indention + rv;
    return Value(rv);
}

Value f_int(Renderer&, const Value& v, Args& a) {
    const Value def = arg(a, 0, "default", Value(int64_t(0)));
    const int base = int(int_of(arg(a, 1, "base", Value(int64_t(10))), "base"));
    if (v.kind() == Kind::integer || v.kind() == Kind::boolean) return Value(v.integer());
    if (v.kind() == Kind::floating)
        return std::isfinite(v.number()) ? Value(int64_t(v.number())) : def;
    if (v.is_string()) {
        std::string s = py_strip(v.str(), true, true, nullptr);
        s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
        try {
            size_t used = 0;
            const int64_t x = std::stoll(s, &used, base);
            if (used == s.size()) return Value(x);
        } catch (const std::exception&) {
        }
        try {
            size_t used = 0;
            const double d = std::stod(s, &used);
            if (used == s.size() && std::isfinite(d)) return Value(int64_t(d));
        } catch (const std::exception&) {
        }
    }
    return def;
}
Value f_float(Renderer&, const Value& v, Args& a) {
    const Value def = arg(a, 0, "default", Value(0.0));
    if (v.is_number()) return Value(v.number());
    if (v.is_string()) {
        const std::string s = py_strip(v.str(), true, true, nullptr);
        try {
            size_t used = 0;
            const double d = std::stod(s, &used);
            if (used == s.size()) return Value(d);
        } catch (const std::exception&) {
        }
    }
    return def;
}
Value f_abs(Renderer&, const Value& v, Args&) {
    if (v.kind() == Kind::floating) return Value(std::fabs(v.number()));
    if (v.is_number()) return Value(v.integer() < 0 ? -v.integer() : v.integer());
    throw RenderError(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}
Value f_round(Renderer&, const Value& v, Args& a) {
    const int64_t precision = int_of(arg(a, 0, "precision", Value(int64_t(0))), "precision");
    const std::string method = arg(a, 1, "method", Value("common")).to_str();
    if (!v.is_number())
        throw RenderError(fmt::format("type {} doesn't define __round__ method", v.type_name()));
    const double scale = std::pow(10.0, double(precision));
    const double x = v.number() * scale;
    double r;
    if (method == "common")
        r = std::nearbyint(x);
    else if (method == "ceil")
        r = std::ceil(x);
    else if (method == "floor")
        r = std::floor(x);
    else
        throw RenderError("method must be common, ceil or floor");
    return Value(r / scale);
}
Value f_attr(Renderer& r, const Value& v, Args& a) {
    return r.getattr(v, arg(a, 0, "name").to_str());
}
Value f_pprint(Renderer&, const Value& v, Args&) {
    return Value(v.repr());
}
Value f_center(Renderer&, const Value& v, Args& a) {
    Args c;
    c.positional.push_back(arg(a, 0, "width", Value(int64_t(80))));
    return call_method(Value(v.to_str()), "center", c);
}
Value f_wordcount(Renderer&, const Value& v, Args&) {
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : utf8_decode(v.to_str())) {
        const bool w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '_' || c > 0x7f;
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value(n);
}
Value f_format(Renderer&, const Value& v, Args& a) {
    if (!a.keywords.empty() && !a.positional.empty())
        throw RenderError("can't handle positional and keyword arguments at the same time");
    return binary_op("%", Value(v.to_str()), Value(a.positional, true));
}

// Sort key comparison with jinja2's case_sensitive=False default (strings lower-cased).
bool sort_less(const Value& a, const Value& b, bool case_sensitive) {
    if (!case_sensitive && a.is_string() && b.is_string())
        return values_less(Value(py_case(a.str(), 0)), Value(py_case(b.str(), 0)));
    return values_less(a, b);
}

Value f_sort(Renderer& r, const Value& v, Args& a) {
    const bool reverse = arg(a, 0, "reverse", Value(false)).truthy();
    const bool case_sensitive = arg(a, 1, "case_sensitive", Value(false)).truthy();
    const Value attribute = arg(a, 2, "attribute", Value::none());
    List items = v.iterate();
    std::vector<std::pair<Value, Value>> keyed;
    for (auto& item : items)
        keyed.emplace_back(attribute.is_none() ? item : get_path(r, item, attribute), item);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        return reverse ? sort_less(y.first, x.first, case_sensitive)
                       : sort_less(x.first, y.first, case_sensitive);
    });
    List out;
    for (auto& [k, item] : keyed) out.push_back(std::move(item));
    return Value(std::move(out));
}
Value f_dictsort(Renderer&, const Value& v, Args& a) {
    const bool case_sensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
    const std::string by = arg(a, 1, "by", Value("key")).to_str();
    const bool reverse = arg(a, 2, "reverse", Value(false)).truthy();
    if (!v.is_dict()) throw RenderError("You can only sort by either \"key\" or \"value\"");
    List items;
    for (const auto& [k, val] : v.dict().items) items.emplace_back(List{Value(k), val}, true);
    const size_t pos = by == "value" ? 1 : 0;
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        return reverse ? sort_less(y.list()[pos], x.list()[pos], case_sensitive)
                       : sort_less(x.list()[pos], y.list()[pos], case_sensitive);
    });
    return Value(std::move(items));
}
Value f_unique(Renderer& r, const Value& v, Args& a) {
    const bool case_sensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
    const Value attribute = arg(a, 1, "attribute", Value::none());
    List out, seen;
    for (const auto& item : v.iterate()) {
        Value key = attribute.is_none() ? item : get_path(r, item, attribute);
        if (!case_sensitive && key.is_string()) key = Value(py_case(key.str(), 0));
        bool dup = false;
        for (const auto& s : seen) dup |= values_equal(s, key);
        if (!dup) {
            seen.push_back(key);
            out.push_back(item);
        }
    }
    return Value(std::move(out));
}
Value min_max(Renderer& r, const Value& v, Args& a, bool want_max) {
    const bool case_sensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
    const Value attribute = arg(a, 1, "attribute", Value::none());
    const List items = v.iterate();
    if (items.empty())
        return Value::undefined(fmt::format("No aggregated item, sequence was empty."));
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
        const Value x = attribute.is_none() ? items[i] : get_path(r, items[i], attribute);
        const Value b = attribute.is_none() ? items[best] : get_path(r, items[best], attribute);
        if (want_max ? sort_less(b, x, case_sensitive) : sort_less(x, b, case_sensitive)) best = i;
    }
    return items[best];
}
Value f_min(Renderer& r, const Value& v, Args& a) {
    return min_max(r, v, a, false);
}
Value f_max(Renderer& r, const Value& v, Args& a) {
    return min_max(r, v, a, true);
}
Value f_sum(Renderer& r, const Value& v, Args& a) {
    const Value attribute = arg(a, 0, "attribute", Value::none());
    Value total = arg(a, 1, "start", Value(int64_t(0)));
    for (const auto& item : v.iterate())
        total = binary_op("+", total, attribute.is_none() ? item : get_path(r, item, attribute));
    return total;
}
Value f_batch(Renderer&, const Value& v, Args& a) {
    const int64_t n = int_of(arg(a, 0, "linecount"), "linecount");
    if (n <= 0) throw RenderError("batch size must be positive");
    const Value fill = arg(a, 1, "fill_with", Value::none());
    List out, cur;
    for (const auto& item : v.iterate()) {
        cur.push_back(item);
        if (int64_t(cur.size()) == n) {
            out.emplace_back(std::move(cur));
            cur = List{};
        }
    }
    if (!cur.empty()) {
        if (!fill.is_none())
            while (int64_t(cur.size()) < n) cur.push_back(fill);
        out.emplace_back(std::move(cur));
    }
    return Value(std::move(out));
}
Value f_truncate(Renderer&, const Value& v, Args& a) {
    const int64_t length = int_of(arg(a, 0, "length", Value(int64_t(255))), "length");
    const bool killwords = arg(a, 1, "killwords", Value(false)).truthy();
    const std::string end = arg(a, 2, "end", Value("...")).to_str();
    const Value leeway_v = arg(a, 3, "leeway", Value::none());
    const int64_t leeway = leeway_v.is_none() ? 5 : int_of(leeway_v, "leeway");
    const std::u32string s = utf8_decode(v.to_str());
    const int64_t end_len = int64_t(utf8_decode(end).size());
    if (int64_t(s.size()) <= length + leeway) return Value(v.to_str());
    const size_t cut = size_t(std::max<int64_t>(0, length - end_len));
    if (killwords) return Value(utf8_encode(s.substr(0, cut)) + end);
    std::u32string head = s.substr(0, cut);
    const size_t sp = head.rfind(U' ');
    if (sp != std::u32string::npos) head = head.substr(0, sp);
    return Value(utf8_encode(head) + end);
}

struct NamedFilter {
    const char* name;
    FilterFn fn;
};
const NamedFilter k_filters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_escape},
    {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"pprint", f_pprint},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(const std::string& name) {
    for (const auto& f : k_filters)
        if (name == f.name) return f.fn;
    return nullptr;
}

}  // namespace encore::jinja
