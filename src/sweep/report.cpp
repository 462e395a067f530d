// draw_sweep_report (see report.h): reads a run directory, draws its heatmaps and writes
// report.html. The HTML is one file: images as base64 PNG, a few lines of inline JS for sorting
// the plan table, inline CSS; it fetches nothing.
#include "sweep/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/html.h"
#include "core/mapped_file.h"
#include "sweep/heatmap.h"

namespace encore {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct MetricInfo {
    std::string name, label;
    bool lower_is_better = true;
};

struct MetricValue {
    double value = NAN, delta = NAN, ci_lo = NAN, ci_hi = NAN;
    bool ci_contains_zero() const { return !(ci_lo > 0 || ci_hi < 0); }
};

struct PlanRow {
    std::string plan, layers;
    std::optional<int> i, j;
    int n_instances = 0;
    std::map<std::string, MetricValue> metrics;
    bool is_base() const { return plan == "base"; }
};

struct Sample {
    std::string plan, prompt, text, stop_reason;
    int tokens = 0;
};

struct RunData {
    std::string model;
    int n_layers = 0;
    std::vector<MetricInfo> metrics;
    std::vector<PlanRow> rows;  // baseline first when present
    std::vector<Sample> samples;
    std::optional<json> distance;  // the "distance" matrix
};

double number_or_nan(const json& v) {
    return v.is_number() ? v.get<double>() : NAN;
}

json parse_json(const std::string& text, const std::string& path) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(ErrorKind::format, "{}: not valid JSON ({})", path, e.what());
    }
}

// One JSON object per line; a torn (unparseable) last line is a plan still being written.
std::vector<json> read_jsonl(const std::string& path) {
    std::vector<json> out;
    std::istringstream in(read_file(path));
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line))
        if (!line.empty()) lines.push_back(line);
    for (size_t k = 0; k < lines.size(); ++k) {
        try {
            out.push_back(json::parse(lines[k]));
        } catch (const json::exception&) {
            if (k + 1 == lines.size()) break;
            fail(ErrorKind::format, "{}:{}: not a JSON object", path, k + 1);
        }
        if (!out.back().is_object())
            fail(ErrorKind::format, "{}:{}: not a JSON object", path, k + 1);
    }
    return out;
}

