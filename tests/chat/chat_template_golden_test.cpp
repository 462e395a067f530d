// Chat templates rendered by src/chat against jinja2 with transformers' settings: every real
// template of tests/data/chat/goldens.json over every conversation written for it must give the
// same bytes, or fail where jinja2 fails (with raise_exception's message kept); every snippet
// of tests/data/chat/snippets.json (one Jinja feature each) likewise. The goldens come from
// tools/goldens/chat_template_goldens.py.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_renderer.h"
#include "core/error.h"

namespace encore {
namespace {

nlohmann::ordered_json read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    std::ostringstream ss;
    ss << in.rdbuf();
    return nlohmann::ordered_json::parse(ss.str());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string template_source(const std::string& file) {
    const std::string path = std::string(ENCORE_SOURCE_DIR) + "/" + file;
    if (file.size() > 5 && file.substr(file.size() - 5) == ".json")
        return read_json(path)["chat_template"];
    return read_file(path);
}

TEST(ChatTemplateGolden, RealTemplatesMatchJinja2) {
    const nlohmann::ordered_json goldens =
        read_json(std::string(ENCORE_SOURCE_DIR) + "/tests/data/chat/goldens.json");
    ASSERT_GE(goldens["cases"].size(), 14u * 20u);
    int n_checked = 0, n_errors = 0;
    for (const auto& c : goldens["cases"]) {
        const std::string name = c["template"];
        const auto& t = goldens["templates"][name];
        const ChatTemplate tmpl{template_source(t["file"]), name};
        ChatOptions options;
        options.add_generation_prompt = c["add_generation_prompt"];
        if (t["bos_token"].is_string()) options.bos_token = t["bos_token"];
        if (t["eos_token"].is_string()) options.eos_token = t["eos_token"];
        options.extra = c["extra"];
        const nlohmann::ordered_json& conversation =
            goldens["conversations"][c["conversation"].get<std::string>()];
        const std::string label = name + " / " + c["conversation"].get<std::string>() + " / " +
                                  c["extra"].dump() +
                                  (options.add_generation_prompt ? " / generation prompt" : "");
        if (c.contains("output")) {
            std::string got;
            try {
                got = render_chat(tmpl, conversation, options);
            } catch (const Error& e) {
                ADD_FAILURE() << label << ": unexpected error " << e.what();
                continue;
            }
            EXPECT_EQ(got, c["output"].get<std::string>()) << label;
        } else {
            const std::string error = c["error"];
            try {
                const std::string got = render_chat(tmpl, conversation, options);
                ADD_FAILURE() << label << ": jinja2 fails (" << error << ") but encore rendered:\n"
                              << got;
            } catch (const Error& e) {
                const std::string prefix = "TemplateError: ";
                if (error.rfind(prefix, 0) == 0) {  // raise_exception: its message is kept
                    EXPECT_NE(std::string(e.what()).find(error.substr(prefix.size())),
                              std::string::npos)
                        << label << ": " << e.what();
                }
                EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
                EXPECT_EQ(std::string(e.what()).rfind(name + ":", 0), 0u) << e.what();
            }
            ++n_errors;
        }
        ++n_checked;
    }
    EXPECT_GT(n_errors, 0);
    EXPECT_EQ(n_checked, int(goldens["cases"].size()));
}

TEST(ChatTemplateGolden, SnippetsMatchJinja2) {
    const nlohmann::ordered_json snippets =
        read_json(std::string(ENCORE_SOURCE_DIR) + "/tests/data/chat/snippets.json");
    for (const auto& c : snippets["cases"]) {
        const std::string name = c["name"];
        jinja::Dict vars;
        jinja::add_globals(vars);
        for (auto it = c["vars"].begin(); it != c["vars"].end(); ++it)
            vars.set(it.key(), jinja::Value::from_json(it.value()));
        std::string got, error;
        bool syntax_error = false;
        try {
            const jinja::Template t(c["source"].get<std::string>());
            got = t.render(vars);
        } catch (const jinja::SyntaxError& e) {
            error = e.what();
            syntax_error = true;
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        if (c.contains("output")) {
            EXPECT_EQ(error, "") << name;
            EXPECT_EQ(got, c["output"].get<std::string>()) << name;
        } else {
            const std::string expected = c["error"];
            EXPECT_NE(error, "") << name << ": jinja2 fails (" << expected
                                 << ") but encore rendered: " << got;
            // Errors when the template is made: jinja2's own, and Python's SyntaxError when
            // what it parsed compiles to invalid Python (a slice inside a tuple subscript).
            const bool jinja_syntax = expected.rfind("TemplateSyntaxError", 0) == 0 ||
                                      expected.rfind("TemplateAssertionError", 0) == 0 ||
                                      expected.rfind("SyntaxError", 0) == 0;
            EXPECT_EQ(syntax_error, jinja_syntax) << name << ": " << expected << " vs " << error;
            // The message itself, for the errors whose text the user sees most.
            if (expected.rfind("TemplateError: ", 0) == 0 ||
                expected.rfind("UndefinedError: ", 0) == 0) {
                EXPECT_EQ(error, expected.substr(expected.find(": ") + 2)) << name;
            }
        }
    }
}

}  // namespace
}  // namespace encore
