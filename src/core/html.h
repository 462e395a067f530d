// HTML escaping shared by the chat templates' `escape` filter and the sweep report: the five
// characters markupsafe escapes (& < > ' "), as markupsafe writes them, so that a template renders
// the bytes Python's Jinja renders.
#pragma once

#include <string>
#include <string_view>

namespace encore {

std::string html_escape(std::string_view text);

}  // namespace encore
