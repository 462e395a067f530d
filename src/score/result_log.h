// ResultLog: an output file of per-item results that never loses work. Results are appended a
// batch at a time, each batch flushed and fsynced; a run killed at any moment leaves complete
// lines plus at most one torn last line. Opening an existing file drops that torn line, checks
// that every line is a result of this run (the same hash: rubric, model and layer plan) and
// remembers the ids already there, so a re-run scores only what is missing: every item exactly
// once. JSON lines, or CSV (a header row, the hash in a column) when the path ends in .csv.
// Nothing is created before the first append, so a run that fails up front leaves no file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <unordered_set>
#include <vector>

namespace encore {

class ResultLog {
  public:
    // `hash_field` names the hash's key/column; `csv_header` the columns of a CSV output (id
    // first). Fails (format) naming the file and line for a line that is not a result or holds
    // another hash, or a CSV file with another header.
    ResultLog(std::string path, std::string hash_field, std::string hash,
              std::vector<std::string> csv_header);

    bool is_csv() const { return csv_; }
    const std::string& path() const { return path_; }
    bool done(const std::string& id_key) const { return done_.count(id_key) > 0; }
    // The complete results already in the file (CSV rows as objects: column -> text).
    const std::vector<nlohmann::ordered_json>& existing() const { return existing_; }
    // Appends complete lines (JSON or CSV rows, each ending in '\n'), then flushes and fsyncs.
    void append(const std::string& lines);

  private:
    std::string path_;
    bool csv_ = false;
    std::vector<std::string> csv_header_;
    std::unordered_set<std::string> done_;
    std::vector<nlohmann::ordered_json> existing_;
    bool exists_ = false;
};

}  // namespace encore
