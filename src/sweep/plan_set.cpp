// Building, canonicalising and sharding the plan set of a sweep (see plan_set.h).
#include "sweep/plan_set.h"

#include <charconv>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/mapped_file.h"

namespace encore {

namespace {

bool parse_int(const std::string& s, int& out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

void parse_index_range(const std::string& text, const std::string& option, int& lo, int& hi) {
    const std::string t = trim(text);
    const size_t dash = t.find('-');
    const std::string a = dash == std::string::npos ? t : t.substr(0, dash);
    const std::string b = dash == std::string::npos ? t : t.substr(dash + 1);
    if (!parse_int(a, lo) || !parse_int(b, hi) || lo < 0 || hi < lo)
        fail(ErrorKind::invalid_argument, "{} '{}': expected A-B or A (inclusive, 0 <= A <= B)",
             option, text);
}

void parse_shard(const std::string& text, int& k, int& n) {
    const size_t slash = text.find('/');
    if (slash == std::string::npos || !parse_int(text.substr(0, slash), k) ||
        !parse_int(text.substr(slash + 1), n) || n < 1 || k < 1 || k > n)
        fail(ErrorKind::invalid_argument, "--shard '{}': expected K/N with 1 <= K <= N", text);
}

SweepPlan canonical_plan(const LayerPlan& plan, int n_layers) {
    SweepPlan p;
    p.plan = plan;
    if (plan.is_identity(n_layers)) {
        p.name = "base";
        return p;
    }
    // A single-block RYS plan 0..j-1, i..N-1 (i < j): j is where the list first steps back.
    const auto& L = plan.layers;
    size_t k = 1;
    while (k < L.size() && L[k] == L[k - 1] + 1) ++k;
    if (L[0] == 0 && k < L.size()) {
        const int j = int(k), i = L[k];
        if (i < j && LayerPlan::rys(i, j, n_layers).layers == L) {
            p.name = "rys:" + std::to_string(i) + "," + std::to_string(j);
            p.i = i;
            p.j = j;
            return p;
        }
    }
    p.name = plan.to_spec();
    return p;
}

void PlanSetBuilder::add(LayerPlan plan) {
    plans_.push_back(std::move(plan));
}

void PlanSetBuilder::add_rys(const RysRange& r) {
    const int n = n_layers_;
    const int max_block = r.max_block < 0 ? n : r.max_block;
    if (r.min_block < 1 || max_block < r.min_block)
        fail(ErrorKind::invalid_argument,
             "--min-block {} / --max-block {}: need 1 <= min-block <= max-block", r.min_block,
             max_block);
    if (r.i_min >= n)
        fail(ErrorKind::invalid_argument, "--i-range {}-{}: the model has layers 0-{}", r.i_min,
             r.i_max, n - 1);
    if (r.j_max >= 0 && (r.j_min > n || r.j_min < 1))
        fail(ErrorKind::invalid_argument, "--j-range {}-{}: j (the block's end) is 1-{}", r.j_min,
             r.j_max, n);
    for (int i = 0; i < n; ++i) {
        if (r.i_min >= 0 && (i < r.i_min || i > r.i_max)) continue;
        for (int j = i + 1; j <= n; ++j) {
            if (r.j_min >= 0 && (j < r.j_min || j > r.j_max)) continue;
            if (j - i < r.min_block || j - i > max_block) continue;
            add(LayerPlan::rys(i, j, n));
        }
    }
}

void PlanSetBuilder::add_spec(const std::string& spec, const std::string& origin) {
    try {
        if (trim(spec).empty())
            fail(ErrorKind::invalid_argument, "empty layer spec (the base is always measured)");
        add(LayerPlan::parse(spec, n_layers_));
    } catch (const Error& e) {
        fail(e.kind(), "{}: {}", origin, e.what());
    }
}

void PlanSetBuilder::add_file(const std::string& path) {
    if (!std::filesystem::is_regular_file(path))
        fail(ErrorKind::io, "--plans {}: plan file not found", path);
    const auto ext = std::filesystem::path(path).extension().string();
    if (ext == ".yaml" || ext == ".yml") {
        add(LayerPlan::from_mergekit_yaml(path, n_layers_));
        return;
    }
    std::istringstream in(read_file(path));
    std::string line;
    int line_no = 0, n_added = 0;
    while (std::getline(in, line)) {
        ++line_no;
        const size_t hash = line.find('#');
        if (hash != std::string::npos) line.resize(hash);
        line = trim(line);
        if (line.empty()) continue;
        add_spec(line, path + ":" + std::to_string(line_no));
        ++n_added;
    }
    if (n_added == 0) fail(ErrorKind::invalid_argument, "--plans {}: the file lists no plan", path);
}

std::vector<SweepPlan> PlanSetBuilder::build() const {
    std::vector<SweepPlan> out;
    out.push_back(canonical_plan(LayerPlan::identity(n_layers_), n_layers_));
    std::set<std::vector<int>> seen = {out[0].plan.layers};
    for (const LayerPlan& p : plans_)
        if (seen.insert(p.layers).second) out.push_back(canonical_plan(p, n_layers_));
    if (out.size() == 1)
        fail(ErrorKind::invalid_argument,
             "empty plan set: no plan other than the unmodified model (give --plans rys, --plan "
             "SPEC or --plans FILE)");
    return out;
}

std::vector<SweepPlan> shard_plans(const std::vector<SweepPlan>& plans, int k, int n) {
    std::vector<SweepPlan> out;
    out.push_back(plans[0]);
    for (size_t p = 1; p < plans.size(); ++p)
        if (int((p - 1) % size_t(n)) == k - 1) out.push_back(plans[p]);
    return out;
}

}  // namespace encore
