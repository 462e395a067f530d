// `encore bench`: speed measurements, each reported with a ratio to a roofline measured in the
// same run (see bench/RESULTS.md).
#include "commands.h"

namespace encore::cli {

void add_bench(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("bench", "speed benchmarks");
    cmd->callback([] {});
}

}  // namespace encore::cli
