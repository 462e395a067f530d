// The scoring endpoints (see score_endpoints.h).
#include "server/score_endpoints.h"

#include "core/error.h"
#include "server/api_error.h"
#include "server/context.h"

namespace encore::server {

void load_rubrics(ServerContext& ctx) {
    if (!ctx.options.rubrics.empty())
        fail(ErrorKind::unsupported, "--rubric: scoring is not part of this build yet");
}

void handle_score(ServerContext&, const httplib::Request&, httplib::Response&) {
    throw ApiError(501, "/v1/score is not part of this build yet", "", "not_implemented");
}

void handle_choose(ServerContext&, const httplib::Request&, httplib::Response&) {
    throw ApiError(501, "/v1/choose is not part of this build yet", "", "not_implemented");
}

}  // namespace encore::server
