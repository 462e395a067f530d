// Export of layer plans: encore's logits on an exported checkpoint (HF and GGUF) equal its logits
// with --layers SPEC on the original, bitwise on the CPU; config.json and tensor names are those
// of a model with the plan's layers physically repeated; the mergekit YAML reads back as the
// same plan; an existing target is refused and nothing is left behind on failure.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/engine.h"
#include "engine/sequence.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "sweep/export.h"

namespace encore {
namespace {

namespace fs = std::filesystem;

const std::string kBrown = std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l";

std::vector<float> logits_of(std::shared_ptr<const Model> model, const LayerPlan& plan) {
    Engine engine(std::const_pointer_cast<Model>(model), plan);
    Sequence seq(engine);
    const std::vector<int32_t> tokens = {0, 331, 492, 618, 268, 3866, 481, 3448, 497, 1141, 562};
    seq.prefill(tokens, Logits::all);
    return {seq.logits().begin(), seq.logits().end()};
}

class Export : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("encore_export_test_" + std::to_string(std::random_device{}()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(Export, HfAndGgufGiveTheLogitsOfThePlan) {
    const auto brown = Model::load(kBrown);
    for (const std::string spec : {"rys:4,8", "rys:2,5;7,9", "0,0,1-11"}) {
        const LayerPlan plan = LayerPlan::parse(spec, 12);
        const auto want = logits_of(brown, plan);
        const std::string hf = (dir_ / ("hf_" + std::to_string(plan.n_instances()))).string();
        export_hf(*brown, plan, hf);
        const auto config = nlohmann::json::parse(read_file(hf + "/config.json"));
        EXPECT_EQ(config["num_hidden_layers"], plan.n_instances());
        EXPECT_EQ(config["hidden_size"], 256);
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
            EXPECT_EQ(read_file(hf + "/" + f), read_file(kBrown + "/" + f)) << f;
        // Instance k's tensors are bytewise the source layer plan[k]'s.
        const auto src = SafetensorsCheckpoint::open_dir(kBrown);
        const auto out = SafetensorsCheckpoint::open_dir(hf);
        for (int k = 0; k < plan.n_instances(); ++k) {
            const auto& a = out.get("model.layers." + std::to_string(k) + ".mlp.down_proj.weight");
            const auto& b = src.get("model.layers." + std::to_string(plan.layers[size_t(k)]) +
                                    ".mlp.down_proj.weight");
            ASSERT_EQ(a.n_bytes(), b.n_bytes());
            EXPECT_EQ(0, std::memcmp(a.data, b.data, size_t(a.n_bytes()))) << spec << " " << k;
        }
        EXPECT_FALSE(out.find("model.layers." + std::to_string(plan.n_instances()) +
                              ".mlp.down_proj.weight"));
        const auto exported = Model::load(hf);
        const auto got = logits_of(exported, LayerPlan::identity(plan.n_instances()));
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float))) << spec;

        const std::string gguf = hf + ".gguf";
        export_gguf(brown, plan, gguf, "");
        const auto from_gguf = Model::load(gguf);
        EXPECT_EQ(from_gguf->spec().n_layers, plan.n_instances());
        const auto got_gguf = logits_of(from_gguf, LayerPlan::identity(plan.n_instances()));
        EXPECT_EQ(0, std::memcmp(got_gguf.data(), want.data(), want.size() * sizeof(float)))
            << spec;
    }
}

TEST_F(Export, MergekitYamlRoundTrips) {
    const auto brown = Model::load(kBrown);
    for (const std::string spec : {"rys:4,8", "rys:2,5;7,9", "0,0,1-11", "0-11,11,11"}) {
        const LayerPlan plan = LayerPlan::parse(spec, 12);
        const std::string path = (dir_ / ("plan_" + std::to_string(plan.n_instances()) +
                                          std::to_string(plan.layers[1]) + ".yaml"))
                                     .string();
        export_mergekit(*brown, plan, path);
        EXPECT_EQ(LayerPlan::parse(path, 12).layers, plan.layers) << spec;
        EXPECT_NE(read_file(path).find("merge_method: passthrough"), std::string::npos);
    }
}

TEST_F(Export, ExistingTargetIsRefused) {
    const auto brown = Model::load(kBrown);
    fs::create_directories(dir_ / "taken");
    std::string e;
    try {
        export_hf(*brown, LayerPlan::rys(4, 8, 12), (dir_ / "taken").string());
    } catch (const Error& err) {
        e = err.what();
    }
    EXPECT_NE(e.find("already exists"), std::string::npos) << e;
    EXPECT_TRUE(fs::is_empty(dir_ / "taken"));
}

}  // namespace
}  // namespace encore
