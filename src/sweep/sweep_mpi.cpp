// MPI distribution of a sweep's plans (see sweep_mpi.h). Messages are JSON text: a worker sends
// its last measured plan (or {} when it starts), rank 0 answers with the next plan index or -1.
#include "sweep/sweep_mpi.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

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

constexpr int kTagResult = 1, kTagPlan = 2;

void send_text(const std::string& s, int to, int tag) {
    MPI_Send(s.data(), int(s.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD);
}

std::string receive_text(int from, int tag, int* source) {
    MPI_Status status;
    MPI_Probe(from, tag, MPI_COMM_WORLD, &status);
    int n = 0;
    MPI_Get_count(&status, MPI_CHAR, &n);
    std::string s(size_t(n), '\0');
    MPI_Recv(s.data(), n, MPI_CHAR, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (source) *source = status.MPI_SOURCE;
    return s;
}

[[noreturn]] void abort_all(const std::string& message) {
    std::fprintf(stderr, "encore: error: %s\n", message.c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::exit(1);
}

}  // namespace

int mpi_sweep_size() {
    ensure_init();
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) return 1;
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

int mpi_sweep_rank() {
    if (mpi_sweep_size() == 1) return 0;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

void run_sweep_mpi(std::shared_ptr<const Model> model, const SweepOptions& options) {
    const int size = mpi_sweep_size(), rank = mpi_sweep_rank();
    std::unique_ptr<Sweep> sweep;
    try {
        sweep = std::make_unique<Sweep>(std::move(model), options);
    } catch (const Error& e) {
        abort_all(e.what());
    }
    if (rank != 0) {
        std::string message = "{}";
        while (true) {
            send_text(message, 0, kTagResult);
            const int index = std::stoi(receive_text(0, kTagPlan, nullptr));
            if (index < 0) return;
            try {
                message = sweep->measure(size_t(index)).dump();
            } catch (const Error& e) {
                message = nlohmann::json({{"error", e.what()}}).dump();
            }
        }
    }
    try {
        const std::vector<size_t> todo = sweep->prepare();
        size_t next = 0;
        int active = size - 1;
        while (active > 0) {
            int source = 0;
            const nlohmann::json msg =
                nlohmann::json::parse(receive_text(MPI_ANY_SOURCE, kTagResult, &source));
            if (msg.contains("error"))
                abort_all(fmt::format("rank {}: {}", source, msg["error"].get<std::string>()));
            if (msg.contains("index")) sweep->record(msg);
            if (next < todo.size()) {
                send_text(std::to_string(todo[next++]), source, kTagPlan);
            } else {
                send_text("-1", source, kTagPlan);
                --active;
            }
        }
        sweep->finish();
    } catch (const Error& e) {
        abort_all(e.what());
    }
}

#else

int mpi_sweep_size() {
    return 1;
}
int mpi_sweep_rank() {
    return 0;
}
void run_sweep_mpi(std::shared_ptr<const Model> model, const SweepOptions& options) {
    run_sweep(std::move(model), options);
}

#endif

}  // namespace encore
