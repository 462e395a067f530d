// The Jinja renderer (see jinja_renderer.h): statement execution, expression evaluation, and
// jinja2's attribute/item lookup (`a.b` tries a method of str/dict/list, then the key; `a['b']`
// tries the key first), with ImmutableSandboxedEnvironment's refusal of methods that modify a
// list or dict.
#include "chat/jinja_renderer.h"

#include <fmt/format.h>

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace encore::jinja {

namespace {

constexpr int k_max_depth = 200;  // macro recursion bound (jinja2 would hit Python's limit)

std::string object_type(const Value& v) {
    if (v.is_none()) return "None";
    if (v.is_dict() && v.dict().is_namespace) return "jinja2.utils.Namespace object";
    return std::string(v.type_name()) + " object";
}

Value undefined_attr(const Value& obj, const std::string& name) {
    return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type(obj), name));
}

Value undefined_element(const Value& obj, const Value& key) {
    return Value::undefined(fmt::format("{} has no element {}", object_type(obj), key.repr()));
}

bool is_unsafe_method(const Value& obj, const std::string& name) {
    static const char* list_methods[] = {"append", "clear",  "extend",  "insert",
                                         "pop",    "remove", "reverse", "sort"};
    static const char* dict_methods[] = {"clear", "pop", "popitem", "setdefault", "update"};
    if (obj.is_list()) {
        for (const char* m : list_methods)
            if (name == m) return true;
    } else if (obj.is_dict() && !obj.dict().is_namespace) {
        for (const char* m : dict_methods)
            if (name == m) return true;
    }
    return false;
}

Value bound_method(const Value& obj, const std::string& name) {
    return Value::function(name, [obj, name](Args& args) { return call_method(obj, name, args); });
}

int64_t slice_index(const Value& v, const char* what) {
    if (v.kind() == Kind::integer || v.kind() == Kind::boolean) return v.integer();
    throw RenderError("slice indices must be integers or None or have an __index__ method");
    (void)what;
}

}  // namespace

const Value* Scope::find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent)
        for (auto it = s->vars.rbegin(); it != s->vars.rend(); ++it)
            if (it->first == name) return &it->second;
    return nullptr;
}

void Scope::set(const std::string& name, Value v) {
    for (auto& [k, old] : vars)
        if (k == name) {
            old = std::move(v);
            return;
        }
    vars.emplace_back(name, std::move(v));
}

Template::Template(const std::string& source) : body_(parse(lex(source))) {}

std::string Template::render(const Dict& variables, int* error_line) const {
    Renderer r(variables);
    std::string out;
    try {
        r.run(body_, out);
    } catch (...) {
        if (error_line) *error_line = r.line();
        throw;
    }
    return out;
}

Renderer::Renderer(const Dict& variables) {
    globals_.vars = variables.items;
}

void Renderer::run(const Body& body, std::string& out) {
    out_ = &out;
    Scope top;
    top.parent = &globals_;
    exec(body, top);
}

Renderer::Flow Renderer::exec(const Body& body, Scope& scope) {
    for (const auto& s : body) {
        const Flow f = exec_stmt(*s, scope);
        if (f != Flow::normal) return f;
    }
    return Flow::normal;
}

std::string Renderer::capture(const Body& body, Scope& scope) {
    std::string text;
    std::string* saved = out_;
    out_ = &text;
    try {
        exec(body, scope);
    } catch (...) {
        out_ = saved;
        throw;
    }
    out_ = saved;
    return text;
}

