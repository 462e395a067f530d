// The Jinja lexer: template source -> tokens, with jinja2's whitespace rules as transformers
// configures them (trim_blocks: a block or comment tag eats the newline after it; lstrip_blocks:
// spaces and tabs from the start of a line up to a block or comment tag are dropped; `{%-`/`-%}`
// strip all whitespace on that side, `{%+`/`+%}` keep it). The source is normalised first as
// jinja2 does (\r\n and \r become \n, one trailing newline dropped). Comments vanish, `{% raw %}`
// bodies become data. Every token carries its line in the source for error messages.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace encore::jinja {

// A template syntax error (jinja2's TemplateSyntaxError / TemplateAssertionError) at a line.
struct SyntaxError : std::runtime_error {
    SyntaxError(const std::string& message, int line) : std::runtime_error(message), line(line) {}
    int line;
};

enum class Tok {
    data,         // template text to output as is
    var_begin,    // {{
    var_end,      // }}
    block_begin,  // {%
    block_end,    // %}
    name,
    string,  // text: the decoded value
    integer,
    floating,
    op,  // text: the operator, e.g. "+", "//", "==", "(", "|"
    eof,
};

struct Token {
    Tok type = Tok::eof;
    std::string text;
    int line = 1;
    int64_t integer = 0;
    double floating = 0;
};

std::vector<Token> lex(const std::string& source);
const char* token_description(const Token& t);  // for "expected X, got Y" messages

}  // namespace encore::jinja
