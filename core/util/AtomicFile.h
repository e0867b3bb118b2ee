#pragma once
#include <string>
#include <string_view>

namespace medsiam::core {

/// Replaces `path` with `contents` atomically: writes a temporary file beside it, fsyncs it,
/// renames it over the target and fsyncs the folder. A crash at any point leaves either the
/// old file or the new one, never a mix. Throws UserError on failure.
void writeFileAtomically(const std::string& path, std::string_view contents);

/// Reads a whole file; throws UserError when it cannot.
std::string readWholeFile(const std::string& path);

} // namespace medsiam::core