RunData read_run(const std::string& dir) {
    RunData run;
    const std::string run_path = (fs::path(dir) / "run.json").string();
    if (!fs::exists(run_path))
        fail(ErrorKind::io, "{}: no run.json (not a sweep run directory)", dir);
    json meta = parse_json(read_file(run_path), run_path);
    try {
        run.model = meta.value("model", "");
        run.n_layers = meta.at("n_layers").get<int>();
        for (const auto& m : meta.at("metrics")) {
            MetricInfo info;
            info.name = m.at("name").get<std::string>();
            info.label = m.value("label", info.name);
            std::string better = m.value("better", "lower");
            if (better != "lower" && better != "higher")
                fail(ErrorKind::format, "{}: metric {} has better={:?} (want lower or higher)",
                     run_path, info.name, better);
            info.lower_is_better = better == "lower";
            run.metrics.push_back(info);
        }
    } catch (const json::exception& e) {
        fail(ErrorKind::format, "{}: {}", run_path, e.what());
    }
    if (run.n_layers <= 0) fail(ErrorKind::format, "{}: n_layers must be positive", run_path);

    const std::string results_path = (fs::path(dir) / "results.jsonl").string();
    if (!fs::exists(results_path)) fail(ErrorKind::io, "{}: no results.jsonl", dir);
    size_t line = 0;
    for (const auto& r : read_jsonl(results_path)) {
        ++line;
        try {
            PlanRow row;
            row.plan = r.at("plan").get<std::string>();
            if (r.contains("i") && r["i"].is_number_integer()) row.i = r["i"].get<int>();
            if (r.contains("j") && r["j"].is_number_integer()) row.j = r["j"].get<int>();
            row.n_instances = r.value("n_instances", 0);
            if (r.contains("layers")) {
                const auto& l = r["layers"];
                if (l.is_array()) {
                    std::string s;
                    for (const auto& x : l)
                        s += (s.empty() ? "" : ",") + std::to_string(x.get<int>());
                    row.layers = s;
                    if (row.n_instances == 0) row.n_instances = int(l.size());
                } else if (l.is_string()) {
                    row.layers = l.get<std::string>();
                }
            }
            if (r.contains("metrics"))
                for (const auto& [name, v] : r["metrics"].items()) {
                    MetricValue mv;
                    mv.value = number_or_nan(v.value("value", json()));
                    mv.delta = number_or_nan(v.value("delta", json()));
                    if (v.contains("ci") && v["ci"].is_array() && v["ci"].size() == 2) {
                        mv.ci_lo = number_or_nan(v["ci"][0]);
                        mv.ci_hi = number_or_nan(v["ci"][1]);
                    }
                    row.metrics[name] = mv;
                }
            if (row.i && row.j && !(0 <= *row.i && *row.i < *row.j && *row.j <= run.n_layers))
                fail(ErrorKind::format, "{}:{}: plan {} has i={} j={} outside 0 <= i < j <= {}",
                     results_path, line, row.plan, *row.i, *row.j, run.n_layers);
            run.rows.push_back(std::move(row));
        } catch (const json::exception& e) {
            fail(ErrorKind::format, "{}:{}: {}", results_path, line, e.what());
        }
    }
    std::stable_partition(run.rows.begin(), run.rows.end(),
                          [](const PlanRow& r) { return r.is_base(); });

    const std::string samples_path = (fs::path(dir) / "samples.jsonl").string();
    if (fs::exists(samples_path))
        for (const auto& s : read_jsonl(samples_path)) {
            Sample x;
            x.plan = s.value("plan", "");
            x.prompt = s.value("prompt", "");
            x.text = s.value("text", "");
            x.stop_reason = s.value("stop_reason", "");
            x.tokens = s.contains("tokens") && s["tokens"].is_array() ? int(s["tokens"].size())
                                                                      : s.value("tokens", 0);
            run.samples.push_back(std::move(x));
        }

    const std::string dist_path = (fs::path(dir) / "distance.json").string();
    if (fs::exists(dist_path)) {
        json d = parse_json(read_file(dist_path), dist_path);
        if (!d.contains("distance") || !d["distance"].is_array() ||
            int(d["distance"].size()) != run.n_layers + 1)
            fail(ErrorKind::format, "{}: distance must be an {}x{} matrix", dist_path,
                 run.n_layers + 1, run.n_layers + 1);
        run.distance = d["distance"];
    }
    return run;
}

const PlanRow* base_row(const RunData& run) {
    return !run.rows.empty() && run.rows[0].is_base() ? &run.rows[0] : nullptr;
}

Heatmap metric_map(const RunData& run, const MetricInfo& m) {
    Heatmap map;
    map.kind = Heatmap::Kind::metric;
    map.title = fmt::format("{} under RYS plans", m.label);
    map.value_label =
        fmt::format("{} ({} is better)", m.label, m.lower_is_better ? "lower" : "higher");
    map.n_layers = run.n_layers;
    map.lower_is_better = m.lower_is_better;
    if (const PlanRow* b = base_row(run); b && b->metrics.count(m.name))
        map.baseline = b->metrics.at(m.name).value;
    for (const auto& r : run.rows) {
        if (!r.i || !r.j || !r.metrics.count(m.name)) continue;
        const MetricValue& v = r.metrics.at(m.name);
        double delta = std::isnan(v.delta) ? v.value - map.baseline : v.delta;
        map.cells.push_back({*r.i, *r.j, v.value, delta, v.ci_contains_zero()});
    }
    return map;
}

Heatmap distance_map(const RunData& run) {
    Heatmap map;
    map.kind = Heatmap::Kind::distance;
    map.title = "angular distance between layer inputs";
    map.value_label = "angular distance";
    map.n_layers = run.n_layers;
    const json& d = *run.distance;
    for (int i = 0; i < run.n_layers; ++i)
        for (int j = i + 1; j <= run.n_layers; ++j)
            if (d[i].is_array() && j < int(d[i].size()) && d[i][j].is_number())
                map.cells.push_back({i, j, d[i][j].get<double>(), 0, false});
    return map;
}

std::vector<double> ranks(const std::vector<double>& x) {
    std::vector<size_t> order(x.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
    std::vector<double> r(x.size());
    for (size_t s = 0; s < order.size();) {
        size_t e = s;
        while (e + 1 < order.size() && x[order[e + 1]] == x[order[s]]) ++e;
        for (size_t k = s; k <= e; ++k)
            r[order[k]] = (double(s) + double(e)) / 2 + 1;  // ties: mean
        s = e + 1;
    }
    return r;
}

}  // namespace

