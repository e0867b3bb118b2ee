#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace medsiam::core {

/// A 128-bit content fingerprint (two independent 64-bit lanes) rendered as 32 hex digits.
/// Used to recognise a file that is already in a project, whatever its name or place.
/// Not a cryptographic hash: it guards against accidents, not adversaries.
class ContentHasher {
public:
    void update(const void* data, size_t size);
    std::string hex() const;

private:
    uint64_t m_a = 0x9E3779B97F4A7C15ull;
    uint64_t m_b = 0xC2B2AE3D27D4EB4Full;
    uint64_t m_length = 0;
    uint8_t m_tail[8] = {};
    size_t m_tailSize = 0;
    void mix(uint64_t word);
};

/// What one pass over a file gives: its fingerprint, its first bytes and its size.
struct FileDigest {
    std::string hash;     ///< empty when the read was stopped after the head
    std::string head;     ///< the first `headBytes` bytes (fewer for a smaller file)
    uint64_t size = 0;    ///< the file's size
    std::string contents; ///< the whole file, when it is no larger than `keepUpTo` bytes
    bool complete = false; ///< contents holds the whole file
};

/// Hashes a whole file, keeping its first `headBytes` bytes (for recognising its format without
/// opening it again) and, when it has at most `keepUpTo` bytes, all of them (for decoding it
/// without reading it again). `readOn`, when given, is called once with the head and the size
/// known; when it returns false the rest of a larger file is not read and no hash is made (a
/// large file that is no image costs one chunk, not a whole read). Throws UserError when the
/// file cannot be read.
FileDigest digestFile(const std::string& path, size_t headBytes, uint64_t keepUpTo = 0,
                      const std::function<bool(const FileDigest&)>& readOn = {});

/// Hashes a whole file. Throws UserError when it cannot be read.
std::string hashFile(const std::string& path);

} // namespace medsiam::core
