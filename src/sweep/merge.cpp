// `merge_sweep_runs` (see sweep.h): the union of the parts' results, checked to be parts of one
// sweep (same model, probes and plan set; the base, which every part measures, equal in all).
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/mapped_file.h"
#include "sweep/report.h"
#include "sweep/run_dir.h"
#include "sweep/sweep.h"

namespace encore {

namespace fs = std::filesystem;
using nlohmann::json;

void merge_sweep_runs(const std::string& out_dir, const std::vector<std::string>& parts,
                      bool draw) {
    if (parts.empty()) fail(ErrorKind::invalid_argument, "sweep merge: no run directory given");
    json run;
    std::map<std::string, json> rows;
    std::map<std::string, std::vector<json>> samples;
    std::string distance_from;
    for (const std::string& part : parts) {
        const std::string run_path = (fs::path(part) / "run.json").string();
        if (!fs::exists(run_path))
            fail(ErrorKind::io, "{}: no run.json (not a sweep run directory)", part);
        json r;
        try {
            r = json::parse(read_file(run_path));
        } catch (const json::exception& e) {
            fail(ErrorKind::format, "{}: not valid JSON ({})", run_path, e.what());
        }
        r.erase("shard");
        if (run.is_null())
            run = r;
        else
            check_same_run(run, r, run_path);
        std::map<std::string, bool> part_plans;
        for (json& row : read_json_lines((fs::path(part) / "results.jsonl").string(), false)) {
            const std::string name = row.value("plan", "");
            part_plans[name] = true;
            auto it = rows.find(name);
            if (it == rows.end())
                rows[name] = std::move(row);
            else if (it->second != row)
                fail(ErrorKind::invalid_argument,
                     "{}: plan '{}' has other results than in an earlier part", part, name);
        }
        for (json& s : read_json_lines((fs::path(part) / "samples.jsonl").string(), false)) {
            const std::string name = s.value("plan", "");
            if (!part_plans.count(name)) continue;  // an unfinished plan's samples
            samples[name + "\x01" + part].push_back(std::move(s));
        }
        if (distance_from.empty() && fs::exists(fs::path(part) / "distance.json"))
            distance_from = (fs::path(part) / "distance.json").string();
    }
    // Each plan's samples from the first part that measured it.
    std::vector<json> all_samples;
    std::map<std::string, bool> taken;
    for (const std::string& part : parts)
        for (auto& [key, list] : samples) {
            const size_t cut = key.find('\x01');
            if (key.substr(cut + 1) != part || taken[key.substr(0, cut)]) continue;
            taken[key.substr(0, cut)] = true;
            for (json& s : list) all_samples.push_back(s);
        }
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) fail(ErrorKind::io, "{}: cannot create ({})", out_dir, ec.message());
    if (fs::exists(fs::path(out_dir) / "run.json"))
        fail(ErrorKind::invalid_argument, "{}: already a run directory (merge into a new one)",
             out_dir);
    std::vector<json> ordered;
    for (auto& [name, row] : rows) ordered.push_back(row);
    ordered = in_plan_order(run, std::move(ordered));
    const auto p = [&](const char* n) { return (fs::path(out_dir) / n).string(); };
    write_json_lines(p("results.jsonl"), ordered);
    if (!all_samples.empty()) write_json_lines(p("samples.jsonl"), in_plan_order(run, all_samples));
    if (!distance_from.empty()) {
        AtomicFileWriter w(p("distance.json"));
        w.write(read_file(distance_from));
        w.commit();
    }
    write_results_csv(p("results.csv"), run, ordered);
    write_json_file(p("run.json"), run);  // last: the directory is complete
    if (draw) draw_sweep_report(out_dir);
}

}  // namespace encore
