// medsiam-fuzz-seeds OUTDIR [TESTDATA]: writes a small seed corpus for each fuzz target, from
// files it makes itself (DICOM in many encodings through DCMTK, PNG, BMP, TIFF, JPEG, volumes,
// archives, weights) and from the repository's test data (the pickles of the tiny BiT fixture).
#include "io/DicomWriter.h"

#include "image/Image8.h"
#include "image/Png.h"
#include "io/NpyArray.h"
#include "io/TensorFile.h"
#include "io/ZipArchive.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using medsiam::test::DicomSpec;

namespace {

void save(const fs::path& path, const std::string& bytes)
{
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string load(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void put16(std::string& o, uint32_t v) { o += char(v & 0xFF), o += char((v >> 8) & 0xFF); }
void put32(std::string& o, uint32_t v) { put16(o, v & 0xFFFF), put16(o, v >> 16); }
void be32(std::string& o, uint32_t v)
{
    for (int b = 3; b >= 0; --b)
        o += char((v >> (8 * b)) & 0xFF);
}

std::string deflateRaw(const std::string& data, int windowBits)
{
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, data.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

/// A zip archive; deflated entries when `deflate`.
std::string zipOf(const std::vector<std::pair<std::string, std::string>>& entries, bool deflate)
{
    std::string out, central;
    for (const auto& entry : entries) {
        const std::string& name = entry.first;
        const std::string& body = entry.second;
        const std::string data = deflate ? deflateRaw(body, -15) : body;
        const uint32_t offset = static_cast<uint32_t>(out.size());
        const uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size())));
        auto header = [&](std::string& o, bool isCentral) {
            put32(o, isCentral ? 0x02014b50 : 0x04034b50);
            if (isCentral)
                put16(o, 20);
            put16(o, 20), put16(o, 0), put16(o, deflate ? 8 : 0), put16(o, 0), put16(o, 0);
            put32(o, crc), put32(o, uint32_t(data.size())), put32(o, uint32_t(body.size()));
            put16(o, uint32_t(name.size())), put16(o, 0);
            if (isCentral)
                put16(o, 0), put16(o, 0), put16(o, 0), put32(o, 0), put32(o, offset);
            o += name;
        };
        header(out, false);
        out += data;
        header(central, true);
    }
    const uint32_t cd = static_cast<uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50), put16(out, 0), put16(out, 0), put16(out, uint32_t(entries.size())), put16(out, uint32_t(entries.size()));
    put32(out, uint32_t(central.size())), put32(out, cd), put16(out, 0);
    return out;
}

std::string npy(char kind, int itemSize, const std::vector<int64_t>& shape)
{
    medsiam::core::NpyArray a;
    a.kind = kind;
    a.itemSize = itemSize;
    a.shape = shape;
    a.data.resize(static_cast<size_t>(a.elementCount()) * static_cast<size_t>(itemSize));
    for (size_t i = 0; i < a.data.size(); ++i)
        a.data[i] = static_cast<uint8_t>(i * 37 + 11);
    const auto bytes = medsiam::core::writeNpy(a);
    return std::string(bytes.begin(), bytes.end());
}

medsiam::core::Image8 pattern(int w, int h, int channels)
{
    medsiam::core::Image8 img(w, h, channels);
    for (size_t i = 0; i < img.pixels.size(); ++i)
        img.pixels[i] = static_cast<uint8_t>((i * 7) ^ (i / static_cast<size_t>(w * channels)) * 13);
    return img;
}

std::string bmp(int w, int h)
{
    const int row = (w * 3 + 3) & ~3;
    std::string o = "BM";
    put32(o, uint32_t(54 + row * h)), put32(o, 0), put32(o, 54);
    put32(o, 40), put32(o, uint32_t(w)), put32(o, uint32_t(h)), put16(o, 1), put16(o, 24), put32(o, 0), put32(o, uint32_t(row * h));
    put32(o, 2835), put32(o, 2835), put32(o, 0), put32(o, 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < row; ++x)
            o += char((x * 9 + y * 5) & 0xFF);
    return o;
}

