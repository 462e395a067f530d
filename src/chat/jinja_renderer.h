// The Jinja renderer: executes a parsed template over its variables and returns the text.
// Scopes follow jinja2: `set` writes to the innermost scope; each for-loop iteration, macro
// call and `with` block opens a new one (so a variable set in a loop is gone after it, and each
// iteration starts from the outer values), `if` does not; namespace() objects are the one
// thing a template can change across scopes. Undefined values behave as jinja2's plain
// Undefined (empty when printed, false, empty when iterated, an error when used otherwise).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace encore::jinja {

// A compiled template (immutable; render() may run on many threads at once).
class Template {
  public:
    // SyntaxError on a malformed template.
    explicit Template(const std::string& source);
    // RenderError / RaisedError on failure; error_line() of the renderer names the line.
    std::string render(const Dict& variables, int* error_line = nullptr) const;

  private:
    Body body_;
};

struct Scope {
    Scope() = default;
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() {
        if (alive) *alive = false;
    }
    std::vector<std::pair<std::string, Value>> vars;
    const Scope* parent = nullptr;
    // Made when a macro or caller() closes over this scope: false once the scope is gone, so a
    // macro kept (in a namespace) past its scope falls back to the globals instead of dangling.
    std::shared_ptr<bool> alive;
    const Value* find(const std::string& name) const;
    void set(const std::string& name, Value v);
};

class Renderer {
  public:
    Renderer(const Dict& variables);
    void run(const Body& body, std::string& out);
    int line() const { return line_; }

    // Used by filters and methods.
    Value getattr(const Value& obj, const std::string& name);
    Value getitem(const Value& obj, const Value& key);
    Value call(const Value& fn, Args& args);
    Value apply_filter(const std::string& name, const Value& input, Args& args);
    bool apply_test(const std::string& name, const Value& input, Args& args);

  private:
    enum class Flow { normal, break_, continue_ };
    Flow exec(const Body& body, Scope& scope);
    Flow exec_stmt(const Stmt& s, Scope& scope);
    Flow exec_for(const Stmt& s, Scope& scope);
    void exec_macro(const Stmt& s, Scope& scope);
    Value eval(const Expr& e, Scope& scope);
    Value eval_call(const Expr& e, Scope& scope);
    Value eval_filter(const Expr& e, Scope& scope, const Value* input);
    void collect_args(const Expr& e, size_t first, Scope& scope, Args& args);
    void assign(const Expr& target, const Value& v, Scope& scope);
    std::string capture(const Body& body, Scope& scope);
    Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

    // The scope a closure defined in `scope` reads from when called (the globals once it is gone).
    std::function<const Scope*()> closure_scope(Scope& scope);

    Scope globals_;
    std::string* out_ = nullptr;
    int line_ = 0;
    int depth_ = 0;  // macro call depth, bounded
};

}  // namespace encore::jinja