Renderer::Flow Renderer::exec_stmt(const Stmt& s, Scope& scope) {
    line_ = s.line;
    switch (s.kind) {
        case StmtKind::data:
            *out_ += s.text;
            return Flow::normal;
        case StmtKind::print: {
            const Value v = eval(*s.expr, scope);
            if (v.is_string())
                *out_ += v.str();
            else
                *out_ += v.to_str();
            return Flow::normal;
        }
        case StmtKind::if_:
            for (size_t i = 0; i < s.conditions.size(); ++i) {
                line_ = s.conditions[i]->line;
                if (eval(*s.conditions[i], scope).truthy()) return exec(s.bodies[i], scope);
            }
            return exec(s.else_body, scope);
        case StmtKind::for_:
            return exec_for(s, scope);
        case StmtKind::set:
            assign(*s.target, eval(*s.expr, scope), scope);
            return Flow::normal;
        case StmtKind::set_block: {
            Value v(capture(s.body, scope));
            if (s.filter) v = eval_filter(*s.filter, scope, &v);
            assign(*s.target, v, scope);
            return Flow::normal;
        }
        case StmtKind::macro:
            exec_macro(s, scope);
            return Flow::normal;
        case StmtKind::call_block: {
            // The macro gets `caller`, a function rendering this block's body.
            const Stmt* stmt = &s;
            auto defining = closure_scope(scope);
            const Value caller = Value::function("caller", [this, stmt, defining](Args& args) {
                Scope caller_scope;
                caller_scope.parent = defining();
                for (size_t i = 0; i < stmt->caller_params.size(); ++i)
                    caller_scope.set(stmt->caller_params[i],
                                     args.get(i, stmt->caller_params[i].c_str()));
                return Value(capture(stmt->body, caller_scope));
            });
            const Value fn = eval(*s.expr->items[0], scope);
            Args args;
            collect_args(*s.expr, 1, scope, args);
            args.keywords.emplace_back("caller", caller);
            *out_ += call(fn, args).to_str();
            return Flow::normal;
        }
        case StmtKind::filter: {
            Scope inner;
            inner.parent = &scope;
            Value v(capture(s.body, inner));
            *out_ += eval_filter(*s.filter, scope, &v).to_str();
            return Flow::normal;
        }
        case StmtKind::with: {
            Scope inner;
            inner.parent = &scope;
            for (const auto& [name, expr] : s.params) inner.set(name, eval(*expr, scope));
            return exec(s.body, inner);
        }
        case StmtKind::break_:
            return Flow::break_;
        case StmtKind::continue_:
            return Flow::continue_;
        case StmtKind::generation:
            return exec(s.body, scope);
    }
    return Flow::normal;
}

