#include "system/BuildInfo.h"

#include "io/ImageDecoder.h"
#include "io/ImageFormat.h"
#include "system/Runtime.h"

#ifndef MEDSIAM_VERSION
#error "MEDSIAM_VERSION is set for this file by core/CMakeLists.txt"
#endif

namespace medsiam::core {

BuildInfo buildInfo()
{
    BuildInfo b;
    b.version = MEDSIAM_VERSION;
    const RuntimeInfo r = runtimeInfo();
    b.torch = r.torchVersion;
    b.cuda = r.cudaAvailable;
    b.cudaDevices = r.cudaDevices;
    b.threads = r.threads;
    for (auto f : DecoderRegistry::instance().supported())
        b.formats.push_back(formatName(f));
#ifdef MEDSIAM_HAVE_DCMTK
    b.components.push_back("DCMTK (DICOM, with JPEG, JPEG-LS and RLE decoders)");
#endif
#ifdef MEDSIAM_HAVE_OPENJPEG
    b.components.push_back("OpenJPEG (DICOM JPEG 2000)");
#endif
#ifdef MEDSIAM_HAVE_ITK
    b.components.push_back("ITK (NIfTI, NRRD, MetaImage volumes)");
#endif
#ifdef MEDSIAM_HAVE_OPENCV
    b.components.push_back("OpenCV (PNG, JPEG, TIFF, BMP)");
#endif
#ifdef MEDSIAM_HAVE_HNSWLIB
    b.components.push_back("hnswlib (large t-SNE maps)");
#endif
    return b;
}

std::string describeBuild(const BuildInfo& b, const std::string& program)
{
    std::string out = program + " " + b.version + "\n";
    out += "LibTorch " + b.torch + ", " +
           (b.cuda ? "CUDA (" + std::to_string(b.cudaDevices) + (b.cudaDevices == 1 ? " device)" : " devices)") : std::string("CPU only")) +
           ", " + std::to_string(b.threads) + (b.threads == 1 ? " thread\n" : " threads\n");
    out += "formats:";
    for (const auto& f : b.formats)
        out += " " + f;
    out += "\nbuilt with:";
    if (b.components.empty())
        out += " no optional libraries";
    for (size_t i = 0; i < b.components.size(); ++i)
        out += (i ? ", " : " ") + b.components[i];
    return out + "\nlicence: " + kLicence + "\n";
}

std::vector<std::string> thirdPartyLicences()
{
    return {
        "Qt 6: LGPL-3.0",
        "LibTorch (PyTorch): BSD-3-Clause",
        "OpenBLAS: BSD-3-Clause",
        "DCMTK: BSD-3-Clause",
        "OpenJPEG: BSD-2-Clause",
        "ITK: Apache-2.0",
        "OpenCV 4.6: Apache-2.0",
        "SQLite: public domain",
        "nlohmann/json: MIT",
        "hnswlib: Apache-2.0",
        "zlib: Zlib",
        "Bundled demo data: PneumoniaMNIST from MedMNIST v2 (Yang et al., Scientific Data 2023), derived from "
        "Kermany et al., Cell 2018: CC BY 4.0",
    };
}

} // namespace medsiam::core
