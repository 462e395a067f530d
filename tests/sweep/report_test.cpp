// Drawing of a sweep run directory: heatmap colours read back from the PNG (blue where a plan
// beats the baseline in the metric's own direction, red where it is worse, the neutral colour at
// an interval containing zero), the report's contents and self-containment, atomic outputs and
// one-line errors on broken run directories, and Spearman's rank correlation against the
// closed-form formula for untied data.
//
// The run directory is synthetic (results of a made-up model, values chosen so that each colour
// case occurs); with ENCORE_REPORT_SAMPLE_DIR set, RunDirSample writes it there (with its report)
// for tests/extra/report_browser.sh.
#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "sweep/heatmap.h"
#include "sweep/report.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kLayers = 12;

// ppl of plan (i, j): better than the base 20 for short late blocks, worse for long ones.
double fake_ppl(int i, int j) {
    return 20.0 + 0.4 * (j - i) * (j - i) - (i >= 6 ? 3.0 : 0.0);
}
double fake_acc(int i, int j) {
    return 0.5 - 0.01 * (j - i) + (i >= 6 ? 0.05 : 0.0);
}

void write_text(const fs::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary);
    f << s;
}

// Writes run.json, results.jsonl, samples.jsonl and distance.json of every RYS plan.
void write_run_dir(const fs::path& dir) {
    fs::create_directories(dir);
    json run = {{"version", 1},
                {"model", "synthetic-12l"},
                {"model_identity", "synthetic"},
                {"n_layers", kLayers},
                {"probes", json::object()},
                {"metrics",
                 {{{"name", "ppl"}, {"label", "perplexity"}, {"better", "lower"}},
                  {{"name", "choice_acc"}, {"label", "accuracy"}, {"better", "higher"}}}}};
    json plans = json::array({"base"});
    std::string lines;
    auto row = [&](const std::string& plan, json i, json j, int n_inst, double ppl, double acc) {
        double dp = ppl - 20.0, da = acc - 0.5;
        // A plan with a delta of at most 0.5 is "not significant": its interval straddles 0.
        auto ci = [](double d, double w) {
            return std::fabs(d) <= w ? json::array({d - w, d + w})
                                     : json::array({d - w / 2, d + w / 2});
        };
        json r = {{"plan", plan},
                  {"i", i},
                  {"j", j},
                  {"layers", json::array()},
                  {"n_instances", n_inst},
                  {"metrics",
                   {{"ppl",
                     {{"value", ppl},
                      {"delta", dp},
                      {"ci", plan == "base" ? json::array({0, 0}) : ci(dp, 0.5)}}},
                    {"choice_acc",
                     {{"value", acc},
                      {"delta", da},
                      {"ci", plan == "base" ? json::array({0, 0}) : ci(da, 0.005)}}}}},
                  {"per_item", json::object()}};
        lines += r.dump() + "\n";
    };
    row("base", nullptr, nullptr, kLayers, 20.0, 0.5);
    for (int i = 0; i < kLayers; ++i)
        for (int j = i + 1; j <= kLayers; ++j) {
            plans.push_back("rys:" + std::to_string(i) + "," + std::to_string(j));
            row(plans.back(), i, j, kLayers + j - i, fake_ppl(i, j), fake_acc(i, j));
        }
    run["plans"] = plans;
    write_text(dir / "run.json", run.dump(2));
    write_text(dir / "results.jsonl", lines);
    std::string samples;
    for (const char* plan : {"base", "rys:6,7", "rys:0,12"})
        samples += json({{"plan", plan},
                         {"prompt", "Once <upon>"},
                         {"text", std::string(" a time & ") + plan},
                         {"tokens", 5},
                         {"stop_reason", "length"}})
                       .dump() +
                   "\n";
    write_text(dir / "samples.jsonl", samples);
    json d = json::array();
    for (int i = 0; i <= kLayers; ++i) {
        json r = json::array();
        for (int j = 0; j <= kLayers; ++j)
            r.push_back(i < j ? json(0.02 * (j - i) + 0.001 * i) : json(nullptr));
        d.push_back(r);
    }
    write_text(dir / "distance.json",
               json({{"n_layers", kLayers}, {"tokens", 64}, {"distance", d}}).dump());
}

