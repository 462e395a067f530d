// The Jinja parser: tokens -> syntax tree, following jinja2's grammar and operator precedence
// (filters bind tighter than arithmetic, `not` looser than comparisons, conditional expressions
// loosest). Statements: if/elif/else, for (with an inline `if`, `else`, `recursive`), set (plain,
// tuple, `ns.attr`, block), macro, call, filter, with, break, continue and transformers'
// generation block. Unknown tags, filters and tests fail with jinja2's message.
#pragma once

#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace encore::jinja {

// SyntaxError (with the line) on a malformed template.
Body parse(const std::vector<Token>& tokens);

}  // namespace encore::jinja