Renderer::Flow Renderer::exec_for(const Stmt& s, Scope& scope) {
    const Value iterable = eval(*s.expr, scope);
    if (iterable.is_none() || iterable.is_number() || iterable.kind() == Kind::function)
        throw RenderError(fmt::format("'{}' object is not iterable", iterable.type_name()));
    List items = iterable.iterate();
    if (s.condition) {
        List kept;
        Scope probe;
        probe.parent = &scope;
        for (auto& item : items) {
            probe.vars.clear();
            assign(*s.target, item, probe);
            if (eval(*s.condition, probe).truthy()) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    if (items.empty()) {
        Scope inner;
        inner.parent = &scope;
        exec(s.else_body, inner);
        return Flow::normal;
    }
    const int64_t n = int64_t(items.size());
    Scope iteration;
    iteration.parent = &scope;
    for (int64_t i = 0; i < n; ++i) {
        iteration.vars.clear();
        assign(*s.target, items[size_t(i)], iteration);
        auto loop = std::make_shared<Dict>();
        loop->items.reserve(12);
        loop->items.emplace_back("index0", Value(i));
        loop->items.emplace_back("index", Value(i + 1));
        loop->items.emplace_back("revindex0", Value(n - i - 1));
        loop->items.emplace_back("revindex", Value(n - i));
        loop->items.emplace_back("first", Value(i == 0));
        loop->items.emplace_back("last", Value(i == n - 1));
        loop->items.emplace_back("length", Value(n));
        loop->items.emplace_back("depth0", Value(int64_t(0)));
        loop->items.emplace_back("depth", Value(int64_t(1)));
        if (i > 0) loop->items.emplace_back("previtem", items[size_t(i - 1)]);
        if (i + 1 < n) loop->items.emplace_back("nextitem", items[size_t(i + 1)]);
        loop->items.emplace_back("cycle", Value::function("cycle", [i](Args& args) {
                                     if (args.positional.empty())
                                         throw RenderError("no items for cycling given");
                                     return args.positional[size_t(i) % args.positional.size()];
                                 }));
        loop->is_namespace = false;
        iteration.vars.emplace_back("loop", Value(std::move(loop)));
        const Flow f = exec(s.body, iteration);
        if (f == Flow::break_) break;
    }
    return Flow::normal;
}

std::function<const Scope*()> Renderer::closure_scope(Scope& scope) {
    if (!scope.alive) scope.alive = std::make_shared<bool>(true);
    return [alive = scope.alive, scope_ptr = &scope, globals = &globals_]() -> const Scope* {
        return *alive ? scope_ptr : globals;
    };
}

void Renderer::exec_macro(const Stmt& s, Scope& scope) {
    const Stmt* stmt = &s;
    auto defining = closure_scope(scope);
    scope.set(s.text, Value::function(s.text, [this, stmt, defining](Args& args) {
                  if (++depth_ > k_max_depth) {
                      depth_ = 0;
                      throw RenderError("maximum macro recursion depth exceeded");
                  }
                  Scope inner;
                  inner.parent = defining();
                  const auto& params = stmt->params;
                  if (args.positional.size() > params.size())
                      throw RenderError(fmt::format("macro '{}' takes not more than {} argument(s)",
                                                    stmt->text, params.size()));
                  for (size_t i = 0; i < params.size(); ++i) {
                      const auto& [name, def] = params[i];
                      if (args.has(i, name.c_str()))
                          inner.set(name, args.get(i, name.c_str()));
                      else if (def)
                          inner.set(name, eval(*def, inner));
                      else
                          inner.set(name, Value::undefined(fmt::format(
                                              "parameter '{}' was not provided", name)));
                  }
                  auto kwargs = std::make_shared<Dict>();
                  for (const auto& [k, v] : args.keywords) {
                      if (k == "caller") {
                          inner.set("caller", v);
                          continue;
                      }
                      bool is_param = false;
                      for (const auto& p : params) is_param |= p.first == k;
                      if (!is_param) kwargs->set(k, v);
                  }
                  inner.set("varargs", Value(List{}));
                  inner.set("kwargs", Value(kwargs));
                  const int saved_line = line_;
                  Value result(capture(stmt->body, inner));
                  line_ = saved_line;
                  --depth_;
                  return result;
              }));
}

void Renderer::assign(const Expr& target, const Value& v, Scope& scope) {
    if (target.kind == ExprKind::name) {
        scope.set(target.name, v);
    } else if (target.kind == ExprKind::tuple) {
        const List items = v.iterate();
        if (items.size() < target.items.size())
            throw RenderError(fmt::format("not enough values to unpack (expected {}, got {})",
                                          target.items.size(), items.size()));
        if (items.size() > target.items.size())
            throw RenderError(
                fmt::format("too many values to unpack (expected {})", target.items.size()));
        for (size_t i = 0; i < items.size(); ++i) assign(*target.items[i], items[i], scope);
    } else if (target.kind == ExprKind::ns_ref) {
        const Value* ns = scope.find(target.items[0]->name);
        if (!ns || !ns->is_dict() || !ns->dict().is_namespace)
            throw RenderError("cannot assign attribute on non-namespace object");
        ns->dict().set(target.name, v);
    }
}

Value Renderer::eval(const Expr& e, Scope& scope) {
    switch (e.kind) {
        case ExprKind::constant:
            return e.value;
        case ExprKind::name: {
            const Value* v = scope.find(e.name);
            if (v) return *v;
            return Value::undefined(fmt::format("'{}' is undefined", e.name));
        }
        case ExprKind::list:
        case ExprKind::tuple: {
            List items;
            items.reserve(e.items.size());
            for (const auto& i : e.items) items.push_back(eval(*i, scope));
            return Value(std::move(items), e.kind == ExprKind::tuple);
        }
        case ExprKind::dict: {
            auto d = std::make_shared<Dict>();
            for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
                const Value key = eval(*e.items[i], scope);
                if (!key.is_string())
                    throw RenderError("only string keys are supported in dict literals");
                d->set(key.str(), eval(*e.items[i + 1], scope));
            }
            return Value(std::move(d));
        }
        case ExprKind::getattr:
            return getattr(eval(*e.items[0], scope), e.name);
        case ExprKind::getitem: {
            const Value obj = eval(*e.items[0], scope);
            return getitem(obj, eval(*e.items[1], scope));
        }
        case ExprKind::slice: {
            const Value obj = eval(*e.items[0], scope);
            auto part = [&](size_t i) {
                return e.items[i] ? eval(*e.items[i], scope) : Value::none();
            };
            return slice(obj, part(1), part(2), part(3));
        }
        case ExprKind::call:
            return eval_call(e, scope);
        case ExprKind::filter:
            return eval_filter(e, scope, nullptr);
        case ExprKind::test: {
            line_ = e.line;
            const Value input = eval(*e.items[0], scope);
            if (!e.test) throw RenderError(fmt::format("No test named '{}' found.", e.name));
            Args args;
            collect_args(e, 1, scope, args);
            const bool r = e.test(*this, input, args);
            return Value(e.negated ? !r : r);
        }
        case ExprKind::not_:
            return Value(!eval(*e.items[0], scope).truthy());
        case ExprKind::neg:
        case ExprKind::pos: {
            const Value v = eval(*e.items[0], scope);
            if (v.is_undefined()) throw RenderError(v.str());
            if (!v.is_number())
                throw RenderError(fmt::format("bad operand type for unary {}: '{}'",
                                              e.kind == ExprKind::neg ? '-' : '+', v.type_name()));
            if (e.kind == ExprKind::pos) return v.kind() == Kind::boolean ? Value(v.integer()) : v;
            if (v.kind() == Kind::floating) return Value(-v.number());
            return Value(-v.integer());
        }
        case ExprKind::binary: {
            const Value a = eval(*e.items[0], scope);
            const Value b = eval(*e.items[1], scope);
            line_ = e.line;
            return binary_op(e.name, a, b);
        }
        case ExprKind::compare: {
            Value left = eval(*e.items[0], scope);
            for (size_t i = 0; i < e.ops.size(); ++i) {
                Value right = eval(*e.items[i + 1], scope);
                const std::string& op = e.ops[i];
                bool r;
                if (op == "==")
                    r = values_equal(left, right);
                else if (op == "!=")
                    r = !values_equal(left, right);
                else if (op == "<")
                    r = values_less(left, right);
                else if (op == ">")
                    r = values_less(right, left);
                else if (op == "<=")
                    r = values_less(left, right) || values_equal(left, right);
                else if (op == ">=")
                    r = values_less(right, left) || values_equal(left, right);
                else if (op == "in")
                    r = contains(right, left);
                else
                    r = !contains(right, left);
                if (!r) return Value(false);
                left = std::move(right);
            }
            return Value(true);
        }
        case ExprKind::and_: {
            Value a = eval(*e.items[0], scope);
            if (!a.truthy()) return a;
            return eval(*e.items[1], scope);
        }
        case ExprKind::or_: {
            Value a = eval(*e.items[0], scope);
            if (a.truthy()) return a;
            return eval(*e.items[1], scope);
        }
        case ExprKind::condition:
            if (eval(*e.items[0], scope).truthy()) return eval(*e.items[1], scope);
            if (e.items[2]) return eval(*e.items[2], scope);
            return Value::undefined(
                "the inline if-expression evaluated to false and no else section was defined.");
        case ExprKind::ns_ref:
            break;
    }
    throw RenderError("cannot evaluate this expression");
}

void Renderer::collect_args(const Expr& e, size_t first, Scope& scope, Args& args) {
    for (size_t i = first; i < e.items.size(); ++i)
        args.positional.push_back(eval(*e.items[i], scope));
    if (e.star) {
        const Value v = eval(*e.star, scope);
        for (auto& item : v.iterate()) args.positional.push_back(std::move(item));
    }
    for (const auto& [k, v] : e.keywords) args.keywords.emplace_back(k, eval(*v, scope));
    if (e.star_star) {
        const Value v = eval(*e.star_star, scope);
        if (!v.is_dict()) throw RenderError("argument after ** must be a mapping");
        for (const auto& [k, val] : v.dict().items) args.keywords.emplace_back(k, val);
    }
}

Value Renderer::eval_call(const Expr& e, Scope& scope) {
    const Expr& callee = *e.items[0];
    if (callee.kind == ExprKind::getattr) {
        const Value obj = eval(*callee.items[0], scope);
        if ((obj.is_string() || obj.is_list() || (obj.is_dict() && !obj.dict().is_namespace)) &&
            has_method(obj, callee.name)) {
            Args args;
            collect_args(e, 1, scope, args);
            line_ = e.line;
            return call_method(obj, callee.name, args);
        }
        const Value fn = getattr(obj, callee.name);
        Args args;
        collect_args(e, 1, scope, args);
        line_ = e.line;
        return call(fn, args);
    }
    const Value fn = eval(callee, scope);
    Args args;
    collect_args(e, 1, scope, args);
    line_ = e.line;
    return call(fn, args);
}

Value Renderer::eval_filter(const Expr& e, Scope& scope, const Value* input) {
    // A chain a | f | g is nested: g(f(a)); the innermost input is null in a filter block.
    Value in;
    if (!e.items[0])
        in = *input;
    else if (e.items[0]->kind == ExprKind::filter)
        in = eval_filter(*e.items[0], scope, input);
    else
        in = eval(*e.items[0], scope);
    line_ = e.line;
    if (!e.filter) throw RenderError(fmt::format("No filter named '{}' found.", e.name));
    Args args;
    collect_args(e, 1, scope, args);
    line_ = e.line;
    return e.filter(*this, in, args);
}

Value Renderer::call(const Value& fn, Args& args) {
    if (fn.kind() == Kind::function) return fn.fn()(args);
    if (fn.is_undefined()) throw RenderError(fn.str());
    throw RenderError(fmt::format("'{}' object is not callable", fn.type_name()));
}

Value Renderer::apply_filter(const std::string& name, const Value& input, Args& args) {
    const FilterFn f = find_filter(name);
    if (!f) throw RenderError(fmt::format("No filter named '{}'.", name));
    return f(*this, input, args);
}

bool Renderer::apply_test(const std::string& name, const Value& input, Args& args) {
    const TestFn t = find_test(name);
    if (!t) throw RenderError(fmt::format("No test named '{}'.", name));
    return t(*this, input, args);
}

Value Renderer::getattr(const Value& obj, const std::string& name) {
    switch (obj.kind()) {
        case Kind::undefined:
            throw RenderError(obj.str());
        case Kind::dict:
            if (obj.dict().is_namespace) {
                if (const Value* v = obj.dict().find(name)) return *v;
                return undefined_attr(obj, name);
            }
            if (has_method(obj, name)) return bound_method(obj, name);
            if (const Value* v = obj.dict().find(name)) return *v;
            break;
        case Kind::string:
        case Kind::list:
            if (has_method(obj, name)) return bound_method(obj, name);
            break;
        default:
            break;
    }
    if (is_unsafe_method(obj, name))
        return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.",
                                            name, obj.type_name()));
    return undefined_attr(obj, name);
}

