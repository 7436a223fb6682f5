// Escaping text for HTML and XML (the acknowledgement pages, SVG badges, TwiML). Pure.
#pragma once

#include <string>
#include <string_view>

namespace overdue::base {

// Text safe in HTML/XML content and quoted attribute values: & < > " ' become entities, and
// C0 controls other than tab, LF and CR (not allowed in XML 1.0 even as character
// references) become U+FFFD.
std::string MarkupEscape(std::string_view text);

}  // namespace overdue::base
