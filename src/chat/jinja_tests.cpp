// Jinja's tests (`x is defined`, `is string`, `is divisibleby 3`, `is eq`, ...) as jinja2 3.1
// defines them, looked up by name when a template is parsed.
#include <fmt/format.h>

#include "chat/jinja_builtins.h"
#include "chat/jinja_renderer.h"

namespace encore::jinja {

std::string py_case(const std::string& s, int mode);  // jinja_filters.cpp

namespace {

Value arg(Args& a, size_t i, const char* name, Value def = Value()) {
    return a.has(i, name) ? a.get(i, name) : def;
}

// ---- tests ----
bool t_defined(Renderer&, const Value& v, Args&) {
    return !v.is_undefined();
}
bool t_undefined(Renderer&, const Value& v, Args&) {
    return v.is_undefined();
}
bool t_none(Renderer&, const Value& v, Args&) {
    return v.is_none();
}
bool t_boolean(Renderer&, const Value& v, Args&) {
    return v.kind() == Kind::boolean;
}
bool t_true(Renderer&, const Value& v, Args&) {
    return v.kind() == Kind::boolean && v.integer();
}
bool t_false(Renderer&, const Value& v, Args&) {
    return v.kind() == Kind::boolean && !v.integer();
}
bool t_integer(Renderer&, const Value& v, Args&) {
    return v.kind() == Kind::integer;
}
bool t_float(Renderer&, const Value& v, Args&) {
    return v.kind() == Kind::floating;
}
bool t_number(Renderer&, const Value& v, Args&) {
    return v.is_number();
}
bool t_string(Renderer&, const Value& v, Args&) {
    return v.is_string();
}
bool t_mapping(Renderer&, const Value& v, Args&) {
    return v.is_dict() && !v.dict().is_namespace;
}
bool t_iterable(Renderer&, const Value& v, Args&) {
    return v.is_undefined() || v.is_string() || v.is_list() ||
           (v.is_dict() && !v.dict().is_namespace);
}
bool t_sequence(Renderer& r, const Value& v, Args& a) {
    return t_iterable(r, v, a);
}
bool t_callable(Renderer&, const Value& v, Args&) {
    return v.kind() == Kind::function;
}
bool t_escaped(Renderer&, const Value&, Args&) {
    return false;
}
int64_t int_for_test(const Value& v) {
    if (v.is_undefined()) throw RenderError(v.str());
    if (v.kind() == Kind::floating) return int64_t(v.number());
    if (!v.is_number())
        throw RenderError(fmt::format("not all arguments converted during string formatting"));
    return v.integer();
}
bool t_even(Renderer&, const Value& v, Args&) {
    return int_for_test(v) % 2 == 0;
}
bool t_odd(Renderer&, const Value& v, Args&) {
    return int_for_test(v) % 2 != 0;
}
bool t_divisibleby(Renderer&, const Value& v, Args& a) {
    const int64_t n = int_for_test(arg(a, 0, "num"));
    if (n == 0) throw RenderError("integer division or modulo by zero");
    return int_for_test(v) % n == 0;
}
bool t_eq(Renderer&, const Value& v, Args& a) {
    return values_equal(v, arg(a, 0, "other"));
}
bool t_ne(Renderer&, const Value& v, Args& a) {
    return !values_equal(v, arg(a, 0, "other"));
}
bool t_lt(Renderer&, const Value& v, Args& a) {
    return values_less(v, arg(a, 0, "other"));
}
bool t_gt(Renderer&, const Value& v, Args& a) {
    return values_less(arg(a, 0, "other"), v);
}
bool t_le(Renderer&, const Value& v, Args& a) {
    return !values_less(arg(a, 0, "other"), v);
}
bool t_ge(Renderer&, const Value& v, Args& a) {
    return !values_less(v, arg(a, 0, "other"));
}
bool t_in(Renderer&, const Value& v, Args& a) {
    return contains(arg(a, 0, "seq"), v);
}
bool t_lower(Renderer&, const Value& v, Args&) {
    const std::string s = v.to_str();
    return py_case(s, 0) == s;
}
bool t_upper(Renderer&, const Value& v, Args&) {
    const std::string s = v.to_str();
    return py_case(s, 1) == s;
}
bool t_sameas(Renderer&, const Value& v, Args& a) {
    const Value o = arg(a, 0, "other");
    if (v.kind() != o.kind()) return false;
    if (v.is_none() || v.kind() == Kind::boolean) return values_equal(v, o);
    if (v.is_dict()) return v.dict_ptr() == o.dict_ptr();
    return false;
}
bool t_filter(Renderer&, const Value& v, Args&) {
    return v.is_string() && find_filter(v.str()) != nullptr;
}
bool t_test(Renderer&, const Value& v, Args&) {
    return v.is_string() && find_test(v.str()) != nullptr;
}

struct NamedTest {
    const char* name;
    TestFn fn;
};
const NamedTest k_tests[] = {
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"==", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {">=", t_ge},
    {"gt", t_gt},
    {">", t_gt},
    {"greaterthan", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"<=", t_le},
    {"lower", t_lower},
    {"lt", t_lt},
    {"<", t_lt},
    {"lessthan", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"!=", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"test", t_test},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

}  // namespace

TestFn find_test(const std::string& name) {
    for (const auto& t : k_tests)
        if (name == t.name) return t.fn;
    return nullptr;
}

}  // namespace encore::jinja
