#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace medsiam::core {

/// A read-only zip archive (as written by NumPy's savez and by BiT's checkpoint export):
/// stored and deflated entries, Zip64 sizes and offsets, CRC-32 checked on read.
/// Not thread-safe: use one instance per thread.
class ZipArchive {
public:
    struct Entry {
        std::string name;
        uint16_t method = 0;
        uint32_t crc32 = 0;
        uint64_t compressedSize = 0;
        uint64_t size = 0;
        uint64_t localHeaderOffset = 0;
        uint16_t flags = 0; ///< general purpose bits; bit 0: encrypted
    };

    /// Opens the archive and reads its central directory. Throws UserError naming the file and
    /// what is wrong ("not a zip archive", "truncated archive", ...).
    explicit ZipArchive(const std::string& path);

    const std::vector<Entry>& entries() const { return m_entries; }
    /// The entry with this exact name, or nullptr.
    const Entry* find(const std::string& name) const;
    /// Reads and inflates one entry whole, checking its size and CRC. Before anything is
    /// allocated its declared size is checked against `maxBytes` and against what its compressed
    /// bytes can hold (a central directory can claim anything); inflating stops at the declared
    /// size. Throws UserError.
    std::vector<uint8_t> read(const Entry& entry, uint64_t maxBytes = kDefaultMaxEntryBytes);
    static constexpr uint64_t kDefaultMaxEntryBytes = uint64_t(1) << 31;

private:
    std::string m_path;
    std::ifstream m_file;
    uint64_t m_fileSize = 0;
    std::vector<Entry> m_entries;
};

} // namespace medsiam::core
