// The OpenAI error envelope (see api_error.h).
#include "server/api_error.h"

namespace encore::server {

std::string ApiError::default_type(int status) {
    switch (status) {
        case 401:
            return "authentication_error";
        case 404:
            return "not_found_error";
        case 413:
            return "request_too_large";
        case 429:
            return "rate_limit_error";
        case 503:
            return "service_unavailable";
        default:
            return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

nlohmann::json error_envelope(const std::string& message, const std::string& type,
                              const std::string& param, const std::string& code) {
    nlohmann::json e = {
        {"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
    if (!param.empty()) e["param"] = param;
    if (!code.empty()) e["code"] = code;
    return {{"error", e}};
}

nlohmann::json error_envelope(const ApiError& e) {
    return error_envelope(e.what(), e.type(), e.param(), e.code());
}

std::string dump_json(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace encore::server
