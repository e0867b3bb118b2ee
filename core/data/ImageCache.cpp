#include "data/ImageCache.h"

#include "util/Error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medsiam::core {

std::string cacheFilePath(const std::string& cacheDir, int side)
{
    return (std::filesystem::path(cacheDir) / ("images_" + std::to_string(side) + ".u8")).string();
}

ImageCacheWriter::ImageCacheWriter(const std::string& cacheDir, int side) : m_side(side), m_path(cacheFilePath(cacheDir, side))
{
    m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throw UserError("cannot open cache file '" + m_path + "': " + std::strerror(errno));
    m_end = ::lseek(m_fd, 0, SEEK_END);
}

ImageCacheWriter::~ImageCacheWriter()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

void ImageCacheWriter::reclaimBeyond(int64_t end)
{
    struct stat st{};
    if (::fstat(m_fd, &st) == 0 && st.st_size > end && ::ftruncate(m_fd, end) != 0)
        throw UserError("cannot shorten cache file '" + m_path + "': " + std::strerror(errno));
}

CacheEntry ImageCacheWriter::append(const FittedImage& f)
{
    if (f.image.width != m_side || f.image.height != m_side)
        throw UserError("internal error: cache image is not " + std::to_string(m_side) + " pixels square");
    CacheEntry e;
    e.offset = m_end;
    e.channels = f.image.channels;
    e.content = f.content;
    const uint8_t* p = f.image.pixels.data();
    size_t left = f.image.pixels.size();
    off_t at = m_end;
    while (left > 0) {
        const ssize_t n = ::pwrite(m_fd, p, left, at);
        if (n < 0) {
            const int err = errno;
            if (err == EINTR)
                continue;
            if (isDiskFullErrno(err))
                throw DiskFullError("cannot write cache file '" + m_path + "': " + std::strerror(err));
            throw UserError("cannot write cache file '" + m_path + "': " + std::strerror(err));
        }
        p += n;
        at += n;
        left -= static_cast<size_t>(n);
    }
    m_end = at;
    return e;
}

void ImageCacheWriter::sync()
{
    if (::fdatasync(m_fd) != 0) {
        const int err = errno;
        if (isDiskFullErrno(err))
            throw DiskFullError("cannot flush cache file '" + m_path + "': " + std::strerror(err));
        throw UserError("cannot flush cache file '" + m_path + "': " + std::strerror(err));
    }
}

ImageCache::ImageCache(const std::string& cacheDir, int side, std::vector<CacheEntry> entries)
    : m_side(side), m_entries(std::move(entries))
{
    m_byId.reserve(m_entries.size());
    for (size_t i = 0; i < m_entries.size(); ++i)
        m_byId[m_entries[i].imageId] = static_cast<int64_t>(i);
    const std::string path = cacheFilePath(cacheDir, side);
    if (m_entries.empty())
        return;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw UserError("cannot open cache file '" + path + "': " + std::strerror(errno));
    struct stat st{};
    ::fstat(fd, &st);
    m_mappedBytes = static_cast<size_t>(st.st_size);
    for (const auto& e : m_entries)
        if (static_cast<size_t>(e.offset) + size_t(side) * side * e.channels > m_mappedBytes) {
            ::close(fd);
            throw UserError("cache file '" + path + "' is shorter than its index: rebuild the cache");
        }
    void* p = ::mmap(nullptr, m_mappedBytes, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED)
        throw UserError("cannot map cache file '" + path + "': " + std::strerror(errno));
    m_data = static_cast<const uint8_t*>(p);
}

ImageCache::~ImageCache()
{
    if (m_data)
        ::munmap(const_cast<uint8_t*>(m_data), m_mappedBytes);
}

int64_t ImageCache::indexOf(int64_t imageId) const
{
    auto it = m_byId.find(imageId);
    return it == m_byId.end() ? -1 : it->second;
}

Image8 ImageCache::image(size_t i) const
{
    const CacheEntry& e = m_entries[i];
    Image8 img(m_side, m_side, e.channels);
    std::memcpy(img.pixels.data(), pixels(i), img.pixels.size());
    return img;
}

} // namespace medsiam::core
