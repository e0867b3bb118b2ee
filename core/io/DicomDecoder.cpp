#include "io/DicomDecoder.h"

#include "util/Error.h"
#include "util/Text.h"
#ifdef MEDSIAM_HAVE_OPENJPEG
#include "io/Jpeg2000Codec.h"
#endif

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcistrmf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmimage/diregist.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimgle/dipixel.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>

namespace medsiam::core {

namespace {

void registerCodecsOnce()
{
    static std::once_flag once;
    std::call_once(once, [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

std::string str(DcmItem* item, const DcmTagKey& key)
{
    OFString v;
    if (item && item->findAndGetOFString(key, v).good())
        return text::trim(v.c_str());
    return {};
}

long intValue(DcmItem* item, const DcmTagKey& key, long fallback)
{
    const std::string s = str(item, key);
    long long v;
    return text::parseInt(s, v) ? static_cast<long>(v) : fallback;
}

double floatValue(DcmItem* item, const DcmTagKey& key, double fallback)
{
    Float64 v;
    if (item && item->findAndGetFloat64(key, v, 0).good() && std::isfinite(v))
        return v;
    return fallback;
}

bool isJpeg2000(E_TransferSyntax x)
{
    return x == EXS_JPEG2000LosslessOnly || x == EXS_JPEG2000 || x == EXS_JPEG2000MulticomponentLosslessOnly ||
           x == EXS_JPEG2000Multicomponent;
}

// The VOI input range: the window [c - w/2, c + w/2] when the file has a valid one, else the
// values' own min-max.
template <typename It>
std::pair<double, double> voiRange(It begin, It end, double centre, double width, bool hasWindow)
{
    if (hasWindow && width > 0)
        return {centre - width / 2, centre + width / 2};
    if (begin == end)
        return {0.0, 1.0};
    const auto [mn, mx] = std::minmax_element(begin, end);
    return {static_cast<double>(*mn), static_cast<double>(*mx)};
}

// Modality values -> 8 bits: the first VOI window when present and valid, else the frame's
// min-max; MONOCHROME1 inverted last.
Image8 renderMonochrome(const std::vector<double>& v, int w, int h, double centre, double width, bool hasWindow, bool invert)
{
    const auto [lo, hi] = voiRange(v.data(), v.data() + v.size(), centre, width, hasWindow);
    const double scale = 255.0 / std::max(hi - lo, 1e-9);
    Image8 img(w, h, 1);
    // Branch-free loops (the inversion chosen outside) so that the compiler vectorizes them.
    const double* in = v.data();
    uint8_t* out = img.pixels.data();
    const size_t n = v.size();
    if (invert)
        for (size_t i = 0; i < n; ++i)
            out[i] = static_cast<uint8_t>(255 - static_cast<int>(std::clamp((in[i] - lo) * scale, 0.0, 255.0) + 0.5));
    else
        for (size_t i = 0; i < n; ++i)
            out[i] = static_cast<uint8_t>(std::clamp((in[i] - lo) * scale, 0.0, 255.0) + 0.5);
    return img;
}

// Colour frames get the same VOI step as grey ones, over all three channels together: the
// window when the file has one, else the frame's min-max. Hue ratios are kept.
Image8 stretchColour(const uint8_t* rgb, int w, int h, double centre, double width, bool hasWindow)
{
    Image8 img(w, h, 3);
    const size_t n = img.pixels.size();
    const auto [lo, hi] = voiRange(rgb, rgb + n, centre, width, hasWindow);
    const double scale = 255.0 / std::max(hi - lo, 1e-9);
    // 8-bit samples: one table of the 256 results.
    uint8_t table[256];
    for (int x = 0; x < 256; ++x)
        table[x] = static_cast<uint8_t>(std::clamp((x - lo) * scale, 0.0, 255.0) + 0.5);
    for (size_t i = 0; i < n; ++i)
        img.pixels[i] = table[rgb[i]];
    return img;
}

// Keeps a grey frame's modality values and its display window for a viewer's window/level.
void keepValues(DecodedFrame& out, const std::vector<double>& v, double centre, double width, bool hasWindow, bool invert)
{
    const auto [lo, hi] = voiRange(v.data(), v.data() + v.size(), centre, width, hasWindow);
    out.values.assign(v.begin(), v.end());
    out.windowCentre = (lo + hi) / 2;
    out.windowWidth = std::max(hi - lo, 1e-9);
    out.inverted = invert;
}

template <typename T>
void appendValues(const void* data, size_t offset, size_t count, std::vector<double>& out)
{
    const T* p = static_cast<const T*>(data) + offset;
    out.resize(count);
    for (size_t i = 0; i < count; ++i)
        out[i] = static_cast<double>(p[i]);
}

bool interValues(const DiPixel* pixel, size_t count, std::vector<double>& out)
{
    if (!pixel || pixel->getCount() < count || !pixel->getData())
        return false;
    const void* d = pixel->getData();
    switch (pixel->getRepresentation()) {
    case EPR_Uint8:
        appendValues<Uint8>(d, 0, count, out);
        return true;
    case EPR_Sint8:
        appendValues<Sint8>(d, 0, count, out);
        return true;
    case EPR_Uint16:
        appendValues<Uint16>(d, 0, count, out);
        return true;
    case EPR_Sint16:
        appendValues<Sint16>(d, 0, count, out);
        return true;
    case EPR_Uint32:
        appendValues<Uint32>(d, 0, count, out);
        return true;
    case EPR_Sint32:
        appendValues<Sint32>(d, 0, count, out);
        return true;
    }
    return false;
}

std::string statusText(const DicomImage& img)
{
    switch (img.getStatus()) {
    case EIS_MissingAttribute:
        return "a required image attribute is missing";
    case EIS_InvalidValue:
        return "an image attribute has an invalid value";
    case EIS_NotSupportedValue:
        return "unsupported image encoding";
    case EIS_MemoryFailure:
        return "out of memory while decoding";
    case EIS_InvalidImage:
        return "invalid or truncated pixel data";
    default:
        return DicomImage::getString(img.getStatus());
    }
}

#ifdef MEDSIAM_HAVE_OPENJPEG
// The compressed bytes of one frame: one fragment per frame when the counts agree, every
// fragment for a single-frame image, else the Basic Offset Table decides.
std::vector<uint8_t> encapsulatedFrame(DcmDataset* ds, E_TransferSyntax xfer, int frame, int frames)
{
    DcmElement* elem = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, elem).bad() || !elem)
        throw UserError("no pixel data");
    auto* pixelData = static_cast<DcmPixelData*>(elem);
    DcmPixelSequence* seq = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq)
        throw UserError("cannot read encapsulated pixel data");
    const unsigned long items = seq->card();
    if (items < 2)
        throw UserError("truncated pixel data (no compressed fragments)");
    auto fragment = [&](unsigned long i) {
        DcmPixelItem* item = nullptr;
        Uint8* p = nullptr;
        if (seq->getItem(item, i).bad() || !item || item->getUint8Array(p).bad() || !p)
            throw UserError("cannot read compressed fragment " + std::to_string(i));
        return std::vector<uint8_t>(p, p + item->getLength());
    };
    std::vector<uint8_t> out;
    if (frames == 1) {
        for (unsigned long i = 1; i < items; ++i) {
            auto f = fragment(i);
            out.insert(out.end(), f.begin(), f.end());
        }
    } else if (static_cast<long>(items - 1) == frames) {
        out = fragment(static_cast<unsigned long>(frame) + 1);
    } else {
        // Walk fragments, starting a new frame at each fragment that begins with a codestream marker.
        int current = -1;
        for (unsigned long i = 1; i < items; ++i) {
            auto f = fragment(i);
            const bool starts = f.size() >= 2 && ((f[0] == 0xFF && f[1] == 0x4F) || (f.size() >= 8 && f[4] == 0x6A && f[5] == 0x50));
            if (starts)
                ++current;
            if (current == frame)
                out.insert(out.end(), f.begin(), f.end());
            else if (current > frame)
                break;
        }
    }
    if (out.empty())
        throw UserError("frame " + std::to_string(frame) + " has no compressed data");
    return out;
}
#endif

/// The stored values of one frame of uncompressed, little-endian grey pixel data with 8 or 16
/// bits allocated: the bits BitsStored .. HighBit, sign-extended when PixelRepresentation is 1
/// (as DCMTK's DicomImage reads them). False when the data is not of that kind, or larger than is
/// worth reading whole for one frame (DicomImage reads frames one at a time).
/// `beyondStored` counts the samples whose bits outside BitsStored .. HighBit held something
/// (for signed data: anything but the sign repeated): the standard says to drop those bits, and
/// the user is told, since a writer that got BitsStored wrong makes dark blotches this way.
bool readNativeGrey(DcmItem* ds, DcmElement* elem, const DcmXfer& xfer, int frame, int64_t pixels, int frames, long bitsAllocated,
                    int bitsStored, std::vector<double>& out, int64_t& beyondStored)
{
    if (!elem || !xfer.isNotEncapsulated() || !xfer.isLittleEndian() || (bitsAllocated != 8 && bitsAllocated != 16))
        return false;
    const long highBit = intValue(ds, DCM_HighBit, bitsStored - 1);
    if (bitsStored < 1 || bitsStored > bitsAllocated || highBit < bitsStored - 1 || highBit >= bitsAllocated)
        return false;
    const uint64_t bytes = static_cast<uint64_t>(pixels) * frames * (bitsAllocated / 8);
    if (frames > 1 && bytes > (uint64_t(64) << 20))
        return false;
    if (elem->getLength() < bytes)
        return false;
    const bool isSigned = intValue(ds, DCM_PixelRepresentation, 0) == 1;
    const int shift = static_cast<int>(highBit + 1 - bitsStored);
    const uint32_t mask = (uint32_t(1) << bitsStored) - 1, signBit = uint32_t(1) << (bitsStored - 1);
    const double wrap = static_cast<double>(uint32_t(1) << bitsStored);
    const uint32_t allBits = bitsAllocated == 8 ? 0xFFu : 0xFFFFu;
    const uint32_t storedBits = mask << shift, outside = allBits & ~storedBits;
    auto convert = [&](auto* samples) {
        const auto* p = samples + static_cast<size_t>(frame) * static_cast<size_t>(pixels);
        out.resize(static_cast<size_t>(pixels));
        int64_t odd = 0;
        for (size_t i = 0; i < out.size(); ++i) {
            const uint32_t raw = static_cast<uint32_t>(p[i]);
            const uint32_t u = (raw >> shift) & mask;
            const bool negative = isSigned && (u & signBit);
            out[i] = negative ? static_cast<double>(u) - wrap : static_cast<double>(u);
            // Bits above HighBit may be clear, or repeat the sign of signed data (two's
            // complement); anything else outside the stored bits is dropped.
            const uint32_t extra = raw & outside;
            odd += extra != 0 && !(negative && extra == (outside & ~((uint32_t(1) << shift) - 1)));
        }
        beyondStored += odd;
    };
    if (bitsAllocated == 8) {
        Uint8* samples = nullptr;
        if (elem->getUint8Array(samples).bad() || !samples)
            return false;
        convert(samples);
    } else {
        Uint16* samples = nullptr;
        if (elem->getUint16Array(samples).bad() || !samples)
            return false;
        convert(samples);
    }
    return true;
}

/// Walks the element headers of a DICOM file held in memory and checks that every stated length
/// fits in the bytes that follow. DCMTK allocates an element's stated length before it reads
/// it, so a 225-byte file claiming a 2.8 GB element made it allocate 2.8 GB. Descends into
/// sequences and items; fragments of encapsulated pixel data are skipped. A deflated dataset
/// is not walked (DCMTK inflates it as a stream). Throws UserError naming the element.
void checkElementLengths(const std::string& b)
{
    const size_t n = b.size();
    size_t pos = n >= 132 && b.compare(128, 4, "DICM") == 0 ? 132 : 0;
    auto u16 = [&](size_t at, bool le) {
        return le ? uint16_t(uint8_t(b[at]) | uint8_t(b[at + 1]) << 8) : uint16_t(uint8_t(b[at]) << 8 | uint8_t(b[at + 1]));
    };
    auto u32 = [&](size_t at, bool le) {
        return le ? uint32_t(u16(at, true)) | uint32_t(u16(at + 2, true)) << 16 : uint32_t(u16(at, false)) << 16 | u16(at + 2, false);
    };
    auto isLongVr = [](const char* vr) {
        static const char* longs[] = {"OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV"};
        for (const char* l : longs)
            if (vr[0] == l[0] && vr[1] == l[1])
                return true;
        return false;
    };
    auto isVr = [](const char* vr) { return vr[0] >= 'A' && vr[0] <= 'Z' && vr[1] >= 'A' && vr[1] <= 'Z'; };
    auto fail = [&](uint16_t g, uint16_t e, uint64_t length, size_t at) {
        char tag[16];
        std::snprintf(tag, sizeof tag, "(%04X,%04X)", g, e);
        throw UserError(std::string("truncated or damaged DICOM file: element ") + tag + " claims " + text::humanBytes(double(length)) +
                        " but only " + text::humanBytes(double(n - at)) + " follow");
    };
    bool explicitVr = true, littleEndian = true, inMeta = true, inFragments = false;
    // Without a meta header the first element tells the encoding, as the sniffer found it.
    if (pos + 6 <= n && u16(pos, true) != 0x0002)
        explicitVr = isVr(b.data() + pos + 4);
    std::string transferSyntax;
    while (pos + 8 <= n) {
        if (inMeta && u16(pos, true) != 0x0002) {
            inMeta = false;
            if (transferSyntax == "1.2.840.10008.1.2")
                explicitVr = false;
            else if (transferSyntax == "1.2.840.10008.1.2.2")
                littleEndian = false;
            else if (transferSyntax == "1.2.840.10008.1.2.1.99")
                return; // deflated: a stream of its own
            if (!transferSyntax.empty() && pos + 6 <= n && explicitVr && !isVr(b.data() + pos + 4))
                explicitVr = false; // mislabelled implicit datasets exist (see loadDicom)
        }
        const bool le = inMeta || littleEndian;
        const uint16_t g = u16(pos, le), e = u16(pos + 2, le);
        if (g == 0xFFFE) { // item, item delimiter or sequence delimiter: tag and a 4-byte length
            const uint32_t length = u32(pos + 4, le);
            pos += 8;
            if (e == 0xE0DD)
                inFragments = false;
            else if (e == 0xE000 && inFragments && length != 0xFFFFFFFFu) {
                if (length > n - pos)
                    fail(g, e, length, pos);
                pos += length; // a compressed fragment
            } else if (e == 0xE000 && length != 0xFFFFFFFFu && length > n - pos) {
                fail(g, e, length, pos);
            }
            continue;
        }
        uint32_t length;
        bool sequence = false;
        if (inMeta || explicitVr) {
            const char* vr = b.data() + pos + 4;
            if (!isVr(vr)) {
                // DCMTK reads an element without a valid VR as implicit: a 4-byte length.
                length = u32(pos + 4, le);
                pos += 8;
            } else if (isLongVr(vr)) {
                if (pos + 12 > n)
                    return;
                length = u32(pos + 8, le);
                pos += 12;
            } else {
                length = u16(pos + 6, le);
                pos += 8;
            }
            sequence = vr[0] == 'S' && vr[1] == 'Q';
        } else {
            length = u32(pos + 4, le);
            pos += 8;
            sequence = DcmTag(g, e).getEVR() == EVR_SQ; // implicit VR: the dictionary knows
        }
        if (length == 0xFFFFFFFFu) { // a sequence or encapsulated pixel data: walk into it
            inFragments = g == 0x7FE0 && e == 0x0010;
            continue;
        }
        if (length > n - pos)
            fail(g, e, length, pos);
        if (inMeta && g == 0x0002 && e == 0x0010)
            transferSyntax = text::trim(b.substr(pos, length));
        if (!sequence)
            pos += length; // SQ contents are items, walked in turn
    }
}

/// Reads a file's meta header as written and its dataset as implicit VR little endian.
OFCondition readWithImplicitDataset(const std::string& path, DcmFileFormat& ff, size_t maxReadLength)
{
    ff.clear();
    DcmInputFileStream in(path.c_str());
    if (in.status().bad())
        return in.status();
    DcmMetaInfo* mi = ff.getMetaInfo();
    mi->transferInit();
    OFCondition st = mi->read(in, EXS_Unknown, EGL_noChange, static_cast<Uint32>(maxReadLength));
    mi->transferEnd();
    if (st.bad())
        return st;
    DcmDataset* ds = ff.getDataset();
    ds->transferInit();
    st = ds->read(in, EXS_LittleEndianImplicit, EGL_noChange, static_cast<Uint32>(maxReadLength));
    ds->transferEnd();
    return st;
}

/// A loaded DICOM file and the transfer syntax its pixel data is encoded in.
struct LoadedDicom {
    OFCondition status;
    E_TransferSyntax pixelXfer = EXS_Unknown;
};

/// Loads a DICOM file. Some writers declare an explicit VR transfer syntax in the meta header but
/// write the dataset in implicit VR (pydicom reads such files with a warning; DCMTK stops with a
/// premature end of stream, having read garbage lengths). When a file whose meta header declares
/// explicit VR fails to load, its dataset is read again as implicit VR; if that reads, the
/// file is taken as such, and encapsulated pixel data keeps the compression the meta header
/// declares.
LoadedDicom loadDicom(const std::string& path, DcmFileFormat& ff, size_t maxReadLength, const std::string* contents = nullptr)
{
    LoadedDicom r;
    if (contents) {
        checkElementLengths(*contents);
        // The caller's copy of the file: parsed from memory, every value loaded.
        DcmInputBufferStream in;
        in.setBuffer(contents->data(), static_cast<offile_off_t>(contents->size()));
        in.setEos();
        ff.clear();
        ff.setReadMode(ERM_autoDetect);
        ff.transferInit();
        r.status = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
        ff.transferEnd();
    }
    // A file that does not parse from memory is read again from disk, which words a truncated
    // file's error more precisely ("premature end of stream", not "invalid stream").
    if (!contents || r.status.bad())
        r.status = ff.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, static_cast<Uint32>(maxReadLength), ERM_autoDetect);
    r.pixelXfer = ff.getDataset()->getOriginalXfer();
    if (r.status.good())
        return r;
    OFString uid;
    if (ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, uid).bad())
        return r;
    const DcmXfer declared(uid.c_str());
    if (declared.getXfer() == EXS_Unknown || !declared.isExplicitVR() || declared.isBigEndian() ||
        declared.getXfer() == EXS_DeflatedLittleEndianExplicit)
        return r;
    DcmFileFormat retry;
    if (readWithImplicitDataset(path, retry, maxReadLength).bad() || !retry.getDataset()->tagExists(DCM_SOPClassUID))
        return r;
    ff = retry;
    r.status = EC_Normal;
    r.pixelXfer = EXS_LittleEndianImplicit;
    DcmElement* elem = nullptr;
    if (declared.isEncapsulated() && ff.getDataset()->findAndGetElement(DCM_PixelData, elem).good()) {
        DcmPixelSequence* fragments = nullptr;
        auto* pixels = dynamic_cast<DcmPixelData*>(elem);
        if (pixels && pixels->getEncapsulatedRepresentation(EXS_LittleEndianImplicit, nullptr, fragments).good() && fragments) {
            pixels->putOriginalRepresentation(declared.getXfer(), nullptr, new DcmPixelSequence(*fragments));
            r.pixelXfer = declared.getXfer();
        }
    }
    return r;
}

} // namespace

