// GGUF glue: building a Tokenizer from `tokenizer.ggml.*` metadata (GgufTokenizerData) and the
// reverse. GGUF names a pipeline instead of spelling it out, so both directions map names to the
// pipelines `tokenizers` files use:
//   model "llama": SentencePiece-style BPE: normalizer Prepend "▁" + Replace " " -> "▁", no
//     pre-tokenizer, byte fallback `<0xNN>`, unknown token fused; decoder Replace "▁" -> " ",
//     ByteFallback, Fuse, Strip one leading space. Merges when present, else merge priority from
//     scores (higher first).
//   model "gpt2": byte-level BPE with the split regex named by `pre`: "llama-bpe" / "llama3"
//     (Llama-3 regex, whole-word vocabulary hits skip merging: `ignore_merges`), "smaug-bpe"
//     (Llama-3 regex, merges always applied), "qwen2" (Qwen regex and NFC normalization, as
//     every Qwen2/3 tokenizer.json has), "default" / "gpt2" (GPT-2 regex inside ByteLevel).
// Token types: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte. Types 2 and 3
// are special added tokens and type 4 non-special added tokens, all matched in raw text.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace encore {

namespace {

constexpr const char* k_metaspace = "\xE2\x96\x81";
constexpr int32_t k_type_normal = 1, k_type_unknown = 2, k_type_control = 3,
                  k_type_user_defined = 4, k_type_byte = 6;

bool is_byte_token(const std::string& t) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
    return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

Normalizer sentencepiece_normalizer() {
    Normalizer prepend;
    prepend.kind = Normalizer::Kind::prepend;
    prepend.content = k_metaspace;
    Normalizer replace;
    replace.kind = Normalizer::Kind::replace;
    replace.pattern_string = " ";
    replace.content = k_metaspace;
    Normalizer seq;
    seq.kind = Normalizer::Kind::sequence;
    seq.children = {prepend, replace};
    return seq;
}

Decoder sentencepiece_decoder() {
    Decoder replace;
    replace.kind = Decoder::Kind::replace;
    replace.pattern_string = k_metaspace;
    replace.content = " ";
    Decoder fallback;
    fallback.kind = Decoder::Kind::byte_fallback;
    Decoder fuse;
    fuse.kind = Decoder::Kind::fuse;
    Decoder strip;
    strip.kind = Decoder::Kind::strip;
    strip.strip_char = U' ';
    strip.start = 1;
    strip.stop = 0;
    Decoder seq;
    seq.kind = Decoder::Kind::sequence;
    seq.children = {replace, fallback, fuse, strip};
    return seq;
}

PreTokenizer byte_level_pre_tokenizer(const char* regex) {
    PreTokenizer byte_level;
    byte_level.kind = PreTokenizer::Kind::byte_level;
    byte_level.add_prefix_space = false;
    byte_level.use_regex = regex == nullptr;
    if (!regex) return byte_level;
    PreTokenizer split;
    split.kind = PreTokenizer::Kind::split;
    split.pattern = Regex::compile(regex, "GGUF pre-tokenizer");
    split.behavior = SplitBehavior::isolated;
    PreTokenizer seq;
    seq.kind = PreTokenizer::Kind::sequence;
    seq.children = {split, byte_level};
    return seq;
}

// Whether the normalizer is SentencePiece's Prepend "▁" + Replace " " -> "▁".
bool is_sentencepiece_normalizer(const std::optional<Normalizer>& n) {
    if (!n || n->kind != Normalizer::Kind::sequence || n->children.size() != 2) return false;
    const Normalizer& a = n->children[0];
    const Normalizer& b = n->children[1];
    return a.kind == Normalizer::Kind::prepend && a.content == k_metaspace &&
           b.kind == Normalizer::Kind::replace && !b.pattern_regex.valid() &&
           b.pattern_string == " " && b.content == k_metaspace;
}

// The regex of a byte-level pre-tokenizer: "" for ByteLevel with its own GPT-2 regex, nullopt
// when the pre-tokenizer is not one GGUF can name.
std::optional<std::string> byte_level_regex(const std::optional<PreTokenizer>& p) {
    if (!p) return std::nullopt;
    auto plain_byte_level = [](const PreTokenizer& q, bool use_regex) {
        return q.kind == PreTokenizer::Kind::byte_level && !q.add_prefix_space &&
               q.use_regex == use_regex;
    };
    if (plain_byte_level(*p, true)) return std::string();
    if (p->kind != PreTokenizer::Kind::sequence || p->children.size() != 2) return std::nullopt;
    const PreTokenizer& split = p->children[0];
    if (split.kind != PreTokenizer::Kind::split || split.behavior != SplitBehavior::isolated ||
        split.invert || !plain_byte_level(p->children[1], false)) {
        return std::nullopt;
    }
    return split.pattern.pattern();
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufTokenizerData& d) {
    const std::string what = "GGUF tokenizer";
    auto impl = std::make_shared<TokenizerImpl>();
    impl->name = "gguf";
    size_t n = d.tokens.size();
    if (n == 0) fail(ErrorKind::format, "{}: tokenizer.ggml.tokens is empty", what);
    if (n > size_t(1) << 30) fail(ErrorKind::format, "{}: {} tokens is too many", what, n);
    if (!d.token_types.empty() && d.token_types.size() != n) {
        fail(ErrorKind::format, "{}: tokenizer.ggml.token_type has {} entries for {} tokens", what,
             d.token_types.size(), n);
    }
    if (!d.scores.empty() && d.scores.size() != n) {
        fail(ErrorKind::format, "{}: tokenizer.ggml.scores has {} entries for {} tokens", what,
             d.scores.size(), n);
    }
    auto check_id = [&](const std::optional<int64_t>& id,
                        const char* key) -> std::optional<int32_t> {
        if (!id) return std::nullopt;
        if (*id < 0 || *id >= int64_t(n)) {
            fail(ErrorKind::format, "{}: {} = {} is outside the {} tokens", what, key, *id, n);
        }
        return int32_t(*id);
    };
    std::optional<int32_t> bos = check_id(d.bos_id, "tokenizer.ggml.bos_token_id");
    std::optional<int32_t> eos = check_id(d.eos_id, "tokenizer.ggml.eos_token_id");
    std::optional<int32_t> unk = check_id(d.unk_id, "tokenizer.ggml.unknown_token_id");

    bool sentencepiece;
    if (d.model == "llama") {
        sentencepiece = true;
    } else if (d.model == "gpt2") {
        sentencepiece = false;
    } else {
        fail(ErrorKind::unsupported, "{}: tokenizer.ggml.model '{}' is not supported (llama, gpt2)",
             what, d.model);
    }

    std::vector<std::pair<std::string, int32_t>> vocab;
    vocab.reserve(n);
    std::vector<AddedToken> added;
    for (size_t i = 0; i < n; ++i) {
        const std::string& token = d.tokens[i];
        if (auto bad = utf8::find_invalid(token)) {
            fail(ErrorKind::format, "{}: token {} is not valid UTF-8 (byte offset {})", what, i,
                 *bad);
        }
        vocab.emplace_back(token, int32_t(i));
        int32_t type = d.token_types.empty() ? k_type_normal : d.token_types[i];
        if (type == k_type_unknown || type == k_type_control || type == k_type_user_defined) {
            AddedToken t;
            t.content = token;
            t.id = int32_t(i);
            t.special = type != k_type_user_defined;
            added.push_back(std::move(t));
        }
    }

    BpeOptions options;
    if (sentencepiece) {
        options.byte_fallback = true;
        options.fuse_unk = true;
        if (unk) options.unk_token = d.tokens[size_t(*unk)];
    }
    const char* regex = nullptr;
    if (!sentencepiece) {
        const std::string& pre = d.pre;
        if (pre == "llama-bpe" || pre == "llama3") {
            regex = k_llama3_regex;
            options.ignore_merges = true;
        } else if (pre == "smaug-bpe") {
            regex = k_llama3_regex;
        } else if (pre == "qwen2") {
            regex = k_qwen2_regex;
            Normalizer nfc;
            nfc.kind = Normalizer::Kind::nfc;
            impl->normalizer = nfc;
        } else if (pre.empty() || pre == "default" || pre == "gpt2") {
            regex = nullptr;
        } else {
            fail(ErrorKind::unsupported,
                 "{}: tokenizer.ggml.pre '{}' is not supported (llama-bpe, llama3, smaug-bpe, "
                 "qwen2, default, gpt2)",
                 what, pre);
        }
    }

    if (!d.merges.empty()) {
        std::vector<std::pair<std::string, std::string>> merges;
        merges.reserve(d.merges.size());
        for (size_t i = 0; i < d.merges.size(); ++i) {
            const std::string& m = d.merges[i];
            size_t space = m.find(' ', 1);
            if (space == std::string::npos) {
                fail(ErrorKind::format, "{}: merge {} '{}' has no space between its two tokens",
                     what, i, m);
            }
            merges.emplace_back(m.substr(0, space), m.substr(space + 1));
        }
        impl->model = BpeModel::from_merges(vocab, merges, options, what);
    } else if (sentencepiece && !d.scores.empty()) {
        // Only normal tokens are reachable by merging.
        std::vector<float> scores = d.scores;
        for (size_t i = 0; i < n; ++i) {
            int32_t type = d.token_types.empty() ? k_type_normal : d.token_types[i];
            if (type != k_type_normal) scores[i] = -INFINITY;
        }
        impl->model = BpeModel::from_scores(vocab, scores, options, what);
        impl->scores = d.scores;
    } else {
        fail(ErrorKind::format,
             "{}: neither tokenizer.ggml.merges nor tokenizer.ggml.scores "
             "is given",
             what);
    }

    if (sentencepiece) {
        impl->normalizer = sentencepiece_normalizer();
        impl->decoder = sentencepiece_decoder();
    } else {
        impl->pre_tokenizer = byte_level_pre_tokenizer(regex);
        Decoder byte_level;
        byte_level.kind = Decoder::Kind::byte_level;
        impl->decoder = byte_level;
    }

    bool add_bos = d.add_bos.value_or(sentencepiece);
    bool add_eos = d.add_eos.value_or(false);
    if (add_bos) {
        if (!bos) fail(ErrorKind::format, "{}: add_bos_token is set but there is no BOS id", what);
        impl->post.prefix.push_back(*bos);
    }
    if (add_eos) {
        if (!eos) fail(ErrorKind::format, "{}: add_eos_token is set but there is no EOS id", what);
        impl->post.suffix.push_back(*eos);
    }
    impl->bos = bos;
    if (eos) impl->eos.push_back(*eos);
    impl->finish(std::move(added));
    return Tokenizer(impl);
}

GgufTokenizerData Tokenizer::to_gguf() const {
    const TokenizerImpl& t = *impl_;
    GgufTokenizerData d;
    const BpeOptions& options = t.model.options();
    bool sentencepiece = is_sentencepiece_normalizer(t.normalizer) && !t.pre_tokenizer;
    if (sentencepiece) {
        if (!options.byte_fallback || options.continuing_subword_prefix.value_or("") != "" ||
            options.end_of_word_suffix.value_or("") != "") {
            fail(ErrorKind::unsupported,
                 "{}: a SentencePiece-style BPE without byte fallback (or "
                 "with subword affixes) has no GGUF form",
                 t.name);
        }
        d.model = "llama";
        d.pre = "default";
    } else {
        std::optional<std::string> regex = byte_level_regex(t.pre_tokenizer);
        if (!regex || options.byte_fallback ||
            options.continuing_subword_prefix.value_or("") != "" ||
            options.end_of_word_suffix.value_or("") != "") {
            fail(ErrorKind::unsupported,
                 "{}: this tokenizer's pipeline (normalizer / "
                 "pre-tokenizer / model options) has no GGUF form",
                 t.name);
        }
        bool nfc = t.normalizer && t.normalizer->kind == Normalizer::Kind::nfc;
        if (t.normalizer && !nfc) {
            fail(ErrorKind::unsupported,
                 "{}: a byte-level tokenizer with this normalizer has no "
                 "GGUF form",
                 t.name);
        }
        d.model = "gpt2";
        if (*regex == k_qwen2_regex && nfc) {
            d.pre = "qwen2";
        } else if (*regex == k_llama3_regex && !nfc) {
            d.pre = options.ignore_merges ? "llama-bpe" : "smaug-bpe";
        } else if (regex->empty() && !nfc && !options.ignore_merges) {
            d.pre = "gpt2";
        } else {
            fail(ErrorKind::unsupported, "{}: split regex /{}/{} has no GGUF pre-tokenizer name",
                 t.name, *regex, nfc ? " with NFC" : "");
        }
        if (d.pre == "qwen2" && options.ignore_merges) {
            fail(ErrorKind::unsupported, "{}: qwen2 with ignore_merges has no GGUF form", t.name);
        }
    }

    int32_t n = t.vocab_size;
    d.tokens.resize(size_t(n));
    d.token_types.assign(size_t(n), k_type_normal);
    std::optional<int32_t> unk_id;
    if (options.unk_token) unk_id = t.model.token_to_id(*options.unk_token);
    for (int32_t id = 0; id < n; ++id) {
        int32_t k = t.added_index[size_t(id)];
        const std::string* s = t.model.id_to_token(id);
        if (k >= 0) {
            const AddedToken& a = t.added.tokens()[size_t(k)];
            if (a.lstrip || a.rstrip || a.single_word || (a.normalized && t.normalizer)) {
                fail(ErrorKind::unsupported,
                     "{}: added token '{}' has matching options (lstrip, "
                     "rstrip, single_word, normalized) that GGUF cannot store",
                     t.name, a.content);
            }
            d.tokens[size_t(id)] = a.content;
            d.token_types[size_t(id)] = a.special ? k_type_control : k_type_user_defined;
        } else if (s) {
            d.tokens[size_t(id)] = *s;
            if (sentencepiece && is_byte_token(*s)) d.token_types[size_t(id)] = k_type_byte;
        } else {
            d.tokens[size_t(id)] = "<unused" + std::to_string(id) + ">";
            d.token_types[size_t(id)] = 5;
        }
        if (unk_id && id == *unk_id) d.token_types[size_t(id)] = k_type_unknown;
    }
    if (t.model.has_merges_list()) d.merges = t.model.merges_as_strings();
    if (sentencepiece) {
        if (!t.scores.empty()) {
            d.scores = t.scores;
        } else {
            // Score = minus the rank of the first merge that makes the token (tokens no merge
            // makes come after), so that merging by score alone follows the merge order.
            std::vector<int32_t> results = t.model.merge_results();
            float n_merges = float(results.size());
            d.scores.resize(size_t(n));
            for (int32_t id = 0; id < n; ++id) d.scores[size_t(id)] = -(n_merges + float(id));
            for (size_t rank = results.size(); rank-- > 0;) {
                if (results[rank] >= 0) d.scores[size_t(results[rank])] = -float(rank);
            }
        }
        if (unk_id) d.unk_id = *unk_id;
    }

    if (t.post.prefix.size() > 1 || t.post.suffix.size() > 1) {
        fail(ErrorKind::unsupported,
             "{}: a post-processor adding more than one token at either "
             "end has no GGUF form",
             t.name);
    }
    if (t.bos) d.bos_id = *t.bos;
    if (!t.eos.empty()) d.eos_id = t.eos.front();
    d.add_bos = !t.post.prefix.empty();
    d.add_eos = !t.post.suffix.empty();
    if (*d.add_bos) {
        if (d.bos_id && *d.bos_id != t.post.prefix[0]) {
            fail(ErrorKind::unsupported,
                 "{}: the post-processor adds id {} but the BOS token is "
                 "{}",
                 t.name, t.post.prefix[0], *d.bos_id);
        }
        d.bos_id = t.post.prefix[0];
    }
    if (*d.add_eos) {
        if (d.eos_id && *d.eos_id != t.post.suffix[0]) {
            fail(ErrorKind::unsupported,
                 "{}: the post-processor appends id {} but the EOS token "
                 "is {}",
                 t.name, t.post.suffix[0], *d.eos_id);
        }
        d.eos_id = t.post.suffix[0];
    }
    return d;
}

}  // namespace encore
