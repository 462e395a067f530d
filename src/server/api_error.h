// ApiError: a request the server refuses, with the HTTP status and the fields of the OpenAI error
// envelope ({"error": {"message", "type", "param", "code"}}). Handlers throw it; the HTTP front
// turns it (and encore::Error raised below, mapped by kind) into the envelope.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace encore::server {

class ApiError : public std::runtime_error {
  public:
    ApiError(int status, std::string message, std::string param = "", std::string code = "",
             std::string type = "")
        : std::runtime_error(message),
          status_(status),
          param_(std::move(param)),
          code_(std::move(code)),
          type_(type.empty() ? default_type(status) : std::move(type)) {}
    int status() const { return status_; }
    const std::string& param() const { return param_; }
    const std::string& code() const { return code_; }
    const std::string& type() const { return type_; }
    static std::string default_type(int status);

  private:
    int status_;
    std::string param_, code_, type_;
};

// {"error": {"message", "type", "param", "code"}}; empty param/code are null.
nlohmann::json error_envelope(const std::string& message, const std::string& type,
                              const std::string& param = "", const std::string& code = "");
nlohmann::json error_envelope(const ApiError& e);

// JSON text for a response: invalid UTF-8 in strings (token pieces cut inside a character) is
// replaced by U+FFFD instead of failing.
std::string dump_json(const nlohmann::json& j);

}  // namespace encore::server
