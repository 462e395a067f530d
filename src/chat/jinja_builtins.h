// The built-in names of the Jinja a chat template sees: filters, tests, the methods of str, dict
// and list that templates call (`.strip()`, `.get()`, `.items()` ...), and the global functions
// (range, namespace, dict, raise_exception, strftime_now, ...).
#pragma once

#include <string>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace encore::jinja {

FilterFn find_filter(const std::string& name);  // null if unknown
TestFn find_test(const std::string& name);      // null if unknown

// Whether `self.name` is a method of a str, dict or list; call_method runs it.
bool has_method(const Value& self, const std::string& name);
Value call_method(const Value& self, const std::string& name, Args& args);

// The globals transformers' environment provides.
void add_globals(Dict& globals);

// Python operators on values (RenderError with Python's message on a type error).
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // `item in container`

}  // namespace encore::jinja
