// `encore sweep report DIR`: redraws a sweep run directory's heatmaps and report.html from its
// results (run.json, results.jsonl, samples.jsonl, distance.json), e.g. after a resumed or merged
// sweep, or with a newer encore. Registered under `encore sweep` by add_sweep.
#include <iostream>
#include <memory>

#include "commands.h"
#include "sweep/report.h"

namespace encore::cli {

void add_sweep_report(CLI::App& sweep_cmd) {
    auto dir = std::make_shared<std::string>();
    auto* cmd = sweep_cmd.add_subcommand(
        "report", "redraw a sweep run directory's heatmaps (PNG, SVG) and report.html");
    cmd->add_option("dir", *dir, "the sweep run directory")->required();
    cmd->callback([dir] {
        draw_sweep_report(*dir);
        std::cerr << "wrote " << *dir << "/report.html and " << *dir << "/heatmaps/\n";
    });
}

}  // namespace encore::cli
