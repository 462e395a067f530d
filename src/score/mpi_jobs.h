// Jobs handed out over MPI ranks (built when CMake finds MPI: ENCORE_MPI), the plumbing shared
// by `mpirun -np N encore score` and `encore sweep`. Rank 0 hands jobs out one at a time, in
// order, to whichever rank asks next and receives each job's report; ranks 1.. ask, run a job,
// send its report and ask again until told to stop. Jobs and reports are text (JSON in
// practice). Without MPI, or outside mpirun, the size is 1 and nothing here is needed.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace encore {

// Ranks of the MPI job this process belongs to (1 when not launched by mpirun or built without
// MPI). The first call initialises MPI when launched by mpirun; it is finalised at exit.
int mpi_size();
int mpi_rank();

// Rank 0: hands `jobs` out in order; `on_report(rank, report)` is called for each report as it
// arrives. Returns when every other rank has been told to stop.
void mpi_hand_out_jobs(const std::vector<std::string>& jobs,
                       const std::function<void(int rank, const std::string& report)>& on_report);

// Ranks 1..: runs `run_job(job)` for every job handed to this rank and sends its report back.
// Returns when rank 0 says there is nothing left.
void mpi_take_jobs(const std::function<std::string(const std::string& job)>& run_job);

// Prints "encore: error: MESSAGE" and ends every rank of the job (exit status 1).
[[noreturn]] void mpi_abort_all(const std::string& message);

}  // namespace encore
