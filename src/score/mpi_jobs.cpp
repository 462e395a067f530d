// MPI hand-out of jobs (see mpi_jobs.h). A worker sends its last report (empty when it starts)
// on kTagReport; rank 0 answers with the next job on kTagJob or an empty message on kTagStop.
#include "score/mpi_jobs.h"

#include <cstdio>
#include <cstdlib>

#ifdef ENCORE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace encore {

#ifdef ENCORE_MPI

namespace {

bool launched_by_mpirun() {
    const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!size) size = std::getenv("PMI_SIZE");
    return size && std::atoi(size) > 1;
}

void ensure_init() {
    static bool done = false;
    if (done) return;
    done = true;
    if (!launched_by_mpirun()) return;
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) MPI_Init(nullptr, nullptr);
    std::atexit([] {
        int finalised = 0;
        MPI_Finalized(&finalised);
        if (!finalised) MPI_Finalize();
    });
}

constexpr int kTagReport = 1, kTagJob = 2, kTagStop = 3;

void send_text(const std::string& s, int to, int tag) {
    MPI_Send(s.data(), int(s.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD);
}

// The next message from `from` with `tag` (MPI_ANY_TAG: either); its source and tag returned.
std::string receive_text(int from, int tag, int* source, int* received_tag) {
    MPI_Status status;
    MPI_Probe(from, tag, MPI_COMM_WORLD, &status);
    int n = 0;
    MPI_Get_count(&status, MPI_CHAR, &n);
    std::string s(size_t(n), '\0');
    MPI_Recv(s.data(), n, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    if (source) *source = status.MPI_SOURCE;
    if (received_tag) *received_tag = status.MPI_TAG;
    return s;
}

}  // namespace

int mpi_size() {
    ensure_init();
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) return 1;
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

int mpi_rank() {
    if (mpi_size() == 1) return 0;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

void mpi_hand_out_jobs(const std::vector<std::string>& jobs,
                       const std::function<void(int rank, const std::string& report)>& on_report) {
    size_t next = 0;
    int active = mpi_size() - 1;
    while (active > 0) {
        int source = 0;
        const std::string report = receive_text(MPI_ANY_SOURCE, kTagReport, &source, nullptr);
        if (!report.empty()) on_report(source, report);
        if (next < jobs.size()) {
            send_text(jobs[next++], source, kTagJob);
        } else {
            send_text("", source, kTagStop);
            --active;
        }
    }
}

void mpi_take_jobs(const std::function<std::string(const std::string& job)>& run_job) {
    std::string report;
    while (true) {
        send_text(report, 0, kTagReport);
        int tag = 0;
        const std::string job = receive_text(0, MPI_ANY_TAG, nullptr, &tag);
        if (tag == kTagStop) return;
        report = run_job(job);
    }
}

void mpi_abort_all(const std::string& message) {
    std::fprintf(stderr, "encore: error: %s\n", message.c_str());
    if (mpi_size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    std::exit(1);
}

#else

int mpi_size() {
    return 1;
}
int mpi_rank() {
    return 0;
}
void mpi_hand_out_jobs(const std::vector<std::string>&,
                       const std::function<void(int, const std::string&)>&) {}
void mpi_take_jobs(const std::function<std::string(const std::string&)>&) {}
void mpi_abort_all(const std::string& message) {
    std::fprintf(stderr, "encore: error: %s\n", message.c_str());
    std::exit(1);
}

#endif

}  // namespace encore