// Spearman's rank correlation of paired values (Pearson correlation of the ranks); NaN when fewer
// than 3 pairs or either side is constant.
double spearman(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size() || x.size() < 3) return NAN;
    auto rx = ranks(x), ry = ranks(y);
    double mx = 0, my = 0;
    for (size_t k = 0; k < rx.size(); ++k) mx += rx[k], my += ry[k];
    mx /= double(rx.size());
    my /= double(ry.size());
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t k = 0; k < rx.size(); ++k) {
        sxy += (rx[k] - mx) * (ry[k] - my);
        sxx += (rx[k] - mx) * (rx[k] - mx);
        syy += (ry[k] - my) * (ry[k] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

namespace {

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t k = 0;
    for (; k + 2 < in.size(); k += 3) {
        uint32_t v = uint8_t(in[k]) << 16 | uint8_t(in[k + 1]) << 8 | uint8_t(in[k + 2]);
        out += t[v >> 18], out += t[v >> 12 & 63], out += t[v >> 6 & 63], out += t[v & 63];
    }
    if (k + 1 == in.size()) {
        uint32_t v = uint8_t(in[k]) << 16;
        out += t[v >> 18], out += t[v >> 12 & 63], out += "==";
    } else if (k + 2 == in.size()) {
        uint32_t v = uint8_t(in[k]) << 16 | uint8_t(in[k + 1]) << 8;
        out += t[v >> 18], out += t[v >> 12 & 63], out += t[v >> 6 & 63], out += '=';
    }
    return out;
}

std::string num(double v, int digits = 4) {
    if (std::isnan(v)) return "";
    if (!std::isfinite(v)) return v > 0 ? "inf" : "-inf";
    return fmt::format("{:.{}g}", v, digits);
}

// data-v: the value the table sorts by (empty cells sort last).
std::string td(const std::string& text, double sort_value) {
    std::string v = std::isfinite(sort_value) ? fmt::format("{:.17g}", sort_value) : "";
    return fmt::format("<td data-v=\"{}\">{}</td>", v, html_escape(text));
}

void write_atomic(const fs::path& path, const std::string& data) {
    AtomicFileWriter w(path.string());
    w.write(data);
    w.commit();
}

bool better(const MetricInfo& m, double a, double b) {
    return m.lower_is_better ? a < b : a > b;
}

// Pareto front of (added layers, metric): plans no other plan beats on both, fewest added first.
std::vector<const PlanRow*> pareto_front(const RunData& run, const MetricInfo& m) {
    std::vector<const PlanRow*> pts;
    for (const auto& r : run.rows)
        if (r.metrics.count(m.name) && std::isfinite(r.metrics.at(m.name).value)) pts.push_back(&r);
    std::sort(pts.begin(), pts.end(), [&](const PlanRow* a, const PlanRow* b) {
        if (a->n_instances != b->n_instances) return a->n_instances < b->n_instances;
        return better(m, a->metrics.at(m.name).value, b->metrics.at(m.name).value);
    });
    std::vector<const PlanRow*> front;
    // Sorted so that each point follows every point with fewer instances: it is on the front
    // when it beats all of them.
    for (const PlanRow* p : pts)
        if (front.empty() ||
            better(m, p->metrics.at(m.name).value, front.back()->metrics.at(m.name).value))
            front.push_back(p);
    return front;
}

// A small scatter of the metric against added layers, the front joined by a line (inline SVG).
std::string pareto_svg(const RunData& run, const MetricInfo& m,
                       const std::vector<const PlanRow*>& front) {
    const double W = 420, H = 240, l = 56, r = 12, t = 12, b = 40;
    double xmax = 1, ymin = INFINITY, ymax = -INFINITY;
    for (const auto& row : run.rows) {
        if (!row.metrics.count(m.name)) continue;
        double v = row.metrics.at(m.name).value;
        if (!std::isfinite(v)) continue;
        xmax = std::max(xmax, double(row.n_instances - run.n_layers));
        ymin = std::min(ymin, v), ymax = std::max(ymax, v);
    }
    if (!(ymax > ymin)) ymax = ymin + 1;
    auto X = [&](double x) { return l + x / xmax * (W - l - r); };
    auto Y = [&](double y) { return t + (ymax - y) / (ymax - ymin) * (H - t - b); };
    std::string s = fmt::format(
        "<svg class=\"pareto\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
        "viewBox=\"0 0 {} {}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
        "stroke=\"#999\"/>",
        W, H, W, H, l, t, W - l - r, H - t - b);
    for (const auto& row : run.rows) {
        if (!row.metrics.count(m.name)) continue;
        double v = row.metrics.at(m.name).value;
        if (!std::isfinite(v)) continue;
        s += fmt::format(
            "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"#bbb\"><title>{} {}"
            "</title></circle>",
            X(row.n_instances - run.n_layers), Y(v), html_escape(row.plan), num(v));
    }
    std::string poly;
    for (const PlanRow* p : front)
        poly += fmt::format("{:.1f},{:.1f} ", X(p->n_instances - run.n_layers),
                            Y(p->metrics.at(m.name).value));
    s += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#2166ac\" stroke-width=\"2\"/>", poly);
    for (const PlanRow* p : front)
        s += fmt::format(
            "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#2166ac\"><title>{} {}"
            "</title></circle>",
            X(p->n_instances - run.n_layers), Y(p->metrics.at(m.name).value), html_escape(p->plan),
            num(p->metrics.at(m.name).value));
    s += fmt::format(
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">added layers "
        "(0 .. {})</text>",
        l + (W - l - r) / 2, H - 8, num(xmax));
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
                     l - 4, t + 8, num(ymax));
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
                     l - 4, H - b, num(ymin));
    s += fmt::format(
        "<text x=\"12\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 12 {})\" "
        "text-anchor=\"middle\">{}</text></svg>",
        t + (H - t - b) / 2, t + (H - t - b) / 2, html_escape(m.label));
    return s;
}

