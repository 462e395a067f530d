// The chat API around the renderer: where templates come from (tokenizer_config.json's string
// or named list, chat_template.jinja, an override file), the variables render_chat passes,
// one-line errors naming the template and line, strftime_now, the token ids of a rendering and
// a template's end-of-turn token (on the real qwen3 and llama3 tokenizers).
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "chat/chat_template.h"
#include "chat/chat_tokens.h"
#include "core/error.h"
#include "formats/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

namespace fs = std::filesystem;

std::string data(const std::string& rel) {
    return std::string(ENCORE_SOURCE_DIR) + "/tests/data/" + rel;
}

class TempDir {
  public:
    TempDir() {
        path_ = fs::temp_directory_path() / ("encore_chat_test_" + std::to_string(::getpid()) +
                                             "_" + std::to_string(counter_++));
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string file(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
        return (path_ / name).string();
    }
    std::string path() const { return path_.string(); }

  private:
    fs::path path_;
    static inline int counter_ = 0;
};

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

const nlohmann::ordered_json k_hi =
    nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}});

TEST(ChatTemplateApi, SourcesOfATemplate) {
    TempDir dir;
    dir.file("tokenizer_config.json", R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>",
        "chat_template": [{"name": "default", "template": "D{{ bos_token }}"}, {"name": "tool_use", "template": "T"}]})");
    auto chat = find_chat_template(dir.path());
    ASSERT_TRUE(chat);
    EXPECT_EQ(chat->bos_token, "<s>");
    EXPECT_EQ(chat->eos_token, "</s>");
    EXPECT_EQ(render_chat(chat->tmpl, k_hi, {false, chat->bos_token, chat->eos_token}), "D<s>");
    EXPECT_EQ(find_chat_template(dir.path(), "tool_use")->tmpl.source, "T");
    EXPECT_NE(error_of([&] {
                  find_chat_template(dir.path(), "nope");
              }).find("no chat template named 'nope' (has: default, tool_use)"),
              std::string::npos);
    const std::string override_file = dir.file("override.jinja", "O");
    EXPECT_EQ(find_chat_template(dir.path(), "", override_file)->tmpl.source, "O");
    EXPECT_EQ(find_chat_template(dir.path(), "", override_file)->tmpl.origin, override_file);

    TempDir plain;  // no chat_template key: chat_template.jinja beside it, else none
    plain.file("tokenizer_config.json", R"({"eos_token": "</s>"})");
    EXPECT_FALSE(find_chat_template(plain.path()));
    plain.file("chat_template.jinja", "J{{ eos_token }}\n");
    chat = find_chat_template(plain.path());
    ASSERT_TRUE(chat);
    EXPECT_EQ(render_chat(chat->tmpl, k_hi, {false, "", chat->eos_token}),
              "J</s>");  // one trailing newline dropped

    EXPECT_FALSE(find_chat_template(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l"));
    EXPECT_TRUE(find_chat_template(data("tokenizers/qwen3")));
}

TEST(ChatTemplateApi, TemplateOfAGgufFile) {
    TempDir dir;
    GgufWriter w;
    w.set_string(
        "tokenizer.chat_template",
        "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}");
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "hi"});
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    const std::string path = dir.path() + "/m.gguf";
    w.write(path);
    const auto chat = find_chat_template(path);
    ASSERT_TRUE(chat);
    EXPECT_EQ(chat->tmpl.origin, "GGUF tokenizer.chat_template");
    EXPECT_EQ(render_chat(chat->tmpl, k_hi, {false, chat->bos_token, chat->eos_token}),
              "<s>hi</s>");
    GgufWriter none;
    none.set_string("general.name", "x");
    none.write(dir.path() + "/none.gguf");
    EXPECT_FALSE(find_chat_template(dir.path() + "/none.gguf"));
}

// Callers holding a nlohmann::json (keys sorted) pass it as they are.
TEST(ChatTemplateApi, PlainJsonConverts) {
    const nlohmann::json conversation = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    ChatOptions options;
    options.extra = nlohmann::json{{"z", 1}, {"a", 2}};
    EXPECT_EQ(render_chat({"{{ messages[0].content }}{{ a }}{{ z }}", "t"}, conversation, options),
              "hi21");
}

TEST(ChatTemplateApi, VariablesPassed) {
    const ChatTemplate t{
        "{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|{{ bos_token is defined }}|{{ "
        "custom }}|"
        "{{ messages | length }}",
        "vars"};
    ChatOptions options;
    EXPECT_EQ(render_chat(t, k_hi, options), "None|None|False|False||1");
    options.add_generation_prompt = true;
    options.bos_token = "<s>";
    options.extra = {{"custom", "x"}};
    nlohmann::ordered_json conversation = {
        {"messages", k_hi}, {"tools", {{{"name", "f"}}}}, {"custom", "from conversation"}};
    EXPECT_EQ(render_chat(t, conversation, options), "[{'name': 'f'}]|None|True|True|x|1");
    EXPECT_NE(error_of([&] {
                  render_chat(t, nlohmann::ordered_json::object(), options);
              }).find("conversation must be"),
              std::string::npos);
}

