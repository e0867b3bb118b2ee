#include "io/VolumeDecoder.h"

#include "image/Window.h"
#include "io/VolumeHeader.h"
#include "util/Error.h"
#include "util/SafeSize.h"

#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageIOFactory.h>
#include <itkMetaImageIOFactory.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>

#include <algorithm>
#include <cmath>
#include <mutex>

namespace medsiam::core {

namespace {

void registerFactoriesOnce()
{
    static std::once_flag once;
    std::call_once(once, [] {
        itk::NiftiImageIOFactory::RegisterOneFactory();
        itk::MetaImageIOFactory::RegisterOneFactory();
        itk::NrrdImageIOFactory::RegisterOneFactory();
    });
}

/// ITK's NRRD reader reports errors through Teem's "biff", a process-wide message store that is
/// not thread-safe: two threads reading damaged NRRD files at once crashed the importer (found by
/// tests/fuzz/run.sh). NRRD files are read one at a time.
std::mutex& nrrdMutex()
{
    static std::mutex m;
    return m;
}

std::string firstLine(const std::string& s)
{
    // ITK messages carry file/line context; keep the description the user can act on.
    const size_t d = s.find("Description:");
    if (d != std::string::npos) {
        std::string t = s.substr(d + 12);
        t.erase(0, t.find_first_not_of(" \n"));
        const size_t nl = t.find('\n');
        return nl == std::string::npos ? t : t.substr(0, nl);
    }
    // Otherwise: "file.cxx:769:", "ITK ERROR: NrrdImageIO(0x..): Read: Error reading ...", then
    // Teem's "[nrrd] function: reason" lines, the last of which says what is wrong.
    std::string best, nrrd;
    size_t start = 0;
    while (start < s.size()) {
        size_t end = s.find('\n', start);
        if (end == std::string::npos)
            end = s.size();
        std::string line = s.substr(start, end - start);
        start = end + 1;
        if (line.empty() || (line.back() == ':' && line.find(".cxx:") != std::string::npos))
            continue;
        if (line.rfind("[nrrd] ", 0) == 0) {
            line = line.substr(7);
            const size_t colon = line.find(": ");
            if (colon != std::string::npos && colon + 2 < line.size())
                nrrd = line.substr(colon + 2);
            continue;
        }
        if (best.empty()) {
            const size_t paren = line.find("): ");
            best = line.rfind("ITK ERROR: ", 0) == 0 && paren != std::string::npos ? line.substr(paren + 3) : line;
        }
    }
    return !nrrd.empty() ? nrrd : best;
}

} // namespace

std::vector<int> selectSlices(const std::vector<bool>& hasContent, const VolumeSlicing& slicing)
{
    std::vector<int> candidates;
    for (int i = 0; i < static_cast<int>(hasContent.size()); ++i)
        if (!slicing.contentOnly || hasContent[i])
            candidates.push_back(i);
    const int n = static_cast<int>(candidates.size());
    if (slicing.count <= 0 || slicing.count >= n)
        return candidates;
    std::vector<int> out;
    if (slicing.count == 1)
        return {candidates[n / 2]};
    for (int k = 0; k < slicing.count; ++k) {
        const int idx = static_cast<int>(std::lround(double(k) * (n - 1) / (slicing.count - 1)));
        if (out.empty() || out.back() != candidates[idx])
            out.push_back(candidates[idx]);
    }
    return out;
}

VolumeDecoder::VolumeDecoder() { registerFactoriesOnce(); }

ImageMeta VolumeDecoder::decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const
{
    registerFactoriesOnce();
    using Volume = itk::Image<float, 3>;
    ImageMeta m;
    m.photometric = "MONOCHROME2";

    // Our own reading of the header first: ITK trusts it (an MHA with NDims = -1 makes MetaIO loop
    // forever; a 10 kB file claiming 4 billion voxels makes it allocate them).
    const VolumeHeaderFacts facts = checkVolumeHeaderFile(path, options.limits);
    itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
    if (!io)
        throw UserError("not a readable volume (no ITK reader accepts it)");
    const std::string ioName = io->GetNameOfClass();
    m.format = ioName.find("Nifti") != std::string::npos ? ImageFormat::Nifti
             : ioName.find("Nrrd") != std::string::npos  ? ImageFormat::Nrrd
                                                          : ImageFormat::MetaImage;
    std::unique_lock<std::mutex> nrrdLock(nrrdMutex(), std::defer_lock);
    if (m.format == ImageFormat::Nrrd)
        nrrdLock.lock();
    try {
        io->SetFileName(path);
        io->ReadImageInformation();
    } catch (const itk::ExceptionObject& e) {
        throw UserError("cannot read volume header: " + firstLine(e.what()));
    }
    const unsigned dims = io->GetNumberOfDimensions();
    if (dims < 2 || dims > 4)
        throw UserError("unsupported volume with " + std::to_string(dims) + " dimensions");
    if (io->GetNumberOfComponents() != 1)
        throw UserError("multi-component volumes (" + std::to_string(io->GetNumberOfComponents()) + " components per voxel) are not supported");
    int64_t voxels = 1;
    for (unsigned d = 0; d < std::min(dims, 3u); ++d)
        if (!checkedMul(voxels, static_cast<int64_t>(io->GetDimensions(d)), voxels))
            voxels = -1;
    if (voxels <= 0 || voxels > options.limits.maxVolumeVoxels || voxels > facts.voxels)
        throw UserError("volume too large, empty or inconsistent with its header (" + std::to_string(voxels) + " voxels)");
    m.bits = static_cast<int>(io->GetComponentSize() * 8);

    Volume::Pointer vol;
    try {
        auto reader = itk::ImageFileReader<Volume>::New();
        reader->SetImageIO(io);
        reader->SetFileName(path);
        reader->Update();
        vol = reader->GetOutput();
    } catch (const itk::ExceptionObject& e) {
        throw UserError("cannot read volume: " + firstLine(e.what()));
    }
    if (nrrdLock.owns_lock())
        nrrdLock.unlock();
    const auto size = vol->GetLargestPossibleRegion().GetSize();
    const auto spacing = vol->GetSpacing();
    const int nx = static_cast<int>(size[0]), ny = static_cast<int>(size[1]), nz = static_cast<int>(size[2]);
    const float* data = vol->GetBufferPointer();
    const int axis = std::clamp(options.slicing.axis, 0, 2);

    const auto [mnIt, mxIt] = std::minmax_element(data, data + voxels);
    const double lo = *mnIt, hi = *mxIt;
    const double scale = hi > lo ? 255.0 / (hi - lo) : 0.0;

    // Slice geometry: (columns, rows) and the voxel index of slice s at (c, r).
    const int sliceCount = axis == 0 ? nx : axis == 1 ? ny : nz;
    const int cols = axis == 0 ? ny : nx;
    const int rows = axis == 2 ? ny : nz;
    auto voxel = [&](int s, int c, int r) -> size_t {
        // Coronal and sagittal: row 0 is the highest z (superior up).
        switch (axis) {
        case 0:
            return (size_t(nz - 1 - r) * ny + c) * nx + s;
        case 1:
            return (size_t(nz - 1 - r) * ny + s) * nx + c;
        default:
            return (size_t(s) * ny + r) * nx + c;
        }
    };
    const double colSpacing = axis == 0 ? spacing[1] : spacing[0];
    const double rowSpacing = axis == 2 ? spacing[1] : spacing[2];
    m.columns = cols;
    m.rows = rows;
    m.frameCount = sliceCount;
    m.sliceAxis = axis;

    std::vector<int> chosen;
    if (options.frame >= 0) {
        if (options.frame >= sliceCount)
            throw UserError("slice " + std::to_string(options.frame) + " does not exist (the volume has " + std::to_string(sliceCount) + ")");
        chosen = {options.frame};
    } else {
        std::vector<bool> content(sliceCount, false);
        for (int s = 0; s < sliceCount; ++s) {
            const float first = data[voxel(s, 0, 0)];
            for (int r = 0; r < rows && !content[s]; ++r)
                for (int c = 0; c < cols; ++c)
                    if (data[voxel(s, c, r)] != first) {
                        content[s] = true;
                        break;
                    }
        }
        chosen = selectSlices(content, options.slicing);
        if (chosen.empty())
            throw UserError("volume has no slice with content (every slice is constant)");
    }
    for (int s : chosen) {
        Image8 img(cols, rows, 1);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c)
                img.pixels[size_t(r) * cols + c] = static_cast<uint8_t>(std::lround((data[voxel(s, c, r)] - lo) * scale));
        if (colSpacing > 0 && rowSpacing > 0 && std::abs(rowSpacing / colSpacing - 1.0) > 0.01) {
            const int h = std::max(1, static_cast<int>(std::lround(rows * rowSpacing / colSpacing)));
            img = resizeImage(img, cols, std::min(h, 16384));
        }
        DecodedFrame f;
        f.index = s;
        if (options.keepValues) {
            std::vector<float> v(size_t(rows) * cols);
            for (int r = 0; r < rows; ++r)
                for (int c = 0; c < cols; ++c)
                    v[size_t(r) * cols + c] = data[voxel(s, c, r)];
            if (img.height != rows) {
                // Resample the values as the display image was, so that both share one grid.
                v = resizeValues(v, cols, rows, img.width, img.height);
            }
            f.values = std::move(v);
            f.windowCentre = (lo + hi) / 2;
            f.windowWidth = std::max(hi - lo, 1e-9);
        }
        f.image = std::move(img);
        sink(std::move(f));
    }
    return m;
}

} // namespace medsiam::core
