// Input records of `encore score` and `encore choose`: JSON lines (one object per line; blank
// lines are empty records) or CSV (RFC 4180: a header row of field names, quoted fields may hold
// commas, quotes and newlines; every value a string). A record that does not parse is kept with
// its error, so that the caller can stop at it or skip it (--skip-bad); prepare_records makes the
// records into a command's items that way. Also the CSV writing helpers of the outputs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/error.h"

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

// The items made of a file's records, and the numbers of the records left out.
template <class Item>
struct PreparedRecords {
    std::vector<Item> items;
    std::vector<int64_t> skipped;
};

// Makes an item of every record of `input` with `prepare(record)` before anything is computed (an
// item has an `id`). A record that did not parse, that `prepare` refuses, or whose id repeats an
// earlier record's stops the command with an error naming `input` and the record; with `skip_bad`
// it is left out instead, and said on stderr when `say_skipped`.
template <class Prepare>
auto prepare_records(const std::vector<InputRecord>& records, const std::string& input,
                     bool skip_bad, bool say_skipped, Prepare prepare) {
    using Item = std::invoke_result_t<Prepare&, const InputRecord&>;
    PreparedRecords<Item> out;
    std::unordered_map<std::string, int64_t> seen_ids;
    for (const InputRecord& rec : records) {
        try {
            if (!rec.error.empty()) fail(ErrorKind::format, "record {}: {}", rec.number, rec.error);
            Item item = prepare(rec);
            const auto [it, fresh] = seen_ids.emplace(id_key(item.id), rec.number);
            if (!fresh)
                fail(ErrorKind::invalid_argument, "record {}: id {} repeats record {}", rec.number,
                     item.id.dump(), it->second);
            out.items.push_back(std::move(item));
        } catch (const Error& e) {
            if (!skip_bad) fail(e.kind(), "{}: {}", input, e.what());
            if (say_skipped)
                std::fprintf(stderr, "encore: skipped %s: %s\n", input.c_str(), e.what());
            out.skipped.push_back(rec.number);
        }
    }
    return out;
}

}  // namespace encore
