#include "io/FileSniffer.h"

#include "util/Text.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>

#ifdef MEDSIAM_HAVE_ZLIB
#include <zlib.h>
#endif

namespace medsiam::core {

namespace {

constexpr std::string_view kDicomDirClass = "1.2.840.10008.1.3.10";

bool startsWith(const std::string& head, std::string_view magic)
{
    return head.size() >= magic.size() && std::memcmp(head.data(), magic.data(), magic.size()) == 0;
}

uint16_t le16(const std::string& s, size_t at) { return static_cast<uint16_t>(uint8_t(s[at]) | (uint8_t(s[at + 1]) << 8)); }
uint16_t be16(const std::string& s, size_t at) { return static_cast<uint16_t>((uint8_t(s[at]) << 8) | uint8_t(s[at + 1])); }

bool isVr(const char* p)
{
    static const char* vrs[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD",
                                "OF", "OL", "OW", "OV", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI",
                                "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char* v : vrs)
        if (p[0] == v[0] && p[1] == v[1])
            return true;
    return false;
}

// A DICOM stream without the 128-byte preamble starts directly with a data element of
// group 0x0002 or 0x0008 (older exports), little or big endian, implicit or explicit VR.
bool looksLikeHeaderlessDicom(const std::string& head)
{
    if (head.size() < 16)
        return false;
    const uint16_t gLe = le16(head, 0), eLe = le16(head, 2);
    const uint16_t gBe = be16(head, 0), eBe = be16(head, 2);
    auto plausible = [&](uint16_t g, uint16_t e, bool le) {
        if (g != 0x0002 && g != 0x0008)
            return false;
        if (e > 0x0100)
            return false;
        if (isVr(head.data() + 4))
            return true;
        // Implicit VR: a 32-bit length that fits in the header we read.
        uint32_t len = le ? (uint8_t(head[4]) | uint8_t(head[5]) << 8 | uint8_t(head[6]) << 16 | uint32_t(uint8_t(head[7])) << 24)
                          : (uint32_t(uint8_t(head[4])) << 24 | uint8_t(head[5]) << 16 | uint8_t(head[6]) << 8 | uint8_t(head[7]));
        return len < 1024;
    };
    return plausible(gLe, eLe, true) || plausible(gBe, eBe, false);
}

bool isNiftiHeader(const std::string& h)
{
    if (h.size() < 348)
        return false;
    const int32_t le = int32_t(uint8_t(h[0]) | uint8_t(h[1]) << 8 | uint8_t(h[2]) << 16 | uint32_t(uint8_t(h[3])) << 24);
    const int32_t be = int32_t(uint32_t(uint8_t(h[0])) << 24 | uint8_t(h[1]) << 16 | uint8_t(h[2]) << 8 | uint8_t(h[3]));
    if (le == 540 || be == 540) // NIfTI-2
        return true;
    if (le != 348 && be != 348)
        return false;
    return std::memcmp(h.data() + 344, "n+1\0", 4) == 0 || std::memcmp(h.data() + 344, "ni1\0", 4) == 0;
}

std::string gunzipHead(const std::string& path)
{
#ifdef MEDSIAM_HAVE_ZLIB
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f)
        return {};
    std::string out(1024, '\0');
    int n = gzread(f, out.data(), static_cast<unsigned>(out.size()));
    gzclose(f);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
#else
    (void)path;
    return {};
#endif
}

bool looksLikeText(const std::string& head)
{
    if (head.empty())
        return false;
    size_t printable = 0;
    for (unsigned char c : head)
        printable += (c >= 32 && c < 127) || c == '\n' || c == '\r' || c == '\t' || c >= 0xC0;
    return printable * 100 >= head.size() * 97;
}

} // namespace

SniffResult sniffFile(const std::string& path)
{
    namespace fs = std::filesystem;
    SniffResult r;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) {
        r.reason = "cannot read file: " + ec.message();
        return r;
    }
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        r.reason = "cannot read file: " + std::string(std::strerror(errno));
        return r;
    }
    std::string head(kSniffBytes, '\0');
    size_t n = std::fread(head.data(), 1, head.size(), f);
    const bool readError = std::ferror(f);
    std::fclose(f);
    if (readError) {
        r.reason = "cannot read file: I/O error";
        return r;
    }
    head.resize(n);
    return sniffHead(path, head, size);
}

SniffResult sniffHead(const std::string& path, const std::string& head, uint64_t size)
{
    namespace fs = std::filesystem;
    SniffResult r;
    if (size == 0) {
        r.reason = "zero-byte file";
        return r;
    }
    const std::string name = text::toLower(fs::path(path).filename().string());

    if (head.size() >= 132 && head.compare(128, 4, "DICM") == 0) {
        if (name == "dicomdir" || head.find(kDicomDirClass) != std::string::npos) {
            r.format = ImageFormat::DicomDir;
            r.reason = "DICOMDIR (a media directory index, not an image): skipped";
        } else {
            r.format = ImageFormat::Dicom;
        }
        return r;
    }
    if (startsWith(head, "\x89PNG\r\n\x1a\n")) {
        r.format = ImageFormat::Png;
        return r;
    }
    if (startsWith(head, "\xFF\xD8\xFF")) {
        r.format = ImageFormat::Jpeg;
        return r;
    }
    if (startsWith(head, std::string_view("II*\0", 4)) || startsWith(head, std::string_view("MM\0*", 4))) {
        r.format = ImageFormat::Tiff;
        return r;
    }
    if (startsWith(head, "BM") && head.size() >= 26) {
        const uint32_t declared = uint8_t(head[2]) | uint8_t(head[3]) << 8 | uint8_t(head[4]) << 16 | uint32_t(uint8_t(head[5])) << 24;
        if (declared == size || declared == 0) {
            r.format = ImageFormat::Bmp;
            return r;
        }
    }
    if (startsWith(head, "NRRD000")) {
        r.format = ImageFormat::Nrrd;
        return r;
    }
    if (isNiftiHeader(head)) {
        r.format = ImageFormat::Nifti;
        return r;
    }
    if (startsWith(head, "\x1f\x8b")) {
        const std::string inner = gunzipHead(path);
        if (isNiftiHeader(inner)) {
            r.format = ImageFormat::Nifti;
            return r;
        }
        r.reason = text::endsWith(name, ".nii.gz") ? "gzip-compressed file whose content is not a NIfTI header"
                                                   : "gzip archive, not an image file";
        return r;
    }
    if (startsWith(head, std::string_view("PK\x03\x04", 4))) {
        if (head.find(".npy") != std::string::npos) {
            r.format = ImageFormat::Npz;
            return r;
        }
        r.reason = "zip archive without NumPy arrays: not an image file (unpack it first)";
        return r;
    }
    {
        // MetaImage: a text header (binary voxels may follow in a .mha) with ObjectType and ElementDataFile.
        const std::string lower = text::toLower(head);
        if ((text::startsWith(lower, "objecttype") || text::startsWith(lower, "ndims")) &&
            lower.find("elementdatafile") != std::string::npos) {
            r.format = ImageFormat::MetaImage;
            return r;
        }
    }
    if (looksLikeText(head)) {
        r.reason = "not an image file (text)";
        return r;
    }
    if (looksLikeHeaderlessDicom(head)) {
        r.format = ImageFormat::Dicom;
        return r;
    }
    r.reason = "not an image file (unrecognised content)";
    return r;
}

} // namespace medsiam::core
