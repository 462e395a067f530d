// The syntax tree of a parsed Jinja template: expressions (Expr) and statements (Stmt), each
// with the source line it came from. Filters and tests are resolved to their functions when the
// template is parsed (an unknown one is an error then, or, inside an `if` body as in jinja2, when
// it is reached).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace encore::jinja {

class Renderer;
using FilterFn = Value (*)(Renderer&, const Value& input, Args& args);
using TestFn = bool (*)(Renderer&, const Value& input, Args& args);

enum class ExprKind {
    constant,   // value
    name,       // name
    list,       // items
    tuple,      // items
    dict,       // items: key, value, key, value, ...
    getattr,    // items[0].name
    getitem,    // items[0][items[1]]
    slice,      // items[0][items[1]:items[2]:items[3]] (null where absent)
    call,       // items[0](items[1:], keywords, star, star_star)
    filter,     // items[0] | name(items[1:], keywords)
    test,       // items[0] is name(items[1:], keywords); negated for `is not`
    not_,       // not items[0]
    neg,        // -items[0]
    pos,        // +items[0]
    binary,     // items[0] name items[1]: + - * / // % ** ~
    compare,    // items[0] ops[0] items[1] ops[1] items[2] ...: == != < <= > >= in notin
    and_,       // items[0] and items[1]
    or_,        // items[0] or items[1]
    condition,  // items[1] if items[0] else items[2] (items[2] null: Undefined)
    ns_ref,     // assignment target name.attr (set statement only)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind = ExprKind::constant;
    int line = 0;
    Value value;
    std::string name;
    std::vector<ExprPtr> items;
    std::vector<std::pair<std::string, ExprPtr>> keywords;
    std::vector<std::string> ops;
    ExprPtr star, star_star;
    bool negated = false;
    FilterFn filter = nullptr;  // resolved filter (null: unknown, fails when reached)
    TestFn test = nullptr;
};

enum class StmtKind {
    data,        // text
    print,       // expr
    if_,         // conditions[i] -> bodies[i]; else_body
    for_,        // target in expr [if condition] -> body; else_body
    set,         // target = expr
    set_block,   // target = rendered body, through filter (may be null)
    macro,       // name(params with defaults) -> body
    call_block,  // expr (a call) with caller() = body
    filter,      // body rendered, then through filter
    with,        // targets = values, body in a new scope
    break_,
    continue_,
    generation,  // {% generation %}: body rendered as is
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
    StmtKind kind = StmtKind::data;
    int line = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr target;
    ExprPtr condition;
    ExprPtr filter;  // filter chain whose innermost input is null
    std::vector<ExprPtr> conditions;
    std::vector<Body> bodies;
    Body body, else_body;
    bool recursive = false;
    std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters / with targets
    std::vector<std::string> caller_params;
};

}  // namespace encore::jinja
