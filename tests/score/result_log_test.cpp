// Result files and CSV: a torn last line (JSON lines, and a CSV row cut inside a quoted field
// holding line ends) is dropped on reopening, ids are remembered, another hash is refused; CSV
// fields with commas, quotes and line ends survive a round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "score/records.h"
#include "score/result_log.h"

namespace encore {
namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("encore_result_log_" + name)).string();
}

TEST(ResultLog, JsonLinesTornLineDroppedAndIdsRemembered) {
    const std::string path = temp_path("a.jsonl");
    std::filesystem::remove(path);
    {
        ResultLog log(path, "rubric_hash", "h1", {});
        EXPECT_FALSE(std::filesystem::exists(path));  // nothing before the first append
        log.append("{\"id\":\"a\",\"rubric_hash\":\"h1\"}\n{\"id\":2,\"rubric_hash\":\"h1\"}\n");
    }
    { std::ofstream(path, std::ios::app) << "{\"id\":\"c\",\"rubric_ha"; }
    ResultLog log(path, "rubric_hash", "h1", {});
    EXPECT_TRUE(log.done("a"));
    EXPECT_TRUE(log.done("2"));
    EXPECT_FALSE(log.done("c"));
    EXPECT_EQ(log.existing().size(), 2u);
    EXPECT_EQ(read_all(path),
              "{\"id\":\"a\",\"rubric_hash\":\"h1\"}\n{\"id\":2,\"rubric_hash\":\"h1\"}\n");
    EXPECT_THROW(ResultLog(path, "rubric_hash", "other", {}), Error);
    std::filesystem::remove(path);
}

TEST(ResultLog, CsvRowTornInsideAQuotedField) {
    const std::string path = temp_path("b.csv");
    std::filesystem::remove(path);
    const std::vector<std::string> header = {"id", "rubric_hash", "reason"};
    {
        ResultLog log(path, "rubric_hash", "h", header);
        log.append(csv_row({"1", "h", "line one\nline, \"two\""}));
    }
    const std::string complete = read_all(path);
    { std::ofstream(path, std::ios::app) << "2,h,\"a rationale\nthat was cut"; }
    ResultLog log(path, "rubric_hash", "h", header);
    EXPECT_TRUE(log.done("1"));
    EXPECT_FALSE(log.done("2"));
    EXPECT_EQ(log.existing()[0]["reason"], "line one\nline, \"two\"");
    EXPECT_EQ(read_all(path), complete);
    std::filesystem::remove(path);
}

TEST(Records, CsvParsing) {
    const auto rows =
        parse_csv("id,story\n1,\"a, b\"\r\n2,\"say \"\"hi\"\"\nnow\"\n\n3,x", "t.csv");
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[1][1], "a, b");
    EXPECT_EQ(rows[2][1], "say \"hi\"\nnow");
    EXPECT_TRUE(rows[3].empty());  // an empty record
    EXPECT_EQ(rows[4][1], "x");
    EXPECT_THROW(parse_csv("id\n\"open", "t.csv"), Error);
}

}  // namespace
}  // namespace encore