const char* kCss = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
img.map{max-width:100%;height:auto;border:1px solid #eee}
.maps{display:flex;flex-wrap:wrap;gap:16px}.maps figure{margin:0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}
table.sortable th{cursor:pointer;user-select:none}th.asc::after{content:" \25B2"}th.desc::after{content:" \25BC"}
td.better{background:#d1e5f0}td.worse{background:#fddbc7}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px;margin:4px 0;font-size:12px}
.note{color:#555;font-size:13px})";

const char* kJs = R"(document.querySelectorAll('table.sortable').forEach(function(table){
  var heads=table.querySelectorAll('thead th');
  heads.forEach(function(th,col){th.addEventListener('click',function(){
    var asc=!th.classList.contains('asc');
    heads.forEach(function(h){h.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[col].getAttribute('data-v'),y=b.cells[col].getAttribute('data-v');
      if(x===''||x===null)return 1; if(y===''||y===null)return -1;
      var fx=Number(x),fy=Number(y),c=(isNaN(fx)||isNaN(fy))?x.localeCompare(y):fx-fy;
      return asc?c:-c;});
    rows.forEach(function(r){body.appendChild(r);});
  });});
});)";

std::string samples_html(const RunData& run, const std::string& plan, const std::string& title) {
    std::string s = fmt::format("<h3>{}</h3>", html_escape(title));
    int shown = 0;
    for (const auto& x : run.samples) {
        if (x.plan != plan) continue;
        if (++shown > 12) break;
        s += fmt::format(
            "<div class=\"sample\"><b>prompt:</b> {} <span class=\"note\">({} tokens, "
            "{})</span><pre>{}</pre></div>",
            html_escape(x.prompt), x.tokens, html_escape(x.stop_reason), html_escape(x.text));
    }
    if (shown == 0) s += "<p class=\"note\">no samples of this plan</p>";
    return s;
}

