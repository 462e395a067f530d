// The files of a sweep run directory and how they are written so that no result is ever lost:
//   run.json       what the sweep measures: model (path and weight fingerprint), layer count,
//                  probes (settings and fingerprints of their files), metrics, the full plan set,
//                  the shard (when one); a resumed sweep must match it exactly
//   results.jsonl  one line per finished plan: plan, i, j, layers, n_instances, metrics
//                  {name: {value, delta, ci: [lo, hi]}}, per_item (per-window / per-prompt values)
//   samples.jsonl  one line per generated sample: plan, prompt, text, tokens, stop_reason
//   results.csv    the table of results.jsonl (written when the sweep completes)
//   distance.json  the layer-distance matrix of the unmodified model (see layer_distance.h)
// A plan's samples are appended first and its results line last, each with one write and an
// fsync: the results line marks the plan complete. On resume a torn last line is dropped, and
// samples of plans without a results line are removed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace encore {

// Fails with a one-line error naming the first difference between the run.json found in a run
// directory (`existing`) and the one this sweep would write (`wanted`).
void check_same_run(const nlohmann::json& existing, const nlohmann::json& wanted,
                    const std::string& path);

// The complete lines of a JSON-lines file (none when the file does not exist). A torn last line
// is dropped, and with `repair` the file is rewritten without it; a bad line elsewhere is an
// error naming the file and line.
std::vector<nlohmann::json> read_json_lines(const std::string& path, bool repair);

// Appends one line with a single write, then fsyncs.
void append_json_line(const std::string& path, const nlohmann::json& value);

// Rewrites a JSON-lines file atomically.
void write_json_lines(const std::string& path, const std::vector<nlohmann::json>& lines);

void write_json_file(const std::string& path, const nlohmann::json& value);

// results.csv from run.json's metrics and the results rows.
void write_results_csv(const std::string& path, const nlohmann::json& run,
                       const std::vector<nlohmann::json>& rows);

// Orders rows (results or samples, by their "plan") as the plan set orders plans; stable.
std::vector<nlohmann::json> in_plan_order(const nlohmann::json& run,
                                          std::vector<nlohmann::json> rows);

}  // namespace encore
