// Python semantics of Jinja values: truthiness, equality and ordering, str()/repr(), the
// json.dumps that transformers' tojson calls, and UTF-8 <-> code points.
#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace encore::jinja {

using value_t = nlohmann::json::value_t;

Value Value::function(std::string name, Function f) {
    Value v;
    v.kind_ = Kind::function;
    v.str_ = std::move(name);
    v.fn_ = std::make_shared<Function>(std::move(f));
    return v;
}

template <typename Json>
static Value value_from_json(const Json& j) {
    switch (j.type()) {
        case value_t::null:
            return Value::none();
        case value_t::boolean:
            return Value(j.template get<bool>());
        case value_t::number_integer:
            return Value(j.template get<int64_t>());
        case value_t::number_unsigned:
            return Value(int64_t(j.template get<uint64_t>()));
        case value_t::number_float:
            return Value(j.template get<double>());
        case value_t::string:
            return Value(j.template get<std::string>());
        case value_t::array: {
            List l;
            l.reserve(j.size());
            for (const auto& e : j) l.push_back(value_from_json(e));
            return Value(std::move(l));
        }
        case value_t::object: {
            auto d = std::make_shared<Dict>();
            d->items.reserve(j.size());
            for (auto it = j.begin(); it != j.end(); ++it)
                d->items.emplace_back(it.key(), value_from_json(it.value()));
            return Value(std::move(d));
        }
        default:
            return Value::none();
    }
}

Value Value::from_json(const nlohmann::json& j) { return value_from_json(j); }
Value Value::from_json(const nlohmann::ordered_json& j) { return value_from_json(j); }

const Value* Dict::find(const std::string& key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}

void Dict::set(const std::string& key, Value v) {
    for (auto& [k, old] : items)
        if (k == key) {
            old = std::move(v);
            return;
        }
    items.emplace_back(key, std::move(v));
}

Value Args::get(size_t i, const char* name) const {
    if (i < positional.size()) return positional[i];
    for (const auto& [k, v] : keywords)
        if (k == name) return v;
    return Value();
}

bool Args::has(size_t i, const char* name) const {
    if (i < positional.size()) return true;
    for (const auto& [k, v] : keywords)
        if (k == name) return true;
    return false;
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::undefined:
        case Kind::none:
            return false;
        case Kind::boolean:
        case Kind::integer:
            return int_ != 0;
        case Kind::floating:
            return float_ != 0;
        case Kind::string:
            return !str_.empty();
        case Kind::list:
            return !list_->empty();
        case Kind::dict:
            return !dict_->items.empty();
        case Kind::function:
            return true;
    }
    return false;
}

const char* Value::type_name() const {
    switch (kind_) {
        case Kind::undefined:
            return "Undefined";
        case Kind::none:
            return "NoneType";
        case Kind::boolean:
            return "bool";
        case Kind::integer:
            return "int";
        case Kind::floating:
            return "float";
        case Kind::string:
            return "str";
        case Kind::list:
            return tuple_ ? "tuple" : "list";
        case Kind::dict:
            return dict_->is_namespace ? "Namespace" : "dict";
        case Kind::function:
            return "function";
    }
    return "?";
}

std::string python_float_repr(double f) {
    if (std::isnan(f)) return "nan";
    if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
    std::string sci(buf, r.ptr);  // d.ddde[+-]XX, shortest round trip
    const size_t e = sci.find('e');
    const int exp = std::stoi(sci.substr(e + 1));
    std::string mant = sci.substr(0, e);
    const bool neg = mant[0] == '-';
    if (neg) mant.erase(0, 1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    std::string out;
    if (exp < -4 || exp >= 16) {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
    } else if (exp < 0) {
        out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    } else {
        if (int(digits.size()) <= exp + 1) {
            out = digits + std::string(size_t(exp + 1 - int(digits.size())), '0') + ".0";
        } else {
            out = digits.substr(0, size_t(exp + 1)) + "." + digits.substr(size_t(exp + 1));
        }
    }
    return neg ? "-" + out : out;
}

static std::string string_repr(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char q = has_single && !has_double ? '"' : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == q || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += char(c);
    }
    out += q;
    return out;
}