struct Png {
    int width = 0, height = 0;
    std::vector<uint32_t> px;
    // Colour at image units (x, y) as r, g, b in [0, 255].
    std::array<int, 3> at(encore::Point p) const {
        // 15 units above the centre: inside the cell, clear of the value's text.
        int x = int(p.x * encore::kHeatmapPngScale), y = int((p.y - 15) * encore::kHeatmapPngScale);
        uint32_t v = px[size_t(y) * width + x];
        return {int(v >> 16 & 255), int(v >> 8 & 255), int(v & 255)};
    }
};

Png read_png(const fs::path& path) {
    cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
    EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS) << path;
    Png png;
    png.width = cairo_image_surface_get_width(s);
    png.height = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < png.height; ++y)
        for (int x = 0; x < png.width; ++x)
            png.px.push_back(*reinterpret_cast<const uint32_t*>(data + size_t(y) * stride + 4 * x));
    cairo_surface_destroy(s);
    return png;
}

encore::Heatmap map_of(bool lower_is_better) {
    encore::Heatmap m;
    m.n_layers = kLayers;
    m.lower_is_better = lower_is_better;
    return m;
}

bool is_blue(std::array<int, 3> c) {
    return c[2] > c[0] + 40;
}
bool is_red(std::array<int, 3> c) {
    return c[0] > c[2] + 40;
}

class ReportTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("encore_report_test_" + std::to_string(std::random_device{}()));
        write_run_dir(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(ReportTest, ColoursFollowTheMetricsDirection) {
    encore::draw_sweep_report(dir_.string());
    const Png ppl = read_png(dir_ / "heatmaps/ppl.png");
    const Png acc = read_png(dir_ / "heatmaps/choice_acc.png");
    const auto m = map_of(true);
    // rys:6,7: ppl 17.4 (< 20, better), acc 0.54 (> 0.5, better): blue on both maps.
    EXPECT_TRUE(is_blue(ppl.at(encore::heatmap_cell_centre(m, 6, 7))));
    EXPECT_TRUE(is_blue(acc.at(encore::heatmap_cell_centre(m, 6, 7))));
    // rys:0,12: ppl 77.6 (worse), acc 0.38 (worse): red on both.
    EXPECT_TRUE(is_red(ppl.at(encore::heatmap_cell_centre(m, 0, 12))));
    EXPECT_TRUE(is_red(acc.at(encore::heatmap_cell_centre(m, 0, 12))));
    // rys:0,1: ppl 20.4, delta 0.4 inside its interval: neither blue nor red.
    auto c = ppl.at(encore::heatmap_cell_centre(m, 0, 1));
    EXPECT_FALSE(is_blue(c) || is_red(c)) << c[0] << "," << c[1] << "," << c[2];
    // The SVG is a drawing of the same size.
    std::string svg = encore::read_file((dir_ / "heatmaps/ppl.svg").string());
    EXPECT_NE(svg.find("<svg"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir_ / "heatmaps/distance.png"));
    EXPECT_TRUE(fs::exists(dir_ / "heatmaps/distance.svg"));
}

TEST(Heatmap, BestCellFollowsDirection) {
    auto m = map_of(true);
    m.cells = {{0, 1, 5.0, 0, false}, {1, 2, 3.0, 0, false}, {2, 3, 9.0, 0, false}};
    EXPECT_EQ(encore::best_cell(m)->i, 1);
    m.lower_is_better = false;
    EXPECT_EQ(encore::best_cell(m)->i, 2);
}

TEST_F(ReportTest, ReportIsSelfContainedAndComplete) {
    encore::draw_sweep_report(dir_.string());
    const std::string html = encore::read_file((dir_ / "report.html").string());
    // Nothing fetched: no URL other than the SVG namespace, no external script or stylesheet.
    std::string rest = html;
    for (size_t p; (p = rest.find("http://www.w3.org/2000/svg")) != std::string::npos;)
        rest.erase(p, 26);
    EXPECT_EQ(rest.find("http:"), std::string::npos);
    EXPECT_EQ(rest.find("https:"), std::string::npos);
    EXPECT_EQ(rest.find("<link"), std::string::npos);
    EXPECT_EQ(rest.find("src=\"data:image/png;base64,"), rest.find("src=\"data:"));
    // Every plan is a row of the table; three inlined maps; samples are escaped.
    for (int i = 0; i < kLayers; ++i)
        for (int j = i + 1; j <= kLayers; ++j)
            EXPECT_NE(
                html.find("data-v=\"rys:" + std::to_string(i) + "," + std::to_string(j) + "\""),
                std::string::npos);
    size_t imgs = 0;
    for (size_t p = 0; (p = html.find("<img", p)) != std::string::npos; ++p) ++imgs;
    EXPECT_EQ(imgs, 3u);
    EXPECT_NE(html.find("Once &lt;upon&gt;"), std::string::npos);
    EXPECT_EQ(html.find("Once <upon>"), std::string::npos);
    // The distance rises with j - i like ppl does: a strongly positive rank correlation.
    EXPECT_NE(html.find("Spearman"), std::string::npos);
    // No temporary files left behind.
    for (const auto& e : fs::recursive_directory_iterator(dir_))
        EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST_F(ReportTest, TornLastLineIsIgnored) {
    std::ofstream(dir_ / "results.jsonl", std::ios::app) << "{\"plan\":\"rys:1,";
    EXPECT_NO_THROW(encore::draw_sweep_report(dir_.string()));
}

TEST_F(ReportTest, BrokenRunDirsFailWithOneLine) {
    auto expect_error = [&](const std::string& needle) {
        try {
            encore::draw_sweep_report(dir_.string());
            ADD_FAILURE() << "no error, wanted " << needle;
        } catch (const encore::Error& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(needle), std::string::npos) << msg;
            EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        }
    };
    std::string results = encore::read_file((dir_ / "results.jsonl").string());
    write_text(dir_ / "results.jsonl", "garbage\n" + results);
    expect_error("results.jsonl:1");
    write_text(dir_ / "results.jsonl",
               "{\"plan\":\"rys:3,20\",\"i\":3,\"j\":20,\"metrics\":{}}\n" + results);
    expect_error("outside");
    write_text(dir_ / "results.jsonl", results);
    write_text(dir_ / "distance.json", "{\"distance\":[[1]]}");
    expect_error("distance.json");
    fs::remove(dir_ / "run.json");
    expect_error("run.json");
    EXPECT_FALSE(fs::exists(dir_ / "report.html"));
}

TEST(Spearman, MatchesTheClosedFormWithoutTies) {
    std::mt19937 rng(7);
    std::normal_distribution<double> normal;
    for (int round = 0; round < 20; ++round) {
        const int n = 5 + round;
        std::vector<double> x(n), y(n);
        for (int k = 0; k < n; ++k) x[k] = normal(rng), y[k] = x[k] + 2 * normal(rng);
        // rho = 1 - 6 sum d^2 / (n (n^2 - 1)), d the rank differences (ranks by counting).
        double d2 = 0;
        for (int a = 0; a < n; ++a) {
            int rx = 0, ry = 0;
            for (int b = 0; b < n; ++b) rx += x[b] <= x[a], ry += y[b] <= y[a];
            d2 += double(rx - ry) * (rx - ry);
        }
        double expect = 1 - 6 * d2 / (double(n) * (double(n) * n - 1));
        EXPECT_NEAR(encore::spearman(x, y), expect, 1e-12);
        // Invariant under monotone maps of either side.
        std::vector<double> ex(n);
        for (int k = 0; k < n; ++k) ex[k] = std::exp(x[k]);
        EXPECT_NEAR(encore::spearman(ex, y), expect, 1e-12);
    }
    EXPECT_TRUE(std::isnan(encore::spearman({1, 1, 1}, {1, 2, 3})));
}

// Not a check: writes the synthetic run directory and its report for the browser test.
TEST(RunDirSample, WriteWhenAsked) {
    const char* out = std::getenv("ENCORE_REPORT_SAMPLE_DIR");
    if (!out) GTEST_SKIP() << "ENCORE_REPORT_SAMPLE_DIR not set";
    write_run_dir(out);
    encore::draw_sweep_report(out);
}

}  // namespace
