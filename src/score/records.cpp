// Reading input records, and CSV (see records.h).
#include "score/records.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace encore {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& name) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool in_quotes = false, row_started = false;
    int64_t line = 1, quote_line = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_quotes) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                in_quotes = false;
            } else {
                if (c == '\n') ++line;
                field += c;
            }
            continue;
        }
        if (c == '"') {
            in_quotes = true;
            quote_line = line;
            row_started = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            row_started = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            ++line;
            if (row_started || !field.empty()) row.push_back(std::move(field));
            rows.push_back(std::move(row));  // an empty row stays: an empty record
            row.clear();
            field.clear();
            row_started = false;
        } else {
            field += c;
            row_started = true;
        }
    }
    if (in_quotes)
        fail(ErrorKind::format, "{}: the quote opened on line {} is not closed", name, quote_line);
    if (row_started || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string csv_field(const std::string& value) {
    if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
    std::string out = "\"";
    for (char c : value) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string csv_row(const std::vector<std::string>& fields) {
    std::string out;
    for (size_t i = 0; i < fields.size(); ++i) {
        if (i) out += ',';
        out += csv_field(fields[i]);
    }
    return out + "\n";
}

std::string id_key(const nlohmann::ordered_json& id) {
    return id.is_string() ? id.get<std::string>() : id.dump();
}

std::vector<InputRecord> read_records(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::io, "cannot read {}", path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::vector<InputRecord> records;
    if (ends_with(path, ".csv")) {
        const auto rows = parse_csv(text, path);
        if (rows.empty()) fail(ErrorKind::format, "{}: no header row", path);
        const std::vector<std::string>& header = rows[0];
        for (size_t r = 1; r < rows.size(); ++r) {
            InputRecord rec;
            rec.number = int64_t(r);
            rec.value = nlohmann::ordered_json::object();
            if (rows[r].empty()) {
                records.push_back(std::move(rec));  // an empty record
                continue;
            }
            if (rows[r].size() != header.size()) {
                rec.error =
                    fmt::format("{} fields where the header has {}", rows[r].size(), header.size());
            } else {
                for (size_t f = 0; f < header.size(); ++f) rec.value[header[f]] = rows[r][f];
            }
            records.push_back(std::move(rec));
        }
        return records;
    }
    std::istringstream lines(text);
    std::string line;
    int64_t number = 0, trailing_blank = 0;
    while (std::getline(lines, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        InputRecord rec;
        rec.number = number;
        if (line.find_first_not_of(" \t") == std::string::npos) {
            rec.value = nlohmann::ordered_json::object();  // an empty record
            ++trailing_blank;
        } else {
            trailing_blank = 0;
            try {
                rec.value = nlohmann::ordered_json::parse(line);
            } catch (const nlohmann::json::exception& e) {
                rec.error = "not valid JSON";
            }
        }
        records.push_back(std::move(rec));
    }
    records.resize(records.size() - size_t(trailing_blank));  // blank lines at the end: none
    return records;
}

}  // namespace encore
