// Rubric: what a judge is asked, as written in a rubric file (YAML, or JSON), before any
// tokenizer is involved. A rubric has one or more criteria; each criterion is a prefix shared by
// every item, an item template with {field} slots filled from each input record, an answer cue
// and a label set (the answers whose probabilities are read, each with a numeric value).
//
//   version: 1                      required
//   prefix: "..."                   text before every item (default "")
//   template: "Story: {story}\n"    item text; {field} slots, {{ and }} for literal braces
//   cue: "Rating:"                  text after the item, right before the label (default "")
//   labels: letters                 letters (" A".." J" -> 0..9), letters:A-E, digits
//                                   (" 0".." 9"), a list of strings (values 0..n-1) or a map
//                                   label -> value
//   chat: true                      prefix + item become the user turn of the model's chat
//                                   template; the cue opens the assistant turn
//   criteria:                       several criteria, each {name, and any of prefix, template,
//     - name: craft                 labels, cue overriding the top level}; without it, one
//       cue: "Craft:"               criterion named "score"
//   reason: {max_tokens: 64, then: "\nFinal rating:", temperature: 0, seed: 0}
//                                   the judge writes a rationale after the cue, then `then` is
//                                   appended and the labels are read there
//   calibrate: {story: "N/A"}       a content-free record scored once per criterion; items get
//                                   p(label) / p_cf(label), renormalized, beside the raw scores
//
// Every error names the rubric file and the key at fault (e.g. "criteria[1].labels").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace encore {

struct LabelDef {
    std::string text;  // as it follows the cue, e.g. " A"
    double value = 0;
};

struct CriterionDef {
    std::string name;
    std::string prefix;
    std::string item_template;
    std::string cue;
    std::vector<LabelDef> labels;
};

struct ReasonDef {
    int64_t max_tokens = 0;
    std::string then;
    float temperature = 0;  // 0 = greedy
    uint64_t seed = 0;
};

struct Rubric {
    std::string name;  // the file it came from (named in errors)
    bool chat = false;
    std::vector<CriterionDef> criteria;
    std::optional<ReasonDef> reason;
    std::optional<nlohmann::ordered_json> calibrate;  // the content-free record
    // The rubric as canonical JSON (every default filled in): what the rubric hash covers.
    std::string canonical;

    static Rubric from_file(const std::string& path);
    // `text` is YAML or JSON; `name` is used in error messages.
    static Rubric from_string(std::string_view text, const std::string& name);
};

// The label set of a shorthand ("letters", "letters:A-E", "digits"); invalid_argument naming
// `where` for anything else.
std::vector<LabelDef> labels_from_shorthand(std::string_view spec, const std::string& where);

// The {field} slots of a template, in order of first use; format error naming `where` for an
// unclosed slot, an empty slot or a lone '}'.
std::vector<std::string> template_slots(std::string_view tmpl, const std::string& where);

// The template with every slot replaced by the record's field (strings as they are, numbers and
// booleans as JSON writes them). A missing or null field fails naming `where` and the field.
std::string fill_template(std::string_view tmpl, const nlohmann::ordered_json& record,
                          const std::string& where);

// 16 hex digits of FNV-1a over `text`.
std::string hash_hex(std::string_view text);

}  // namespace encore
