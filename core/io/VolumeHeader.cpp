#include "io/VolumeHeader.h"

#include "util/Error.h"
#include "util/SafeSize.h"
#include "util/Text.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#ifdef MEDSIAM_HAVE_ZLIB
#include <zlib.h>
#endif

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

[[noreturn]] void refuse(const std::string& why) { throw UserError(why); }

std::string sizeText(uint64_t bytes) { return text::humanBytes(double(bytes)); }

/// Checks the element counts and byte sizes common to every format, then the data against the
/// file that holds it (attached: after `dataOffset` in the header file; detached: a file of its
/// own).
void checkTotals(VolumeHeaderFacts& f, const std::string& what, const DecodeLimits& limits, uint64_t dataAvailable,
                 bool exactRaw)
{
    if (f.dims.empty())
        refuse(what + ": the header names no dimensions");
    for (size_t d = 0; d < f.dims.size(); ++d)
        if (f.dims[d] < 1)
            refuse(what + ": the size of axis " + std::to_string(d + 1) + " is " + std::to_string(f.dims[d]) + " (must be at least 1)");
    if (!checkedProduct(f.dims, f.voxels))
        refuse(what + ": the header's sizes multiply beyond 64 bits (a damaged header)");
    int64_t samples = 0, bytes = 0;
    if (!checkedMul(f.voxels, f.samplesPerVoxel, samples) || !checkedMul(samples, f.bytesPerSample, bytes))
        refuse(what + ": the header's sizes multiply beyond 64 bits (a damaged header)");
    f.dataBytes = static_cast<uint64_t>(bytes);
    if (f.voxels > limits.maxVolumeVoxels)
        refuse(what + ": " + std::to_string(f.voxels) + " voxels exceed the limit of " + std::to_string(limits.maxVolumeVoxels) +
               " (crop or resample the volume)");
    if (bytes > limits.maxDecodedBytes)
        refuse(what + ": the header promises " + sizeText(f.dataBytes) + " of voxels, over the limit of " +
               sizeText(uint64_t(limits.maxDecodedBytes)));
    if (f.compressed) {
        if (!plausiblyInflates(dataAvailable, f.dataBytes))
            refuse(what + ": the header promises " + sizeText(f.dataBytes) + " of voxels, more than " + sizeText(dataAvailable) +
                   " of compressed data can hold (a damaged header or a decompression bomb)");
    } else if (exactRaw && dataAvailable < f.dataBytes) {
        refuse(what + ": the header promises " + sizeText(f.dataBytes) + " of voxels but the file holds " +
               sizeText(dataAvailable) + " (truncated)");
    }
}

uint64_t sizeOf(const std::string& path, const std::string& what)
{
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
        refuse(what + ": its data file '" + path + "' cannot be read (" + ec.message() + ")");
    return size;
}

// ---------------------------------------------------------------------------------------------
// MetaImage (.mha, .mhd): "Key = Value" lines; ElementDataFile is the last one.

int metaElementSize(const std::string& type)
{
    static const std::map<std::string, int> sizes = {
        {"MET_CHAR", 1},   {"MET_UCHAR", 1},      {"MET_SHORT", 2},       {"MET_USHORT", 2}, {"MET_INT", 4},
        {"MET_UINT", 4},   {"MET_LONG", 4},       {"MET_ULONG", 4},       {"MET_LONG_LONG", 8}, {"MET_ULONG_LONG", 8},
        {"MET_FLOAT", 4},  {"MET_DOUBLE", 8},     {"MET_CHAR_ARRAY", 1},  {"MET_UCHAR_ARRAY", 1}, {"MET_SHORT_ARRAY", 2},
        {"MET_USHORT_ARRAY", 2}, {"MET_INT_ARRAY", 4}, {"MET_UINT_ARRAY", 4}, {"MET_FLOAT_ARRAY", 4}, {"MET_DOUBLE_ARRAY", 8}};
    auto it = sizes.find(type);
    return it == sizes.end() ? 0 : it->second;
}

bool parseInts(const std::string& value, std::vector<int64_t>& out)
{
    out.clear();
    for (const auto& part : text::split(value, ' ')) {
        const std::string t = text::trim(part);
        if (t.empty())
            continue;
        long long v = 0;
        if (!text::parseInt(t, v))
            return false;
        out.push_back(v);
    }
    return true;
}