TEST(ChatTemplateApi, ErrorsAreOneLineWithOriginAndLine) {
    const auto error = [](const std::string& source) {
        return error_of([&] { render_chat({source, "t.jinja"}, k_hi, {}); });
    };
    EXPECT_EQ(error("a\n{% if %}"),
              "t.jinja:2: chat template syntax error: Expected an expression, got end of statement "
              "block");
    EXPECT_EQ(error("a\nb\n{{ x | nope }}"),
              "t.jinja:3: chat template syntax error: No filter named 'nope'.");
    EXPECT_EQ(error("{% for m in messages %}\n\n{{ raise_exception('bad\\nrole: ' + m.role) }}{% "
                    "endfor %}"),
              "t.jinja:3: the chat template raised an exception: bad\\nrole: user");
    EXPECT_EQ(error("x\n{{ messages[0].content.nope() }}"),
              "t.jinja:2: chat template error: 'str object' has no attribute 'nope'");
    EXPECT_EQ(
        error("{% for %}"),
        "t.jinja:1: chat template syntax error: expected token 'in', got end of statement block");
    EXPECT_EQ(error("{{ 'unclosed }}"),
              "t.jinja:1: chat template syntax error: unexpected char \"'\" at 3");
    const std::string deep = std::string(2000, '(') + "1" + std::string(2000, ')');
    EXPECT_NE(error("{{ " + deep + " }}").find("nested too deeply"), std::string::npos);
}

// A macro kept in a namespace past the loop that defined it still runs (reading the globals
// once its scope is gone), instead of reading freed memory.
TEST(ChatTemplateApi, MacroOutlivingItsScope) {
    const ChatTemplate t{
        "{% set ns = namespace() %}{% for m in messages %}{% macro show() %}<{{ messages | length "
        "}}>"
        "{% endmacro %}{% set ns.show = show %}{% endfor %}{{ ns.show() }}",
        "t"};
    EXPECT_EQ(render_chat(t, k_hi, {}), "<1>");
}

TEST(ChatTemplateApi, StrftimeNow) {
    const std::string got = render_chat({"{{ strftime_now('%Y-%m-%d') }}", "t"}, k_hi, {});
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    EXPECT_EQ(got, buf);
}

TEST(ChatTemplateApi, TokenIdsAndEndOfTurn) {
    const Tokenizer qwen = Tokenizer::from_file(data("tokenizers/qwen3/tokenizer.json.gz"));
    const auto qwen_chat = find_chat_template(data("tokenizers/qwen3"));
    ASSERT_TRUE(qwen_chat);
    const std::string text =
        render_chat(qwen_chat->tmpl, k_hi, {true, qwen_chat->bos_token, qwen_chat->eos_token});
    EXPECT_EQ(chat_token_ids(qwen, text), qwen.encode(text, false));  // no BOS in this tokenizer
    EXPECT_EQ(chat_token_ids(qwen, text).front(), *qwen.token_to_id("<|im_start|>"));
    const EndOfTurn eot = find_end_of_turn(*qwen_chat, qwen);
    EXPECT_EQ(eot.text, "<|im_end|>");
    EXPECT_EQ(eot.token_ids, std::vector<int32_t>{*qwen.token_to_id("<|im_end|>")});

    // llama3's template writes BOS itself: not added twice; a template that does not gets it.
    const Tokenizer llama = Tokenizer::from_file(data("tokenizers/llama3/tokenizer.json.gz"));
    const auto llama_chat = find_chat_template(data("tokenizers/llama3"));
    ASSERT_TRUE(llama_chat);
    const std::string l_text =
        render_chat(llama_chat->tmpl, k_hi, {true, llama_chat->bos_token, llama_chat->eos_token});
    std::vector<int32_t> ids = chat_token_ids(llama, l_text);
    const int32_t bos = *llama.token_to_id("<|begin_of_text|>");
    EXPECT_EQ(std::count(ids.begin(), ids.end(), bos), 1);
    const EndOfTurn llama_eot = find_end_of_turn(*llama_chat, llama);
    EXPECT_EQ(llama_eot.text, "<|eot_id|>");
    EXPECT_EQ(llama_eot.token_ids, std::vector<int32_t>{*llama.token_to_id("<|eot_id|>")});
    ids = chat_token_ids(llama, "no bos here");
    EXPECT_EQ(ids, llama.encode("no bos here", true));
}

}  // namespace
}  // namespace encore
