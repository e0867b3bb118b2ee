// libFuzzer targets: weight files. Built three times, with MEDSIAM_FUZZ_FORMAT naming the reader:
// safetensors, BiT .npz, or torch.save pickles (the input is data.pkl; it is wrapped in the zip
// archive torch.save writes, with one small storage beside it).
#include "FuzzSupport.h"
#include "io/TensorFile.h"

#include <cstring>
#include <string>
#include <vector>

namespace {

#if MEDSIAM_FUZZ_FORMAT == 3
uint32_t crc32Of(const std::string& s)
{
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

void put16(std::string& o, uint32_t v) { o += char(v & 0xFF), o += char((v >> 8) & 0xFF); }
void put32(std::string& o, uint32_t v) { put16(o, v & 0xFFFF), put16(o, v >> 16); }

/// A zip of stored entries, as torch.save writes them.
std::string zipOf(const std::vector<std::pair<std::string, std::string>>& entries)
{
    std::string out, central;
    for (const auto& entry : entries) {
        const std::string& name = entry.first;
        const std::string& body = entry.second;
        const uint32_t offset = static_cast<uint32_t>(out.size()), crc = crc32Of(body);
        auto header = [&](std::string& o, bool isCentral) {
            put32(o, isCentral ? 0x02014b50 : 0x04034b50);
            if (isCentral)
                put16(o, 20);
            put16(o, 20), put16(o, 0), put16(o, 0), put16(o, 0), put16(o, 0);
            put32(o, crc), put32(o, uint32_t(body.size())), put32(o, uint32_t(body.size()));
            put16(o, uint32_t(name.size())), put16(o, 0);
            if (isCentral) {
                put16(o, 0), put16(o, 0), put16(o, 0), put32(o, 0), put32(o, offset);
            }
            o += name;
        };
        header(out, false);
        out += body;
        header(central, true);
    }
    const uint32_t cdOffset = static_cast<uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50), put16(out, 0), put16(out, 0), put16(out, uint32_t(entries.size())), put16(out, uint32_t(entries.size()));
    put32(out, uint32_t(central.size())), put32(out, cdOffset), put16(out, 0);
    return out;
}
#endif

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static medsiam::fuzz::MemFile file("weights");
#if MEDSIAM_FUZZ_FORMAT == 3
    const std::string zip = zipOf({{"archive/data.pkl", std::string(reinterpret_cast<const char*>(data), size)},
                                   {"archive/byteorder", "little"},
                                   {"archive/data/0", std::string(64, '\x01')}});
    const std::string& path = file.write(reinterpret_cast<const uint8_t*>(zip.data()), zip.size());
#else
    const std::string& path = file.write(data, size);
#endif
    medsiam::fuzz::expectOnlyUserErrors([&] {
#if MEDSIAM_FUZZ_FORMAT == 1
        const auto f = medsiam::core::readSafetensors(path);
#elif MEDSIAM_FUZZ_FORMAT == 2
        const auto f = medsiam::core::readNpzTensors(path);
#else
        const auto f = medsiam::core::readTorchPickle(path);
#endif
        for (const auto& t : f.tensors)
            if (t.numel() <= 4096)
                (void)t.toFloat();
    });
    return 0;
}