VolumeHeaderFacts checkMetaImage(const std::string& path, const std::string& head, uint64_t fileSize, const DecodeLimits& limits)
{
    const std::string what = "MetaImage header";
    VolumeHeaderFacts f;
    f.format = ImageFormat::MetaImage;
    std::map<std::string, std::string> fields;
    size_t pos = 0, dataOffset = 0;
    bool sawDataFile = false;
    while (pos < head.size()) {
        size_t nl = head.find('\n', pos);
        if (nl == std::string::npos) {
            if (head.size() < fileSize)
                refuse(what + ": no ElementDataFile line in its first " + std::to_string(head.size()) + " bytes");
            nl = head.size();
        }
        const std::string line = head.substr(pos, nl - pos);
        pos = nl + 1;
        const size_t eq = line.find('=');
        if (eq == std::string::npos) {
            if (!text::trim(line).empty())
                refuse(what + ": the line '" + text::trim(line).substr(0, 60) + "' is not 'Key = Value'");
            continue;
        }
        const std::string key = text::trim(line.substr(0, eq));
        fields[key] = text::trim(line.substr(eq + 1));
        if (key == "ElementDataFile") {
            sawDataFile = true;
            dataOffset = pos;
            break;
        }
    }
    if (!sawDataFile)
        refuse(what + ": no ElementDataFile line");
    long long ndims = 0;
    if (!fields.count("NDims") || !text::parseInt(fields["NDims"], ndims))
        refuse(what + ": NDims is missing or not a number");
    if (ndims < 1 || ndims > 10)
        refuse(what + ": NDims is " + std::to_string(ndims) + " (must be between 1 and 10)");
    if (!fields.count("DimSize") || !parseInts(fields["DimSize"], f.dims))
        refuse(what + ": DimSize is missing or not a list of numbers");
    if (static_cast<long long>(f.dims.size()) != ndims)
        refuse(what + ": DimSize has " + std::to_string(f.dims.size()) + " sizes for NDims " + std::to_string(ndims));
    const std::string type = fields.count("ElementType") ? fields["ElementType"] : "";
    f.bytesPerSample = metaElementSize(type);
    if (f.bytesPerSample == 0)
        refuse(what + ": unknown ElementType '" + type.substr(0, 40) + "'");
    if (fields.count("ElementNumberOfChannels")) {
        long long channels = 0;
        if (!text::parseInt(fields["ElementNumberOfChannels"], channels) || channels < 1 || channels > 64)
            refuse(what + ": ElementNumberOfChannels is '" + fields["ElementNumberOfChannels"].substr(0, 20) + "'");
        f.samplesPerVoxel = channels;
    }
    const std::string compressed = text::toLower(fields.count("CompressedData") ? fields["CompressedData"] : "false");
    f.compressed = compressed == "true" || compressed == "1";
    long long headerSize = 0;
    if (fields.count("HeaderSize") && (!text::parseInt(fields["HeaderSize"], headerSize) || headerSize < -1))
        refuse(what + ": HeaderSize is '" + fields["HeaderSize"].substr(0, 20) + "'");
    const std::string dataFile = fields["ElementDataFile"];
    if (dataFile == "LOCAL" || dataFile == "Local" || dataFile == "local") {
        f.dataFile = path;
        const uint64_t available = fileSize > dataOffset ? fileSize - dataOffset : 0;
        checkTotals(f, what, limits, available, true);
    } else if (dataFile.empty()) {
        refuse(what + ": ElementDataFile is empty");
    } else if (dataFile.rfind("LIST", 0) == 0 || dataFile.find('%') != std::string::npos) {
        // Slices in a list of files: sizes are still checked, each file is the library's. MetaIO
        // reads past its buffers on a malformed list or on compressed slices (a fuzzed header
        // with "LISTectTyp..." and CompressedData crashed the import), so only the plain forms pass:
        // "LIST" or "LIST <N>D" followed by the slice files, which must exist, or a printf pattern.
        if (f.compressed)
            refuse(what + ": compressed slices in separate files (ElementDataFile = " + dataFile.substr(0, 40) + ") are not read");
        if (dataFile.rfind("LIST", 0) == 0) {
            const std::string rest = text::trim(dataFile.substr(4));
            const bool plain = rest.empty() || (rest.size() >= 2 && rest.back() == 'D' &&
                                                std::all_of(rest.begin(), rest.end() - 1, [](char c) { return c >= '0' && c <= '9'; }));
            if (!plain)
                refuse(what + ": ElementDataFile is '" + dataFile.substr(0, 40) + "' (expected LIST or LIST <N>D)");
            size_t at = dataOffset;
            std::string first;
            while (at < head.size() && first.empty()) {
                size_t nl = head.find('\n', at);
                if (nl == std::string::npos)
                    nl = head.size();
                first = text::trim(head.substr(at, nl - at));
                at = nl + 1;
            }
            if (first.empty())
                refuse(what + ": ElementDataFile = LIST names no slice files");
            const fs::path slice = fs::path(first).is_absolute() ? fs::path(first) : fs::path(path).parent_path() / first;
            std::error_code ec;
            if (!fs::is_regular_file(slice, ec))
                refuse(what + ": the listed slice file '" + first.substr(0, 60) + "' does not exist");
        }
        f.dataFile = dataFile;
        const bool compressedData = f.compressed;
        f.compressed = false;
        checkTotals(f, what, limits, 0, false);
        f.compressed = compressedData;
    } else {
        const fs::path p = fs::path(dataFile).is_absolute() ? fs::path(dataFile) : fs::path(path).parent_path() / dataFile;
        f.dataFile = p.string();
        const uint64_t size = sizeOf(f.dataFile, what);
        const uint64_t skip = headerSize > 0 ? uint64_t(headerSize) : 0;
        checkTotals(f, what, limits, size > skip ? size - skip : 0, headerSize != -1);
    }
    return f;
}