DicomDecoder::DicomDecoder() { registerCodecsOnce(); }

ImageDecoder::Identity DicomDecoder::readIdentity(const std::string& path) const
{
    DcmFileFormat ff;
    // Values longer than 256 bytes stay on disk: the header is parsed, the pixels are not read.
    const LoadedDicom loaded = loadDicom(path, ff, 256);
    Identity id;
    if (loaded.status.bad())
        return id;
    DcmDataset* ds = ff.getDataset();
    id.sopUid = str(ds, DCM_SOPInstanceUID);
    id.patientId = str(ds, DCM_PatientID);
    id.ok = true;
    return id;
}

ImageMeta DicomDecoder::decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const
{
    registerCodecsOnce();
    std::error_code ec;
    const uint64_t fileSize = options.contents ? options.contents->size() : std::filesystem::file_size(path, ec);
    DcmFileFormat ff;
    const LoadedDicom loaded = loadDicom(path, ff, DCM_MaxReadLength, options.contents);
    const OFCondition& st = loaded.status;
    if (st.bad()) {
        const std::string why = st.text();
        if (st == EC_StreamNotifyClient || why.find("end of stream") != std::string::npos ||
            why.find("remaining bytes") != std::string::npos)
            throw UserError("truncated DICOM file (" + why + ")");
        throw UserError("corrupt or truncated DICOM file (" + why + ")");
    }
    DcmDataset* ds = ff.getDataset();
    DcmMetaInfo* mi = ff.getMetaInfo();
    if (str(mi, DCM_MediaStorageSOPClassUID) == UID_MediaStorageDirectoryStorage)
        throw UserError("DICOMDIR (a media directory index, not an image): skipped");

    ImageMeta m;
    m.format = ImageFormat::Dicom;
    m.modality = str(ds, DCM_Modality);
    m.patientId = str(ds, DCM_PatientID);
    m.studyUid = str(ds, DCM_StudyInstanceUID);
    m.seriesUid = str(ds, DCM_SeriesInstanceUID);
    m.sopUid = str(ds, DCM_SOPInstanceUID);
    m.photometric = str(ds, DCM_PhotometricInterpretation);
    const E_TransferSyntax xfer = loaded.pixelXfer;
    const DcmXfer xferInfo(xfer);
    m.transferSyntax = xferInfo.getXferID();

    if (!ds->tagExists(DCM_PixelData)) {
        const std::string sopClass = str(ds, DCM_SOPClassUID);
        const char* name = sopClass.empty() ? nullptr : dcmFindNameOfUID(sopClass.c_str(), nullptr);
        if (ds->tagExists(DCM_FloatPixelData) || ds->tagExists(DCM_DoubleFloatPixelData))
            throw UserError("floating-point pixel data is not supported");
        throw UserError(std::string("DICOM file without pixel data") + (name ? std::string(" (") + name + ")" : std::string()));
    }

    m.rows = static_cast<int>(intValue(ds, DCM_Rows, 0));
    m.columns = static_cast<int>(intValue(ds, DCM_Columns, 0));
    const long frames = intValue(ds, DCM_NumberOfFrames, 1);
    const long spp = intValue(ds, DCM_SamplesPerPixel, 1);
    const long bitsAllocated = intValue(ds, DCM_BitsAllocated, 0);
    m.bits = static_cast<int>(intValue(ds, DCM_BitsStored, bitsAllocated));
    if (m.rows <= 0 || m.columns <= 0)
        throw UserError("image header has no valid Rows/Columns");
    if (frames < 1 || frames > 100000)
        throw UserError("invalid NumberOfFrames " + std::to_string(frames));
    if (spp != 1 && spp != 3)
        throw UserError("unsupported SamplesPerPixel " + std::to_string(spp));
    if (bitsAllocated != 1 && bitsAllocated != 8 && bitsAllocated != 16 && bitsAllocated != 32)
        throw UserError("unsupported BitsAllocated " + std::to_string(bitsAllocated));
    m.frameCount = static_cast<int>(frames);

    const int64_t pixels = int64_t(m.rows) * m.columns;
    // YBR_FULL_422 / YBR_PARTIAL_422 store two samples per pixel when uncompressed.
    const bool subsampled422 = m.photometric == "YBR_FULL_422" || m.photometric == "YBR_PARTIAL_422";
    const int64_t frameBytes = subsampled422 && xferInfo.isNotEncapsulated() ? (pixels * 2 * bitsAllocated + 7) / 8
                                                                              : (pixels * spp * bitsAllocated + 7) / 8;
    const bool deflated = xfer == EXS_DeflatedLittleEndianExplicit;
    DcmElement* pixelElem = nullptr;
    ds->findAndGetElement(DCM_PixelData, pixelElem);
    if (xferInfo.isNotEncapsulated() && pixelElem) {
        const uint64_t have = pixelElem->getLength();
        const uint64_t need = static_cast<uint64_t>(frameBytes) * frames;
        if (have < need || (!ec && !deflated && have > fileSize))
            throw UserError("truncated pixel data: " + std::to_string(m.columns) + "x" + std::to_string(m.rows) +
                            (frames > 1 ? " x " + std::to_string(frames) + " frames" : std::string()) + " needs " +
                            text::humanBytes(double(need)) + ", the file holds " +
                            text::humanBytes(double(std::min<uint64_t>(have, ec ? have : fileSize))));
    }
    if (pixels > options.limits.maxPixelsPerFrame || frameBytes > options.limits.maxFrameBytes)
        throw UserError("image too large: " + std::to_string(m.columns) + "x" + std::to_string(m.rows) +
                        " pixels per frame exceeds the limit");

    const bool mono = m.photometric == "MONOCHROME1" || m.photometric == "MONOCHROME2";
    const bool invert = m.photometric == "MONOCHROME1";
    const double slope = floatValue(ds, DCM_RescaleSlope, 1.0);
    const double intercept = floatValue(ds, DCM_RescaleIntercept, 0.0);
    Float64 wc = 0, ww = 0;
    const bool hasWindow = ds->findAndGetFloat64(DCM_WindowCenter, wc, 0).good() &&
                           ds->findAndGetFloat64(DCM_WindowWidth, ww, 0).good() && ww > 0;
    const bool hasModalityLut = ds->tagExists(DCM_ModalityLUTSequence);

    const int first = options.frame >= 0 ? options.frame : 0;
    const int last = options.frame >= 0 ? options.frame : m.frameCount - 1;
    if (first >= m.frameCount)
        throw UserError("frame " + std::to_string(first) + " does not exist (the file has " + std::to_string(m.frameCount) + ")");

    if (isJpeg2000(xfer)) {
#ifdef MEDSIAM_HAVE_OPENJPEG
        for (int f = first; f <= last; ++f) {
            const std::vector<uint8_t> packed = encapsulatedFrame(ds, xfer, f, m.frameCount);
            const Jpeg2000Image j =
                decodeJpeg2000(packed.data(), packed.size(), options.minLongSide, intValue(ds, DCM_PixelRepresentation, 0) == 1 ? 1 : 0);
            const int expectW = (m.columns + (1 << j.reduction) - 1) >> j.reduction;
            const int expectH = (m.rows + (1 << j.reduction) - 1) >> j.reduction;
            if (j.width != expectW || j.height != expectH)
                throw UserError("JPEG 2000 frame is " + std::to_string(j.width) + "x" + std::to_string(j.height) +
                                " but the header says " + std::to_string(m.columns) + "x" + std::to_string(m.rows));
            DecodedFrame out;
            out.index = f;
            if (j.components == 1) {
                // The DICOM header's PixelRepresentation wins over the codestream's signedness
                // (some encoders disagree), as in the reference decoder.
                const bool headerSigned = intValue(ds, DCM_PixelRepresentation, 0) == 1;
                const int prec = std::clamp(j.precision, 1, 31);
                const int64_t range = int64_t(1) << prec;
                std::vector<double> v;
                v.reserve(j.samples.size());
                for (const int32_t sample : j.samples) {
                    int64_t x = sample;
                    if (headerSigned && !j.isSigned && x >= range / 2)
                        x -= range;
                    else if (!headerSigned && j.isSigned && x < 0)
                        x += range;
                    v.push_back(static_cast<double>(x) * slope + intercept);
                }
                out.image = renderMonochrome(v, j.width, j.height, wc, ww, hasWindow, invert);
                if (options.keepValues)
                    keepValues(out, v, wc, ww, hasWindow, invert);
            } else {
                std::vector<uint8_t> rgb(j.samples.size());
                const int shift = std::max(0, j.precision - 8);
                for (size_t i = 0; i < j.samples.size(); ++i)
                    rgb[i] = static_cast<uint8_t>(std::clamp(j.samples[i] >> shift, 0, 255));
                out.image = stretchColour(rgb.data(), j.width, j.height, wc, ww, hasWindow);
            }
            sink(std::move(out));
        }
        return m;
#else
        throw UserError("JPEG 2000 decoder not available (medsiam was built without OpenJPEG)");
#endif
    }
    if (xferInfo.isEncapsulated() && xfer != EXS_RLELossless && !xferInfo.isLossless() && xfer != EXS_JPEGProcess1 &&
        xfer != EXS_JPEGProcess2_4 && xfer != EXS_JPEGLSLossy && xfer != EXS_JPEGProcess3_5 &&
        xfer != EXS_JPEGProcess6_8 && xfer != EXS_JPEGProcess10_12)
        throw UserError(std::string("unsupported compression: ") + xferInfo.getXferName());

    const bool bigEndian32 = xferInfo.isBigEndian() && bitsAllocated == 32;
    // Grey images: windows, LUTs and inversion are applied here, from the stored values, and
    // overlays are not drawn into the cache. Telling DicomImage so (as a presentation-state viewer
    // would) spares it the embedded overlay planes. (Colour images keep DicomImage's defaults:
    // with a presentation state it would render them grey.)
    const unsigned long flags = CIF_UsePresentationState | CIF_NeverAccessEmbeddedOverlays;
    // Frame by frame ("partial access") keeps a long compressed series from being decompressed
    // into memory at once, but DCMTK then decodes frame 0 a second time for every frame, to learn
    // its colour model. When every frame is wanted (or there is one), compressed data up to
    // 256 MB uncompressed is decompressed once instead.
    const bool wholeAtOnce = xferInfo.isEncapsulated() && (options.frame < 0 || m.frameCount == 1) &&
                             static_cast<uint64_t>(frameBytes) * m.frameCount <= (uint64_t(256) << 20);
    const unsigned long access = bigEndian32 || wholeAtOnce ? 0 : CIF_UsePartialAccessToPixelData;
    const unsigned long partial = flags | access;
    if (bigEndian32 && ds->loadAllDataIntoMemory().bad())
        throw UserError("cannot read pixel data");
    // Decompressed once, in place, before any frame is read: a DicomImage of frame 0 over the
    // compressed data would decompress the dataset under the next frame's feet (frame 1 of a
    // JPEG cine then had "no pixel data"). Grey frames are then read straight from memory.
    E_TransferSyntax frameXfer = xfer;
    if (wholeAtOnce) {
        if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
            throw UserError(std::string("cannot decompress the pixel data (") + xferInfo.getXferName() + ")");
        frameXfer = EXS_LittleEndianExplicit;
        pixelElem = nullptr;
        ds->findAndGetElement(DCM_PixelData, pixelElem);
    }
    const DcmXfer frameXferInfo(frameXfer);
    int64_t beyondStored = 0;
    auto noteBeyondStored = [&] {
        if (beyondStored == 0)
            return;
        const long highBit = intValue(ds, DCM_HighBit, m.bits - 1);
        m.warnings.push_back(std::to_string(beyondStored) + " pixel values have bits set outside BitsStored " + std::to_string(m.bits) +
                             " (HighBit " + std::to_string(highBit) + ", BitsAllocated " + std::to_string(bitsAllocated) +
                             "); as the DICOM standard says, only the stored bits were used, which shows as dark or bright "
                             "blotches if the file's writer meant more bits");
    };
    for (int f = first; f <= last; ++f) {
        DecodedFrame out;
        out.index = f;
        if (mono) {
            // Stored values come out untouched (slope 1, intercept 0); the rescale is applied here in
            // floating point, so fractional slopes (PET, some MR) keep their precision.
            if (bigEndian32 && !hasModalityLut) {
                // DCMTK swaps this OW element as 16-bit words; rebuild each big-endian 32-bit sample.
                Uint16* words = nullptr;
                if (!pixelElem || pixelElem->getUint16Array(words).bad() || !words)
                    throw UserError("cannot read pixel data");
                const bool isSigned = intValue(ds, DCM_PixelRepresentation, 0) == 1;
                std::vector<double> v(static_cast<size_t>(pixels));
                const Uint16* w = words + static_cast<size_t>(f) * pixels * 2;
                for (size_t i = 0; i < v.size(); ++i) {
                    const uint32_t u = (uint32_t(w[2 * i]) << 16) | w[2 * i + 1];
                    v[i] = (isSigned ? static_cast<double>(static_cast<int32_t>(u)) : static_cast<double>(u)) * slope + intercept;
                }
                out.image = renderMonochrome(v, m.columns, m.rows, wc, ww, hasWindow, invert);
                if (options.keepValues)
                    keepValues(out, v, wc, ww, hasWindow, invert);
                sink(std::move(out));
                continue;
            }
            // Uncompressed little-endian grey samples are read straight from the element: the
            // common CT/MR case, without DicomImage's per-frame set-up (overlay search, internal
            // copies). Anything else goes through DicomImage.
            std::vector<double> direct;
            if (!hasModalityLut &&
                readNativeGrey(ds, pixelElem, frameXferInfo, f, pixels, m.frameCount, bitsAllocated, m.bits, direct, beyondStored)) {
                for (double& x : direct)
                    x = x * slope + intercept;
                out.image = renderMonochrome(direct, m.columns, m.rows, wc, ww, hasWindow, invert);
                if (options.keepValues)
                    keepValues(out, direct, wc, ww, hasWindow, invert);
                sink(std::move(out));
                continue;
            }
            std::unique_ptr<DicomImage> img =
                hasModalityLut ? std::make_unique<DicomImage>(ds, frameXfer, partial, f, 1)
                               : std::make_unique<DicomImage>(ds, frameXfer, 1.0, 0.0, partial, f, 1);
            if (img->getStatus() != EIS_Normal)
                throw UserError(statusText(*img));
            std::vector<double> v;
            if (!interValues(img->getInterData(), static_cast<size_t>(pixels), v))
                throw UserError("invalid or truncated pixel data");
            if (!hasModalityLut)
                for (double& x : v)
                    x = x * slope + intercept;
            out.image = renderMonochrome(v, m.columns, m.rows, wc, ww, hasWindow, invert);
            if (options.keepValues)
                keepValues(out, v, wc, ww, hasWindow, invert);
        } else {
            DicomImage img(ds, frameXfer, access, f, 1);
            if (img.getStatus() != EIS_Normal)
                throw UserError(statusText(img));
            if (img.isMonochrome())
                throw UserError("unsupported PhotometricInterpretation '" + m.photometric + "'");
            const auto* rgb = static_cast<const uint8_t*>(img.getOutputData(8, 0, 0));
            if (!rgb)
                throw UserError("invalid or truncated pixel data");
            out.image = stretchColour(rgb, m.columns, m.rows, wc, ww, hasWindow);
        }
        sink(std::move(out));
    }
    noteBeyondStored();
    return m;
}

