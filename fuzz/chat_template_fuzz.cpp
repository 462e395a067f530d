// libFuzzer target: the input bytes are a chat template. Compiling must either succeed or fail
// with encore::Error (render_chat's one-line syntax error); a template that compiles is
// rendered over a small conversation when it cannot run long (no loops, macros, ranges or
// repetition operators, which an arbitrary template could make unbounded), and must again
// either render or fail with encore::Error. Anything else (another exception, a crash, a
// sanitizer report) is a bug. Seeds: fuzz/corpus/chat_template/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string source(reinterpret_cast<const char*>(data), size);
    // The parser alone: a SyntaxError or a tree.
    try {
        (void)encore::jinja::parse(encore::jinja::lex(source));
    } catch (const encore::jinja::SyntaxError&) {
        return 0;
    }
    const bool bounded =
        source.find("for") == std::string::npos && source.find("macro") == std::string::npos &&
        source.find("range") == std::string::npos && source.find('*') == std::string::npos &&
        source.find("call") == std::string::npos && source.find("indent") == std::string::npos &&
        source.find("center") == std::string::npos && source.find("just") == std::string::npos &&
        source.find("zfill") == std::string::npos && source.find("batch") == std::string::npos;
    if (!bounded) return 0;
    static const nlohmann::ordered_json conversation = nlohmann::ordered_json::parse(R"({
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "h\u00e9llo"},
                     {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                     {"role": "user", "content": [{"type": "text", "text": "part"}]}],
        "tools": [{"type": "function", "function": {"name": "f"}}]})");
    encore::ChatOptions options;
    options.add_generation_prompt = true;
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    try {
        (void)encore::render_chat({source, "fuzz"}, conversation, options);
    } catch (const encore::Error&) {
    }
    return 0;
}
