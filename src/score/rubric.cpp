// Rubric files (see rubric.h): YAML (JSON is read by the same parser) turned into JSON first, so
// that one set of checks serves both and the canonical form is JSON.
#include "score/rubric.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace encore {

namespace {

using Json = nlohmann::ordered_json;

// A YAML node as JSON: plain scalars that read as null, booleans or numbers become those;
// quoted scalars stay strings.
Json yaml_to_json(const YAML::Node& node, const std::string& name) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return nullptr;
        case YAML::NodeType::Sequence: {
            Json out = Json::array();
            for (const auto& child : node) out.push_back(yaml_to_json(child, name));
            return out;
        }
        case YAML::NodeType::Map: {
            Json out = Json::object();
            for (const auto& kv : node) {
                const std::string key = kv.first.as<std::string>();
                if (out.contains(key)) fail(ErrorKind::format, "{}: key '{}' repeats", name, key);
                out[key] = yaml_to_json(kv.second, name);
            }
            return out;
        }
        case YAML::NodeType::Scalar: {
            const std::string& s = node.Scalar();
            if (node.Tag() == "!") return s;  // quoted
            if (s == "null" || s == "~") return nullptr;
            if (s == "true" || s == "True") return true;
            if (s == "false" || s == "False") return false;
            if (!s.empty()) {
                char* end = nullptr;
                const long long i = std::strtoll(s.c_str(), &end, 10);
                if (*end == '\0') return int64_t(i);
                const double d = std::strtod(s.c_str(), &end);
                if (*end == '\0') return d;
            }
            return s;
        }
    }
    return nullptr;
}

std::string get_string(const Json& obj, const char* key, const std::string& where,
                       const std::string& fallback) {
    if (!obj.contains(key)) return fallback;
    const Json& v = obj[key];
    if (!v.is_string())
        fail(ErrorKind::format, "{}.{}: expected a string, got {}", where, key, v.dump());
    return v.get<std::string>();
}

void check_keys(const Json& obj, const std::set<std::string>& allowed, const std::string& where) {
    for (const auto& [key, value] : obj.items())
        if (!allowed.count(key)) {
            std::string list;
            for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
            fail(ErrorKind::format, "{}: unknown key '{}' (known: {})", where, key, list);
        }
}

std::vector<LabelDef> parse_labels(const Json& v, const std::string& where) {
    std::vector<LabelDef> labels;
    if (v.is_string()) return labels_from_shorthand(v.get<std::string>(), where);
    if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string())
                fail(ErrorKind::format, "{}[{}]: a label must be a string, got {}", where, i,
                     v[i].dump());
            labels.push_back({v[i].get<std::string>(), double(i)});
        }
    } else if (v.is_object()) {
        for (const auto& [key, value] : v.items()) {
            if (!value.is_number())
                fail(ErrorKind::format, "{}.'{}': a label's value must be a number, got {}", where,
                     key, value.dump());
            labels.push_back({key, value.get<double>()});
        }
    } else {
        fail(ErrorKind::format,
             "{}: expected a shorthand (letters, letters:A-E, digits), a list or a map, got {}",
             where, v.dump());
    }
    if (labels.size() < 2) fail(ErrorKind::format, "{}: at least two labels are needed", where);
    std::set<std::string> seen;
    for (const LabelDef& l : labels) {
        if (l.text.empty()) fail(ErrorKind::format, "{}: a label is empty", where);
        if (!seen.insert(l.text).second)
            fail(ErrorKind::format, "{}: labels '{}' and '{}' collide (the same text)", where,
                 l.text, l.text);
    }
    return labels;
}

Json labels_to_json(const std::vector<LabelDef>& labels) {
    Json out = Json::array();
    for (const LabelDef& l : labels) out.push_back({l.text, l.value});
    return out;
}

}  // namespace