Value Renderer::getitem(const Value& obj, const Value& key) {
    if (obj.is_undefined()) throw RenderError(obj.str());
    if (obj.is_dict() && !obj.dict().is_namespace && key.is_string()) {
        if (const Value* v = obj.dict().find(key.str())) return *v;
        return getattr(obj, key.str());
    }
    if ((obj.is_list() || obj.is_string()) &&
        (key.kind() == Kind::integer || key.kind() == Kind::boolean)) {
        if (obj.is_list()) {
            const int64_t n = int64_t(obj.list().size());
            int64_t i = key.integer();
            if (i < 0) i += n;
            if (i < 0 || i >= n) return undefined_element(obj, key);
            return obj.list()[size_t(i)];
        }
        const std::u32string s = utf8_decode(obj.str());
        const int64_t n = int64_t(s.size());
        int64_t i = key.integer();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return undefined_element(obj, key);
        return Value(utf8_encode(std::u32string(1, s[size_t(i)])));
    }
    if (key.is_string()) return getattr(obj, key.str());
    return undefined_element(obj, key);
}

Value Renderer::slice(const Value& obj, const Value& start_v, const Value& stop_v,
                      const Value& step_v) {
    if (obj.is_undefined()) throw RenderError(obj.str());
    const int64_t step = step_v.is_none() ? 1 : slice_index(step_v, "step");
    if (step == 0) throw RenderError("slice step cannot be zero");
    std::u32string text;
    int64_t n;
    if (obj.is_list()) {
        n = int64_t(obj.list().size());
    } else if (obj.is_string()) {
        text = utf8_decode(obj.str());
        n = int64_t(text.size());
    } else {
        return undefined_element(obj, Value("slice"));
    }
    const int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? n - 1 : n;
    auto clamp = [&](const Value& v, int64_t def) {
        if (v.is_none()) return def;
        int64_t i = slice_index(v, "index");
        if (i < 0) {
            i += n;
            if (i < lower) i = lower;
        } else if (i > upper) {
            i = upper;
        }
        return i;
    };
    const int64_t start = clamp(start_v, step < 0 ? upper : lower);
    const int64_t stop = clamp(stop_v, step < 0 ? lower : upper);
    if (obj.is_list()) {
        List out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            out.push_back(obj.list()[size_t(i)]);
        return Value(std::move(out), obj.is_tuple());
    }
    std::u32string out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out += text[size_t(i)];
    return Value(utf8_encode(out));
}

}  // namespace encore::jinja
