#include "io/ZipArchive.h"

#include "util/Error.h"
#include "util/SafeSize.h"
#include "util/Text.h"

#include <algorithm>
#include <cstring>

#ifdef MEDSIAM_HAVE_ZLIB
#include <zlib.h>
#endif

namespace medsiam::core {

namespace {

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint64_t u64(const uint8_t* p) { return uint64_t(u32(p)) | uint64_t(u32(p + 4)) << 32; }

} // namespace

ZipArchive::ZipArchive(const std::string& path) : m_path(path), m_file(path, std::ios::binary)
{
    auto fail = [&](const std::string& why) { throw UserError("'" + path + "': " + why); };
    if (!m_file)
        fail("cannot open file");
    m_file.seekg(0, std::ios::end);
    m_fileSize = static_cast<uint64_t>(m_file.tellg());
    if (m_fileSize < 22)
        fail("not a zip archive (too short)");

    // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
    const uint64_t tailSize = std::min<uint64_t>(m_fileSize, 65535 + 22);
    std::vector<uint8_t> tail(tailSize);
    m_file.seekg(static_cast<std::streamoff>(m_fileSize - tailSize));
    m_file.read(reinterpret_cast<char*>(tail.data()), static_cast<std::streamsize>(tailSize));
    int64_t eocd = -1;
    for (int64_t i = static_cast<int64_t>(tailSize) - 22; i >= 0; --i)
        if (u32(&tail[i]) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd < 0)
        fail(u32(tail.data()) == 0x04034b50 || m_fileSize == tailSize ? "truncated zip archive (no central directory)"
                                                                      : "not a zip archive");
    uint64_t count = u16(&tail[eocd + 10]);
    uint64_t cdSize = u32(&tail[eocd + 12]);
    uint64_t cdOffset = u32(&tail[eocd + 16]);

    // Zip64: a locator just before the EOCD points at the Zip64 EOCD record.
    if (eocd >= 20 && u32(&tail[eocd - 20]) == 0x07064b50) {
        const uint64_t z64 = u64(&tail[eocd - 20 + 8]);
        uint8_t rec[56];
        if (z64 > m_fileSize || m_fileSize - z64 < 56)
            fail("truncated zip archive (bad Zip64 record)");
        m_file.seekg(static_cast<std::streamoff>(z64));
        m_file.read(reinterpret_cast<char*>(rec), 56);
        if (!m_file || u32(rec) != 0x06064b50)
            fail("corrupt zip archive (bad Zip64 record)");
        count = u64(rec + 32);
        cdSize = u64(rec + 40);
        cdOffset = u64(rec + 48);
    }
    if (cdOffset > m_fileSize || cdSize > m_fileSize - cdOffset)
        fail("truncated zip archive (central directory beyond end of file)");

    std::vector<uint8_t> cd(cdSize);
    m_file.seekg(static_cast<std::streamoff>(cdOffset));
    m_file.read(reinterpret_cast<char*>(cd.data()), static_cast<std::streamsize>(cdSize));
    if (!m_file)
        fail("truncated zip archive");
    size_t pos = 0;
    for (uint64_t i = 0; i < count; ++i) {
        if (pos + 46 > cd.size() || u32(&cd[pos]) != 0x02014b50)
            fail("corrupt zip central directory");
        Entry e;
        e.flags = u16(&cd[pos + 8]);
        e.method = u16(&cd[pos + 10]);
        e.crc32 = u32(&cd[pos + 16]);
        e.compressedSize = u32(&cd[pos + 20]);
        e.size = u32(&cd[pos + 24]);
        const uint16_t nameLen = u16(&cd[pos + 28]);
        const uint16_t extraLen = u16(&cd[pos + 30]);
        const uint16_t commentLen = u16(&cd[pos + 32]);
        e.localHeaderOffset = u32(&cd[pos + 42]);
        if (pos + 46 + nameLen + extraLen + commentLen > cd.size())
            fail("corrupt zip central directory");
        e.name.assign(reinterpret_cast<const char*>(&cd[pos + 46]), nameLen);
        // Zip64 extended information: present fields replace the 0xFFFFFFFF placeholders in order.
        size_t x = pos + 46 + nameLen;
        const size_t xEnd = x + extraLen;
        while (x + 4 <= xEnd) {
            const uint16_t id = u16(&cd[x]), len = u16(&cd[x + 2]);
            if (id == 0x0001) {
                size_t f = x + 4;
                auto take = [&](uint64_t& field) {
                    if (field == 0xFFFFFFFFu && f + 8 <= x + 4 + len) {
                        field = u64(&cd[f]);
                        f += 8;
                    }
                };
                take(e.size);
                take(e.compressedSize);
                take(e.localHeaderOffset);
            }
            x += 4 + len;
        }
        m_entries.push_back(e);
        pos += 46 + nameLen + extraLen + commentLen;
    }
}

const ZipArchive::Entry* ZipArchive::find(const std::string& name) const
{
    for (const auto& e : m_entries)
        if (e.name == name)
            return &e;
    return nullptr;
}

std::vector<uint8_t> ZipArchive::read(const Entry& e, uint64_t maxBytes)
{
    auto fail = [&](const std::string& why) { throw UserError("'" + m_path + "', entry '" + e.name + "': " + why); };
    uint8_t local[30];
    if (e.localHeaderOffset > m_fileSize || m_fileSize - e.localHeaderOffset < 30)
        fail("truncated archive");
    m_file.clear();
    m_file.seekg(static_cast<std::streamoff>(e.localHeaderOffset));
    m_file.read(reinterpret_cast<char*>(local), 30);
    if (!m_file || u32(local) != 0x04034b50)
        fail("corrupt local header");
    const uint64_t dataStart = e.localHeaderOffset + 30 + u16(local + 26) + u16(local + 28);
    if (dataStart > m_fileSize || e.compressedSize > m_fileSize - dataStart)
        fail("truncated archive (entry data runs past the end of the file)");
    if (e.flags & 1)
        fail("the entry is encrypted, which medsiam does not read");
    if (e.size > maxBytes)
        fail("the entry claims " + text::humanBytes(double(e.size)) + ", over the limit of " + text::humanBytes(double(maxBytes)));
    if (e.method == 8 && !plausiblyInflates(e.compressedSize, e.size))
        fail("the entry claims " + text::humanBytes(double(e.size)) + " from " + text::humanBytes(double(e.compressedSize)) +
             " of compressed data, more than deflate can give (a damaged archive or a decompression bomb)");
    std::vector<uint8_t> packed(e.compressedSize);
    m_file.seekg(static_cast<std::streamoff>(dataStart));
    m_file.read(reinterpret_cast<char*>(packed.data()), static_cast<std::streamsize>(packed.size()));
    if (!m_file)
        fail("truncated archive");

    std::vector<uint8_t> out;
    if (e.method == 0) {
        if (e.compressedSize != e.size)
            fail("stored entry with inconsistent sizes");
        out = std::move(packed);
    } else if (e.method == 8) {
#ifdef MEDSIAM_HAVE_ZLIB
        out.resize(e.size);
        z_stream zs{};
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
            fail("cannot initialise zlib");
        uint64_t inDone = 0, outDone = 0;
        int rc = Z_OK;
        while (rc == Z_OK) {
            const uInt inChunk = static_cast<uInt>(std::min<uint64_t>(packed.size() - inDone, 1u << 30));
            const uInt outChunk = static_cast<uInt>(std::min<uint64_t>(out.size() - outDone, 1u << 30));
            zs.next_in = packed.data() + inDone;
            zs.avail_in = inChunk;
            zs.next_out = out.data() + outDone;
            zs.avail_out = outChunk;
            rc = inflate(&zs, Z_NO_FLUSH);
            inDone += inChunk - zs.avail_in;
            outDone += outChunk - zs.avail_out;
            if (rc == Z_OK && zs.avail_in == inChunk && zs.avail_out == outChunk)
                break; // no progress
        }
        inflateEnd(&zs);
        if (rc != Z_STREAM_END || outDone != e.size)
            fail("corrupt or truncated compressed data");
#else
        fail("deflate-compressed entry, but medsiam was built without zlib");
#endif
    } else {
        fail("unsupported zip compression method " + std::to_string(e.method));
    }
#ifdef MEDSIAM_HAVE_ZLIB
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t off = 0; off < out.size(); off += (1u << 30))
        crc = crc32(crc, out.data() + off, static_cast<uInt>(std::min<uint64_t>(out.size() - off, 1u << 30)));
    if (crc != e.crc32)
        fail("CRC mismatch (the archive is corrupt)");
#endif
    return out;
}

} // namespace medsiam::core
