#include "io/TensorFile.h"

#include "io/NpyArray.h"
#include "io/ZipArchive.h"
#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/SafeSize.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <unordered_map>

namespace medsiam::core {

const char* dtypeCode(DType dtype)
{
    switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
    }
    return "?";
}

int dtypeSize(DType dtype)
{
    switch (dtype) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16: return 2;
    case DType::I8:
    case DType::U8:
    case DType::Bool: return 1;
    }
    return 1;
}

namespace {

bool dtypeFromCode(const std::string& code, DType& out)
{
    static const std::pair<const char*, DType> table[] = {
        {"F32", DType::F32}, {"F64", DType::F64}, {"F16", DType::F16}, {"BF16", DType::BF16},
        {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
        {"U8", DType::U8},   {"BOOL", DType::Bool}};
    for (const auto& [name, value] : table)
        if (code == name) {
            out = value;
            return true;
        }
    return false;
}

template <typename T>
T load(const uint8_t* p)
{
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

} // namespace

std::string shapeText(const std::vector<int64_t>& shape)
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

int64_t RawTensor::numel() const
{
    int64_t n = 1;
    for (int64_t d : shape)
        if (!checkedMul(n, d, n))
            return -1;
    return n;
}

std::string RawTensor::shapeText() const { return core::shapeText(shape); }

std::vector<float> RawTensor::toFloat() const
{
    const int64_t n = numel();
    std::vector<float> out(static_cast<size_t>(n));
    const uint8_t* p = data.data();
    const int size = dtypeSize(dtype);
    for (int64_t i = 0; i < n; ++i, p += size) {
        float v = 0;
        switch (dtype) {
        case DType::F32: v = load<float>(p); break;
        case DType::F64: v = static_cast<float>(load<double>(p)); break;
        case DType::F16: v = halfToFloat(load<uint16_t>(p)); break;
        case DType::BF16: {
            const uint32_t bits = uint32_t(load<uint16_t>(p)) << 16;
            std::memcpy(&v, &bits, 4);
            break;
        }
        case DType::I64: v = static_cast<float>(load<int64_t>(p)); break;
        case DType::I32: v = static_cast<float>(load<int32_t>(p)); break;
        case DType::I16: v = static_cast<float>(load<int16_t>(p)); break;
        case DType::I8: v = static_cast<float>(load<int8_t>(p)); break;
        case DType::U8:
        case DType::Bool: v = static_cast<float>(*p); break;
        }
        out[static_cast<size_t>(i)] = v;
    }
    return out;
}

const char* formatName(TensorFileFormat format)
{
    switch (format) {
    case TensorFileFormat::BitNpz: return "BiT .npz";
    case TensorFileFormat::Safetensors: return "safetensors";
    case TensorFileFormat::TorchPickle: return "PyTorch pickle";
    case TensorFileFormat::Unknown: break;
    }
    return "unknown";
}

const RawTensor* TensorFile::find(const std::string& name) const
{
    for (const auto& t : tensors)
        if (t.name == name)
            return &t;
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Sniffing

TensorFileFormat sniffTensorFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw UserError("cannot open weights file '" + path + "'");
    unsigned char head[16] = {};
    in.read(reinterpret_cast<char*>(head), sizeof head);
    const auto got = in.gcount();
    if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
        ZipArchive zip(path);
        for (const auto& e : zip.entries()) {
            const auto& n = e.name;
            if (n.size() >= 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0)
                return TensorFileFormat::TorchPickle;
        }
        for (const auto& e : zip.entries()) {
            const auto& n = e.name;
            if (n.size() >= 4 && n.compare(n.size() - 4, 4, ".npy") == 0)
                return TensorFileFormat::BitNpz;
        }
        return TensorFileFormat::Unknown;
    }
    if (got >= 10) {
        uint64_t headerSize = 0;
        std::memcpy(&headerSize, head, 8);
        if (headerSize > 1 && headerSize < (uint64_t(100) << 20) && head[8] == '{')
            return TensorFileFormat::Safetensors;
    }
    return TensorFileFormat::Unknown;
}

TensorFile readTensorFile(const std::string& path)
{
    switch (sniffTensorFile(path)) {
    case TensorFileFormat::BitNpz: return readNpzTensors(path);
    case TensorFileFormat::Safetensors: return readSafetensors(path);
    case TensorFileFormat::TorchPickle: return readTorchPickle(path);
    case TensorFileFormat::Unknown: break;
    }
    {
        std::ifstream in(path, std::ios::binary);
        unsigned char b[2] = {};
        in.read(reinterpret_cast<char*>(b), 2);
        if (in.gcount() == 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
            throw UserError("'" + path + "' is a legacy torch.save file (PyTorch before 1.6), which medsiam "
                            "does not read; re-save it with a current PyTorch or convert it to safetensors");
    }
    throw UserError("'" + path + "' is not a weights file medsiam reads: expected a BiT .npz, a safetensors "
                    "file or a PyTorch .pt/.bin state dict");
}

// ---------------------------------------------------------------------------------------------
// .npz

TensorFile readNpzTensors(const std::string& path)
{
    TensorFile file;
    file.path = path;
    file.format = TensorFileFormat::BitNpz;
    ZipArchive zip(path);
    for (const auto& entry : zip.entries()) {
        if (entry.name.size() < 4 || entry.name.compare(entry.name.size() - 4, 4, ".npy") != 0)
            continue;
        const std::string name = entry.name.substr(0, entry.name.size() - 4);
        NpyArray a = parseNpy(zip.read(entry), "'" + path + "', array '" + name + "'");
        RawTensor t;
        t.name = name;
        t.shape = a.shape;
        switch (a.kind) {
        case 'f':
            t.dtype = a.itemSize == 8 ? DType::F64 : a.itemSize == 2 ? DType::F16 : DType::F32;
            break;
        case 'i':
            t.dtype = a.itemSize == 8 ? DType::I64 : a.itemSize == 4 ? DType::I32 : a.itemSize == 2 ? DType::I16 : DType::I8;
            break;
        case 'u':
            if (a.itemSize != 1)
                throw UserError("'" + path + "', array '" + name + "': unsupported dtype " + a.dtypeName());
            t.dtype = DType::U8;
            break;
        default:
            t.dtype = DType::Bool;
        }
        t.data = std::move(a.data);
        file.tensors.push_back(std::move(t));
    }
    if (file.tensors.empty())
        throw UserError("'" + path + "' is a zip archive without .npy arrays, not a BiT .npz");
    return file;
}

// ---------------------------------------------------------------------------------------------
// safetensors

std::map<std::string, std::string> readSafetensorsMetadata(const std::string& path)
{
    std::map<std::string, std::string> out;
    std::ifstream in(path, std::ios::binary);
    uint64_t headerSize = 0;
    if (!in.read(reinterpret_cast<char*>(&headerSize), 8) || headerSize > (uint64_t(100) << 20))
        return out;
    std::string header(static_cast<size_t>(headerSize), '\0');
    if (!in.read(header.data(), static_cast<std::streamsize>(headerSize)))
        return out;
    const auto j = nlohmann::json::parse(header, nullptr, false);
    if (!j.is_object() || !j.contains("__metadata__") || !j["__metadata__"].is_object())
        return out;
    for (auto m = j["__metadata__"].begin(); m != j["__metadata__"].end(); ++m)
        if (m->is_string())
            out[m.key()] = m->get<std::string>();
    return out;
}

TensorFile readSafetensors(const std::string& path)
{
    TensorFile file;
    file.path = path;
    file.format = TensorFileFormat::Safetensors;
    const std::string bytes = readWholeFile(path);
    auto fail = [&](const std::string& why) { throw UserError("'" + path + "' (safetensors): " + why); };
    if (bytes.size() < 8)
        fail("file is truncated");
    uint64_t headerSize = 0;
    std::memcpy(&headerSize, bytes.data(), 8);
    if (headerSize > bytes.size() - 8)
        fail("header size " + std::to_string(headerSize) + " exceeds the file size; the file is truncated or not safetensors");
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(headerSize));
    } catch (const std::exception& e) {
        fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object())
        fail("header is not a JSON object");
    const uint64_t dataStart = 8 + headerSize;
    const uint64_t dataSize = bytes.size() - dataStart;
    std::vector<uint64_t> offsets;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (it->is_object())
                for (auto m = it->begin(); m != it->end(); ++m)
                    if (m->is_string())
                        file.metadata[m.key()] = m->get<std::string>();
            continue;
        }
        const auto& v = *it;
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            fail("tensor '" + it.key() + "' lacks dtype, shape or data_offsets");
        RawTensor t;
        t.name = it.key();
        if (!v["dtype"].is_string() || !dtypeFromCode(v["dtype"].get<std::string>(), t.dtype))
            fail("tensor '" + t.name + "' has unsupported dtype " + v["dtype"].dump());
        if (!v["shape"].is_array())
            fail("tensor '" + t.name + "' has a shape that is not a list");
        for (const auto& d : v["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0)
                fail("tensor '" + t.name + "' has an invalid shape " + v["shape"].dump());
            t.shape.push_back(d.get<int64_t>());
        }
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            fail("tensor '" + t.name + "' has invalid data_offsets " + off.dump());
        const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
        if (begin > end || end > dataSize)
            fail("tensor '" + t.name + "' lies outside the file (offsets " + off.dump() + ", " + std::to_string(dataSize) +
                 " data bytes); the file is truncated");
        int64_t need = 0;
        if (t.numel() < 0 || !checkedMul(t.numel(), dtypeSize(t.dtype), need))
            fail("tensor '" + t.name + "' has a shape " + t.shapeText() + " whose size overflows");
        if (end - begin != static_cast<uint64_t>(need))
            fail("tensor '" + t.name + "' holds " + std::to_string(end - begin) + " bytes, but " + t.shapeText() + " " +
                 dtypeCode(t.dtype) + " needs " + std::to_string(t.numel() * dtypeSize(t.dtype)));
        t.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(dataStart + begin),
                      bytes.begin() + static_cast<std::ptrdiff_t>(dataStart + end));
        file.tensors.push_back(std::move(t));
        offsets.push_back(begin);
    }
    // The JSON object does not keep the writer's order; the data offsets do.
    std::vector<size_t> order(file.tensors.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return offsets[a] < offsets[b]; });
    std::vector<RawTensor> sorted;
    sorted.reserve(order.size());
    for (size_t i : order)
        sorted.push_back(std::move(file.tensors[i]));
    file.tensors = std::move(sorted);
    return file;
}

void writeSafetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                      const std::map<std::string, std::string>& metadata)
{
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata)
            meta[k] = v;
        header["__metadata__"] = meta;
    }
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        if (static_cast<int64_t>(t.data.size()) != t.numel() * dtypeSize(t.dtype))
            throw UserError("internal: tensor '" + t.name + "' has " + std::to_string(t.data.size()) + " bytes for " +
                            t.shapeText());
        header[t.name] = {{"dtype", dtypeCode(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
        offset += t.data.size();
    }
    std::string json = header.dump();
    while ((json.size() + 8) % 8 != 0) // the format recommends 8-byte aligned data
        json += ' ';
    std::string out;
    out.reserve(8 + json.size() + offset);
    uint64_t n = json.size();
    out.append(reinterpret_cast<const char*>(&n), 8);
    out += json;
    for (const auto& t : tensors)
        out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
    writeFileAtomically(path, out);
}

} // namespace medsiam::core
