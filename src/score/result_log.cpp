// Resumable result files (see result_log.h).
#include "score/result_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "score/records.h"

namespace encore {

ResultLog::ResultLog(std::string path, std::string hash_field, std::string hash,
                     std::vector<std::string> csv_header)
    : path_(std::move(path)), csv_header_(std::move(csv_header)) {
    csv_ = path_.size() >= 4 && path_.compare(path_.size() - 4, 4, ".csv") == 0;
    if (!std::filesystem::exists(path_)) return;
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail(ErrorKind::io, "cannot read {}", path_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    exists_ = true;
    const size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    text.resize(complete);  // a torn last line (a killed run) is dropped
    if (csv_) {
        const auto rows = parse_csv(text, path_);
        if (!rows.empty() && rows[0] != csv_header_)
            fail(ErrorKind::format,
                 "{}: its columns are not those of this run (another rubric?): write to another "
                 "file",
                 path_);
        for (size_t r = 1; r < rows.size(); ++r) {
            nlohmann::ordered_json row = nlohmann::ordered_json::object();
            if (rows[r].size() != csv_header_.size())
                fail(ErrorKind::format, "{}: row {} has {} fields, the header {}", path_, r + 1,
                     rows[r].size(), csv_header_.size());
            for (size_t f = 0; f < csv_header_.size(); ++f) row[csv_header_[f]] = rows[r][f];
            existing_.push_back(std::move(row));
        }
    } else {
        std::istringstream lines(text);
        std::string line;
        int64_t number = 0;
        while (std::getline(lines, line)) {
            ++number;
            nlohmann::ordered_json j;
            try {
                j = nlohmann::ordered_json::parse(line);
            } catch (const nlohmann::json::exception&) {
                fail(ErrorKind::format,
                     "{}: line {} is not a result (not JSON): write to another file", path_,
                     number);
            }
            if (!j.is_object() || !j.contains("id"))
                fail(ErrorKind::format, "{}: line {} is not a result (no id)", path_, number);
            existing_.push_back(std::move(j));
        }
    }
    for (size_t i = 0; i < existing_.size(); ++i) {
        const auto& r = existing_[i];
        const std::string h = r.contains(hash_field) && r[hash_field].is_string()
                                  ? r[hash_field].get<std::string>()
                                  : std::string();
        if (h != hash)
            fail(ErrorKind::format,
                 "{}: result {} was made with {} '{}', this run's is '{}' (another rubric, model "
                 "or layer plan): write to another file",
                 path_, i + 1, hash_field, h, hash);
        const std::string key = r["id"].is_string() ? r["id"].get<std::string>() : r["id"].dump();
        done_.insert(key);
    }
    if (std::filesystem::file_size(path_) != complete)
        std::filesystem::resize_file(path_, complete);
    if (csv_ && complete == 0) exists_ = false;  // the header is written again
}

void ResultLog::append(const std::string& lines) {
    std::string data;
    if (!exists_ && csv_) data = csv_row(csv_header_);
    data += lines;
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail(ErrorKind::io, "cannot write {}: {}", path_, std::strerror(errno));
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            fail(ErrorKind::io, "cannot write {}: {}", path_, std::strerror(err));
        }
        off += size_t(n);
    }
    ::fsync(fd);
    ::close(fd);
    exists_ = true;
}

}  // namespace encore
