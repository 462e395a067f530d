// Input records of `encore score` and `encore choose`: JSON lines (one object per line; blank
// lines are empty records) or CSV (RFC 4180: a header row of field names, quoted fields may hold
// commas, quotes and newlines; every value a string). A record that does not parse is kept with
// its error, so that the caller can stop at it or skip it (--skip-bad). Also the CSV writing
// helpers of the outputs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace encore {

struct InputRecord {
    int64_t number = 0;  // 1-based record number (the line in a JSON-lines file)
    nlohmann::ordered_json value;
    std::string error;  // non-empty: the record could not be read
};

// Reads every record of `path` (.csv: CSV, otherwise JSON lines). io error when unreadable.
std::vector<InputRecord> read_records(const std::string& path);

// CSV: parses `text` into rows of fields; format error naming `name` on an unclosed quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& name);
// One CSV field, quoted when it holds a comma, quote, CR or LF.
std::string csv_field(const std::string& value);
// Fields joined by commas, with a final '\n'.
std::string csv_row(const std::vector<std::string>& fields);

// How an id is keyed for resuming: a string as it is, an integer in decimal.
std::string id_key(const nlohmann::ordered_json& id);

}  // namespace encore
