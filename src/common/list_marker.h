#pragma once
// The Marker of a paginated list, as AWS's are: opaque to the client, and good
// only for the list that gave it. It carries the list's scope (which operation,
// and for whose entries) and the position to go on after.
#include <optional>
#include <string>
#include <string_view>

namespace coffer {

// The marker of `scope` (no '\n' in it) that resumes after `position`.
std::string EncodeListMarker(std::string_view scope, std::string_view position);

// The position `marker` resumes after; nullopt when it is not a marker of
// `scope` (another list's, or text no list gave).
std::optional<std::string> DecodeListMarker(std::string_view marker, std::string_view scope);

}  // namespace coffer
