// The Jinja parser (see jinja_parser.h): recursive descent over the token list, one function
// per rule of jinja2's parser.py (parse_tuple, parse_condexpr, parse_or ... parse_primary,
// parse_postfix, parse_filter_expr), so that precedence and the accepted forms match.
#include "chat/jinja_parser.h"

#include <fmt/format.h>

#include <initializer_list>

#include "chat/jinja_builtins.h"

namespace encore::jinja {

namespace {

constexpr int k_max_nesting = 128;  // expressions and blocks nested deeper fail, as jinja2 would

class Parser {
  public:
    explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

    Body parse_all() {
        Body body = subparse({});
        if (cur().type != Tok::eof) fail_here(fmt::format("unexpected '{}'", cur().text));
        return body;
    }

  private:
    // ---- token helpers ----
    const Token& cur() const { return t_[pos_]; }
    const Token& look() const { return t_[pos_ + 1 < t_.size() ? pos_ + 1 : pos_]; }
    void next() {
        if (pos_ + 1 < t_.size()) ++pos_;
    }
    bool is_op(const char* op) const { return cur().type == Tok::op && cur().text == op; }
    bool is_name(const char* name) const { return cur().type == Tok::name && cur().text == name; }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* name) {
        if (!is_name(name)) return false;
        next();
        return true;
    }
    [[noreturn]] void fail_here(const std::string& message) const {
        throw SyntaxError(message, cur().line);
    }
    std::string describe(const Token& t) const {
        if (t.type == Tok::name || t.type == Tok::op) return "'" + t.text + "'";
        return token_description(t);
    }
    void expect_op(const char* op) {
        if (!skip_op(op))
            fail_here(fmt::format("expected token '{}', got {}", op, describe(cur())));
    }
    std::string expect_name() {
        if (cur().type != Tok::name)
            fail_here(fmt::format("expected token 'name', got {}", describe(cur())));
        std::string n = cur().text;
        next();
        return n;
    }
    void expect_block_end() {
        if (cur().type != Tok::block_end)
            fail_here(
                fmt::format("expected token 'end of statement block', got {}", describe(cur())));
        next();
    }
    // Counts nesting while alive; too deep is a SyntaxError (the recursion stays bounded).
    struct Nest {
        Parser& p;
        explicit Nest(Parser& parser) : p(parser) {
            if (++p.depth_ > k_max_nesting) {
                p.depth_ = 0;
                p.fail_here("the template is nested too deeply");
            }
        }
        ~Nest() { --p.depth_; }
    };

    ExprPtr make(ExprKind kind, int line) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = line;
        return e;
    }

