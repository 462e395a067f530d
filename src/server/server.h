// Server: `encore serve`. Binds first (GET /health answers 503 while the model loads, 200
// after), loads the model once and makes one Engine per served model id (the model itself and
// each --plan, all sharing the weights), starts the Scheduler and serves the OpenAI-compatible
// endpoints until shutdown() (SIGTERM in `encore serve`), which stops taking new requests,
// lets running ones finish and returns from run().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"

namespace encore::server {

struct ServerOptions {
    std::string model_path;
    std::string model_name;  // the model's id; "" = the model directory's or file's name
    std::string layers;      // plan of the main model id ("" = the model as it is)
    std::vector<std::pair<std::string, std::string>> plans;    // (NAME, SPEC): id MODEL@NAME
    std::vector<std::pair<std::string, std::string>> rubrics;  // (NAME, FILE)
    std::string chat_template_file;  // overrides the model's chat template
    std::string host = "127.0.0.1";
    int port = 8080;
    int parallel = 32;
    int max_queue = 128;
    std::string api_key;
    int threads = 0;
    std::string device = "cpu";
    int64_t kv_budget_bytes = 0;   // per served model; 0 = automatic
    std::optional<DType> kv_type;  // KV storage type of every served engine (see EngineOptions)
    size_t max_body_bytes = size_t(8) << 20;
};

class Server {
  public:
    explicit Server(ServerOptions options);
    ~Server();
    // Binds (an Error naming host and port if it cannot), loads, serves; returns after
    // shutdown() once running requests have finished.
    void run();
    // Thread-safe; may be called before run() has bound (it then returns at once).
    void shutdown();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace encore::server