std::string Value::to_str() const {
    switch (kind_) {
        case Kind::undefined:
            return "";
        case Kind::string:
            return str_;
        default:
            return repr();
    }
}

std::string Value::repr() const {
    switch (kind_) {
        case Kind::undefined:
            return "";
        case Kind::none:
            return "None";
        case Kind::boolean:
            return int_ ? "True" : "False";
        case Kind::integer:
            return std::to_string(int_);
        case Kind::floating:
            return python_float_repr(float_);
        case Kind::string:
            return string_repr(str_);
        case Kind::list: {
            std::string out = tuple_ ? "(" : "[";
            for (size_t i = 0; i < list_->size(); ++i) {
                if (i) out += ", ";
                out += (*list_)[i].repr();
            }
            if (tuple_ && list_->size() == 1) out += ",";
            out += tuple_ ? ")" : "]";
            return out;
        }
        case Kind::dict: {
            if (dict_->is_namespace) return "<Namespace>";
            std::string out = "{";
            bool first = true;
            for (const auto& [k, v] : dict_->items) {
                if (!first) out += ", ";
                first = false;
                out += string_repr(k) + ": " + v.repr();
            }
            return out + "}";
        }
        case Kind::function:
            return "<function " + str_ + ">";
    }
    return "";
}

nlohmann::json Value::to_json() const {
    switch (kind_) {
        case Kind::none:
            return nullptr;
        case Kind::boolean:
            return bool(int_);
        case Kind::integer:
            return int_;
        case Kind::floating:
            return float_;
        case Kind::string:
            return str_;
        case Kind::list: {
            nlohmann::json a = nlohmann::json::array();
            for (const auto& e : *list_) a.push_back(e.to_json());
            return a;
        }
        case Kind::dict: {
            if (!dict_->is_namespace) {
                // nlohmann's object sorts keys; keep Python's order with an ordered wrapper.
                nlohmann::json a = nlohmann::json::array();
                for (const auto& [k, v] : dict_->items)
                    a.push_back(nlohmann::json::array({k, v.to_json()}));
                return nlohmann::json::object({{"\x01dict", a}});
            }
            break;
        }
        default:
            break;
    }
    throw RenderError(fmt::format("Object of type {} is not JSON serializable", type_name()));
}

List Value::iterate() const {
    switch (kind_) {
        case Kind::undefined:
            return {};
        case Kind::list:
            return *list_;
        case Kind::dict: {
            List keys;
            for (const auto& [k, v] : dict_->items) keys.emplace_back(k);
            return keys;
        }
        case Kind::string: {
            List chars;
            const std::u32string u = utf8_decode(str_);
            for (char32_t c : u) chars.emplace_back(utf8_encode(std::u32string(1, c)));
            return chars;
        }
        default:
            throw RenderError(fmt::format("'{}' object is not iterable", type_name()));
    }
}

bool values_equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind() == Kind::floating || b.kind() == Kind::floating)
            return a.number() == b.number();
        return a.integer() == b.integer();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Kind::undefined:
        case Kind::none:
            return true;
        case Kind::string:
            return a.str() == b.str();
        case Kind::list: {
            if (a.list().size() != b.list().size()) return false;
            for (size_t i = 0; i < a.list().size(); ++i)
                if (!values_equal(a.list()[i], b.list()[i])) return false;
            return true;
        }
        case Kind::dict: {
            if (a.dict_ptr() == b.dict_ptr()) return true;
            if (a.dict().is_namespace || b.dict().is_namespace) return false;
            if (a.dict().items.size() != b.dict().items.size()) return false;
            for (const auto& [k, v] : a.dict().items) {
                const Value* o = b.dict().find(k);
                if (!o || !values_equal(v, *o)) return false;
            }
            return true;
        }
        default:
            return false;
    }
}

