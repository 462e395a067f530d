// Jinja values: the Python objects a chat template sees (None, bool, int, float, str, list,
// dict, callables, namespace(), Undefined), with Python's semantics where a template can observe
// them: truthiness, ==, ordering, str() and repr() of every kind, json.dumps for tojson. Lists
// and dicts are shared (immutable to templates, as in jinja2's ImmutableSandboxedEnvironment);
// only a namespace() is written to, by {% set ns.x = ... %}. Strings are UTF-8; lengths, indices
// and slices count code points as Python does.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace encore::jinja {

// A render-time error (jinja2's TemplateError family); the renderer adds origin and line.
struct RenderError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// raise_exception(msg) from the template.
struct RaisedError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Value;
using List = std::vector<Value>;
struct Dict;
struct Args;
using Function = std::function<Value(Args&)>;

enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, function };

class Value {
  public:
    Value() = default;  // Undefined
    // An Undefined; `message` is the UndefinedError raised when it is used ("'x' is undefined").
    static Value undefined(std::string message) {
        Value v;
        v.str_ = std::move(message);
        return v;
    }
    static Value none() {
        Value v;
        v.kind_ = Kind::none;
        return v;
    }
    Value(bool b) : kind_(Kind::boolean), int_(b) {}
    Value(int64_t i) : kind_(Kind::integer), int_(i) {}
    Value(int i) : kind_(Kind::integer), int_(i) {}
    Value(double f) : kind_(Kind::floating), float_(f) {}
    Value(std::string s) : kind_(Kind::string), str_(std::move(s)) {}
    Value(const char* s) : kind_(Kind::string), str_(s) {}
    Value(List l, bool tuple = false)
        : kind_(Kind::list), tuple_(tuple), list_(std::make_shared<List>(std::move(l))) {}
    Value(std::shared_ptr<Dict> d) : kind_(Kind::dict), dict_(std::move(d)) {}
    static Value function(std::string name, Function f);
    static Value from_json(const nlohmann::json& j);  // keys sorted (nlohmann::json's order)
    static Value from_json(const nlohmann::ordered_json& j);  // keys in document order

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::undefined; }
    bool is_none() const { return kind_ == Kind::none; }
    bool is_string() const { return kind_ == Kind::string; }
    bool is_list() const { return kind_ == Kind::list; }
    bool is_dict() const { return kind_ == Kind::dict; }
    bool is_number() const {
        return kind_ == Kind::integer || kind_ == Kind::floating || kind_ == Kind::boolean;
    }
    bool is_tuple() const { return tuple_; }

    const std::string& str() const { return str_; }  // string value, or undefined's message
    int64_t integer() const { return int_; }
    double number() const { return kind_ == Kind::floating ? float_ : double(int_); }
    const List& list() const { return *list_; }
    Dict& dict() const { return *dict_; }
    const std::shared_ptr<Dict>& dict_ptr() const { return dict_; }
    const Function& fn() const { return *fn_; }

    bool truthy() const;
    std::string to_str() const;      // Python str(); Undefined -> ""
    std::string repr() const;        // Python repr()
    nlohmann::json to_json() const;  // RenderError for what json.dumps refuses
    // Elements when iterated: a list's items, a dict's keys, a string's characters.
    List iterate() const;
    const char* type_name() const;

  private:
    Kind kind_ = Kind::undefined;
    bool tuple_ = false;
    int64_t int_ = 0;
    double float_ = 0;
    std::string str_;
    std::shared_ptr<List> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<Function> fn_;
};

// A dict with insertion order (Python 3.7+); keys are strings (all a chat template meets).
struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    bool is_namespace = false;
    const Value* find(const std::string& key) const;
    void set(const std::string& key, Value v);
};

struct Args {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keywords;
    // The argument at position i or named `name` (Undefined when absent); `name` is consumed.
    Value get(size_t i, const char* name) const;
    bool has(size_t i, const char* name) const;
};

bool values_equal(const Value& a, const Value& b);
// Python's a < b for numbers, strings and lists; RenderError otherwise.
bool values_less(const Value& a, const Value& b);

// json.dumps(v, ensure_ascii=False, indent, separators, sort_keys).
std::string json_dumps(const nlohmann::json& j, int indent, const std::string& item_sep,
                       const std::string& key_sep, bool sort_keys);
std::string python_float_repr(double f);

// UTF-8 helpers: code points of a string and back.
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
bool is_py_space(char32_t c);

}  // namespace encore::jinja
