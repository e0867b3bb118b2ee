// medsiam-cli: the headless twin of the medsiam desktop application.
//
// This file builds two programs. medsiam-cli itself links no LibTorch, so that import and info
// start in milliseconds; the commands that need LibTorch (model, training, --version) are handed
// to medsiam-cli-engine, built from this same file with MEDSIAM_CLI_ENGINE, which sits beside it
// (or in ../libexec/medsiam/ once installed) and replaces the process with the same arguments.
#include "ArgParser.h"
#include "Commands.h"

#include "io/ImageDecoder.h"
#include "project/Importer.h"
#include "util/Error.h"
#include "util/FileLock.h"
#ifdef MEDSIAM_CLI_ENGINE
#include "system/BuildInfo.h"
#include "system/Runtime.h"
#endif

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <unistd.h>
#include <vector>

#ifndef MEDSIAM_HAVE_REPORT
namespace medsiam::cli {
/// Without the GUI build there is no Qt to draw with.
int runReport(const std::vector<std::string>&)
{
    std::fprintf(stderr, "medsiam-cli report: this build has no Qt (MEDSIAM_BUILD_GUI=OFF); reports need the full build\n");
    return 1;
}
std::vector<std::string> writeComparisonFiles(const core::Comparison& comparison, core::CurveMetric, core::CurveAxis, const std::string& dir)
{
    std::fprintf(stderr, "note: this build has no Qt (MEDSIAM_BUILD_GUI=OFF): the figure is not drawn; the tables are written\n");
    return {};
}
std::vector<std::string> writeExperimentFigureFiles(core::Project&, const std::string&)
{
    std::fprintf(stderr, "note: this build has no Qt (MEDSIAM_BUILD_GUI=OFF): the figures are not drawn; the tables are written\n");
    return {};
}
} // namespace medsiam::cli
#endif

