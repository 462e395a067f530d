// A sweep spread over MPI ranks (built when CMake finds MPI: ENCORE_MPI). Rank 0 prepares the
// run directory (and measures the base), then hands plans out one at a time to whichever rank
// asks next, records each result as it arrives and finishes the directory; ranks 1.. measure.
// Each plan's values do not depend on where it was measured, and rank 0 writes the files in
// plan order at the end, so the directory is the same as a one-process sweep's.
// Without MPI (or outside mpirun) the size is 1 and run_sweep is used instead. The MPI plumbing
// (the hand-out of jobs from rank 0) is score/mpi_jobs.h, shared with `encore score`.
#pragma once

#include <memory>

#include "sweep/sweep.h"

namespace encore {

// Ranks of the MPI job this process belongs to (1 when not launched by mpirun or built without
// MPI). The first call initialises MPI when launched by mpirun.
int mpi_sweep_size();
int mpi_sweep_rank();

// Every rank calls it; returns when the sweep is done (on rank 0: the directory finished).
void run_sweep_mpi(std::shared_ptr<const Model> model, const SweepOptions& options);

}  // namespace encore
