#pragma once
#include "image/Image8.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace medsiam::core {

/// Where one image's pixels sit in a cache file.
struct CacheEntry {
    int64_t imageId = 0;
    int64_t offset = 0; ///< byte offset in the cache file
    int channels = 1;   ///< 1 grey or 3 RGB, side x side x channels bytes, interleaved
    ContentRect content; ///< the letterboxed content inside the square
};

/// The cache file of a resolution: cache/images_<side>.u8, uint8 images appended back to back.
/// The index (offsets, channels, content rectangles) lives in project.sqlite's cache_entries
/// table, committed in the same transaction as the catalogue rows, so the catalogue is the one
/// truth: bytes appended by an import that died before its commit are never referenced.
std::string cacheFilePath(const std::string& cacheDir, int side);

/// Appends images to a cache file. One writer per file at a time (the importer).
class ImageCacheWriter {
public:
    /// Opens (creating if needed) the cache file for `side`. Throws UserError.
    ImageCacheWriter(const std::string& cacheDir, int side);
    ~ImageCacheWriter();
    ImageCacheWriter(const ImageCacheWriter&) = delete;
    ImageCacheWriter& operator=(const ImageCacheWriter&) = delete;

    /// Where the next image goes: the end of the committed index, read in the same database
    /// transaction that will record the new entries, so that two writers can never give two
    /// images one offset (see Project::cacheEnd).
    void seek(int64_t end) { m_end = end; }
    /// Cuts the file back to `end` when it is longer: bytes appended by an import that was
    /// killed before its commit, which no entry refers to. Call with the project's lock and in a
    /// transaction.
    void reclaimBeyond(int64_t end);
    /// Writes a side x side image; returns its entry (imageId left for the caller to set).
    /// Throws DiskFullError when the disk is full, UserError for other write errors.
    CacheEntry append(const FittedImage& image);
    /// Flushes written bytes to disk (fdatasync); call before committing the index.
    void sync();
    int side() const { return m_side; }

private:
    int m_fd = -1;
    int m_side;
    int64_t m_end = 0;
    std::string m_path;
};

/// Read-only, memory-mapped view of a project's cache at one resolution. Cheap random access
/// for training loaders, the thumbnail browser and GPU uploads. Any thread may read.
class ImageCache {
public:
    /// Maps the cache file of `side` under `cacheDir` with its index (Project::cacheEntries).
    /// Throws UserError when the file is missing or shorter than the index says.
    ImageCache(const std::string& cacheDir, int side, std::vector<CacheEntry> entries);
    ~ImageCache();
    ImageCache(const ImageCache&) = delete;
    ImageCache& operator=(const ImageCache&) = delete;

    int side() const { return m_side; }
    size_t size() const { return m_entries.size(); }
    /// Entries in catalogue order (image id ascending).
    const std::vector<CacheEntry>& entries() const { return m_entries; }
    /// Index in entries() of an image id, or -1.
    int64_t indexOf(int64_t imageId) const;
    /// Pointer to the side*side*channels bytes of entry i (valid while this object lives).
    const uint8_t* pixels(size_t i) const { return m_data + m_entries[i].offset; }
    Image8 image(size_t i) const;

private:
    int m_side;
    const uint8_t* m_data = nullptr;
    size_t m_mappedBytes = 0;
    std::vector<CacheEntry> m_entries;
    std::unordered_map<int64_t, int64_t> m_byId;
};

} // namespace medsiam::core
