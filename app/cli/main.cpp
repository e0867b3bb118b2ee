// medsiam-cli: the headless twin of the medsiam desktop application.
#include "ArgParser.h"
#include "Commands.h"

#include "io/ImageDecoder.h"
#include "system/Runtime.h"
#include "util/Error.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

const Command kCommands[] = {
    {"import", "import folders of DICOM, volumes, images or .npz archives into a project", medsiam::cli::runImport},
    {"info", "summarise a project and list the files that were not imported", medsiam::cli::runInfo},
    {"model", "list backbones, show a network, check, convert or time weights (BiT .npz, timm, torchvision)", medsiam::cli::runModel},
};

void printUsage(FILE* out)
{
    std::fprintf(out, "usage: medsiam-cli COMMAND [options]\n\n"
                      "Self-supervised (SimSiam) and transfer (BiT) learning for medical images, headless.\n\ncommands:\n");
    for (const auto& c : kCommands)
        std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun `medsiam-cli COMMAND --help` for a command's options; `medsiam-cli --version` for the build.\n");
}

void printVersion()
{
    const auto info = medsiam::core::runtimeInfo();
    std::printf("medsiam-cli %s\nLibTorch %s, %s, %d threads\nformats:", MEDSIAM_VERSION, info.torchVersion.c_str(),
                info.cudaAvailable ? ("CUDA (" + std::to_string(info.cudaDevices) + " devices)").c_str() : "CPU only", info.threads);
    for (auto f : medsiam::core::DecoderRegistry::instance().supported())
        std::printf(" %s", medsiam::core::formatName(f));
#ifdef MEDSIAM_HAVE_OPENJPEG
    std::printf(" (DICOM JPEG 2000 via OpenJPEG)");
#endif
    std::printf("\n");
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        printUsage(stderr);
        return 2;
    }
    const std::string cmd = args.front();
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
        printUsage(stdout);
        return 0;
    }
    medsiam::core::configureThreads();
    if (cmd == "--version" || cmd == "version") {
        printVersion();
        return 0;
    }
    for (const auto& c : kCommands) {
        if (cmd != c.name)
            continue;
        try {
            return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
        } catch (const medsiam::cli::UsageError& e) {
            std::fprintf(stderr, "medsiam-cli %s: %s\nRun `medsiam-cli %s --help` for usage.\n", c.name, e.what(), c.name);
            return 2;
        } catch (const medsiam::core::UserError& e) {
            std::fprintf(stderr, "medsiam-cli %s: error: %s\n", c.name, e.what());
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "medsiam-cli %s: unexpected error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "medsiam-cli: unknown command '%s'\n\n", cmd.c_str());
    printUsage(stderr);
    return 2;
}
