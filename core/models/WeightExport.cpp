#include "models/WeightExport.h"

#include "io/NpyArray.h"
#include "models/Network.h"
#include "models/TorchTensors.h"
#include "models/WeightImport.h"
#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/Text.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace medsiam::core {

std::optional<ExportFormat> parseExportFormat(const std::string& text)
{
    const std::string t = text::toLower(text);
    if (t == "timm" || t == "safetensors")
        return ExportFormat::Timm;
    if (t == "bit-npz" || t == "bit" || t == "npz")
        return ExportFormat::BitNpz;
    return std::nullopt;
}

const char* exportFormatName(ExportFormat format) { return format == ExportFormat::Timm ? "timm" : "bit-npz"; }
const char* exportExtension(ExportFormat format) { return format == ExportFormat::Timm ? ".safetensors" : ".npz"; }

namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const std::vector<uint8_t>& bytes)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        const uint32_t n = uint32_t(bytes[i]) << 16 | (i + 1 < bytes.size() ? uint32_t(bytes[i + 1]) << 8 : 0) |
                           (i + 2 < bytes.size() ? uint32_t(bytes[i + 2]) : 0);
        out += kBase64[(n >> 18) & 63];
        out += kBase64[(n >> 12) & 63];
        out += i + 1 < bytes.size() ? kBase64[(n >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? kBase64[n & 63] : '=';
    }
    return out;
}

std::optional<std::vector<uint8_t>> unbase64(const std::string& text)
{
    if (text.size() % 4 != 0)
        return std::nullopt;
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        uint32_t n = 0;
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char ch = text[i + static_cast<size_t>(k)];
            const char* at = ch == '=' ? nullptr : std::strchr(kBase64, ch);
            if (ch == '=' && i + 4 == text.size() && k >= 2) {
                ++pad;
                n <<= 6;
                continue;
            }
            if (!at || ch == '\0' || pad)
                return std::nullopt;
            n = n << 6 | uint32_t(at - kBase64);
        }
        out.push_back(uint8_t(n >> 16));
        if (pad < 2)
            out.push_back(uint8_t(n >> 8));
        if (pad < 1)
            out.push_back(uint8_t(n));
    }
    return out;
}

/// CRC-32 (the zip polynomial, reflected 0xEDB88320).
uint32_t crc32Of(const uint8_t* data, size_t size)
{
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; ++i)
        c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

