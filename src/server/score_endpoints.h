// POST /v1/score and POST /v1/choose: the per-item output of `encore score` and `encore choose`
// over HTTP, computed by src/score's Scorer on the scheduler thread (the engine to itself while
// it runs). Rubrics come inline in the request or by the name given with --rubric NAME=FILE.
#pragma once

#include <httplib.h>

namespace encore::server {

struct ServerContext;

// Reads the --rubric files (an Error naming the file when one is bad).
void load_rubrics(ServerContext& ctx);
void handle_score(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_choose(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace encore::server
