// Layer plan specs: ranges, single indices, rys:I,J, mergekit YAML, and every malformed form
// rejected with a message naming the bad part.
#include "model/layer_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/error.h"

namespace encore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(LayerPlan, RangesAndSingles) {
    EXPECT_THAT(LayerPlan::parse("0-3,2-5", 12).layers, ElementsAre(0, 1, 2, 3, 2, 3, 4, 5));
    EXPECT_THAT(LayerPlan::parse("0,1,1,1,2-5", 12).layers, ElementsAre(0, 1, 1, 1, 2, 3, 4, 5));
    EXPECT_THAT(LayerPlan::parse(" 3 , 1-2 ", 4).layers, ElementsAre(3, 1, 2));
    EXPECT_TRUE(LayerPlan::parse("", 12).is_identity(12));
    EXPECT_TRUE(LayerPlan::parse("0-11", 12).is_identity(12));
}

TEST(LayerPlan, Rys) {
    // layers 0..J-1 then I..N-1
    EXPECT_THAT(LayerPlan::parse("rys:4,8", 12).layers,
                ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11));
    EXPECT_EQ(LayerPlan::parse("rys:4,8", 12).to_spec(), "0-7,4-11");
    EXPECT_TRUE(LayerPlan::parse("rys:5,5", 12).is_identity(12));
}

std::string error_of(const std::string& spec, int n_layers) {
    try {
        LayerPlan::parse(spec, n_layers);
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
        return e.what();
    }
    ADD_FAILURE() << "no error for '" << spec << "'";
    return "";
}

TEST(LayerPlan, MalformedSpecsAreRejectedClearly) {
    EXPECT_THAT(error_of("5-2", 12), HasSubstr("5-2"));
    EXPECT_THAT(error_of("0-99", 12), HasSubstr("99"));
    EXPECT_THAT(error_of("0-99", 12), HasSubstr("0-11"));
    EXPECT_THAT(error_of("a-b", 12), HasSubstr("'a'"));
    EXPECT_THAT(error_of(",", 12), HasSubstr("empty"));
    EXPECT_THAT(error_of("1,,2", 12), HasSubstr("empty"));
    EXPECT_THAT(error_of("-1", 12), HasSubstr("-1"));
    EXPECT_THAT(error_of("rys:9", 12), HasSubstr("rys:I,J"));
    EXPECT_THAT(error_of("rys:0,13", 12), HasSubstr("rys:0,13"));
    EXPECT_THAT(error_of("rys:x,2", 12), HasSubstr("integers"));
    EXPECT_THAT(error_of("missing.yaml", 12), HasSubstr("not found"));
}

class MergekitYaml : public ::testing::Test {
  protected:
    std::string write(const std::string& text) {
        // The process id in the name: ctest runs each test as a process, several at once.
        const std::string path = ::testing::TempDir() + "/plan_" + std::to_string(::getpid()) +
                                 "_" + std::to_string(counter_++) + ".yaml";
        std::ofstream(path) << text;
        paths_.push_back(path);
        return path;
    }
    void TearDown() override {
        for (const auto& p : paths_) std::filesystem::remove(p);
    }
    std::vector<std::string> paths_;
    int counter_ = 0;
};

TEST_F(MergekitYaml, PassthroughSlicesAreHalfOpen) {
    const std::string path = write(R"(slices:
  - sources:
    - model: some/model
      layer_range: [0, 8]
  - sources:
    - model: some/model
      layer_range: [4, 12]
merge_method: passthrough
dtype: bfloat16
)");
    EXPECT_EQ(LayerPlan::parse(path, 12).layers, LayerPlan::rys(4, 8, 12).layers);
}

TEST_F(MergekitYaml, BadFilesAreRejected) {
    EXPECT_THROW(LayerPlan::parse(write("slices: [\n"), 12), Error);
    EXPECT_THROW(LayerPlan::parse(write("merge_method: slerp\nslices: []\n"), 12), Error);
    EXPECT_THROW(
        LayerPlan::parse(
            write("slices:\n  - sources:\n    - model: a\n      layer_range: [0, 13]\n"), 12),
        Error);
    EXPECT_THROW(
        LayerPlan::parse(
            write("slices:\n  - sources:\n    - model: a\n      layer_range: [3, 3]\n"), 12),
        Error);
    EXPECT_THROW(
        LayerPlan::parse(write("slices:\n  - sources:\n    - model: a\n      layer_range: [0, 2]\n "
                               " - sources:\n    - model: b\n      layer_range: [0, 2]\n"),
                         12),
        Error);
}

}  // namespace
}  // namespace encore