std::vector<LabelDef> labels_from_shorthand(std::string_view spec, const std::string& where) {
    std::vector<LabelDef> labels;
    auto range = [&](char first, char last) {
        for (char c = first; c <= last; ++c)
            labels.push_back({std::string(" ") + c, double(c - first)});
    };
    if (spec == "letters") {
        range('A', 'J');
    } else if (spec == "digits") {
        range('0', '9');
    } else if (spec.size() == 11 && spec.substr(0, 8) == "letters:" && spec[9] == '-' &&
               spec[8] >= 'A' && spec[8] <= 'Z' && spec[10] > spec[8] && spec[10] <= 'Z') {
        range(spec[8], spec[10]);
    } else {
        fail(ErrorKind::invalid_argument,
             "{}: unknown label shorthand '{}' (letters, letters:A-E, digits, a list or a map)",
             where, spec);
    }
    return labels;
}

std::vector<std::string> template_slots(std::string_view tmpl, const std::string& where) {
    std::vector<std::string> slots;
    for (size_t i = 0; i < tmpl.size(); ++i) {
        const char c = tmpl[i];
        if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
            ++i;
        } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
            ++i;
        } else if (c == '}') {
            fail(ErrorKind::format, "{}: a lone '}}' at offset {} (write '}}}}' for a brace)",
                 where, i);
        } else if (c == '{') {
            const size_t close = tmpl.find('}', i);
            if (close == std::string_view::npos)
                fail(ErrorKind::format, "{}: slot at offset {} is not closed", where, i);
            const std::string name(tmpl.substr(i + 1, close - i - 1));
            if (name.empty() || name.find('{') != std::string::npos)
                fail(ErrorKind::format, "{}: bad slot at offset {} (write '{{{{' for a brace)",
                     where, i);
            if (std::find(slots.begin(), slots.end(), name) == slots.end()) slots.push_back(name);
            i = close;
        }
    }
    return slots;
}

std::string fill_template(std::string_view tmpl, const nlohmann::ordered_json& record,
                          const std::string& where) {
    std::string out;
    out.reserve(tmpl.size() * 2);
    for (size_t i = 0; i < tmpl.size(); ++i) {
        const char c = tmpl[i];
        if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
            out += c;
            ++i;
        } else if (c == '{') {
            const size_t close = tmpl.find('}', i);
            const std::string name(tmpl.substr(i + 1, close - i - 1));
            if (!record.contains(name) || record[name].is_null())
                fail(ErrorKind::invalid_argument, "{}: missing field '{}' (a template slot)", where,
                     name);
            const auto& v = record[name];
            if (v.is_string())
                out += v.get<std::string>();
            else if (v.is_primitive())
                out += v.dump();
            else
                fail(ErrorKind::invalid_argument,
                     "{}: field '{}' must be a string or a number, not {}", where, name,
                     v.type_name());
            i = close;
        } else {
            out += c;
        }
    }
    return out;
}

std::string hash_hex(std::string_view text) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return fmt::format("{:016x}", h);
}

Rubric Rubric::from_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::io, "cannot read rubric {}", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return from_string(ss.str(), path);
}