// ---------------------------------------------------------------------------------------------
// NRRD: "NRRD000N" magic, "field: value" lines, a blank line, then the data (or a detached file).

int nrrdTypeSize(const std::string& t)
{
    static const std::map<std::string, int> sizes = {
        {"signed char", 1}, {"int8", 1}, {"int8_t", 1}, {"uchar", 1}, {"unsigned char", 1}, {"uint8", 1}, {"uint8_t", 1},
        {"short", 2}, {"short int", 2}, {"signed short", 2}, {"signed short int", 2}, {"int16", 2}, {"int16_t", 2},
        {"ushort", 2}, {"unsigned short", 2}, {"unsigned short int", 2}, {"uint16", 2}, {"uint16_t", 2},
        {"int", 4}, {"signed int", 4}, {"int32", 4}, {"int32_t", 4}, {"uint", 4}, {"unsigned int", 4}, {"uint32", 4},
        {"uint32_t", 4}, {"longlong", 8}, {"long long", 8}, {"long long int", 8}, {"signed long long", 8},
        {"signed long long int", 8}, {"int64", 8}, {"int64_t", 8}, {"ulonglong", 8}, {"unsigned long long", 8},
        {"unsigned long long int", 8}, {"uint64", 8}, {"uint64_t", 8}, {"float", 4}, {"double", 8}};
    auto it = sizes.find(text::toLower(t));
    return it == sizes.end() ? 0 : it->second;
}

