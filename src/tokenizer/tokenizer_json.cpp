// Reading tokenizer.json (the Hugging Face `tokenizers` serialization) and tokenizer_config.json
// into TokenizerImpl. Every field is type-checked; a malformed file fails with ErrorKind::format
// and a component encore does not implement with ErrorKind::unsupported, both naming the file and
// the JSON path of the field.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace encore {

namespace {

using json = nlohmann::json;

// A JSON value with the file name and path used in messages.
struct Node {
    const json& value;
    const std::string& file;
    std::string path;

    [[noreturn]] void fail_type(const char* expected) const {
        fail(ErrorKind::format, "{}: field {}: expected {}, found {}", file, path, expected,
             value.type_name());
    }
    bool is_null() const { return value.is_null(); }
    void require_object() const {
        if (!value.is_object()) fail_type("an object");
    }
    Node child(const char* key) const {
        require_object();
        auto it = value.find(key);
        if (it == value.end())
            fail(ErrorKind::format, "{}: field {}.{} is missing", file, path, key);
        return Node{*it, file, path + "." + key};
    }
    // The member `key`, or nullptr when absent.
    std::optional<Node> optional_child(const char* key) const {
        require_object();
        auto it = value.find(key);
        if (it == value.end()) return std::nullopt;
        return Node{*it, file, path + "." + key};
    }
    Node at(size_t i) const { return Node{value[i], file, path + "[" + std::to_string(i) + "]"}; }
    size_t size() const {
        if (!value.is_array()) fail_type("an array");
        return value.size();
    }
    std::string str() const {
        if (!value.is_string()) fail_type("a string");
        return value.get<std::string>();
    }
    bool boolean() const {
        if (!value.is_boolean()) fail_type("true or false");
        return value.get<bool>();
    }
    int64_t integer(int64_t lo, int64_t hi) const {
        if (!value.is_number_integer()) fail_type("an integer");
        int64_t v = value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : value.get<int64_t>();
        if (v < lo || v > hi) {
            fail(ErrorKind::format, "{}: field {}: {} is outside [{}, {}]", file, path, v, lo, hi);
        }
        return v;
    }
    std::string type() const { return child("type").str(); }
};

constexpr int64_t k_max_id = (int64_t(1) << 31) - 2;
constexpr int k_max_depth = 32;  // nesting of Sequence components

void check_depth(const Node& node, int depth) {
    if (depth > k_max_depth) {
        fail(ErrorKind::format, "{}: field {}: components nested more than {} deep", node.file,
             node.path, k_max_depth);
    }
}

bool opt_bool(const Node& obj, const char* key, bool fallback) {
    auto c = obj.optional_child(key);
    if (!c || c->is_null()) return fallback;
    return c->boolean();
}

std::optional<std::string> opt_string(const Node& obj, const char* key) {
    auto c = obj.optional_child(key);
    if (!c || c->is_null()) return std::nullopt;
    return c->str();
}

void check_utf8(const std::string& s, const Node& where) {
    if (utf8::find_invalid(s)) {
        fail(ErrorKind::format, "{}: field {}: string is not valid UTF-8", where.file, where.path);
    }
}

[[noreturn]] void unsupported_type(const Node& node, const std::string& type, const char* what) {
    fail(ErrorKind::unsupported, "{}: field {}: {} type '{}' is not supported", node.file,
         node.path, what, type);
}

// A "pattern" object: {"String": "..."} or {"Regex": "..."}. Sets exactly one of the outputs.
void parse_pattern(const Node& node, std::string& literal, Regex& regex, bool& is_regex) {
    node.require_object();
    if (auto s = node.optional_child("String")) {
        literal = s->str();
        is_regex = false;
        return;
    }
    if (auto r = node.optional_child("Regex")) {
        std::string pattern = r->str();
        check_utf8(pattern, *r);
        regex = Regex::compile(pattern, node.file + ": field " + r->path);
        is_regex = true;
        return;
    }
    fail(ErrorKind::format, "{}: field {}: expected a String or Regex pattern", node.file,
         node.path);
}

Normalizer parse_normalizer(const Node& node, int depth = 0) {
    check_depth(node, depth);
    std::string type = node.type();
    Normalizer n;
    using K = Normalizer::Kind;
    if (type == "NFC") {
        n.kind = K::nfc;
    } else if (type == "NFD") {
        n.kind = K::nfd;
    } else if (type == "NFKC") {
        n.kind = K::nfkc;
    } else if (type == "NFKD") {
        n.kind = K::nfkd;
    } else if (type == "Lowercase") {
        n.kind = K::lowercase;
    } else if (type == "Prepend") {
        n.kind = K::prepend;
        n.content = node.child("prepend").str();
    } else if (type == "Replace") {
        n.kind = K::replace;
        bool is_regex = false;
        parse_pattern(node.child("pattern"), n.pattern_string, n.pattern_regex, is_regex);
        n.content = node.child("content").str();
    } else if (type == "Strip") {
        n.kind = K::strip;
        n.strip_left = opt_bool(node, "strip_left", false);
        n.strip_right = opt_bool(node, "strip_right", false);
    } else if (type == "Sequence") {
        n.kind = K::sequence;
        Node list = node.child("normalizers");
        for (size_t i = 0; i < list.size(); ++i)
            n.children.push_back(parse_normalizer(list.at(i), depth + 1));
    } else {
        unsupported_type(node, type, "normalizer");
    }
    return n;
}

SplitBehavior parse_behavior(const Node& node) {
    std::string b = node.str();
    if (b == "Removed") return SplitBehavior::removed;
    if (b == "Isolated") return SplitBehavior::isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
    if (b == "MergedWithNext") return SplitBehavior::merged_with_next;
    if (b == "Contiguous") return SplitBehavior::contiguous;
    fail(ErrorKind::format, "{}: field {}: unknown split behavior '{}'", node.file, node.path, b);
}

PreTokenizer::Prepend parse_prepend_scheme(const Node& node) {
    if (auto scheme = opt_string(node, "prepend_scheme")) {
        if (*scheme == "always") return PreTokenizer::Prepend::always;
        if (*scheme == "first") return PreTokenizer::Prepend::first;
        if (*scheme == "never") return PreTokenizer::Prepend::never;
        fail(ErrorKind::format, "{}: field {}.prepend_scheme: unknown value '{}'", node.file,
             node.path, *scheme);
    }
    return opt_bool(node, "add_prefix_space", true) ? PreTokenizer::Prepend::always
                                                    : PreTokenizer::Prepend::never;
}

std::string parse_replacement(const Node& node) {
    std::string r = node.child("replacement").str();
    size_t i = 0;
    if (r.empty() || utf8::find_invalid(r) || (utf8::next_code_point(r, i), i != r.size())) {
        fail(ErrorKind::format, "{}: field {}.replacement: expected one character", node.file,
             node.path);
    }
    return r;
}

PreTokenizer parse_pre_tokenizer(const Node& node, int depth = 0) {
    check_depth(node, depth);
    std::string type = node.type();
    PreTokenizer p;
    using K = PreTokenizer::Kind;
    if (type == "Split") {
        p.kind = K::split;
        std::string literal;
        bool is_regex = false;
        parse_pattern(node.child("pattern"), literal, p.pattern, is_regex);
        if (!is_regex) p.pattern = Regex::literal(literal, node.file + ": field " + node.path);
        p.behavior = parse_behavior(node.child("behavior"));
        p.invert = opt_bool(node, "invert", false);
    } else if (type == "ByteLevel") {
        p.kind = K::byte_level;
        p.add_prefix_space = opt_bool(node, "add_prefix_space", true);
        p.use_regex = opt_bool(node, "use_regex", true);
    } else if (type == "Metaspace") {
        p.kind = K::metaspace;
        p.replacement = parse_replacement(node);
        p.prepend_scheme = parse_prepend_scheme(node);
        p.split_on_replacement = opt_bool(node, "split", true);
    } else if (type == "Digits") {
        p.kind = K::digits;
        p.individual_digits = opt_bool(node, "individual_digits", false);
    } else if (type == "WhitespaceSplit") {
        p.kind = K::whitespace_split;
    } else if (type == "Sequence") {
        p.kind = K::sequence;
        Node list = node.child("pretokenizers");
        for (size_t i = 0; i < list.size(); ++i) {
            p.children.push_back(parse_pre_tokenizer(list.at(i), depth + 1));
        }
    } else {
        unsupported_type(node, type, "pre-tokenizer");
    }
    return p;
}

Decoder parse_decoder(const Node& node, int depth = 0) {
    check_depth(node, depth);
    std::string type = node.type();
    Decoder d;
    using K = Decoder::Kind;
    if (type == "ByteLevel") {
        d.kind = K::byte_level;
    } else if (type == "Replace") {
        d.kind = K::replace;
        bool is_regex = false;
        parse_pattern(node.child("pattern"), d.pattern_string, d.pattern_regex, is_regex);
        d.content = node.child("content").str();
    } else if (type == "ByteFallback") {
        d.kind = K::byte_fallback;
    } else if (type == "Fuse") {
        d.kind = K::fuse;
    } else if (type == "Strip") {
        d.kind = K::strip;
        std::string c = node.child("content").str();
        size_t i = 0;
        if (c.empty() || utf8::find_invalid(c) ||
            (d.strip_char = utf8::next_code_point(c, i), i != c.size())) {
            fail(ErrorKind::format, "{}: field {}.content: expected one character", node.file,
                 node.path);
        }
        d.start = int(node.child("start").integer(0, 1 << 20));
        d.stop = int(node.child("stop").integer(0, 1 << 20));
    } else if (type == "Metaspace") {
        d.kind = K::metaspace;
        d.replacement = parse_replacement(node);
        d.prepend = parse_prepend_scheme(node) != PreTokenizer::Prepend::never;
    } else if (type == "Sequence") {
        d.kind = K::sequence;
        Node list = node.child("decoders");
        for (size_t i = 0; i < list.size(); ++i)
            d.children.push_back(parse_decoder(list.at(i), depth + 1));
    } else {
        unsupported_type(node, type, "decoder");
    }
    return d;
}

// A [token, id] pair as BertProcessing stores "cls" and "sep".
int32_t parse_token_pair(const Node& node) {
    if (node.size() != 2) node.fail_type("a [token, id] pair");
    node.at(0).str();
    return int32_t(node.at(1).integer(0, k_max_id));
}

PostProcessor parse_post_processor(const Node& node, int depth = 0) {
    check_depth(node, depth);
    std::string type = node.type();
    PostProcessor p;
    if (type == "ByteLevel") return p;
    if (type == "BertProcessing" || type == "RobertaProcessing") {
        p.prefix.push_back(parse_token_pair(node.child("cls")));
        p.suffix.push_back(parse_token_pair(node.child("sep")));
        return p;
    }
    if (type == "Sequence") {
        Node list = node.child("processors");
        for (size_t i = 0; i < list.size(); ++i) {
            PostProcessor outer = parse_post_processor(list.at(i), depth + 1);
            outer.wrap(p);
            p = std::move(outer);
        }
        return p;
    }
    if (type == "TemplateProcessing") {
        Node special = node.child("special_tokens");
        special.require_object();
        Node single = node.child("single");
        bool seen_sequence = false;
        for (size_t i = 0; i < single.size(); ++i) {
            Node piece = single.at(i);
            piece.require_object();
            if (auto seq = piece.optional_child("Sequence")) {
                if (seen_sequence) {
                    fail(ErrorKind::unsupported,
                         "{}: field {}: more than one sequence in the "
                         "single template",
                         node.file, piece.path);
                }
                seq->child("id").str();
                seen_sequence = true;
                continue;
            }
            auto tok = piece.optional_child("SpecialToken");
            if (!tok) {
                fail(ErrorKind::format, "{}: field {}: expected Sequence or SpecialToken",
                     node.file, piece.path);
            }
            std::string id = tok->child("id").str();
            auto entry = special.optional_child(id.c_str());
            if (!entry) {
                fail(ErrorKind::format, "{}: field {}: special token '{}' is not in {}", node.file,
                     tok->path, id, special.path);
            }
            Node ids = entry->child("ids");
            std::vector<int32_t>& target = seen_sequence ? p.suffix : p.prefix;
            for (size_t k = 0; k < ids.size(); ++k) {
                target.push_back(int32_t(ids.at(k).integer(0, k_max_id)));
            }
        }
        if (!seen_sequence) {
            fail(ErrorKind::format, "{}: field {}: the single template has no Sequence", node.file,
                 single.path);
        }
        return p;
    }
    unsupported_type(node, type, "post-processor");
}

BpeModel parse_model(const Node& node) {
    std::string type = node.optional_child("type") ? node.type() : "BPE";
    if (type != "BPE") unsupported_type(node, type, "model");
    BpeOptions options;
    options.unk_token = opt_string(node, "unk_token");
    options.continuing_subword_prefix = opt_string(node, "continuing_subword_prefix");
    options.end_of_word_suffix = opt_string(node, "end_of_word_suffix");
    options.byte_fallback = opt_bool(node, "byte_fallback", false);
    options.fuse_unk = opt_bool(node, "fuse_unk", false);
    options.ignore_merges = opt_bool(node, "ignore_merges", false);
    if (auto dropout = node.optional_child("dropout"); dropout && !dropout->is_null()) {
        if (!dropout->value.is_number()) dropout->fail_type("a number or null");
        double p = dropout->value.get<double>();
        if (p != 0.0) {
            fail(ErrorKind::unsupported,
                 "{}: field {}: BPE dropout {} is not supported (encoding "
                 "must be deterministic)",
                 node.file, dropout->path, p);
        }
    }

    Node vocab_node = node.child("vocab");
    vocab_node.require_object();
    std::vector<std::pair<std::string, int32_t>> vocab;
    vocab.reserve(vocab_node.value.size());
    for (auto it = vocab_node.value.begin(); it != vocab_node.value.end(); ++it) {
        Node id{it.value(), node.file, vocab_node.path + "[\"" + it.key() + "\"]"};
        check_utf8(it.key(), id);
        vocab.emplace_back(it.key(), int32_t(id.integer(0, k_max_id)));
    }

    std::vector<std::pair<std::string, std::string>> merges;
    if (auto merges_node = node.optional_child("merges")) {
        size_t n = merges_node->size();
        merges.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            Node m = merges_node->at(i);
            if (m.value.is_string()) {
                // Legacy form "left right": exactly one space.
                std::string s = m.str();
                size_t space = s.find(' ');
                if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
                    fail(ErrorKind::format,
                         "{}: field {}: merge '{}' is not two tokens "
                         "separated by one space",
                         node.file, m.path, s);
                }
                merges.emplace_back(s.substr(0, space), s.substr(space + 1));
            } else {
                if (m.size() != 2) m.fail_type("a [left, right] pair");
                merges.emplace_back(m.at(0).str(), m.at(1).str());
            }
        }
    }
    return BpeModel::from_merges(vocab, merges, std::move(options),
                                 node.file + ": field " + node.path);
}

