// medsiam-cli predict (run by medsiam-cli-engine): a fine-tuned classifier put to work.
#include "ArgParser.h"
#include "Commands.h"
#include "ProgressLine.h"

#include "analysis/Predict.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "system/Runtime.h"
#include "util/Error.h"

#include <cstdio>
#include <memory>

namespace medsiam::cli {

namespace {

/// The counts per predicted class and the least certain images, in words.
void printSummary(const core::PredictionSet& set, FILE* out)
{
    std::fprintf(out, "run %s (checkpoint at step %lld) classified %zu image%s", set.runId.c_str(),
                 static_cast<long long>(set.checkpointStep), set.classified(), set.classified() == 1 ? "" : "s");
    const auto perClass = set.perClass();
    const char* sep = ": ";
    for (size_t c = 0; c < perClass.size(); ++c) {
        std::fprintf(out, "%s%s %lld", sep, set.classNames[c].c_str(), static_cast<long long>(perClass[c]));
        sep = ", ";
    }
    std::fprintf(out, "\n");
    size_t unsure = 0;
    for (const auto& i : set.images)
        if (i.predicted >= 0 && i.margin < 0.2)
            ++unsure;
    if (set.classified() > 0)
        std::fprintf(out, "%zu of them with a margin under 0.2 between the two likeliest classes: review those first "
                          "(Review Predictions in the desktop app)\n", unsure);
    size_t shown = 0, problems = 0;
    for (const auto& i : set.images)
        if (!i.problem.empty())
            ++problems;
    if (problems > 0)
        std::fprintf(stderr, "%zu file%s could not be classified:\n", problems, problems == 1 ? "" : "s");
    for (const auto& i : set.images)
        if (!i.problem.empty() && shown++ < 50)
            std::fprintf(stderr, "  %s: %s\n", i.path.c_str(), i.problem.c_str());
    if (problems > 50)
        std::fprintf(stderr, "  ... and %zu more (every one is a row of the table, with its reason)\n", problems - 50);
}

} // namespace

int runPredict(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli predict PROJECT --run RUN [--unlabeled | --all | --split S] [--out FILE.csv]\n"
                "       medsiam-cli predict --run-dir PROJECT/runs/RUN FOLDER... [--out FILE.csv]",
                "Classifies images with a fine-tuned run's selected checkpoint. The first form classifies the\n"
                "project's images (the unlabeled ones unless told otherwise) and stores the predictions under the\n"
                "run, where the desktop app's review queue finds them. The second classifies new folders or files\n"
                "without adding them to the project: they are decoded exactly as an import would (same decoders,\n"
                "windowing and letterbox), and a file that cannot be read is a row with the reason.\n"
                "Each row: a pseudonymous id (the image id; for new files the start of their content hash), the\n"
                "predicted class, each class's probability, the margin between the two likeliest classes (0:\n"
                "undecided, 1: certain) and the entropy. Paths and SOPInstanceUIDs only with --identify; never\n"
                "patient names. Without --out the table goes to stdout.");
    p.positional("PATH", "the project (with --run), or folders and files to classify (with --run-dir)", false, true);
    p.option("run", "RUN", "a fine-tuned run of PROJECT (see `medsiam-cli runs PROJECT`)")
        .option("run-dir", "DIR", "a fine-tuned run's folder, PROJECT/runs/RUN: classify the folders given")
        .flag("unlabeled", "the project's unlabeled images (the default)")
        .flag("all", "every image of the project")
        .option("split", "S", "the images of one split: train, val, test or none")
        .option("out", "FILE", "write the table here (CSV)")
        .flag("identify", "add each image's path and SOPInstanceUID (identifying: keep the table inside the hospital)")
        .option("gradcam", "DIR", "also write each image's Grad-CAM overlay there, as <id>.png")
        .option("axis", "AXIS", "new volumes: slicing axis, axial, coronal or sagittal", "axial")
        .option("slices", "N", "new volumes: slices per volume, evenly spaced over slices with content (0 = all)", "16")
        .flag("bf16", "bf16 autocast (faster on CPUs with AVX512-BF16; the stored predictions then differ slightly)")
        .threadsOption();
    if (!p.parse(args))
        return 0;
    const bool projectMode = p.has("run"), folderMode = p.has("run-dir");
    if (projectMode == folderMode)
        throw UsageError("give either --run RUN with a project, or --run-dir PROJECT/runs/RUN with folders to classify");
    const auto paths = p.values("PATH");
    core::PredictOptions o;
    o.bf16 = p.has("bf16");
    o.gradcamDir = p.value("gradcam");
    const int scopes = int(p.has("unlabeled")) + int(p.has("all")) + int(p.has("split"));
    if (scopes > 1)
        throw UsageError("choose one of --unlabeled, --all and --split");
    core::configureThreads(p.threads());
    ProgressLine line;
    o.progress = [&](size_t done, size_t total) { line.update("classified " + std::to_string(done) + " of " + std::to_string(total)); };

    core::PredictionSet set;
    if (projectMode) {
        if (paths.size() != 1)
            throw UsageError(paths.empty() ? "name the project: medsiam-cli predict PROJECT --run RUN"
                                           : "with --run give only the project; to classify new folders use --run-dir");
        if (p.has("all"))
            core::parsePredictScope("all", o);
        else if (p.has("split"))
            core::parsePredictScope(p.value("split"), o);
        // Read-only when another program writes the project: the table is still written.
        std::unique_ptr<core::Project> project;
        try {
            project = core::Project::open(paths.front());
        } catch (const core::ProjectBusyError& e) {
            std::fprintf(stderr, "note: %s; the predictions are not stored in the project\n", e.what());
            project = core::Project::open(paths.front(), core::ProjectAccess::ReadOnly);
        }
        set = core::predictProject(*project, p.value("run"), o);
        line.finish();
        if (!project->readOnly())
            std::fprintf(stderr, "stored under run %s in %s\n", set.runId.c_str(), project->dir().c_str());
    } else {
        if (scopes > 0)
            throw UsageError("--unlabeled, --all and --split choose among a project's images; with --run-dir name folders");
        if (paths.empty())
            throw UsageError("name the folders or files to classify: medsiam-cli predict --run-dir PROJECT/runs/RUN FOLDER...");
        const auto axis = core::parseSliceAxis(p.value("axis"));
        if (!axis)
            throw UsageError("--axis must be axial, coronal or sagittal, got '" + p.value("axis") + "'");
        o.slicing.axis = *axis;
        o.slicing.count = p.intValue("slices", 0, 100000);
        o.importThreads = p.threads();
        const auto [projectDir, runId] = core::projectOfRunDir(p.value("run-dir"));
        auto project = core::Project::open(projectDir, core::ProjectAccess::ReadOnly);
        set = core::predictFolders(*project, runId, paths, o);
        line.finish();
    }
    const bool identify = p.has("identify");
    if (p.has("out")) {
        core::writePredictionsCsv(p.value("out"), set, identify);
        printSummary(set, stdout);
        std::printf("wrote %s\n", p.value("out").c_str());
    } else {
        std::fputs(core::predictionsCsv(set, identify).c_str(), stdout);
        printSummary(set, stderr);
    }
    if (!o.gradcamDir.empty())
        std::fprintf(p.has("out") ? stdout : stderr, "Grad-CAM overlays in %s\n", o.gradcamDir.c_str());
    return 0;
}

} // namespace medsiam::cli
