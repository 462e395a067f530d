// Scoring spread over MPI ranks (`mpirun -np N encore score ...`, see mpi_jobs.h). Every rank
// builds the same Scorer (computing the rubric's prefixes itself) and prepares the same items;
// rank 0 hands the items to score out in batches to whichever rank asks next and passes the
// results on in the order of `todo`, a batch at a time, as they become complete. An item's
// scores do not depend on its batch or on the rank that computed it, and they travel as the
// doubles' bits, so the results are bitwise those of one process.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "score/scorer.h"

namespace encore {

// Every rank calls it with the same `items`. On rank 0, `todo` holds the indices (into `items`)
// to score and `on_batch` gets their results in that order; ranks 1.. ignore both and return
// when rank 0 has nothing left. A failure on any rank ends every rank with its message.
void score_items_mpi(Scorer& scorer, std::span<const PreparedItem> items,
                     const std::vector<size_t>& todo, int64_t batch_size,
                     const std::function<void(std::vector<ItemResult>&)>& on_batch);

}  // namespace encore
