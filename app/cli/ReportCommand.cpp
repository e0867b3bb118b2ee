// medsiam-cli report (built when the GUI is: it draws with Qt, offscreen)
#include "ArgParser.h"
#include "Commands.h"

#include "project/Project.h"
#include "report/ComparisonReport.h"
#include "report/RunReport.h"

#include <QGuiApplication>

#include <cstdio>

namespace medsiam::cli {

namespace {
/// Drawing needs a QGuiApplication; the offscreen platform is enough.
void ensureGuiApplication()
{
    if (QGuiApplication::instance())
        return;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    // Drawing offscreen needs no runtime folder; Qt's note that a headless session has none is
    // noise on the command line.
    static const QtMessageHandler previous = qInstallMessageHandler([](QtMsgType type, const QMessageLogContext& context, const QString& message) {
        if (!message.startsWith(QLatin1String("QStandardPaths: XDG_RUNTIME_DIR not set")) && previous)
            previous(type, context, message);
    });
    static int argc = 1;
    static char name[] = "medsiam-cli";
    static char* argv[] = {name, nullptr};
    new QGuiApplication(argc, argv); // lives until the process ends
}
} // namespace

std::vector<std::string> writeComparisonFiles(const core::Comparison& comparison, core::CurveMetric metric, core::CurveAxis axis,
                                              const std::string& dir)
{
    ensureGuiApplication();
    return ui::writeComparison(comparison, metric, axis, dir);
}

std::vector<std::string> writeExperimentFigureFiles(core::Project& project, const std::string& experimentId)
{
    ensureGuiApplication();
    return ui::writeExperimentFigures(project, experimentId);
}

int runReport(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli report PROJECT RUN --out DIR",
                "Writes a run's report: PNG and SVG plots (loss and monitor curves, confusion matrices and ROC curves\n"
                "per split, the t-SNE map by label when `tsne` has been run) and CSVs (per-image predictions, map\n"
                "coordinates). Image ids, splits and classes only: no patient data.");
    p.positional("PROJECT", "project folder").positional("RUN", "run id").option("out", "DIR", "output folder");
    if (!p.parse(args))
        return 0;
    if (!p.has("out"))
        throw UsageError("--out is required");
    ensureGuiApplication();
    auto project = core::Project::open(p.value("PROJECT"), core::ProjectAccess::ReadOnly);
    const auto files = ui::writeRunReport(*project, p.value("RUN"), p.value("out"));
    for (const auto& f : files)
        std::printf("wrote %s\n", f.c_str());
    return 0;
}

} // namespace medsiam::cli
