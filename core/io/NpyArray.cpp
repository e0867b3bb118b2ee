#include "io/NpyArray.h"

#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/SafeSize.h"
#include "util/Text.h"

#include <cstring>
#include <sstream>

namespace medsiam::core {

int64_t NpyArray::elementCount() const
{
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

std::string NpyArray::dtypeName() const
{
    switch (kind) {
    case 'f':
        return "float" + std::to_string(itemSize * 8);
    case 'i':
        return "int" + std::to_string(itemSize * 8);
    case 'u':
        return "uint" + std::to_string(itemSize * 8);
    case 'b':
        return "bool";
    default:
        return "?";
    }
}

std::string NpyArray::shapeText() const
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

float halfToFloat(uint16_t h)
{
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    int exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            exp = 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3FF;
            bits = sign | uint32_t(exp + 127 - 15) << 23 | mant << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | mant << 13;
    } else {
        bits = sign | uint32_t(exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

double NpyArray::asDouble(int64_t i) const
{
    const uint8_t* p = data.data() + i * itemSize;
    switch (kind) {
    case 'f':
        if (itemSize == 4) {
            float v;
            std::memcpy(&v, p, 4);
            return v;
        } else if (itemSize == 8) {
            double v;
            std::memcpy(&v, p, 8);
            return v;
        } else {
            uint16_t v;
            std::memcpy(&v, p, 2);
            return halfToFloat(v);
        }
    default:
        return static_cast<double>(asInt(i));
    }
}

int64_t NpyArray::asInt(int64_t i) const
{
    const uint8_t* p = data.data() + i * itemSize;
    if (kind == 'f')
        return static_cast<int64_t>(asDouble(i));
    if (kind == 'u' || kind == 'b') {
        uint64_t v = 0;
        std::memcpy(&v, p, itemSize);
        return static_cast<int64_t>(v);
    }
    switch (itemSize) {
    case 1:
        return static_cast<int8_t>(p[0]);
    case 2: {
        int16_t v;
        std::memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        int32_t v;
        std::memcpy(&v, p, 4);
        return v;
    }
    default: {
        int64_t v;
        std::memcpy(&v, p, 8);
        return v;
    }
    }
}

NpyArray parseNpy(std::vector<uint8_t> bytes, const std::string& what)
{
    auto fail = [&](const std::string& why) { throw UserError(what + ": not a valid .npy array (" + why + ")"); };
    if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
        fail("missing NUMPY magic");
    const int major = bytes[6];
    size_t headerLen, headerStart;
    if (major == 1) {
        headerLen = bytes[8] | (bytes[9] << 8);
        headerStart = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12)
            fail("truncated header");
        headerLen = uint32_t(bytes[8]) | uint32_t(bytes[9]) << 8 | uint32_t(bytes[10]) << 16 | uint32_t(bytes[11]) << 24;
        headerStart = 12;
    } else {
        fail("unsupported version " + std::to_string(major));
    }
    if (headerStart + headerLen > bytes.size())
        fail("truncated header");
    const std::string header(reinterpret_cast<const char*>(bytes.data() + headerStart), headerLen);

    auto valueOf = [&](const std::string& key) -> std::string {
        const std::string k = "'" + key + "'";
        size_t p = header.find(k);
        if (p == std::string::npos)
            fail("header has no " + k);
        p = header.find(':', p + k.size());
        if (p == std::string::npos)
            fail("malformed header");
        ++p;
        while (p < header.size() && header[p] == ' ')
            ++p;
        size_t e = p;
        if (p >= header.size())
            fail("malformed header");
        if (header[p] == '\'') {
            e = header.find('\'', p + 1);
            return e == std::string::npos ? std::string() : header.substr(p + 1, e - p - 1);
        }
        if (header[p] == '(') {
            e = header.find(')', p);
            if (e == std::string::npos)
                fail("malformed shape");
            return header.substr(p, e - p + 1);
        }
        while (e < header.size() && header[e] != ',' && header[e] != '}')
            ++e;
        return text::trim(header.substr(p, e - p));
    };

    NpyArray a;
    const std::string descr = valueOf("descr");
    if (descr.size() < 3)
        fail("unsupported dtype '" + descr + "'");
    const char order = descr[0];
    a.kind = descr[1];
    long long size = 0;
    if (!text::parseInt(descr.substr(2), size) || (size != 1 && size != 2 && size != 4 && size != 8))
        fail("unsupported dtype '" + descr + "'");
    a.itemSize = static_cast<int>(size);
    if (a.kind != 'f' && a.kind != 'i' && a.kind != 'u' && a.kind != 'b')
        fail("unsupported dtype '" + descr + "'");
    if (a.kind == 'f' && a.itemSize == 1)
        fail("unsupported dtype '" + descr + "'");
    if (order == '>' && a.itemSize > 1)
        fail("big-endian dtype '" + descr + "' is not supported");
    if (valueOf("fortran_order") != "False")
        fail("Fortran-ordered arrays are not supported");
    const std::string shape = valueOf("shape");
    if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
        fail("malformed shape " + shape);
    for (const std::string& part : text::split(shape.substr(1, shape.size() - 2), ',')) {
        if (text::trim(part).empty())
            continue;
        long long d;
        if (!text::parseInt(part, d) || d < 0)
            fail("malformed shape " + shape);
        a.shape.push_back(d);
    }
    int64_t count = 0, need = 0;
    if (!checkedProduct(a.shape, count) || !checkedMul(count, a.itemSize, need))
        fail("shape " + a.shapeText() + " is too large (its size overflows)");
    const uint64_t expected = static_cast<uint64_t>(need);
    const uint64_t have = bytes.size() - headerStart - headerLen;
    if (have < expected)
        fail("data truncated: shape " + a.shapeText() + " needs " + std::to_string(expected) + " bytes, found " + std::to_string(have));
    if (have > expected)
        fail("trailing data after the array");
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(headerStart + headerLen));
    a.data = std::move(bytes);
    return a;
}

std::vector<uint8_t> writeNpy(const NpyArray& a)
{
    std::ostringstream h;
    h << "{'descr': '" << (a.itemSize == 1 ? '|' : '<') << a.kind << a.itemSize << "', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < a.shape.size(); ++i)
        h << a.shape[i] << (a.shape.size() == 1 || i + 1 < a.shape.size() ? "," : "") << (i + 1 < a.shape.size() ? " " : "");
    h << "), }";
    std::string header = h.str();
    while ((10 + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    const uint8_t magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xFF),
                               static_cast<uint8_t>(header.size() >> 8)};
    std::vector<uint8_t> out(sizeof magic + header.size() + a.data.size());
    std::memcpy(out.data(), magic, sizeof magic);
    std::memcpy(out.data() + sizeof magic, header.data(), header.size());
    if (!a.data.empty())
        std::memcpy(out.data() + sizeof magic + header.size(), a.data.data(), a.data.size());
    return out;
}

void saveFloatNpy(const std::string& path, const float* data, const std::vector<int64_t>& shape)
{
    NpyArray a;
    a.kind = 'f';
    a.itemSize = 4;
    a.shape = shape;
    a.data.resize(static_cast<size_t>(a.elementCount()) * 4);
    if (!a.data.empty())
        std::memcpy(a.data.data(), data, a.data.size());
    saveNpyFile(path, a);
}

void saveNpyFile(const std::string& path, const NpyArray& array)
{
    const auto bytes = writeNpy(array);
    writeFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

NpyArray loadNpyFile(const std::string& path)
{
    const std::string bytes = readWholeFile(path);
    return parseNpy(std::vector<uint8_t>(bytes.begin(), bytes.end()), "'" + path + "'");
}

} // namespace medsiam::core