VolumeHeaderFacts checkNrrd(const std::string& path, const std::string& head, uint64_t fileSize, const DecodeLimits& limits)
{
    const std::string what = "NRRD header";
    VolumeHeaderFacts f;
    f.format = ImageFormat::Nrrd;
    if (head.size() < 8 || head.compare(0, 7, "NRRD000") != 0)
        refuse(what + ": no NRRD000N magic");
    std::map<std::string, std::string> fields;
    size_t pos = head.find('\n');
    if (pos == std::string::npos)
        refuse(what + ": the header does not end within its first " + std::to_string(head.size()) + " bytes");
    ++pos;
    size_t dataOffset = 0;
    bool ended = false;
    while (pos < head.size()) {
        size_t nl = head.find('\n', pos);
        if (nl == std::string::npos) {
            if (head.size() < fileSize)
                refuse(what + ": the header does not end within its first " + std::to_string(head.size()) + " bytes");
            nl = head.size();
        }
        std::string line = head.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        pos = nl + 1;
        if (line.empty()) {
            ended = true;
            dataOffset = pos;
            break;
        }
        if (line[0] == '#' || line.find(":=") != std::string::npos)
            continue; // comment, key/value pair
        const size_t colon = line.find(": ");
        if (colon == std::string::npos)
            refuse(what + ": the line '" + line.substr(0, 60) + "' is not 'field: value'");
        fields[text::toLower(text::trim(line.substr(0, colon)))] = text::trim(line.substr(colon + 2));
    }
    if (!ended && head.size() < fileSize)
        refuse(what + ": the header does not end within its first " + std::to_string(head.size()) + " bytes");
    long long dimension = 0;
    if (!fields.count("dimension") || !text::parseInt(fields["dimension"], dimension))
        refuse(what + ": dimension is missing or not a number");
    if (dimension < 1 || dimension > 16)
        refuse(what + ": dimension is " + std::to_string(dimension) + " (must be between 1 and 16)");
    if (!fields.count("sizes") || !parseInts(fields["sizes"], f.dims))
        refuse(what + ": sizes is missing or not a list of numbers");
    if (static_cast<long long>(f.dims.size()) != dimension)
        refuse(what + ": sizes has " + std::to_string(f.dims.size()) + " entries for dimension " + std::to_string(dimension));
    f.bytesPerSample = nrrdTypeSize(fields.count("type") ? fields["type"] : "");
    if (f.bytesPerSample == 0)
        refuse(what + ": unknown type '" + (fields.count("type") ? fields["type"].substr(0, 40) : "") + "'");
    const std::string encoding = text::toLower(fields.count("encoding") ? fields["encoding"] : "");
    const bool gz = encoding == "gz" || encoding == "gzip";
    const bool bz2 = encoding == "bz2" || encoding == "bzip2";
    const bool raw = encoding == "raw";
    const bool textual = encoding == "txt" || encoding == "text" || encoding == "ascii" || encoding == "hex";
    if (!gz && !bz2 && !raw && !textual)
        refuse(what + ": unknown encoding '" + encoding.substr(0, 20) + "'");
    f.compressed = gz;
    std::string detached;
    for (const char* key : {"data file", "datafile"})
        if (fields.count(key))
            detached = fields[key];
    uint64_t available;
    if (detached.empty()) {
        if (!ended)
            refuse(what + ": no blank line ends the header");
        f.dataFile = path;
        available = fileSize > dataOffset ? fileSize - dataOffset : 0;
    } else if (detached.rfind("LIST", 0) == 0 || detached.find('%') != std::string::npos || detached.find(' ') != std::string::npos) {
        f.dataFile = detached;
        f.compressed = false;
        checkTotals(f, what, limits, 0, false);
        f.compressed = gz;
        return f;
    } else {
        const fs::path p = fs::path(detached).is_absolute() ? fs::path(detached) : fs::path(path).parent_path() / detached;
        f.dataFile = p.string();
        available = sizeOf(f.dataFile, what);
    }
    if (bz2) {
        f.compressed = false; // bzip2 can expand further than deflate; the size limits still hold
        checkTotals(f, what, limits, available, false);
    } else if (textual) {
        checkTotals(f, what, limits, available, false);
        if (available < uint64_t(f.voxels) * uint64_t(f.samplesPerVoxel))
            refuse(what + ": " + std::to_string(f.voxels) + " voxels cannot be written as text in " + sizeText(available));
    } else {
        checkTotals(f, what, limits, available, raw && fields.count("byte skip") == 0 && fields.count("line skip") == 0);
    }
    return f;
}

// ---------------------------------------------------------------------------------------------
// NIfTI-1 (348-byte header) and NIfTI-2 (540 bytes), plain or gzipped.

template <typename T>
T read(const std::string& h, size_t at, bool swap)
{
    T v;
    std::memcpy(&v, h.data() + at, sizeof(T));
    if (swap) {
        auto* b = reinterpret_cast<unsigned char*>(&v);
        for (size_t i = 0; i < sizeof(T) / 2; ++i)
            std::swap(b[i], b[sizeof(T) - 1 - i]);
    }
    return v;
}

std::string niftiHead(const std::string& path, const std::string& head, bool& gzipped)
{
    gzipped = head.size() >= 2 && uint8_t(head[0]) == 0x1f && uint8_t(head[1]) == 0x8b;
    if (!gzipped)
        return head;
#ifdef MEDSIAM_HAVE_ZLIB
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f)
        refuse("NIfTI header: cannot open the gzipped file");
    std::string out(544, '\0');
    const int n = gzread(f, out.data(), static_cast<unsigned>(out.size()));
    gzclose(f);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
#else
    refuse("NIfTI header: a gzipped file, but medsiam was built without zlib");
#endif
}

