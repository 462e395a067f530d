// Parsing and printing layer plans (see layer_plan.h).
#include "model/layer_plan.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>

#include "core/error.h"

namespace encore {

namespace {

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

int parse_index(const std::string& text, const std::string& spec, int n_layers) {
    int value = -1;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end)
        fail(ErrorKind::invalid_argument, "layer spec '{}': '{}' is not a layer index", spec, text);
    if (value < 0 || value >= n_layers)
        fail(ErrorKind::invalid_argument,
             "layer spec '{}': layer {} is out of range (the model has layers 0-{})", spec, value,
             n_layers - 1);
    return value;
}

bool ends_with(const std::string& s, const char* suffix) {
    const std::string suf(suffix);
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

bool LayerPlan::is_identity(int n_layers) const {
    if (int(layers.size()) != n_layers) return false;
    for (int i = 0; i < n_layers; ++i)
        if (layers[size_t(i)] != i) return false;
    return true;
}

std::string LayerPlan::to_spec() const {
    std::string out;
    size_t i = 0;
    while (i < layers.size()) {
        size_t j = i;
        while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(layers[i]);
        if (j > i) out += '-' + std::to_string(layers[j]);
        i = j + 1;
    }
    return out;
}

LayerPlan LayerPlan::identity(int n_layers) {
    LayerPlan plan;
    for (int i = 0; i < n_layers; ++i) plan.layers.push_back(i);
    return plan;
}

LayerPlan LayerPlan::rys(int i, int j, int n_layers) {
    if (i < 0 || i >= n_layers || j < 1 || j > n_layers)
        fail(ErrorKind::invalid_argument,
             "layer spec 'rys:{},{}': needs 0 <= I < {} and 1 <= J <= {} (layers 0..J-1 then "
             "I..{})",
             i, j, n_layers, n_layers, n_layers - 1);
    LayerPlan plan;
    for (int l = 0; l < j; ++l) plan.layers.push_back(l);
    for (int l = i; l < n_layers; ++l) plan.layers.push_back(l);
    return plan;
}

LayerPlan LayerPlan::rys_blocks(const std::vector<std::pair<int, int>>& blocks, int n_layers,
                                const std::string& spec) {
    // Layers 0..J_1-1, then I_1..J_2-1, ..., then I_m..N-1.
    LayerPlan plan;
    int from = 0;
    for (size_t b = 0; b < blocks.size(); ++b) {
        const auto [i, j] = blocks[b];
        if (i < 0 || j > n_layers || i >= j || j <= from || (b > 0 && i <= blocks[b - 1].first))
            fail(ErrorKind::invalid_argument,
                 "layer spec '{}': block {},{} needs {} <= J <= {}, I < J and the blocks' I "
                 "increasing",
                 spec, i, j, from + 1, n_layers);
        for (int l = from; l < j; ++l) plan.layers.push_back(l);
        from = i;
    }
    for (int l = from; l < n_layers; ++l) plan.layers.push_back(l);
    return plan;
}

LayerPlan LayerPlan::parse(const std::string& raw_spec, int n_layers) {
    const std::string spec = trim(raw_spec);
    if (spec.empty()) return identity(n_layers);
    if (spec.rfind("rys:", 0) == 0) {
        // One or more blocks "I,J;I,J...": block b repeats layers I_b..J_b-1 once.
        std::vector<std::pair<int, int>> blocks;
        size_t start = 4;
        while (start <= spec.size()) {
            const size_t semi = spec.find(';', start);
            const std::string args =
                spec.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
            const auto comma = args.find(',');
            if (comma == std::string::npos)
                fail(ErrorKind::invalid_argument, "layer spec '{}': expected rys:I,J[;I,J...]",
                     spec);
            int i = -1, j = -1;
            const std::string a = trim(args.substr(0, comma)), b = trim(args.substr(comma + 1));
            auto r1 = std::from_chars(a.data(), a.data() + a.size(), i);
            auto r2 = std::from_chars(b.data(), b.data() + b.size(), j);
            if (a.empty() || b.empty() || r1.ec != std::errc() || r2.ec != std::errc() ||
                r1.ptr != a.data() + a.size() || r2.ptr != b.data() + b.size())
                fail(ErrorKind::invalid_argument, "layer spec '{}': expected rys:I,J with integers",
                     spec);
            blocks.emplace_back(i, j);
            if (semi == std::string::npos) break;
            start = semi + 1;
        }
        if (blocks.size() == 1) return rys(blocks[0].first, blocks[0].second, n_layers);
        return rys_blocks(blocks, n_layers, spec);
    }
    if (ends_with(spec, ".yaml") || ends_with(spec, ".yml"))
        return from_mergekit_yaml(spec, n_layers);

    LayerPlan plan;
    size_t start = 0;
    while (start <= spec.size()) {
        const size_t comma = spec.find(',', start);
        const std::string item = trim(
            spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (item.empty()) fail(ErrorKind::invalid_argument, "layer spec '{}': empty item", spec);
        const size_t dash = item.find('-', 1);
        if (dash == std::string::npos) {
            plan.layers.push_back(parse_index(item, spec, n_layers));
        } else {
            const int a = parse_index(trim(item.substr(0, dash)), spec, n_layers);
            const int b = parse_index(trim(item.substr(dash + 1)), spec, n_layers);
            if (b < a)
                fail(ErrorKind::invalid_argument,
                     "layer spec '{}': range {} goes down (write ranges as low-high, inclusive)",
                     spec, item);
            for (int l = a; l <= b; ++l) plan.layers.push_back(l);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return plan;
}

LayerPlan LayerPlan::from_mergekit_yaml(const std::string& path, int n_layers) {
    if (!std::filesystem::exists(path)) fail(ErrorKind::io, "{}: layer plan file not found", path);
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
        fail(ErrorKind::format, "{}: not valid YAML: {}", path, e.what());
    }
    try {
        if (root["merge_method"] && root["merge_method"].as<std::string>() != "passthrough")
            fail(ErrorKind::unsupported,
                 "{}: merge_method '{}' is not supported (only passthrough)", path,
                 root["merge_method"].as<std::string>());
        const YAML::Node slices = root["slices"];
        if (!slices || !slices.IsSequence() || slices.size() == 0)
            fail(ErrorKind::format, "{}: expected a non-empty 'slices' list", path);
        LayerPlan plan;
        std::string model_name;
        for (size_t s = 0; s < slices.size(); ++s) {
            const YAML::Node sources = slices[s]["sources"];
            if (!sources || !sources.IsSequence() || sources.size() != 1)
                fail(ErrorKind::format, "{}: slice {} must have exactly one source", path, s);
            const YAML::Node src = sources[0];
            const std::string name = src["model"] ? src["model"].as<std::string>() : "";
            if (s == 0) model_name = name;
            if (name != model_name)
                fail(ErrorKind::unsupported,
                     "{}: slice {} uses model '{}' but slice 0 uses '{}' (one model only)", path, s,
                     name, model_name);
            const YAML::Node range = src["layer_range"];
            if (!range || !range.IsSequence() || range.size() != 2)
                fail(ErrorKind::format, "{}: slice {}: layer_range must be [begin, end]", path, s);
            const int begin = range[0].as<int>(), end = range[1].as<int>();
            if (begin < 0 || end > n_layers || begin >= end)
                fail(ErrorKind::invalid_argument,
                     "{}: slice {}: layer_range [{}, {}] is not a non-empty half-open range within "
                     "0..{}",
                     path, s, begin, end, n_layers);
            for (int l = begin; l < end; ++l) plan.layers.push_back(l);
        }
        return plan;
    } catch (const YAML::Exception& e) {
        fail(ErrorKind::format, "{}: unexpected YAML structure: {}", path, e.what());
    }
}

}  // namespace encore
