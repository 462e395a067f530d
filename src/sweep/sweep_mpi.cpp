// MPI distribution of a sweep's plans (see sweep_mpi.h), on the job hand-out of
// score/mpi_jobs.h: a job is a plan index, a report the measured plan as JSON (or {"error"}).
#include "sweep/sweep_mpi.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "score/mpi_jobs.h"

namespace encore {

int mpi_sweep_size() {
    return mpi_size();
}

int mpi_sweep_rank() {
    return mpi_rank();
}

void run_sweep_mpi(std::shared_ptr<const Model> model, const SweepOptions& options) {
    if (mpi_size() == 1) {
        run_sweep(std::move(model), options);
        return;
    }
    std::unique_ptr<Sweep> sweep;
    try {
        sweep = std::make_unique<Sweep>(std::move(model), options);
    } catch (const Error& e) {
        mpi_abort_all(e.what());
    }
    if (mpi_rank() != 0) {
        mpi_take_jobs([&](const std::string& job) {
            try {
                return sweep->measure(size_t(std::stoll(job))).dump();
            } catch (const Error& e) {
                return nlohmann::json({{"error", e.what()}}).dump();
            }
        });
        return;
    }
    try {
        std::vector<std::string> jobs;
        for (size_t index : sweep->prepare()) jobs.push_back(std::to_string(index));
        mpi_hand_out_jobs(jobs, [&](int rank, const std::string& report) {
            const nlohmann::json msg = nlohmann::json::parse(report);
            if (msg.contains("error"))
                mpi_abort_all(fmt::format("rank {}: {}", rank, msg["error"].get<std::string>()));
            sweep->record(msg);
        });
        sweep->finish();
    } catch (const Error& e) {
        mpi_abort_all(e.what());
    }
}

}  // namespace encore
