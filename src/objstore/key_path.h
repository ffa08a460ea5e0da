#pragma once
// How the file backend lays a key out under its bucket's directory: one file
// per object, '/'-separated segments of the key as directories, every
// component escaped so that no key can name anything but its own file
// (exposed for tests; see docs in file_object_store.h).
//
//   key "db/2026-11-30/full.bak"  ->  "db/2026-11-30/full.bak%o"
//   key "a/../b c"                ->  "a/%2E./b%20c%o"
//   key "x/" (empty last segment) ->  "x/%%o"
//
// Components:
//  - a segment's bytes are kept if they are A–Z a–z 0–9 '-' '_' '.' or >= 0x80
//    (UTF-8), else written %XX (upper-case hex); a '.' that would begin a
//    component is written %2E, so no component is "." or "..", and none begins
//    with '.', which is left to temporary files;
//  - an empty segment is "%";
//  - an object's file is its last segment followed by "%o"; a segment before
//    the last is a directory;
//  - an escaped segment longer than kMaxChunk bytes is cut into chunks (never
//    inside an escape): every chunk but the last is a directory named
//    "<chunk>%+", so components stay far below NAME_MAX (255).
// '%' followed by anything but two hex digits never comes out of the escaping,
// so the markers cannot collide with a segment, the mapping is one-to-one, and
// DecodeComponent refuses every name it would not produce.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::objstore::key_path {

inline constexpr size_t kMaxChunk = 200;
inline constexpr std::string_view kObjectSuffix = "%o";
inline constexpr std::string_view kContinuationSuffix = "%+";

// The components of `key`'s path, relative to the bucket directory; the last is
// the object's file. `key` is any non-empty byte string.
std::vector<std::string> Components(std::string_view key);

// Components(key) joined with '/'.
std::string RelativePath(std::string_view key);

// What a directory entry contributes to a key: for a directory, the decoded
// segment followed by '/' (or, for a "%+" chunk, without it); for an object
// file (is_object), the decoded last segment. nullopt for a name that
// Components() never produces (temporary files, anything else).
std::optional<std::string> DecodeComponent(std::string_view name, bool is_object);

}  // namespace coffer::objstore::key_path