/// An uncompressed little-endian TIFF of `pages` grey 8-bit pages.
std::string tiff(int w, int h, int pages)
{
    std::string o = "II";
    put16(o, 42), put32(o, 8);
    for (int p = 0; p < pages; ++p) {
        const uint32_t ifd = static_cast<uint32_t>(o.size());
        const int entries = 8;
        const uint32_t data = ifd + 2 + 12 * entries + 4;
        auto entry = [&](uint16_t tag, uint16_t type, uint32_t value) { put16(o, tag), put16(o, type), put32(o, 1), put32(o, value); };
        put16(o, entries);
        entry(256, 4, uint32_t(w));
        entry(257, 4, uint32_t(h));
        entry(258, 3, 8);
        entry(259, 3, 1);
        entry(262, 3, 1);
        entry(273, 4, data);
        entry(278, 4, uint32_t(h));
        entry(279, 4, uint32_t(w * h));
        put32(o, p + 1 < pages ? data + uint32_t(w * h) : 0);
        for (int i = 0; i < w * h; ++i)
            o += char((i * 3 + p * 50) & 0xFF);
    }
    return o;
}

/// The first compressed frame of an encapsulated DICOM file: a plain JPEG stream.
std::string firstFragment(const std::string& dicomPath)
{
    DcmFileFormat ff;
    if (ff.loadFile(dicomPath.c_str()).bad())
        return {};
    DcmElement* elem = nullptr;
    if (ff.getDataset()->findAndGetElement(DCM_PixelData, elem).bad())
        return {};
    DcmPixelSequence* seq = nullptr;
    if (static_cast<DcmPixelData*>(elem)->getEncapsulatedRepresentation(ff.getDataset()->getOriginalXfer(), nullptr, seq).bad() || !seq)
        return {};
    DcmPixelItem* item = nullptr;
    Uint8* p = nullptr;
    if (seq->getItem(item, 1).bad() || item->getUint8Array(p).bad() || !p)
        return {};
    return std::string(reinterpret_cast<const char*>(p), item->getLength());
}

void dicomSeeds(const fs::path& out)
{
    const fs::path dir = out / "dicom";
    fs::create_directories(dir);
    int n = 0;
    auto write = [&](DicomSpec s) {
        const std::string path = (dir / ("gen" + std::to_string(n++) + ".dcm")).string();
        medsiam::test::writeDicom(path, s);
        return path;
    };
    DicomSpec mono;
    mono.rows = mono.columns = 16;
    mono.pixels8.resize(256);
    for (size_t i = 0; i < 256; ++i)
        mono.pixels8[i] = static_cast<uint8_t>(i);
    for (const char* x : {"explicit", "implicit", "bigendian", "rle", "jpegls", "jpeg"}) {
        DicomSpec s = mono;
        s.transferSyntax = x;
        write(s);
    }
    DicomSpec ct;
    ct.rows = ct.columns = 16;
    ct.bitsAllocated = 16;
    ct.bitsStored = 12;
    ct.isSigned = true;
    ct.rescale = true;
    ct.slope = 2;
    ct.intercept = -1024;
    ct.windowCentre = 40;
    ct.windowWidth = 400;
    ct.modality = "CT";
    for (int i = 0; i < 256; ++i)
        ct.pixels16.push_back(-2000 + i * 16);
    write(ct);
    ct.transferSyntax = "rle";
    write(ct);
    DicomSpec rgb;
    rgb.rows = rgb.columns = 16;
    rgb.samplesPerPixel = 3;
    rgb.photometric = "RGB";
    rgb.frames = 3;
    rgb.pixels8.resize(16 * 16 * 3 * 3);
    for (size_t i = 0; i < rgb.pixels8.size(); ++i)
        rgb.pixels8[i] = static_cast<uint8_t>(i * 5);
    write(rgb);
    rgb.transferSyntax = "jpeg-baseline";
    const std::string cine = write(rgb);
    save(out / "raster" / "frame.jpg", firstFragment(cine));
    // A few small files of Debian's pydicom corpus (JPEG 2000, JPEG extended, big endian ...).
    const fs::path corpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(corpus, ec))
        if (e.path().extension() == ".dcm" && e.file_size(ec) < 48 * 1024)
            fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing, ec);
}

void rasterSeeds(const fs::path& out)
{
    const fs::path dir = out / "raster";
    fs::create_directories(dir);
    medsiam::core::writePng((dir / "grey.png").string(), pattern(17, 9, 1));
    medsiam::core::writePng((dir / "rgb.png").string(), pattern(8, 12, 3));
    save(dir / "rgb.bmp", bmp(7, 5));
    save(dir / "pages.tif", tiff(6, 4, 2));
}

