#pragma once
#include <string>
#include <vector>

namespace medsiam::core {

/// What this build of medsiam is and can do: its version, the LibTorch it runs on, the compute it
/// found, the image formats it reads and the optional libraries it was built with. One place
/// for `medsiam-cli --version` and the desktop app's About box.
struct BuildInfo {
    std::string version;                 ///< medsiam's version
    std::string torch;                   ///< LibTorch's version
    bool cuda = false;                   ///< a CUDA device is usable
    int cudaDevices = 0;
    int threads = 0;                     ///< LibTorch's CPU threads
    std::vector<std::string> formats;    ///< image formats the importer reads
    std::vector<std::string> components; ///< optional libraries built in, e.g. "DCMTK (DICOM)"
};

BuildInfo buildInfo();

/// medsiam's own licence (LICENSE), as About, --version and the package's copyright file say it.
inline constexpr const char* kLicence = "Apache-2.0";

/// The build in a few lines of text: version, LibTorch and compute, formats, components.
std::string describeBuild(const BuildInfo& info, const std::string& program = "medsiam");

/// The licences of the libraries medsiam is built on and of the bundled demo data, one line each
/// ("DCMTK: BSD-3-Clause"), as the About box and the package's documentation list them.
std::vector<std::string> thirdPartyLicences();

} // namespace medsiam::core