void put16(std::string& s, uint32_t v)
{
    s += char(v & 0xFF);
    s += char((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v)
{
    put16(s, v & 0xFFFF);
    put16(s, v >> 16);
}

/// An uncompressed zip of .npy entries, as numpy.savez writes.
std::string npzBytes(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& entries)
{
    std::string zip, directory;
    for (const auto& [name, data] : entries) {
        if (zip.size() + data.size() > 0xFFFFFFF0ull)
            throw UserError("the weights are larger than 4 GiB, more than an .npz without zip64 holds; export as timm");
        const uint32_t crc = crc32Of(data.data(), data.size()), offset = static_cast<uint32_t>(zip.size());
        const uint32_t size = static_cast<uint32_t>(data.size());
        auto header = [&](std::string& s, bool central) {
            put32(s, central ? 0x02014b50 : 0x04034b50);
            if (central)
                put16(s, 20); // made by
            put16(s, 20);     // version needed
            put16(s, 0);      // flags
            put16(s, 0);      // stored
            put16(s, 0);      // time
            put16(s, 0x21);   // date: 1980-01-01
            put32(s, crc);
            put32(s, size);
            put32(s, size);
            put16(s, static_cast<uint32_t>(name.size()));
            put16(s, 0); // extra
            if (central) {
                put16(s, 0); // comment
                put16(s, 0); // disk
                put16(s, 0); // internal attributes
                put32(s, 0); // external attributes
                put32(s, offset);
            }
            s += name;
        };
        header(zip, false);
        zip.append(reinterpret_cast<const char*>(data.data()), data.size());
        header(directory, true);
    }
    const uint32_t dirOffset = static_cast<uint32_t>(zip.size());
    zip += directory;
    put32(zip, 0x06054b50);
    put16(zip, 0);
    put16(zip, 0);
    put16(zip, static_cast<uint32_t>(entries.size()));
    put16(zip, static_cast<uint32_t>(entries.size()));
    put32(zip, static_cast<uint32_t>(directory.size()));
    put32(zip, dirOffset);
    put16(zip, 0);
    return zip;
}

NpyArray toNpy(const RawTensor& t)
{
    NpyArray a;
    a.shape = t.shape;
    a.data = t.data;
    switch (t.dtype) {
    case DType::F32: a.kind = 'f'; a.itemSize = 4; break;
    case DType::I64: a.kind = 'i'; a.itemSize = 8; break;
    default: throw UserError("tensor '" + t.name + "' is not float32 or int64; it cannot be written to an .npz");
    }
    return a;
}

/// A 3-channel kernel whose use on a gray image copied into all three channels computes what
/// the 1-channel stem computes. Without standardization each channel is a third of the kernel.
/// With it (timm's StdConv2d: biased variance over in x kh x kw, eps), channel c is a_c K with
/// K the stem's effective kernel and a = (1/3 + t, 1/3 - t, 1/3): the channels still sum to K,
/// and t sets the variance the standardization divides by to exactly 1 - eps, so that it divides
/// by one. That needs var(K) <= 9 (1 - eps) per output channel; `exact` says whether it held.
at::Tensor threeChannelStem(const at::Tensor& effective, bool standardized, double eps, bool& exact)
{
    exact = true;
    auto k = effective.to(at::kDouble);
    if (!standardized)
        return (k / 3.0).repeat({1, 3, 1, 1}).to(at::kFloat);
    const int64_t out = k.size(0);
    auto flat = k.reshape({out, -1});
    flat = flat - flat.mean(1, true);
    const auto var = flat.pow(2).mean(1); // the variance of K per output channel
    auto t = at::zeros({out}, at::kDouble);
    for (int64_t o = 0; o < out; ++o) {
        const double v = var[o].item<double>();
        const double m = v > 0 ? (1.0 - eps) / v : 1.0 / 9.0;
        const double t2 = 1.5 * (m - 1.0 / 9.0);
        if (t2 < 0)
            exact = false;
        t[o] = std::sqrt(std::max(0.0, t2));
    }
    const auto centred = flat.reshape_as(k);
    const auto tv = t.view({out, 1, 1, 1});
    return at::cat({centred * (1.0 / 3.0 + tv), centred * (1.0 / 3.0 - tv), centred * (1.0 / 3.0)}, 1).to(at::kFloat);
}

RawTensor asFloat32(const std::string& name, const at::Tensor& t)
{
    return torchToRaw(name, t.is_floating_point() ? t.to(at::kFloat) : t);
}

} // namespace

std::string encodeTensorText(const RawTensor& tensor)
{
    return std::string(dtypeCode(tensor.dtype)) + ";" + shapeText(tensor.shape) + ";" + base64(tensor.data);
}

std::optional<RawTensor> decodeTensorText(const std::string& name, const std::string& text)
{
    const auto parts = text::split(text, ';');
    if (parts.size() != 3 || parts[0] != dtypeCode(DType::F32) || parts[1].size() < 2 || parts[1].front() != '[' ||
        parts[1].back() != ']')
        return std::nullopt;
    RawTensor t;
    t.name = name;
    t.dtype = DType::F32;
    int64_t count = 1;
    for (const auto& d : text::split(parts[1].substr(1, parts[1].size() - 2), ',')) {
        long long v = 0;
        if (!text::parseInt(text::trim(d), v) || v < 1 || v > (1 << 20))
            return std::nullopt;
        t.shape.push_back(v);
        count *= v;
    }
    auto bytes = unbase64(parts[2]);
    if (!bytes || static_cast<int64_t>(bytes->size()) != count * 4)
        return std::nullopt;
    t.data = std::move(*bytes);
    return t;
}

ExportedWeights exportBackboneWeights(BackboneImpl& backbone, ExportFormat format)
{
    const BackboneConfig& cfg = backbone.config();
    if (format == ExportFormat::BitNpz && !(cfg.arch == BackboneArch::ResNetV2 && cfg.groupNorm()))
        throw UserError("the BiT .npz naming holds ResNet-v2 networks with GroupNorm and weight standardization (gn_ws); this "
                        "network is " + cfg.name + " (" + toString(cfg.norm) + "): export it as timm");
    torch::NoGradGuard guard;
    ExportedWeights out;
    const std::string stemName = backbone.stemConvName() + ".weight";
    const std::string gainName = backbone.stemConvName() + ".ws_gain";
    const std::string headPrefix = backbone.headPrefix();
    at::Tensor stemGain;
    for (const auto& b : backbone.named_buffers(true))
        if (b.key() == gainName)
            stemGain = b.value();

    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& p : backbone.named_parameters(true))
        tensors.emplace_back(p.key(), p.value());
    for (const auto& b : backbone.named_buffers(true))
        if (b.key() != gainName)
            tensors.emplace_back(b.key(), b.value());

    RawTensor grayWeight, grayGain;
    bool grayStem = false;
    for (auto& [name, value] : tensors) {
        out.hasHead = out.hasHead || (!headPrefix.empty() && name.compare(0, headPrefix.size(), headPrefix) == 0);
        if (name != stemName || cfg.inChannels != 1)
            continue;
        grayStem = true;
        grayWeight = asFloat32(format == ExportFormat::Timm ? std::string(kGrayStemWeightKey) : kGrayStemNpzWeight, value);
        at::Tensor effective = value;
        if (cfg.weightStandardized()) {
            auto w = value.to(at::kDouble);
            auto flat = w.reshape({w.size(0), -1});
            const auto mean = flat.mean(1, true), var = (flat - mean).pow(2).mean(1, true);
            effective = ((flat - mean) / (var + cfg.wsEps).sqrt()).reshape_as(w);
            if (stemGain.defined()) {
                effective = effective * stemGain.to(at::kDouble).view({-1, 1, 1, 1});
                grayGain = asFloat32(format == ExportFormat::Timm ? std::string(kGrayStemGainKey) : kGrayStemNpzGain, stemGain);
            }
        }
        bool exact = true;
        value = threeChannelStem(effective, cfg.weightStandardized(), cfg.wsEps, exact);
        out.notes.push_back(std::string("the network reads 1-channel images; the file has the 3-channel stem of the published "
                                        "models: give it each gray image in all three channels") +
                            (exact ? "" : " (one or more stem filters are approximated: their variance is over 9)"));
    }

    for (const auto& [name, value] : tensors) {
        if (format == ExportFormat::Timm) {
            out.tensors.push_back(asFloat32(name, value));
            continue;
        }
        bool hwio = false;
        const std::string key = bitKeyForTimmName(name, hwio);
        if (key.empty())
            throw UserError("the BiT .npz naming has no place for '" + name + "' of " + cfg.name);
        out.tensors.push_back(asFloat32(key, hwio ? value.permute({2, 3, 1, 0}).contiguous() : value));
    }
    if (grayStem) {
        if (format == ExportFormat::Timm) {
            out.metadata[kGrayStemWeightKey] = encodeTensorText(grayWeight);
            if (!grayGain.data.empty())
                out.metadata[kGrayStemGainKey] = encodeTensorText(grayGain);
        } else {
            out.tensors.push_back(grayWeight);
            if (!grayGain.data.empty())
                out.tensors.push_back(grayGain);
        }
    }
    if (format == ExportFormat::Timm)
        out.metadata["format"] = "pt"; // what timm and safetensors' torch helpers expect
    return out;
}

void writeExportedWeights(const std::string& path, const ExportedWeights& weights, ExportFormat format)
{
    if (format == ExportFormat::Timm) {
        writeSafetensors(path, weights.tensors, weights.metadata);
        return;
    }
    std::vector<std::pair<std::string, std::vector<uint8_t>>> entries;
    for (const auto& t : weights.tensors)
        entries.emplace_back(t.name + ".npy", writeNpy(toNpy(t)));
    writeFileAtomically(path, npzBytes(entries));
}

} // namespace medsiam::core
