// Label log-probabilities of encore's Scorer against goldens computed independently
// (tools/goldens/score_goldens.py: a float64 numpy forward pass, labels tokenized by the rule
// written there, chat turns rendered by jinja2): the bundled model (byte-level BPE) and a tiny
// random Llama with a SentencePiece vocabulary, single-token letters, multi-token words and a
// chat rubric. Label tokens must be equal, log-probabilities within 1e-4.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/engine.h"
#include "model/model.h"
#include "score/scorer.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

std::string source_path(const std::string& rel) {
    return std::string(ENCORE_SOURCE_DIR) + "/" + rel;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(ScoreGoldens, LabelLogprobsMatchTheFloat64Reference) {
    const auto goldens =
        nlohmann::json::parse(read_text(source_path("tests/data/score/goldens.json")));
    ASSERT_GE(goldens["cases"].size(), 3u);
    for (const auto& c : goldens["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        auto model = Model::load(source_path(c["model"]));
        const std::string tok_path = c["tokenizer"];
        const Tokenizer tokenizer = tok_path == c["model"].get<std::string>()
                                        ? model->tokenizer()
                                        : Tokenizer::from_file(source_path(tok_path));
        std::optional<ModelChat> chat;
        if (!c["chat_template"].is_null())
            chat = ModelChat{
                {read_text(source_path(c["chat_template"])), c["chat_template"]}, "<s>", "</s>"};
        Engine engine(model, LayerPlan::identity(model->spec().n_layers));
        const Rubric rubric = Rubric::from_string(c["rubric"].get<std::string>(), c["name"]);
        Scorer scorer(engine, rubric, tokenizer, chat ? &*chat : nullptr);
        for (size_t k = 0; k < scorer.criteria().size(); ++k)
            for (size_t l = 0; l < scorer.criteria()[k].labels.size(); ++l)
                EXPECT_EQ(scorer.criteria()[k].labels[l].tokens,
                          c["label_tokens"][k][l].get<std::vector<int32_t>>())
                    << "criterion " << k << " label " << l;
        // SentencePiece: `Rating: A` scores the one token "\u2581A", not "\u2581" + "\u2581A".
        if (const auto a = tokenizer.token_to_id("\u2581A")) {
            for (const auto& crit : scorer.criteria())
                for (const auto& l : crit.labels)
                    if (l.text == " A") {
                        EXPECT_EQ(l.tokens, std::vector<int32_t>{*a});
                    }
        }
        std::vector<PreparedItem> items;
        int64_t n = 0;
        for (const auto& rec : c["items"])
            items.push_back(scorer.prepare(nlohmann::ordered_json::parse(rec.dump()), ++n));
        const auto results = scorer.score_batch(items);
        for (size_t i = 0; i < items.size(); ++i)
            for (size_t k = 0; k < scorer.criteria().size(); ++k)
                for (size_t l = 0; l < scorer.criteria()[k].labels.size(); ++l)
                    EXPECT_NEAR(results[i].scores[k].raw.logprobs[l],
                                c["logprobs"][i][k][l].get<double>(), 1e-4)
                        << "item " << i << " criterion " << k << " label " << l;
    }
}

}  // namespace
}  // namespace encore