namespace {

using RunFn = int (*)(const std::vector<std::string>&);

struct Command {
    const char* name;
    const char* summary;
    RunFn run; ///< nullptr in medsiam-cli for the commands that medsiam-cli-engine runs
};

#ifdef MEDSIAM_CLI_ENGINE
#define ENGINE(fn) fn
#else
#define ENGINE(fn) nullptr
#endif

const Command kCommands[] = {
    {"import", "import folders of DICOM, volumes, images or .npz archives into a project", medsiam::cli::runImport},
    {"pacs", "search a PACS and retrieve series into a project (echo, find, get), or receive images sent to medsiam (listen)",
     medsiam::cli::runPacs},
    {"info", "summarise a project and list the files that were not imported", medsiam::cli::runInfo},
    {"split", "train/val/test splits grouped by patient (or stratified, random), with a leakage check", medsiam::cli::runSplit},
    {"model", "list backbones, show a network, check, convert or time weights (BiT .npz, timm, torchvision)",
     ENGINE(medsiam::cli::runModel)},
    {"pretrain", "SimSiam self-supervised pretraining, optionally from BiT weights", ENGINE(medsiam::cli::runPretrain)},
    {"train-classifier", "the guided way to a classifier: checks the labels, trains within a time budget, says the result in words",
     ENGINE(medsiam::cli::runTrainClassifier)},
    {"finetune", "train a classifier (BiT-HyperRule), or an upstream transfer source", ENGINE(medsiam::cli::runFinetune)},
    {"predict", "classify a project's unlabeled images, or new folders, with a classifier; least certain first",
     ENGINE(medsiam::cli::runPredict)},
    {"export", "a classifier or backbone for Python: timm safetensors or BiT .npz, with a model card",
     ENGINE(medsiam::cli::runExport)},
    {"resume", "continue a stopped or killed run from its last checkpoint", ENGINE(medsiam::cli::runResume)},
    {"probe", "linear probe of a backbone: val and test metrics", ENGINE(medsiam::cli::runProbe)},
    {"evaluate", "val and test metrics of a fine-tuned run, with the current labels", ENGINE(medsiam::cli::runEvaluate)},
    {"runs", "list a project's training runs and their results; name, annotate or delete a run", medsiam::cli::runRuns},
    {"embed", "store the features of every image under a run (for maps and exports)", ENGINE(medsiam::cli::runEmbed)},
    {"tsne", "2-D t-SNE or PCA map of a run's embeddings or of any matrix (.npy)", ENGINE(medsiam::cli::runTsne)},
    {"suggest", "suggest labels for unlabeled images from their labeled neighbours", ENGINE(medsiam::cli::runSuggest)},
    {"gradcam", "Grad-CAM heatmap of a fine-tuned run on an image (PNG overlay)", ENGINE(medsiam::cli::runGradCam)},
    {"report", "a run's plots (PNG, SVG) and CSVs: curves, confusion, ROC, t-SNE map", ENGINE(medsiam::cli::runReport)},
    {"compare", "runs side by side: curves (loss, kNN, validation) on one plot, settings that differ, results", ENGINE(medsiam::cli::runCompare)},
    {"experiment", "the transfer experiment: does a transfer init speed SimSiam up, and with which normalization?",
     ENGINE(medsiam::cli::runExperiment)},
    {"repair", "check a project, list the backups of its catalogue, restore one", medsiam::cli::runRepair},
};

#ifndef MEDSIAM_CLI_ENGINE
/// Replaces this process with medsiam-cli-engine and the same arguments; returns only on failure.
int execEngine(char** argv)
{
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string dir = ".";
    if (n > 0) {
        self[n] = '\0';
        dir = std::string(self);
        dir = dir.substr(0, dir.rfind('/'));
    }
    for (const std::string& candidate : {dir + "/medsiam-cli-engine", dir + "/../libexec/medsiam/medsiam-cli-engine"}) {
        if (::access(candidate.c_str(), X_OK) == 0) {
            ::execv(candidate.c_str(), argv);
            std::fprintf(stderr, "medsiam-cli: cannot start %s: %s\n", candidate.c_str(), std::strerror(errno));
            return 1;
        }
    }
    std::fprintf(stderr, "medsiam-cli: this command needs medsiam-cli-engine (the LibTorch part of medsiam-cli), which "
                         "is not installed beside %s\n", dir.c_str());
    return 1;
}
#endif

void printUsage(FILE* out)
{
    std::fprintf(out, "usage: medsiam-cli COMMAND [options]\n\n"
                      "Self-supervised (SimSiam) and transfer (BiT) learning for medical images, headless.\n\ncommands:\n");
    for (const auto& c : kCommands)
        std::fprintf(out, "  %-17s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun `medsiam-cli COMMAND --help` for a command's options; `medsiam-cli --version` for the build.\n");
}

#ifdef MEDSIAM_CLI_ENGINE
void printVersion()
{
    std::fputs(medsiam::core::describeBuild(medsiam::core::buildInfo(), "medsiam-cli").c_str(), stdout);
}
#endif

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
#ifdef MEDSIAM_CLI_ENGINE
    medsiam::core::configureAllocator();
    medsiam::core::configureThreads();
    if (cmd == "--version" || cmd == "version") {
        printVersion();
        return 0;
    }
#else
    if (cmd == "--version" || cmd == "version")
        return execEngine(argv);
#endif
    for (const auto& c : kCommands) {
        if (cmd != c.name)
            continue;
#ifndef MEDSIAM_CLI_ENGINE
        if (!c.run)
            return execEngine(argv);
#endif
        // Named in the project's lock, so that another program can say who is writing.
        medsiam::core::FileLock::setProcessPurpose(std::string("medsiam-cli ") + c.name);
        int rc;
        try {
            rc = c.run(std::vector<std::string>(args.begin() + 1, args.end()));
        } catch (const medsiam::cli::UsageError& e) {
            std::fprintf(stderr, "medsiam-cli %s: %s\nRun `medsiam-cli %s --help` for usage.\n", c.name, e.what(), c.name);
            rc = 2;
        } catch (const medsiam::core::UserError& e) {
            std::fprintf(stderr, "medsiam-cli %s: error: %s\n", c.name, e.what());
            rc = 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "medsiam-cli %s: unexpected error: %s\n", c.name, e.what());
            rc = 1;
        }
        if (medsiam::core::abandonedDecoderThreads() > 0) {
            // A decoder thread is still stuck on a damaged file: exit() would destroy the
            // library state it is using. Everything worth keeping is committed already.
            std::fflush(stdout);
            std::fflush(stderr);
            ::_exit(rc);
        }
        return rc;
    }
    std::fprintf(stderr, "medsiam-cli: unknown command '%s'\n\n", cmd.c_str());
    printUsage(stderr);
    return 2;
}
