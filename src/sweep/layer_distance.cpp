// Angular distances between the residual streams at layer boundaries (see layer_distance.h).
#include "sweep/layer_distance.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/engine.h"
#include "engine/sequence.h"
#include "sweep/heatmap.h"

namespace encore {

LayerDistance layer_distance(const std::vector<StemState>& states, Backend& backend, int n_layers,
                             int64_t n_embd) {
    LayerDistance out;
    out.n_layers = n_layers;
    const size_t nb = size_t(n_layers) + 1;
    std::vector<std::vector<double>> sum(nb, std::vector<double>(nb, 0.0));
    std::vector<double> norm(nb);
    std::vector<float> streams;  // [nb, n_tokens, n_embd]: one state's residuals on the host
    for (const StemState& s : states) {
        if (size_t(s.n_instances()) + 1 != nb || s.n_embd != n_embd)
            fail(ErrorKind::invalid_argument,
                 "layer distance: a stem state of {} boundaries, want {} (the unmodified model)",
                 s.n_instances() + 1, nb);
        if (s.memory_place != backend.memory_place())
            fail(ErrorKind::invalid_argument, "layer distance: a stem state in {} memory, not {}",
                 s.memory_place, backend.memory_place());
        const int64_t per_boundary = s.n_tokens() * n_embd;
        streams.resize(nb * size_t(per_boundary));
        backend.to_host(streams.data(), s.residual(0), streams.size() * sizeof(float));
        auto boundary = [&](size_t b) { return streams.data() + int64_t(b) * per_boundary; };
        for (int64_t t = 1; t < s.n_tokens(); ++t) {
            // [nb] rows of [n_embd]: the stream of token t at each boundary
            for (size_t b = 0; b < nb; ++b) {
                const float* x = boundary(b) + t * n_embd;
                double n2 = 0;
                for (int64_t e = 0; e < n_embd; ++e) n2 += double(x[e]) * double(x[e]);
                norm[b] = std::sqrt(n2);
            }
            for (size_t i = 0; i < nb; ++i)
                for (size_t j = i + 1; j < nb; ++j) {
                    const float* x = boundary(i) + t * n_embd;
                    const float* y = boundary(j) + t * n_embd;
                    double dot = 0;
                    for (int64_t e = 0; e < n_embd; ++e) dot += double(x[e]) * double(y[e]);
                    const double denom = norm[i] * norm[j];
                    const double c = denom > 0 ? std::clamp(dot / denom, -1.0, 1.0) : 1.0;
                    sum[i][j] += std::acos(c) / M_PI;
                }
            ++out.n_tokens;
        }
    }
    out.distance.assign(nb, std::vector<double>(nb, NAN));
    if (out.n_tokens == 0)
        fail(ErrorKind::invalid_argument, "layer distance: no token to average over");
    for (size_t i = 0; i < nb; ++i)
        for (size_t j = i + 1; j < nb; ++j) out.distance[i][j] = sum[i][j] / double(out.n_tokens);
    return out;
}

LayerDistance measure_layer_distance(Engine& engine,
                                     const std::vector<std::vector<int32_t>>& windows) {
    const int n_layers = int(engine.spec().n_layers);
    if (!engine.plan().is_identity(n_layers))
        fail(ErrorKind::invalid_argument, "layer distance: needs the unmodified model's plan");
    std::vector<StemState> states(windows.size());
    for (size_t w = 0; w < windows.size(); ++w) {
        Sequence seq(engine);
        StemRun run;
        run.capture = &states[w];
        engine.eval_stem(EvalItem{&seq, windows[w], Logits::none}, run);
    }
    return layer_distance(states, engine.backend(), n_layers, engine.spec().n_embd);
}

void write_layer_distance(const std::string& dir, const LayerDistance& d) {
    Heatmap map;
    map.kind = Heatmap::Kind::distance;
    map.title = "angular distance between layer inputs";
    map.value_label = "angular distance";
    map.n_layers = d.n_layers;
    for (int i = 0; i < d.n_layers; ++i)
        for (int j = i + 1; j <= d.n_layers; ++j)
            map.cells.push_back({i, j, d.distance[size_t(i)][size_t(j)], 0, false});
    auto write = [&](const std::string& name, const std::string& data) {
        AtomicFileWriter w(dir + "/" + name);
        w.write(data);
        w.commit();
    };
    write("distance.json", layer_distance_json(d).dump(2) + "\n");
    write("distance.png", render_heatmap_png(map));
    write("distance.svg", render_heatmap_svg(map));
}

nlohmann::json layer_distance_json(const LayerDistance& d) {
    nlohmann::json m = nlohmann::json::array();
    for (const auto& row : d.distance) {
        nlohmann::json r = nlohmann::json::array();
        for (double v : row) r.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json());
        m.push_back(r);
    }
    return {{"n_layers", d.n_layers}, {"tokens", d.n_tokens}, {"distance", m}};
}

}  // namespace encore