// bos_token / eos_token of tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> config_token(const Node& config, const char* key) {
    auto c = config.optional_child(key);
    if (!c || c->is_null()) return std::nullopt;
    if (c->value.is_string()) return c->str();
    if (c->value.is_object()) return c->child("content").str();
    c->fail_type("a string, an object with content, or null");
}

json parse_json(std::string_view text, const std::string& name) {
    try {
        return json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {  // parse_error, out_of_range (number overflow), ...
        fail(ErrorKind::format, "{}: not valid JSON: {}", name, e.what());
    }
}

}  // namespace

namespace {

Tokenizer build_from_json(std::string_view text, const std::string& name,
                          std::string_view config_text, std::string_view generation_text) {
    json doc = parse_json(text, name);
    auto impl = std::make_shared<TokenizerImpl>();
    impl->name = name;
    Node root{doc, name, "$"};
    root.require_object();

    impl->model = parse_model(root.child("model"));
    if (auto n = root.optional_child("normalizer"); n && !n->is_null()) {
        impl->normalizer = parse_normalizer(*n);
    }
    if (auto p = root.optional_child("pre_tokenizer"); p && !p->is_null()) {
        impl->pre_tokenizer = parse_pre_tokenizer(*p);
    }
    if (auto p = root.optional_child("post_processor"); p && !p->is_null()) {
        impl->post = parse_post_processor(*p);
    }
    if (auto d = root.optional_child("decoder"); d && !d->is_null()) {
        impl->decoder = parse_decoder(*d);
    }
    if (auto t = root.optional_child("truncation"); t && !t->is_null()) {
        fail(ErrorKind::unsupported, "{}: field {}: truncation is not supported", name, t->path);
    }

    // Added tokens get their ids as `tokenizers` assigns them: the model's id when the content is
    // in the model vocabulary, else the next id after the vocabulary and earlier added tokens.
    std::vector<AddedToken> added;
    std::unordered_map<std::string, size_t> added_by_content;
    if (auto list = root.optional_child("added_tokens"); list && !list->is_null()) {
        int64_t next_id = impl->model.n_tokens();
        for (size_t i = 0; i < list->size(); ++i) {
            Node a = list->at(i);
            AddedToken t;
            t.content = a.child("content").str();
            check_utf8(t.content, a);
            int64_t given = a.child("id").integer(0, k_max_id);
            t.special = opt_bool(a, "special", false);
            t.single_word = opt_bool(a, "single_word", false);
            t.lstrip = opt_bool(a, "lstrip", false);
            t.rstrip = opt_bool(a, "rstrip", false);
            t.normalized = opt_bool(a, "normalized", !t.special);
            if (t.content.empty()) continue;
            if (auto it = added_by_content.find(t.content); it != added_by_content.end()) {
                t.id = added[it->second].id;
                added[it->second] = t;
                continue;
            }
            if (auto id = impl->model.token_to_id(t.content)) {
                t.id = *id;
            } else {
                t.id = int32_t(next_id);
                ++next_id;
            }
            (void)given;
            if (t.id > k_max_id) fail(ErrorKind::format, "{}: too many added tokens", name);
            added_by_content.emplace(t.content, added.size());
            added.push_back(std::move(t));
        }
        if (next_id - impl->model.size() > 1'000'000) {
            fail(ErrorKind::format, "{}: too many added tokens", name);
        }
    }
    impl->finish(std::move(added));
    Tokenizer tok(impl);

    // BOS / EOS: tokenizer_config.json when given, else the post-processor's ids.
    if (!config_text.empty()) {
        const std::string config_name = name + " (tokenizer_config.json)";
        json config = parse_json(config_text, config_name);
        Node c{config, config_name, "$"};
        c.require_object();
        if (auto bos = config_token(c, "bos_token")) impl->bos = tok.token_to_id(*bos);
        if (auto eos = config_token(c, "eos_token")) {
            if (auto id = tok.token_to_id(*eos)) impl->eos.push_back(*id);
        }
    } else if (!impl->post.prefix.empty()) {
        impl->bos = impl->post.prefix.front();
    }
    // generation_config.json: eos_token_id (an id or a list of ids) adds end-of-sequence ids.
    if (!generation_text.empty()) {
        const std::string gen_name = name + " (generation_config.json)";
        json gen = parse_json(generation_text, gen_name);
        Node g{gen, gen_name, "$"};
        g.require_object();
        if (auto eos = g.optional_child("eos_token_id"); eos && !eos->is_null()) {
            std::vector<int64_t> ids;
            if (eos->value.is_array()) {
                for (size_t i = 0; i < eos->size(); ++i)
                    ids.push_back(eos->at(i).integer(0, k_max_id));
            } else {
                ids.push_back(eos->integer(0, k_max_id));
            }
            for (int64_t id : ids) {
                if (id >= impl->vocab_size) {
                    fail(ErrorKind::format, "{}: field {}: id {} is outside the vocabulary of {}",
                         gen_name, eos->path, id, impl->vocab_size);
                }
                if (std::find(impl->eos.begin(), impl->eos.end(), int32_t(id)) == impl->eos.end()) {
                    impl->eos.push_back(int32_t(id));
                }
            }
        }
    }
    return tok;
}

}  // namespace

Tokenizer Tokenizer::from_json_string(std::string_view text, std::string_view name,
                                      std::string_view config_text,
                                      std::string_view generation_text) {
    try {
        return build_from_json(text, std::string(name), config_text, generation_text);
    } catch (const nlohmann::json::exception& e) {
        // Every field is checked before use; this is a safety net, not an expected path.
        fail(ErrorKind::format, "{}: malformed tokenizer JSON: {}", name, e.what());
    }
}

Tokenizer Tokenizer::from_file(const std::string& path) {
    std::string text = read_file(path);
    auto beside = [&](const char* file) {
        std::filesystem::path p = std::filesystem::path(path).parent_path() / file;
        std::error_code ec;
        return std::filesystem::is_regular_file(p, ec) ? read_file(p.string()) : std::string();
    };
    return from_json_string(text, path, beside("tokenizer_config.json"),
                            beside("generation_config.json"));
}

}  // namespace encore
