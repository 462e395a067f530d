// MPI distribution of scoring (see score_mpi.h). A job is {"batch": b, "items": [indices]}; a
// report {"batch": b, "results": [...]} or {"error": ".."}. Doubles travel as their 64 bits so
// that nothing is rounded on the way; ids are not sent (rank 0 has the items).
#include "score/score_mpi.h"

#include <bit>
#include <map>
#include <string>

#include "core/error.h"
#include "score/mpi_jobs.h"

namespace encore {

namespace {

using Json = nlohmann::json;

Json bits(double x) {
    return std::bit_cast<uint64_t>(x);
}

double from_bits(const Json& j) {
    return std::bit_cast<double>(j.get<uint64_t>());
}

Json bits(const std::vector<double>& xs) {
    Json out = Json::array();
    for (double x : xs) out.push_back(bits(x));
    return out;
}

std::vector<double> vector_from_bits(const Json& j) {
    std::vector<double> out;
    for (const Json& x : j) out.push_back(from_bits(x));
    return out;
}

Json encode(const LabelDistribution& d) {
    return {{"logprobs", bits(d.logprobs)}, {"probs", bits(d.probs)},
            {"expected", bits(d.expected)}, {"argmax", d.argmax},
            {"entropy", bits(d.entropy)},   {"label_mass", bits(d.label_mass)}};
}

LabelDistribution decode_distribution(const Json& j) {
    LabelDistribution d;
    d.logprobs = vector_from_bits(j.at("logprobs"));
    d.probs = vector_from_bits(j.at("probs"));
    d.expected = from_bits(j.at("expected"));
    d.argmax = j.at("argmax").get<int>();
    d.entropy = from_bits(j.at("entropy"));
    d.label_mass = from_bits(j.at("label_mass"));
    return d;
}

Json encode(const ItemResult& r) {
    Json scores = Json::array();
    for (const CriterionScore& s : r.scores) {
        Json j = {{"raw", encode(s.raw)}};
        if (s.calibrated) j["calibrated"] = encode(*s.calibrated);
        if (s.reason) j["reason"] = *s.reason;
        scores.push_back(std::move(j));
    }
    return scores;
}

ItemResult decode_result(const Json& scores, const nlohmann::ordered_json& id) {
    ItemResult r;
    r.id = id;
    for (const Json& j : scores) {
        CriterionScore s;
        s.raw = decode_distribution(j.at("raw"));
        if (j.contains("calibrated")) s.calibrated = decode_distribution(j["calibrated"]);
        if (j.contains("reason")) s.reason = j["reason"].get<std::string>();
        r.scores.push_back(std::move(s));
    }
    return r;
}

// Ranks 1..: scores the items of each job handed over.
void score_handed_items(Scorer& scorer, std::span<const PreparedItem> items) {
    mpi_take_jobs([&](const std::string& text) {
        try {
            const Json job = Json::parse(text);
            std::vector<size_t> indices = job.at("items").get<std::vector<size_t>>();
            size_t next = 0;
            Json results = Json::array();
            scorer.score_stream(
                [&]() -> std::optional<PreparedItem> {
                    if (next == indices.size()) return std::nullopt;
                    return items[indices[next++]];
                },
                [&](std::vector<ItemResult>& batch) {
                    for (const ItemResult& r : batch) results.push_back(encode(r));
                });
            return Json({{"batch", job.at("batch")}, {"results", std::move(results)}}).dump();
        } catch (const std::exception& e) {
            return Json({{"error", e.what()}}).dump();
        }
    });
}

}  // namespace

void score_items_mpi(Scorer& scorer, std::span<const PreparedItem> items,
                     const std::vector<size_t>& todo, int64_t batch_size,
                     const std::function<void(std::vector<ItemResult>&)>& on_batch) {
    if (mpi_rank() != 0) {
        score_handed_items(scorer, items);
        return;
    }
    // Rank 0: batches of todo, in order; results passed on once every earlier batch is.
    std::vector<std::string> jobs;
    std::vector<std::vector<size_t>> batches;
    for (size_t start = 0; start < todo.size(); start += size_t(batch_size)) {
        const size_t end = std::min(todo.size(), start + size_t(batch_size));
        batches.emplace_back(todo.begin() + ptrdiff_t(start), todo.begin() + ptrdiff_t(end));
        jobs.push_back(Json({{"batch", batches.size() - 1}, {"items", batches.back()}}).dump());
    }
    std::map<size_t, std::vector<ItemResult>> waiting;  // batch -> results, not yet passed on
    size_t next_batch = 0;
    mpi_hand_out_jobs(jobs, [&](int rank, const std::string& text) {
        const Json report = Json::parse(text);
        if (report.contains("error"))
            mpi_abort_all(fmt::format("rank {}: {}", rank, report["error"].get<std::string>()));
        const size_t b = report.at("batch").get<size_t>();
        const Json& results = report.at("results");
        if (b >= batches.size() || results.size() != batches[b].size())
            mpi_abort_all(fmt::format("rank {}: a malformed report for batch {}", rank, b));
        std::vector<ItemResult>& out = waiting[b];
        for (size_t i = 0; i < results.size(); ++i)
            out.push_back(decode_result(results[i], items[batches[b][i]].id));
        for (auto it = waiting.find(next_batch); it != waiting.end();
             it = waiting.find(next_batch)) {
            on_batch(it->second);
            waiting.erase(it);
            ++next_batch;
        }
    });
    if (next_batch != batches.size())
        mpi_abort_all(fmt::format("{} of {} batches were not scored", batches.size() - next_batch,
                                  batches.size()));
}

}  // namespace encore