/// Volume seeds: the first byte picks the extension (see FuzzVolume.cpp).
void volumeSeeds(const fs::path& out)
{
    const fs::path dir = out / "volume";
    const std::string voxels = [] {
        std::string v;
        for (int i = 0; i < 4 * 5 * 6; ++i)
            v += char(i * 2);
        return v;
    }();
    save(dir / "raw.mha", std::string(1, '\0') + "ObjectType = Image\nNDims = 3\nDimSize = 4 5 6\nElementType = MET_UCHAR\n"
                                                 "ElementSpacing = 1 1 2\nElementDataFile = LOCAL\n" + voxels);
    save(dir / "zip.mha", std::string(1, '\0') + "ObjectType = Image\nNDims = 3\nDimSize = 4 5 6\nElementType = MET_UCHAR\n"
                                                 "CompressedData = True\nElementDataFile = LOCAL\n" + deflateRaw(voxels, 15));
    save(dir / "raw.nrrd", std::string(1, '\2') + "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 5 6\nencoding: raw\n\n" + voxels);
    save(dir / "gz.nrrd", std::string(1, '\2') + "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 5 6\nencoding: gzip\n\n" +
                              deflateRaw(voxels, 31));
    std::string h(352, '\0');
    auto set16 = [&](size_t at, int16_t v) { std::memcpy(&h[at], &v, 2); };
    const int32_t sizeofHdr = 348;
    std::memcpy(&h[0], &sizeofHdr, 4);
    set16(40, 3), set16(42, 4), set16(44, 5), set16(46, 6), set16(70, 2), set16(72, 8);
    const float offset = 352, pixdim = 1;
    std::memcpy(&h[108], &offset, 4);
    for (int i = 1; i <= 3; ++i)
        std::memcpy(&h[76 + 4 * size_t(i)], &pixdim, 4);
    std::memcpy(&h[344], "n+1\0", 4);
    save(dir / "plain.nii", std::string(1, '\1') + h + voxels);
    save(dir / "packed.nii.gz", std::string(1, '\3') + deflateRaw(h + voxels, 31));
}

void archiveSeeds(const fs::path& out, const fs::path& testData)
{
    // MedMNIST-style image archives
    const std::string images = npy('u', 1, {3, 8, 8}), labels = npy('i', 8, {3, 1});
    save(out / "npz" / "stored.npz", zipOf({{"train_images.npy", images}, {"train_labels.npy", labels}}, false));
    save(out / "npz" / "deflated.npz",
         zipOf({{"val_images.npy", npy('u', 1, {2, 6, 6, 3})}, {"val_labels.npy", npy('i', 8, {2})}}, true));
    // .npy
    save(out / "npy" / "f4.npy", npy('f', 4, {2, 3}));
    save(out / "npy" / "u1.npy", npy('u', 1, {4, 4}));
    save(out / "npy" / "i8.npy", npy('i', 8, {5}));
    save(out / "npy" / "f2.npy", npy('f', 2, {1, 2, 2}));
    save(out / "npy" / "logits.npy", load(testData / "bit_tiny" / "expected_logits.npy"));
    // BiT .npz weights
    save(out / "bit_npz" / "small.npz",
         zipOf({{"resnet/root_block/standardized_conv2d/kernel.npy", npy('f', 4, {3, 3, 1, 4})},
                {"resnet/head/conv2d/bias.npy", npy('f', 4, {2})}},
               true));
    // safetensors
    medsiam::core::RawTensor a, b;
    a.name = "stem.conv.weight";
    a.shape = {4, 1, 3, 3};
    a.data.assign(4 * 9 * 4, 1);
    b.name = "head.fc.bias";
    b.dtype = medsiam::core::DType::BF16;
    b.shape = {2};
    b.data.assign(4, 2);
    fs::create_directories(out / "safetensors");
    medsiam::core::writeSafetensors((out / "safetensors" / "small.safetensors").string(), {a, b}, {{"format", "pt"}});
    // torch.save pickles: the data.pkl of the fixture's state dicts
    for (const char* name : {"tiny_bit_timm_state_dict.pt", "tiny_bit_timm_plain_dict.pt"}) {
        medsiam::core::ZipArchive zip((testData / "bit_tiny" / name).string());
        for (const auto& e : zip.entries())
            if (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0) {
                const auto bytes = zip.read(e);
                save(out / "pickle" / (std::string(name) + ".pkl"), std::string(bytes.begin(), bytes.end()));
            }
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: medsiam-fuzz-seeds OUTDIR TESTDATA\n");
        return 2;
    }
    const fs::path out = argv[1], testData = argv[2];
    try {
        dicomSeeds(out);
        rasterSeeds(out);
        volumeSeeds(out);
        archiveSeeds(out, testData);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "medsiam-fuzz-seeds: %s\n", e.what());
        return 1;
    }
    for (const auto& d : fs::directory_iterator(out))
        std::printf("%-12s %zu seeds\n", d.path().filename().c_str(),
                    static_cast<size_t>(std::distance(fs::directory_iterator(d.path()), fs::directory_iterator{})));
    return 0;
}
