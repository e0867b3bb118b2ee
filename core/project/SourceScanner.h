#pragma once
#include <string>
#include <utility>
#include <vector>

namespace medsiam::core {

/// A file found under an import source.
struct ScannedFile {
    std::string path;         ///< absolute, lexically normal
    std::string relativePath; ///< relative to the source it was found under
};

struct ScanResult {
    std::vector<ScannedFile> files;                          ///< sorted by path
    std::vector<std::pair<std::string, std::string>> issues; ///< path, reason (unreadable folders, FIFOs, ...)
};

/// Walks the sources recursively, following symbolic links but visiting each real folder once
/// (so link loops end), skipping `excludeDir` (the project itself) and anything that is not a
/// regular file. A source may also be a single file.
ScanResult scanSources(const std::vector<std::string>& sources, const std::string& excludeDir);

} // namespace medsiam::core