std::string build_html(const RunData& run, const std::map<std::string, std::string>& png) {
    std::string h =
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>encore "
        "sweep report</title><style>";
    h += kCss;
    h += "</style></head><body>";
    h += fmt::format("<h1>Layer-repetition sweep of {}</h1>", html_escape(run.model));
    int n_rys = 0;
    for (const auto& r : run.rows) n_rys += r.i && r.j ? 1 : 0;
    const PlanRow* base = base_row(run);
    h += fmt::format(
        "<p class=\"note\">{} layers; {} plans measured ({} RYS plans){}. An RYS plan "
        "rys:i,j runs layers 0..j-1 and then i..N-1, so layers i..j-1 run twice. Blue "
        "cells are better than the unmodified model, red worse; hatched cells' 95% "
        "bootstrap interval of the delta contains zero.</p>",
        run.n_layers, run.rows.size(), n_rys,
        base ? ", the unmodified model first" : ", no baseline");

    h += "<h2>Heatmaps</h2><div class=\"maps\">";
    for (const auto& m : run.metrics)
        if (png.count(m.name))
            h += fmt::format(
                "<figure><img class=\"map\" width=\"{}\" alt=\"heatmap of {}\" "
                "src=\"data:image/png;base64,{}\"></figure>",
                640, html_escape(m.label), base64(png.at(m.name)));
    h += "</div>";

    if (run.distance) {
        h += "<h2>Layer distance</h2><div class=\"maps\"><figure>";
        h += fmt::format(
            "<img class=\"map\" width=\"640\" alt=\"layer distance map\" "
            "src=\"data:image/png;base64,{}\"></figure><div>",
            base64(png.at("distance")));
        h +=
            "<p class=\"note\">The angular distance between the residual streams entering layers i "
            "and j, from one forward pass of the unmodified model. Spearman's rank correlation of "
            "the distance with each metric's delta over the RYS plans (positive: plans whose "
            "repeated block changes the stream more have a larger delta):</p><table><thead><tr>"
            "<th>metric</th><th>Spearman ρ (distance, delta)</th><th>plans</th></tr></thead>"
            "<tbody>";
        const Heatmap dist = distance_map(run);
        std::map<std::pair<int, int>, double> dv;
        for (const auto& c : dist.cells) dv[{c.i, c.j}] = c.value;
        for (const auto& m : run.metrics) {
            std::vector<double> x, y;
            for (const auto& c : metric_map(run, m).cells)
                if (dv.count({c.i, c.j}) && std::isfinite(c.delta))
                    x.push_back(dv[{c.i, c.j}]), y.push_back(c.delta);
            h += fmt::format("<tr><td>{}</td><td class=\"rho\">{}</td><td>{}</td></tr>",
                             html_escape(m.label), num(spearman(x, y), 3), x.size());
        }
        h += "</tbody></table></div></div>";
    }

    // The plan table.
    h += "<h2>Plans</h2><p class=\"note\">Click a column header to sort. Delta and interval are "
         "against the unmodified model (plan base).</p><table class=\"sortable\" id=\"plans\">"
         "<thead><tr><th>plan</th><th>i</th><th>j</th><th>block length</th><th>added layers</th>";
    for (const auto& m : run.metrics)
        h += fmt::format("<th>{}</th><th>{} delta</th><th>95% interval</th>", html_escape(m.label),
                         html_escape(m.name));
    h += "</tr></thead><tbody>";
    for (const auto& r : run.rows) {
        h += fmt::format("<tr><td data-v=\"{}\">{}</td>", html_escape(r.plan), html_escape(r.plan));
        h += r.i ? td(std::to_string(*r.i), *r.i) : td("", NAN);
        h += r.j ? td(std::to_string(*r.j), *r.j) : td("", NAN);
        h += r.i && r.j ? td(std::to_string(*r.j - *r.i), *r.j - *r.i) : td("", NAN);
        h += td(std::to_string(r.n_instances - run.n_layers), r.n_instances - run.n_layers);
        for (const auto& m : run.metrics) {
            if (!r.metrics.count(m.name)) {
                h += td("", NAN) + td("", NAN) + td("", NAN);
                continue;
            }
            const MetricValue& v = r.metrics.at(m.name);
            std::string cls;
            if (!r.is_base() && !v.ci_contains_zero())
                cls = (m.lower_is_better ? v.delta < 0 : v.delta > 0) ? "better" : "worse";
            h += td(num(v.value), v.value);
            h += cls.empty() ? td(num(v.delta), v.delta)
                             : fmt::format("<td class=\"{}\" data-v=\"{:.17g}\">{}</td>", cls,
                                           v.delta, num(v.delta));
            h += td(std::isnan(v.ci_lo) ? "" : fmt::format("[{}, {}]", num(v.ci_lo), num(v.ci_hi)),
                    v.ci_lo);
        }
        h += "</tr>";
    }
    h += "</tbody></table>";

    // Averages per block length.
    h += "<h2>Averages per block length</h2><p class=\"note\">Mean over the RYS plans repeating "
         "j - i layers.</p><table class=\"sortable\" id=\"lengths\"><thead><tr><th>block "
         "length</th><th>plans</th>";
    for (const auto& m : run.metrics)
        h += fmt::format("<th>mean {}</th><th>mean {} delta</th>", html_escape(m.label),
                         html_escape(m.name));
    h += "</tr></thead><tbody>";
    for (int len = 1; len <= run.n_layers; ++len) {
        int count = 0;
        std::vector<double> sum(run.metrics.size() * 2, 0.0), cnt(run.metrics.size(), 0.0);
        for (const auto& r : run.rows) {
            if (!r.i || !r.j || *r.j - *r.i != len) continue;
            ++count;
            for (size_t k = 0; k < run.metrics.size(); ++k) {
                auto it = r.metrics.find(run.metrics[k].name);
                if (it == r.metrics.end() || !std::isfinite(it->second.value)) continue;
                sum[2 * k] += it->second.value;
                sum[2 * k + 1] += it->second.delta;
                cnt[k] += 1;
            }
        }
        if (count == 0) continue;
        h += "<tr>" + td(std::to_string(len), len) + td(std::to_string(count), count);
        for (size_t k = 0; k < run.metrics.size(); ++k) {
            double mv = cnt[k] ? sum[2 * k] / cnt[k] : NAN,
                   md = cnt[k] ? sum[2 * k + 1] / cnt[k] : NAN;
            h += td(num(mv), mv) + td(num(md), md);
        }
        h += "</tr>";
    }
    h += "</tbody></table>";

    // Pareto fronts.
    h += "<h2>Pareto fronts against added layers</h2><p class=\"note\">Plans that no other plan "
         "beats with as few or fewer added layers (blue); every plan in grey.</p><div "
         "class=\"maps\">";
    for (const auto& m : run.metrics) {
        auto front = pareto_front(run, m);
        h += fmt::format(
            "<div><h3>{}</h3>{}<table><thead><tr><th>plan</th><th>added "
            "layers</th><th>{}</th></tr></thead><tbody>",
            html_escape(m.label), pareto_svg(run, m, front), html_escape(m.label));
        for (const PlanRow* p : front)
            h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", html_escape(p->plan),
                             p->n_instances - run.n_layers, num(p->metrics.at(m.name).value));
        h += "</tbody></table></div>";
    }
    h += "</div>";

    // Samples of the best and worst plans of the first metric.
    h += "<h2>Samples</h2>";
    if (run.samples.empty()) {
        h += "<p class=\"note\">This sweep ran no generation probe.</p>";
    } else {
        // The metric that picks best and worst: the first generation metric, else the first.
        const MetricInfo* pick = run.metrics.empty() ? nullptr : &run.metrics[0];
        for (const auto& m : run.metrics)
            if (m.name.rfind("gen_", 0) != 0) {
                pick = &m;
                break;
            }
        const PlanRow *best = nullptr, *worst = nullptr;
        if (pick)
            for (const auto& r : run.rows) {
                if (r.is_base() || !r.metrics.count(pick->name)) continue;
                double v = r.metrics.at(pick->name).value;
                if (!std::isfinite(v)) continue;
                if (!best || better(*pick, v, best->metrics.at(pick->name).value)) best = &r;
                if (!worst || better(*pick, worst->metrics.at(pick->name).value, v)) worst = &r;
            }
        if (base) h += samples_html(run, base->plan, "the unmodified model (base)");
        if (best)
            h += samples_html(run, best->plan,
                              fmt::format("best plan by {}: {} ({})", pick->label, best->plan,
                                          num(best->metrics.at(pick->name).value)));
        if (worst && worst != best)
            h += samples_html(run, worst->plan,
                              fmt::format("worst plan by {}: {} ({})", pick->label, worst->plan,
                                          num(worst->metrics.at(pick->name).value)));
    }
    h += "<script>";
    h += kJs;
    h += "</script></body></html>\n";
    return h;
}

}  // namespace

void draw_sweep_report(const std::string& run_dir) {
    const RunData run = read_run(run_dir);
    const fs::path maps = fs::path(run_dir) / "heatmaps";
    std::error_code ec;
    fs::create_directories(maps, ec);
    if (ec) fail(ErrorKind::io, "{}: cannot create ({})", maps.string(), ec.message());
    std::map<std::string, std::string> png;
    auto draw = [&](const std::string& name, const Heatmap& map) {
        png[name] = render_heatmap_png(map);
        write_atomic(maps / (name + ".png"), png[name]);
        write_atomic(maps / (name + ".svg"), render_heatmap_svg(map));
    };
    for (const auto& m : run.metrics) draw(m.name, metric_map(run, m));
    if (run.distance) draw("distance", distance_map(run));
    write_atomic(fs::path(run_dir) / "report.html", build_html(run, png));
}

}  // namespace encore
