#include "util/ContentHash.h"

#include "util/Error.h"

#include <algorithm>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace medsiam::core {

namespace {
inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}
} // namespace

void ContentHasher::mix(uint64_t w)
{
    m_a = rotl(m_a ^ (w * 0x87C37B91114253D5ull), 31) * 0x4CF5AD432745937Full;
    m_b = rotl(m_b + w, 27) * 0x9E3779B97F4A7C15ull + m_a;
}

void ContentHasher::update(const void* data, size_t size)
{
    auto p = static_cast<const uint8_t*>(data);
    m_length += size;
    while (m_tailSize > 0 && m_tailSize < sizeof m_tail && size > 0) {
        m_tail[m_tailSize++] = *p++;
        --size;
        if (m_tailSize == 8) {
            uint64_t w;
            std::memcpy(&w, m_tail, 8);
            mix(w);
            m_tailSize = 0;
        }
    }
    while (size >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        mix(w);
        p += 8;
        size -= 8;
    }
    std::memcpy(m_tail, p, size);
    m_tailSize = size;
}

std::string ContentHasher::hex() const
{
    uint64_t a = m_a, b = m_b;
    uint64_t last = 0;
    std::memcpy(&last, m_tail, m_tailSize);
    a = rotl(a ^ (last * 0x87C37B91114253D5ull), 31) * 0x4CF5AD432745937Full;
    b = avalanche(b ^ m_length ^ a);
    a = avalanche(a + b);
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
    return buf;
}

FileDigest digestFile(const std::string& path, size_t headBytes, uint64_t keepUpTo, const std::function<bool(const FileDigest&)>& readOn)
{
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        throw UserError("cannot read file: " + std::string(std::strerror(errno)));
    FileDigest d;
    struct stat st {};
    if (::fstat(::fileno(f), &st) == 0)
        d.size = static_cast<uint64_t>(st.st_size);
    ContentHasher h;
    // One buffer per thread, not a fresh zero-filled megabyte per file: on a folder of small files
    // that allocation and its zeroing cost more than the hashing.
    thread_local std::vector<char> buf(1 << 20);
    bool keep = keepUpTo > 0 && d.size <= keepUpTo, asked = !readOn;
    uint64_t done = 0;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
        if (d.head.size() < headBytes)
            d.head.append(buf.data(), std::min(n, headBytes - d.head.size()));
        h.update(buf.data(), n);
        done += n;
        keep = keep && done <= keepUpTo;
        if (keep)
            d.contents.append(buf.data(), n);
        if (!asked && (d.head.size() >= headBytes || done >= d.size)) {
            asked = true;
            if (!readOn(d) && done < d.size) {
                std::fclose(f);
                d.contents = std::string();
                return d;
            }
        }
    }
    const bool failed = std::ferror(f);
    std::fclose(f);
    if (failed)
        throw UserError("cannot read file: I/O error");
    d.size = done;
    if (!asked)
        readOn(d); // an empty file: nothing was read, the caller still learns so
    d.hash = h.hex();
    d.complete = keep;
    if (!keep)
        d.contents = std::string();
    return d;
}

std::string hashFile(const std::string& path) { return digestFile(path, 0).hash; }

} // namespace medsiam::core