    // ---- statements ----
    // Parses until `{% name %}` with name in `ends` (left at that name) or the end.
    Body subparse(std::initializer_list<const char*> ends) {
        Body body;
        while (cur().type != Tok::eof) {
            const Token& t = cur();
            if (t.type == Tok::data) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::data;
                s->line = t.line;
                s->text = t.text;
                body.push_back(std::move(s));
                next();
            } else if (t.type == Tok::var_begin) {
                next();
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::print;
                s->line = cur().line;
                s->expr = parse_tuple(true, {}, false);
                if (cur().type != Tok::var_end)
                    fail_here(fmt::format("expected token 'end of print statement', got {}",
                                          describe(cur())));
                next();
                body.push_back(std::move(s));
            } else if (t.type == Tok::block_begin) {
                next();
                if (cur().type == Tok::name)
                    for (const char* end : ends)
                        if (cur().text == end) return body;
                body.push_back(parse_statement(ends));
            } else {
                fail_here(fmt::format("unexpected {}", describe(t)));
            }
        }
        if (ends.size() > 0) {
            std::string names;
            for (const char* e : ends)
                names += std::string(names.empty() ? "" : " or ") + "'" + e + "'";
            fail_here(fmt::format(
                "Unexpected end of template. Jinja was looking for the following tags: {}. "
                "The innermost block that needs to be closed is '{}'.",
                names, block_stack_.empty() ? "" : block_stack_.back()));
        }
        return body;
    }

    StmtPtr parse_statement(std::initializer_list<const char*> ends) {
        if (cur().type != Tok::name) fail_here("tag name expected");
        const std::string tag = cur().text;
        const int line = cur().line;
        auto s = std::make_unique<Stmt>();
        s->line = line;
        if (tag == "if") return parse_if(std::move(s));
        if (tag == "for") return parse_for(std::move(s));
        if (tag == "set") return parse_set(std::move(s));
        if (tag == "macro") return parse_macro(std::move(s));
        if (tag == "call") return parse_call_block(std::move(s));
        if (tag == "filter") return parse_filter_block(std::move(s));
        if (tag == "with") return parse_with(std::move(s));
        if (tag == "generation") {
            next();
            expect_block_end();
            s->kind = StmtKind::generation;
            s->body = parse_body("generation", {"endgeneration"});
            end_block();
            return s;
        }
        if (tag == "break" || tag == "continue") {
            if (loop_depth_ == 0) fail_here(fmt::format("'{}' outside of a loop", tag));
            next();
            expect_block_end();
            s->kind = tag == "break" ? StmtKind::break_ : StmtKind::continue_;
            return s;
        }
        if (tag == "print") {
            next();
            s->kind = StmtKind::print;
            s->expr = parse_tuple(true, {}, false);
            expect_block_end();
            return s;
        }
        if (!block_stack_.empty() || ends.size() > 0)
            fail_here(fmt::format(
                "Encountered unknown tag '{}'. Jinja was looking for the following tags: {}. "
                "The innermost block that needs to be closed is '{}'.",
                tag, end_names(ends), block_stack_.empty() ? "" : block_stack_.back()));
        fail_here(fmt::format("Encountered unknown tag '{}'.", tag));
    }

    static std::string end_names(std::initializer_list<const char*> ends) {
        std::string names;
        for (const char* e : ends)
            names += std::string(names.empty() ? "" : " or ") + "'" + e + "'";
        return names;
    }

    // The body of a block up to one of `ends`; the end tag's name is left current.
    Body parse_body(const char* block, std::initializer_list<const char*> ends) {
        Nest nest(*this);
        block_stack_.push_back(block);
        Body b = subparse(ends);
        block_stack_.pop_back();
        return b;
    }
    // Consumes `{% endname %}` (already at the name).
    void end_block() {
        next();
        expect_block_end();
    }

    StmtPtr parse_if(StmtPtr s) {
        s->kind = StmtKind::if_;
        const bool saved = soft_;
        soft_ = true;
        next();
        while (true) {
            s->conditions.push_back(parse_tuple(false, {}, false));
            expect_block_end();
            s->bodies.push_back(parse_body("if", {"elif", "else", "endif"}));
            if (is_name("elif")) {
                next();
                continue;
            }
            if (is_name("else")) {
                next();
                expect_block_end();
                s->else_body = parse_body("if", {"endif"});
            }
            break;
        }
        end_block();
        soft_ = saved;
        return s;
    }

    StmtPtr parse_for(StmtPtr s) {
        s->kind = StmtKind::for_;
        next();
        s->target = parse_assign_target(false, {"in"});
        if (!skip_name("in"))
            fail_here(fmt::format("expected token 'in', got {}", describe(cur())));
        s->expr = parse_tuple(false, {"recursive"}, false);
        if (skip_name("if")) s->condition = parse_expression(true);
        s->recursive = skip_name("recursive");
        expect_block_end();
        const bool saved = soft_;
        soft_ = false;
        ++loop_depth_;
        s->body = parse_body("for", {"endfor", "else"});
        --loop_depth_;
        if (is_name("else")) {
            next();
            expect_block_end();
            s->else_body = parse_body("for", {"endfor"});
        }
        end_block();
        soft_ = saved;
        return s;
    }

    StmtPtr parse_set(StmtPtr s) {
        next();
        s->target = parse_assign_target(true, {});
        if (skip_op("=")) {
            s->kind = StmtKind::set;
            s->expr = parse_tuple(true, {}, false);
            expect_block_end();
            return s;
        }
        s->kind = StmtKind::set_block;
        if (is_op("|")) s->filter = parse_filter(nullptr, false);
        expect_block_end();
        const bool saved = soft_;
        soft_ = false;
        s->body = parse_body("set", {"endset"});
        soft_ = saved;
        end_block();
        return s;
    }

    void parse_signature(Stmt& s) {
        expect_op("(");
        while (!is_op(")")) {
            if (!s.params.empty()) expect_op(",");
            if (is_op(")")) break;
            const std::string name = expect_name();
            ExprPtr def;
            if (skip_op("=")) def = parse_expression(true);
            s.params.emplace_back(name, std::move(def));
        }
        expect_op(")");
    }

    StmtPtr parse_macro(StmtPtr s) {
        s->kind = StmtKind::macro;
        next();
        s->text = expect_name();
        parse_signature(*s);
        expect_block_end();
        const bool saved = soft_;
        soft_ = false;
        const int saved_loops = loop_depth_;
        loop_depth_ = 0;
        s->body = parse_body("macro", {"endmacro"});
        loop_depth_ = saved_loops;
        soft_ = saved;
        end_block();
        return s;
    }

    StmtPtr parse_call_block(StmtPtr s) {
        s->kind = StmtKind::call_block;
        next();
        if (is_op("(")) {
            Stmt sig;
            parse_signature(sig);
            for (auto& [n, d] : sig.params) s->caller_params.push_back(n);
            s->params = std::move(sig.params);
        }
        s->expr = parse_expression(true);
        if (s->expr->kind != ExprKind::call) fail_here("expected call");
        expect_block_end();
        const bool saved = soft_;
        soft_ = false;
        s->body = parse_body("call", {"endcall"});
        soft_ = saved;
        end_block();
        return s;
    }

    StmtPtr parse_filter_block(StmtPtr s) {
        s->kind = StmtKind::filter;
        next();
        s->filter = parse_filter(nullptr, true);
        expect_block_end();
        const bool saved = soft_;
        soft_ = false;
        s->body = parse_body("filter", {"endfilter"});
        soft_ = saved;
        end_block();
        return s;
    }

    StmtPtr parse_with(StmtPtr s) {
        s->kind = StmtKind::with;
        next();
        while (cur().type != Tok::block_end) {
            if (!s->params.empty()) expect_op(",");
            const std::string name = expect_name();
            expect_op("=");
            s->params.emplace_back(name, parse_expression(true));
        }
        expect_block_end();
        const bool saved = soft_;
        soft_ = false;
        s->body = parse_body("with", {"endwith"});
        soft_ = saved;
        end_block();
        return s;
    }

    // A name, `name.attr` (with_namespace), or a tuple of names.
    ExprPtr parse_assign_target(bool with_namespace, std::initializer_list<const char*> extra_end) {
        const int line = cur().line;
        if (with_namespace && cur().type == Tok::name && look().type == Tok::op &&
            look().text == ".") {
            auto e = make(ExprKind::ns_ref, line);
            auto base = make(ExprKind::name, line);
            base->name = expect_name();
            next();  // .
            e->name = expect_name();
            e->items.push_back(std::move(base));
            return e;
        }
        ExprPtr target = parse_tuple(false, extra_end, true, /*simplified=*/true);
        check_assignable(*target);
        return target;
    }
    void check_assignable(const Expr& e) {
        if (e.kind == ExprKind::name) {
            if (e.name == "true" || e.name == "false" || e.name == "none" || e.name == "True" ||
                e.name == "False" || e.name == "None")
                throw SyntaxError(fmt::format("Can't assign to special constant '{}'", e.name),
                                  e.line);
            return;
        }
        if (e.kind == ExprKind::tuple) {
            for (const auto& i : e.items) check_assignable(*i);
            return;
        }
        throw SyntaxError("Can't assign to this expression", e.line);
    }

    // ---- expressions ----
    bool is_tuple_end(std::initializer_list<const char*> extra_end) const {
        if (cur().type == Tok::var_end || cur().type == Tok::block_end || cur().type == Tok::eof)
            return true;
        if (is_op(")")) return true;
        if (cur().type == Tok::name)
            for (const char* e : extra_end)
                if (cur().text == e) return true;
        return false;
    }

    ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end,
                        bool explicit_parentheses, bool simplified = false) {
        const int line = cur().line;
        std::vector<ExprPtr> args;
        bool is_tuple = false;
        while (true) {
            if (!args.empty()) expect_op(",");
            if (is_tuple_end(extra_end)) break;
            if (simplified)
                args.push_back(parse_primary());
            else
                args.push_back(parse_expression(with_condexpr));
            if (is_op(","))
                is_tuple = true;
            else
                break;
        }
        if (!is_tuple) {
            if (!args.empty()) return std::move(args[0]);
            if (!explicit_parentheses)
                fail_here(fmt::format("Expected an expression, got {}", describe(cur())));
        }
        auto e = make(ExprKind::tuple, line);
        e->items = std::move(args);
        return e;
    }

    ExprPtr parse_expression(bool with_condexpr) {
        Nest nest(*this);
        return with_condexpr ? parse_condexpr() : parse_or();
    }

    ExprPtr parse_condexpr() {
        ExprPtr expr1 = parse_or();
        while (is_name("if")) {
            const int line = cur().line;
            next();
            ExprPtr expr2 = parse_or();
            ExprPtr expr3;
            if (skip_name("else")) expr3 = parse_condexpr();
            auto e = make(ExprKind::condition, line);
            e->items.push_back(std::move(expr2));
            e->items.push_back(std::move(expr1));
            e->items.push_back(std::move(expr3));
            expr1 = std::move(e);
        }
        return expr1;
    }

    ExprPtr binary(ExprKind kind, const std::string& op, ExprPtr a, ExprPtr b, int line) {
        auto e = make(kind, line);
        e->name = op;
        e->items.push_back(std::move(a));
        e->items.push_back(std::move(b));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (is_name("or")) {
            const int line = cur().line;
            next();
            left = binary(ExprKind::or_, "or", std::move(left), parse_and(), line);
        }
        return left;
    }
    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (is_name("and")) {
            const int line = cur().line;
            next();
            left = binary(ExprKind::and_, "and", std::move(left), parse_not(), line);
        }
        return left;
    }
    ExprPtr parse_not() {
        Nest nest(*this);
        if (is_name("not")) {
            auto e = make(ExprKind::not_, cur().line);
            next();
            e->items.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
        const int line = cur().line;
        ExprPtr expr = parse_math1();
        std::vector<ExprPtr> operands;
        std::vector<std::string> ops;
        while (true) {
            if (cur().type == Tok::op &&
                (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                 cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
                ops.push_back(cur().text);
                next();
            } else if (is_name("in")) {
                ops.push_back("in");
                next();
            } else if (is_name("not") && look().type == Tok::name && look().text == "in") {
                ops.push_back("notin");
                next();
                next();
            } else {
                break;
            }
            operands.push_back(parse_math1());
        }
        if (ops.empty()) return expr;
        auto e = make(ExprKind::compare, line);
        e->items.push_back(std::move(expr));
        for (auto& o : operands) e->items.push_back(std::move(o));
        e->ops = std::move(ops);
        return e;
    }
    ExprPtr parse_math1() {
        ExprPtr left = parse_concat();
        while (is_op("+") || is_op("-")) {
            const std::string op = cur().text;
            const int line = cur().line;
            next();
            left = binary(ExprKind::binary, op, std::move(left), parse_concat(), line);
        }
        return left;
    }
    ExprPtr parse_concat() {
        ExprPtr left = parse_math2();
        while (is_op("~")) {
            const int line = cur().line;
            next();
            left = binary(ExprKind::binary, "~", std::move(left), parse_math2(), line);
        }
        return left;
    }
    ExprPtr parse_math2() {
        ExprPtr left = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const std::string op = cur().text;
            const int line = cur().line;
            next();
            left = binary(ExprKind::binary, op, std::move(left), parse_pow(), line);
        }
        return left;
    }
    ExprPtr parse_pow() {
        ExprPtr left = parse_unary(true);
        while (is_op("**")) {
            const int line = cur().line;
            next();
            left = binary(ExprKind::binary, "**", std::move(left), parse_unary(true), line);
        }
        return left;
    }
    ExprPtr parse_unary(bool with_filter) {
        Nest nest(*this);
        const int line = cur().line;
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            auto e = make(is_op("-") ? ExprKind::neg : ExprKind::pos, line);
            next();
            e->items.push_back(parse_unary(false));
            node = std::move(e);
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_expr(std::move(node));
        return node;
    }

    ExprPtr parse_primary() {
        const Token& t = cur();
        const int line = t.line;
        if (t.type == Tok::name) {
            ExprPtr e;
            if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
                e = make(ExprKind::constant, line);
                e->value = Value(t.text == "true" || t.text == "True");
            } else if (t.text == "none" || t.text == "None") {
                e = make(ExprKind::constant, line);
                e->value = Value::none();
            } else {
                e = make(ExprKind::name, line);
                e->name = t.text;
            }
            next();
            return e;
        }
        if (t.type == Tok::string) {
            std::string s;
            while (cur().type == Tok::string) {
                s += cur().text;
                next();
            }
            auto e = make(ExprKind::constant, line);
            e->value = Value(std::move(s));
            return e;
        }
        if (t.type == Tok::integer || t.type == Tok::floating) {
            auto e = make(ExprKind::constant, line);
            e->value = t.type == Tok::integer ? Value(t.integer) : Value(t.floating);
            next();
            return e;
        }
        if (is_op("(")) {
            next();
            ExprPtr e = parse_tuple(true, {}, true);
            expect_op(")");
            return e;
        }
        if (is_op("[")) {
            next();
            auto e = make(ExprKind::list, line);
            while (!is_op("]")) {
                if (!e->items.empty()) expect_op(",");
                if (is_op("]")) break;
                e->items.push_back(parse_expression(true));
            }
            expect_op("]");
            return e;
        }
        if (is_op("{")) {
            next();
            auto e = make(ExprKind::dict, line);
            while (!is_op("}")) {
                if (!e->items.empty()) expect_op(",");
                if (is_op("}")) break;
                e->items.push_back(parse_expression(true));
                expect_op(":");
                e->items.push_back(parse_expression(true));
            }
            expect_op("}");
            return e;
        }
        if (t.type == Tok::op) fail_here(fmt::format("unexpected '{}'", t.text));
        fail_here(fmt::format("unexpected {}", describe(t)));
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            if (is_op(".") || is_op("["))
                node = parse_subscript(std::move(node));
            else if (is_op("("))
                node = parse_call(std::move(node));
            else
                return node;
        }
    }

    ExprPtr parse_filter_expr(ExprPtr node) {
        while (true) {
            if (is_op("|"))
                node = parse_filter(std::move(node), false);
            else if (is_name("is"))
                node = parse_test(std::move(node));
            else if (is_op("("))
                node = parse_call(std::move(node));
            else
                return node;
        }
    }

    ExprPtr parse_subscript(ExprPtr node) {
        const int line = cur().line;
        if (skip_op(".")) {
            if (cur().type == Tok::name) {
                auto e = make(ExprKind::getattr, line);
                e->name = cur().text;
                next();
                e->items.push_back(std::move(node));
                return e;
            }
            if (cur().type != Tok::integer) fail_here("expected name or number");
            auto e = make(ExprKind::getitem, line);
            auto index = make(ExprKind::constant, line);
            index->value = Value(cur().integer);
            next();
            e->items.push_back(std::move(node));
            e->items.push_back(std::move(index));
            return e;
        }
        expect_op("[");
        std::vector<ExprPtr> args;
        while (!is_op("]")) {
            if (!args.empty()) expect_op(",");
            args.push_back(parse_subscribed());
        }
        expect_op("]");
        if (args.size() == 1 && args[0]->kind == ExprKind::slice) {
            args[0]->items.insert(args[0]->items.begin(), std::move(node));
            return std::move(args[0]);
        }
        auto e = make(ExprKind::getitem, line);
        e->items.push_back(std::move(node));
        if (args.size() == 1) {
            e->items.push_back(std::move(args[0]));
        } else {
            // jinja2 parses `l[1, 2:3]` but compiles it to Python that does not compile: the
            // template fails when it is made (Python's SyntaxError), so a syntax error here.
            for (const auto& a : args)
                if (a->kind == ExprKind::slice)
                    throw SyntaxError("invalid syntax: a slice inside a tuple subscript", line);
            auto tuple = make(ExprKind::tuple, line);
            tuple->items = std::move(args);
            e->items.push_back(std::move(tuple));
        }
        return e;
    }

    // An index or a slice `start:stop:step` (the slice's object is filled in by the caller).
    ExprPtr parse_subscribed() {
        const int line = cur().line;
        std::vector<ExprPtr> args;
        if (skip_op(":")) {
            args.push_back(nullptr);
        } else {
            ExprPtr node = parse_expression(true);
            if (!is_op(":")) return node;
            next();
            args.push_back(std::move(node));
        }
        if (is_op(":"))
            args.push_back(nullptr);
        else if (!is_op("]") && !is_op(","))
            args.push_back(parse_expression(true));
        else
            args.push_back(nullptr);
        if (skip_op(":")) {
            if (!is_op("]") && !is_op(","))
                args.push_back(parse_expression(true));
            else
                args.push_back(nullptr);
        } else {
            args.push_back(nullptr);
        }
        auto e = make(ExprKind::slice, line);
        e->items = std::move(args);
        return e;
    }

    // `(args)` into e (items after the callee, keywords, *star, **star_star).
    void parse_call_args(Expr& e) {
        expect_op("(");
        bool require_comma = false;
        while (!is_op(")")) {
            if (require_comma) {
                expect_op(",");
                if (is_op(")")) break;
            }
            if (skip_op("*")) {
                e.star = parse_expression(true);
            } else if (skip_op("**")) {
                e.star_star = parse_expression(true);
            } else if (cur().type == Tok::name && look().type == Tok::op && look().text == "=") {
                std::string key = cur().text;
                next();
                next();
                e.keywords.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!e.keywords.empty() || e.star || e.star_star)
                    fail_here(
                        "Invalid argument syntax: positional argument after keyword argument");
                e.items.push_back(parse_expression(true));
            }
            require_comma = true;
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr node) {
        auto e = make(ExprKind::call, cur().line);
        e->items.push_back(std::move(node));
        parse_call_args(*e);
        return e;
    }

    // `| name(args) | ...`; node null for a filter block or set block's chain.
    ExprPtr parse_filter(ExprPtr node, bool start_inline) {
        while (is_op("|") || start_inline) {
            if (!start_inline) next();
            start_inline = false;
            const int line = cur().line;
            std::string name = expect_name();
            while (skip_op(".")) name.append(".").append(expect_name());
            auto e = make(ExprKind::filter, line);
            e->name = name;
            e->items.push_back(std::move(node));
            if (is_op("(")) parse_call_args(*e);
            e->filter = find_filter(name);
            if (!e->filter && !soft_)
                throw SyntaxError(fmt::format("No filter named '{}'.", name), line);
            node = std::move(e);
        }
        return node;
    }

    ExprPtr parse_test(ExprPtr node) {
        const int line = cur().line;
        next();  // is
        bool negated = false;
        if (skip_name("not")) negated = true;
        std::string name = expect_name();
        while (skip_op(".")) name.append(".").append(expect_name());
        auto e = make(ExprKind::test, line);
        e->name = name;
        e->negated = negated;
        e->items.push_back(std::move(node));
        if (is_op("(")) {
            parse_call_args(*e);
        } else if ((cur().type == Tok::name || cur().type == Tok::string ||
                    cur().type == Tok::integer || cur().type == Tok::floating || is_op("(") ||
                    is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
            if (is_name("is")) fail_here("You cannot chain multiple tests with is");
            ExprPtr arg = parse_primary();
            e->items.push_back(parse_postfix(std::move(arg)));
        }
        e->test = find_test(name);
        if (!e->test && !soft_) throw SyntaxError(fmt::format("No test named '{}'.", name), line);
        return e;
    }

    const std::vector<Token>& t_;
    size_t pos_ = 0;
    bool soft_ = false;
    int loop_depth_ = 0;
    int depth_ = 0;
    std::vector<const char*> block_stack_;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) {
    return Parser(tokens).parse_all();
}

}  // namespace encore::jinja