VolumeHeaderFacts checkNifti(const std::string& path, const std::string& rawHead, uint64_t fileSize, const DecodeLimits& limits)
{
    const std::string what = "NIfTI header";
    VolumeHeaderFacts f;
    f.format = ImageFormat::Nifti;
    bool gz = false;
    const std::string h = niftiHead(path, rawHead, gz);
    if (h.size() < 348)
        refuse(what + ": shorter than 348 bytes");
    const int32_t le = read<int32_t>(h, 0, false);
    bool swap = false;
    int version = 0;
    if (le == 348 || le == 540) {
        version = le == 348 ? 1 : 2;
    } else if (read<int32_t>(h, 0, true) == 348 || read<int32_t>(h, 0, true) == 540) {
        swap = true;
        version = read<int32_t>(h, 0, true) == 348 ? 1 : 2;
    } else {
        refuse(what + ": sizeof_hdr is neither 348 nor 540");
    }
    int64_t ndim = 0, voxOffset = 0;
    int bitpix = 0;
    std::vector<int64_t> dim(8, 0);
    bool pair = false;
    if (version == 1) {
        for (int i = 0; i < 8; ++i)
            dim[size_t(i)] = read<int16_t>(h, 40 + 2 * size_t(i), swap);
        bitpix = read<int16_t>(h, 72, swap);
        const float off = read<float>(h, 108, swap);
        if (!(off >= 0 && off < 1e12f))
            refuse(what + ": vox_offset is not a sensible number");
        voxOffset = static_cast<int64_t>(off);
        pair = std::memcmp(h.data() + 344, "ni1\0", 4) == 0;
    } else {
        if (h.size() < 540)
            refuse(what + ": a NIfTI-2 header shorter than 540 bytes");
        for (int i = 0; i < 8; ++i)
            dim[size_t(i)] = read<int64_t>(h, 16 + 8 * size_t(i), swap);
        bitpix = read<int16_t>(h, 14, swap);
        voxOffset = read<int64_t>(h, 168, swap);
        pair = std::memcmp(h.data() + 4, "ni2\0", 4) == 0;
        if (voxOffset < 0)
            refuse(what + ": vox_offset is negative");
    }
    ndim = dim[0];
    if (ndim < 1 || ndim > 7)
        refuse(what + ": dim[0] is " + std::to_string(ndim) + " (must be between 1 and 7)");
    if (bitpix <= 0 || bitpix % 8 != 0 || bitpix > 256)
        refuse(what + ": bitpix is " + std::to_string(bitpix));
    f.dims.assign(dim.begin() + 1, dim.begin() + 1 + ndim);
    f.bytesPerSample = bitpix / 8;
    f.compressed = gz;
    uint64_t available = 0;
    if (pair) {
        fs::path img = fs::path(path);
        const std::string ext = text::toLower(img.extension().string());
        if (ext == ".gz")
            img.replace_extension(""); // x.hdr.gz -> x.hdr
        img.replace_extension(".img");
        if (!fs::exists(img) && gz)
            img += ".gz";
        f.dataFile = img.string();
        available = sizeOf(f.dataFile, what);
        f.compressed = text::endsWith(text::toLower(f.dataFile), ".gz");
    } else {
        f.dataFile = path;
        if (gz)
            available = fileSize; // compressed bytes; the offset is inside the stream
        else
            available = fileSize > uint64_t(voxOffset) ? fileSize - uint64_t(voxOffset) : 0;
    }
    checkTotals(f, what, limits, available, true);
    return f;
}

} // namespace

VolumeHeaderFacts checkVolumeHeader(const std::string& path, const std::string& head, uint64_t fileSize, const DecodeLimits& limits)
{
    if (head.size() >= 7 && head.compare(0, 7, "NRRD000") == 0)
        return checkNrrd(path, head, fileSize, limits);
    bool gz = head.size() >= 2 && uint8_t(head[0]) == 0x1f && uint8_t(head[1]) == 0x8b;
    if (gz || (head.size() >= 4 && (read<int32_t>(head, 0, false) == 348 || read<int32_t>(head, 0, false) == 540 ||
                                    read<int32_t>(head, 0, true) == 348 || read<int32_t>(head, 0, true) == 540)))
        return checkNifti(path, head, fileSize, limits);
    return checkMetaImage(path, head, fileSize, limits);
}

VolumeHeaderFacts checkVolumeHeaderFile(const std::string& path, const DecodeLimits& limits)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        refuse("cannot open '" + path + "'");
    std::string head(65536, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return checkVolumeHeader(path, head, ec ? head.size() : size, limits);
}

} // namespace medsiam::core