std::vector<DicomDecoder::Tag> DicomDecoder::readTags(const std::string& path)
{
    registerCodecsOnce();
    DcmFileFormat ff;
    const OFCondition st = loadDicom(path, ff, 4096).status;
    if (st.bad())
        throw UserError(std::string("not a readable DICOM file (") + st.text() + ")");
    std::vector<Tag> tags;
    for (DcmItem* item : {static_cast<DcmItem*>(ff.getMetaInfo()), static_cast<DcmItem*>(ff.getDataset())}) {
        for (unsigned long i = 0; i < item->card(); ++i) {
            DcmElement* e = item->getElement(i);
            DcmTag t = e->getTag();
            char buf[16];
            std::snprintf(buf, sizeof buf, "(%04X,%04X)", t.getGTag(), t.getETag());
            Tag tag;
            tag.tag = buf;
            tag.name = t.getTagName();
            const DcmEVR vr = e->ident();
            if (t == DCM_PixelData) {
                tag.value = "<pixel data, " + text::humanBytes(e->getLength()) + ">";
            } else if (vr == EVR_SQ) {
                tag.value = "<sequence, " + std::to_string(static_cast<DcmSequenceOfItems*>(e)->card()) + " items>";
            } else if (vr == EVR_OB || vr == EVR_OW || vr == EVR_UN || vr == EVR_OF || vr == EVR_OD) {
                tag.value = "<binary, " + text::humanBytes(e->getLength()) + ">";
            } else {
                OFString v;
                e->getOFStringArray(v);
                tag.value = v.size() > 256 ? std::string(v.c_str(), 256) + "..." : std::string(v.c_str());
            }
            tags.push_back(std::move(tag));
        }
    }
    return tags;
}

} // namespace medsiam::core
