#pragma once
// Shared by the libFuzzer targets: a file in memory (memfd) that path-based readers can open,
// and the rule every reader must keep: fail with a UserError in plain words, never otherwise.
#include "util/Error.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace medsiam::fuzz {

/// A memory-backed file, rewritten for each input; path() opens it like a file on disk.
class MemFile {
public:
    explicit MemFile(const char* name);
    ~MemFile();
    /// Replaces the contents; returns the path to open.
    const std::string& write(const uint8_t* data, size_t size);
    const std::string& path() const { return m_path; }

private:
    int m_fd = -1;
    std::string m_path;
};

/// A file on /dev/shm with a chosen extension (some libraries pick their reader by it).
std::string writeShmFile(const std::string& extension, const uint8_t* data, size_t size);

/// Runs `body`; a UserError is the expected way to refuse an input, anything else is a finding.
template <typename F>
void expectOnlyUserErrors(F&& body)
{
    try {
        body();
    } catch (const core::UserError&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "finding: an exception other than UserError escaped: %s\n", e.what());
        std::abort();
    }
}

} // namespace medsiam::fuzz
