// Reading and writing a sweep run directory (see run_dir.h).
#include "sweep/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/mapped_file.h"

namespace encore {

using nlohmann::json;

namespace {

std::string describe(const json& v) {
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// The first differing key (dotted) of two JSON values, "" when equal.
std::string first_difference(const json& a, const json& b, const std::string& at) {
    if (a.is_object() && b.is_object()) {
        for (const auto& [k, v] : a.items()) {
            const std::string key = at.empty() ? k : at + "." + k;
            if (!b.contains(k)) return key;
            if (auto d = first_difference(v, b[k], key); !d.empty()) return d;
        }
        for (const auto& [k, v] : b.items())
            if (!a.contains(k)) return at.empty() ? k : at + "." + k;
        return "";
    }
    return a == b ? "" : at;
}

}  // namespace

void check_same_run(const json& existing, const json& wanted, const std::string& path) {
    auto get = [](const json& j, const char* k) { return j.contains(k) ? j[k] : json(); };
    if (get(existing, "model_identity") != get(wanted, "model_identity"))
        fail(ErrorKind::invalid_argument,
             "{}: the run directory was made with another model ({}, weights {}), this sweep "
             "uses {} (weights {}); use a new run directory",
             path, describe(get(existing, "model")), describe(get(existing, "model_identity")),
             describe(get(wanted, "model")), describe(get(wanted, "model_identity")));
    if (get(existing, "plans") != get(wanted, "plans")) {
        const json a = get(existing, "plans"), b = get(wanted, "plans");
        size_t k = 0;
        while (a.is_array() && b.is_array() && k < a.size() && k < b.size() && a[k] == b[k]) ++k;
        fail(ErrorKind::invalid_argument,
             "{}: the run directory has another plan set ({} plans, this sweep {}; first "
             "difference at plan {}: {} vs {})",
             path, a.is_array() ? a.size() : 0, b.is_array() ? b.size() : 0, k + 1,
             a.is_array() && k < a.size() ? describe(a[k]) : "none",
             b.is_array() && k < b.size() ? describe(b[k]) : "none");
    }
    if (const std::string d = first_difference(get(existing, "probes"), get(wanted, "probes"), "");
        !d.empty()) {
        const json a = get(existing, "probes"), b = get(wanted, "probes");
        const json::json_pointer ptr("/" + [&] {
            std::string s = d;
            std::replace(s.begin(), s.end(), '.', '/');
            return s;
        }());
        fail(ErrorKind::invalid_argument,
             "{}: the run directory measured other probes (probes.{}: {} there, {} in this "
             "sweep)",
             path, d, a.contains(ptr) ? describe(a[ptr]) : "absent",
             b.contains(ptr) ? describe(b[ptr]) : "absent");
    }
    json a = existing, b = wanted;  // files may move: their contents are what is compared
    for (const char* k : {"model", "probe_files"}) a.erase(k), b.erase(k);
    if (const std::string d = first_difference(a, b, ""); !d.empty())
        fail(ErrorKind::invalid_argument,
             "{}: the run directory differs from this sweep in '{}' ({} there, {} here)", path, d,
             existing.contains(d) ? describe(existing[d]) : "absent",
             wanted.contains(d) ? describe(wanted[d]) : "absent");
}

std::vector<json> read_json_lines(const std::string& path, bool repair) {
    std::vector<json> out;
    if (!std::filesystem::exists(path)) return out;
    const std::string data = read_file(path);
    std::vector<std::string> lines;
    std::istringstream in(data);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) lines.push_back(line);
    const bool ends_cleanly = data.empty() || data.back() == '\n';
    bool torn = false;
    for (size_t k = 0; k < lines.size(); ++k) {
        json v;
        try {
            v = json::parse(lines[k]);
        } catch (const json::exception&) {
            if (k + 1 == lines.size()) {
                torn = true;
                break;
            }
            fail(ErrorKind::format, "{}:{}: not a JSON object", path, k + 1);
        }
        if (!v.is_object()) fail(ErrorKind::format, "{}:{}: not a JSON object", path, k + 1);
        // A last line without its newline was cut short, even if it happens to parse.
        if (k + 1 == lines.size() && !ends_cleanly) {
            torn = true;
            break;
        }
        out.push_back(std::move(v));
    }
    if (torn && repair) write_json_lines(path, out);
    return out;
}

void append_json_line(const std::string& path, const json& value) {
    const std::string line = value.dump() + "\n";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(ErrorKind::io, "{}: cannot open for appending ({})", path, std::strerror(errno));
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            fail(ErrorKind::io, "{}: write failed ({})", path, std::strerror(errno));
        }
        done += size_t(n);
    }
    ::fsync(fd);
    ::close(fd);
}

void write_json_lines(const std::string& path, const std::vector<json>& lines) {
    AtomicFileWriter w(path);
    for (const json& l : lines) w.write(l.dump() + "\n");
    w.commit();
}

void write_json_file(const std::string& path, const json& value) {
    AtomicFileWriter w(path);
    w.write(value.dump(2) + "\n");
    w.commit();
}

namespace {

std::string csv_number(const json& v) {
    if (!v.is_number()) return "";
    return fmt::format("{:.17g}", v.get<double>());
}

std::string csv_text(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace

void write_results_csv(const std::string& path, const json& run, const std::vector<json>& rows) {
    std::string out = "plan,i,j,layers,n_instances";
    std::vector<std::string> metrics;
    for (const auto& m : run.at("metrics")) {
        metrics.push_back(m.at("name").get<std::string>());
        const std::string& n = metrics.back();
        out += fmt::format(",{0},{0}_delta,{0}_ci_lo,{0}_ci_hi", n);
    }
    out += "\n";
    for (const json& r : rows) {
        std::string layers;
        for (const auto& l : r.at("layers")) {
            if (!layers.empty()) layers += ' ';
            layers += l.dump();
        }
        out += csv_text(r.at("plan").get<std::string>()) + "," +
               (r["i"].is_number() ? r["i"].dump() : "") + "," +
               (r["j"].is_number() ? r["j"].dump() : "") + "," + csv_text(layers) + "," +
               r.at("n_instances").dump();
        for (const std::string& n : metrics) {
            const json m = r["metrics"].contains(n) ? r["metrics"][n] : json::object();
            const json ci = m.contains("ci") ? m["ci"] : json::array({json(), json()});
            out += ',';
            out += csv_number(m.value("value", json())) + "," +
                   csv_number(m.value("delta", json())) + "," + csv_number(ci[0]) + "," +
                   csv_number(ci[1]);
        }
        out += "\n";
    }
    AtomicFileWriter w(path);
    w.write(out);
    w.commit();
}

std::vector<json> in_plan_order(const json& run, std::vector<json> rows) {
    std::map<std::string, size_t> order;
    const json& plans = run.at("plans");
    for (size_t k = 0; k < plans.size(); ++k) order[plans[k].get<std::string>()] = k;
    auto rank = [&](const json& r) {
        auto it = order.find(r.value("plan", ""));
        return it == order.end() ? order.size() : it->second;
    };
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const json& a, const json& b) { return rank(a) < rank(b); });
    return rows;
}

}  // namespace encore