bool values_less(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind() == Kind::floating || b.kind() == Kind::floating)
            return a.number() < b.number();
        return a.integer() < b.integer();
    }
    if (a.is_string() && b.is_string()) return utf8_decode(a.str()) < utf8_decode(b.str());
    if (a.is_list() && b.is_list()) {
        const List &x = a.list(), &y = b.list();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (values_less(x[i], y[i])) return true;
            if (values_less(y[i], x[i])) return false;
        }
        return x.size() < y.size();
    }
    if (a.is_undefined() || b.is_undefined())
        throw RenderError(a.is_undefined() ? a.str() : b.str());
    throw RenderError(fmt::format("'<' not supported between instances of '{}' and '{}'",
                                  a.type_name(), b.type_name()));
}

static void json_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20)
                    out += fmt::format("\\u{:04x}", c);
                else
                    out += char(c);
        }
    }
    out += '"';
}

static void dumps(std::string& out, const nlohmann::json& j, int indent, int level,
                  const std::string& item_sep, const std::string& key_sep, bool sort_keys) {
    auto newline = [&](int lvl) {
        if (indent >= 0) {
            out += '\n';
            out.append(size_t(indent * lvl), ' ');
        }
    };
    switch (j.type()) {
        case value_t::null:
            out += "null";
            return;
        case value_t::boolean:
            out += j.template get<bool>() ? "true" : "false";
            return;
        case value_t::number_integer:
            out += std::to_string(j.template get<int64_t>());
            return;
        case value_t::number_unsigned:
            out += std::to_string(j.template get<uint64_t>());
            return;
        case value_t::number_float: {
            const double f = j.template get<double>();
            if (std::isnan(f))
                out += "NaN";
            else if (std::isinf(f))
                out += f < 0 ? "-Infinity" : "Infinity";
            else
                out += python_float_repr(f);
            return;
        }
        case value_t::string:
            json_string(out, j.get_ref<const std::string&>());
            return;
        case value_t::array: {
            if (j.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < j.size(); ++i) {
                if (i) out += item_sep;
                newline(level + 1);
                dumps(out, j[i], indent, level + 1, item_sep, key_sep, sort_keys);
            }
            newline(level);
            out += ']';
            return;
        }
        case value_t::object: {
            // Ordered dicts come as {"\x01dict": [[key, value], ...]} (see Value::to_json).
            std::vector<std::pair<std::string, const nlohmann::json*>> items;
            if (j.size() == 1 && j.contains("\x01dict")) {
                for (const auto& kv : j["\x01dict"])
                    items.emplace_back(kv[0].get<std::string>(), &kv[1]);
            } else {
                for (auto it = j.begin(); it != j.end(); ++it)
                    items.emplace_back(it.key(), &it.value());
            }
            if (sort_keys)
                std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
                    return utf8_decode(a.first) < utf8_decode(b.first);
                });
            if (items.empty()) {
                out += "{}";
                return;
            }
            out += '{';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += item_sep;
                newline(level + 1);
                json_string(out, items[i].first);
                out += key_sep;
                dumps(out, *items[i].second, indent, level + 1, item_sep, key_sep, sort_keys);
            }
            newline(level);
            out += '}';
            return;
        }
        default:
            out += "null";
            return;
    }
}

std::string json_dumps(const nlohmann::json& j, int indent, const std::string& item_sep,
                       const std::string& key_sep, bool sort_keys) {
    std::string out;
    dumps(out, j, indent, 0, item_sep, key_sep, sort_keys);
    return out;
}

std::u32string utf8_decode(const std::string& s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = s[i];
        int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        if (i + n > s.size()) n = 1;
        char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
        for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        out += cp;
        i += size_t(n);
    }
    return out;
}

std::string utf8_encode(const std::u32string& s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) {
        if (c < 0x80)
            out += char(c);
        else if (c < 0x800) {
            out += char(0xc0 | (c >> 6));
            out += char(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            out += char(0xe0 | (c >> 12));
            out += char(0x80 | ((c >> 6) & 0x3f));
            out += char(0x80 | (c & 0x3f));
        } else {
            out += char(0xf0 | (c >> 18));
            out += char(0x80 | ((c >> 12) & 0x3f));
            out += char(0x80 | ((c >> 6) & 0x3f));
            out += char(0x80 | (c & 0x3f));
        }
    }
    return out;
}

bool is_py_space(char32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

}  // namespace encore::jinja