Rubric Rubric::from_string(std::string_view text, const std::string& name) {
    Json root;
    try {
        root = yaml_to_json(YAML::Load(std::string(text)), name);
    } catch (const YAML::Exception& e) {
        fail(ErrorKind::format, "{}: malformed rubric at line {}, column {}: {}", name,
             e.mark.line + 1, e.mark.column + 1, e.msg);
    }
    if (!root.is_object()) fail(ErrorKind::format, "{}: a rubric must be a mapping of keys", name);
    check_keys(root,
               {"version", "prefix", "template", "labels", "chat", "cue", "criteria", "reason",
                "calibrate"},
               name);
    if (!root.contains("version"))
        fail(ErrorKind::format, "{}: missing key 'version' (write version: 1)", name);
    if (root["version"] != 1)
        fail(ErrorKind::unsupported, "{}: version {} is not supported (this encore reads 1)", name,
             root["version"].dump());

    Rubric r;
    r.name = name;
    if (root.contains("chat")) {
        if (!root["chat"].is_boolean())
            fail(ErrorKind::format, "{}.chat: expected true or false, got {}", name,
                 root["chat"].dump());
        r.chat = root["chat"].get<bool>();
    }
    CriterionDef top;
    top.name = "score";
    top.prefix = get_string(root, "prefix", name, "");
    top.item_template = get_string(root, "template", name, "");
    top.cue = get_string(root, "cue", name, "");
    top.labels = root.contains("labels") ? parse_labels(root["labels"], name + ".labels")
                                         : labels_from_shorthand("letters", name);
    if (root.contains("criteria")) {
        const Json& list = root["criteria"];
        if (!list.is_array() || list.empty())
            fail(ErrorKind::format, "{}.criteria: expected a non-empty list", name);
        std::set<std::string> names;
        for (size_t i = 0; i < list.size(); ++i) {
            const std::string where = fmt::format("{}.criteria[{}]", name, i);
            const Json& c = list[i];
            if (!c.is_object()) fail(ErrorKind::format, "{}: expected a mapping", where);
            check_keys(c, {"name", "prefix", "template", "labels", "cue"}, where);
            CriterionDef def = top;
            def.name = get_string(c, "name", where, "");
            if (def.name.empty()) fail(ErrorKind::format, "{}: missing key 'name'", where);
            if (!names.insert(def.name).second)
                fail(ErrorKind::format, "{}: criterion name '{}' repeats", where, def.name);
            def.prefix = get_string(c, "prefix", where, top.prefix);
            def.item_template = get_string(c, "template", where, top.item_template);
            def.cue = get_string(c, "cue", where, top.cue);
            if (c.contains("labels")) def.labels = parse_labels(c["labels"], where + ".labels");
            r.criteria.push_back(std::move(def));
        }
    } else {
        r.criteria.push_back(top);
    }
    for (size_t i = 0; i < r.criteria.size(); ++i) {
        const std::string where = root.contains("criteria")
                                      ? fmt::format("{}.criteria[{}].template", name, i)
                                      : name + ".template";
        if (r.criteria[i].item_template.empty())
            fail(ErrorKind::format, "{}: missing (the item template, with {{field}} slots)", where);
        template_slots(r.criteria[i].item_template, where);
    }
    if (root.contains("reason")) {
        const Json& v = root["reason"];
        const std::string where = name + ".reason";
        if (!v.is_object()) fail(ErrorKind::format, "{}: expected a mapping", where);
        check_keys(v, {"max_tokens", "then", "temperature", "seed"}, where);
        ReasonDef reason;
        if (!v.contains("max_tokens") || !v["max_tokens"].is_number_integer() ||
            v["max_tokens"].get<int64_t>() < 1)
            fail(ErrorKind::format, "{}.max_tokens: expected a positive integer", where);
        reason.max_tokens = v["max_tokens"].get<int64_t>();
        reason.then = get_string(v, "then", where, "");
        if (v.contains("temperature")) {
            if (!v["temperature"].is_number() || v["temperature"].get<double>() < 0)
                fail(ErrorKind::format, "{}.temperature: expected a number >= 0", where);
            reason.temperature = v["temperature"].get<float>();
        }
        if (v.contains("seed")) {
            if (!v["seed"].is_number_unsigned())
                fail(ErrorKind::format, "{}.seed: expected a non-negative integer", where);
            reason.seed = v["seed"].get<uint64_t>();
        }
        r.reason = reason;
    }
    if (root.contains("calibrate")) {
        const Json& v = root["calibrate"];
        if (!v.is_object() || v.empty())
            fail(ErrorKind::format, "{}.calibrate: expected a mapping field -> content-free text",
                 name);
        r.calibrate = v;
    }

    Json canonical = {{"version", 1}, {"chat", r.chat}};
    Json criteria = Json::array();
    for (const CriterionDef& c : r.criteria)
        criteria.push_back({{"name", c.name},
                            {"prefix", c.prefix},
                            {"template", c.item_template},
                            {"cue", c.cue},
                            {"labels", labels_to_json(c.labels)}});
    canonical["criteria"] = criteria;
    if (r.reason)
        canonical["reason"] = {{"max_tokens", r.reason->max_tokens},
                               {"then", r.reason->then},
                               {"temperature", r.reason->temperature},
                               {"seed", r.reason->seed}};
    if (r.calibrate) canonical["calibrate"] = *r.calibrate;
    r.canonical = canonical.dump();
    return r;
}

}  // namespace encore
