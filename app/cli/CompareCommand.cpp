// medsiam-cli compare (run by medsiam-cli-engine: its figure is drawn by the report module)
#include "ArgParser.h"
#include "Commands.h"

#include "eval/RunComparison.h"
#include "project/Project.h"
#include "util/Error.h"
#include "util/Text.h"

#include <cmath>
#include <cstdio>

namespace medsiam::cli {

int runCompare(const std::vector<std::string>& args)
{
    std::string metrics, axes;
    for (auto m : core::allCurveMetrics())
        metrics += std::string(metrics.empty() ? "" : ", ") + core::toString(m);
    for (auto a : core::allCurveAxes())
        axes += std::string(axes.empty() ? "" : ", ") + core::toString(a);
    ArgParser p("medsiam-cli compare PROJECT RUN RUN... [--curve NAME] [--x AXIS] [--out DIR]",
                "Runs side by side: the settings in which they differ, their results, and (with --out) one figure\n"
                "with a curve per run (PNG and SVG), the table and every curve point as CSV.");
    p.positional("PROJECT", "project folder")
        .positional("RUN", "run ids (see `medsiam-cli runs PROJECT`)", true, true)
        .option("curve", "NAME", "what to plot: " + metrics, "knn_balanced_accuracy")
        .option("x", "AXIS", "the x axis: " + axes, "step")
        .option("out", "DIR", "write compare.png, compare.svg, compare_table.csv and compare_curves.csv here")
        .flag("all-settings", "list every setting, not only those that differ");
    if (!p.parse(args))
        return 0;
    const auto runs = p.values("RUN");
    const core::CurveMetric metric = core::parseCurveMetric(p.value("curve"));
    const core::CurveAxis axis = core::parseCurveAxis(p.value("x"));
    auto project = core::Project::open(p.value("PROJECT"), core::ProjectAccess::ReadOnly);
    const core::Comparison c = core::compareRuns(*project, runs);

    // The table: settings that differ (or all), then the results.
    auto cell = [](const core::ComparedRun& r, const std::string& key) {
        const auto it = r.settings.find(key);
        return it == r.settings.end() ? std::string("-") : it->second;
    };
    std::printf("%-34s", "");
    for (const auto& r : c.runs)
        std::printf("  %-26s", r.label.c_str());
    std::printf("\n");
    const auto& keys = p.has("all-settings") ? c.settingKeys : c.differing;
    if (c.differing.empty())
        std::printf("(the runs' settings are the same)\n");
    for (const auto& k : keys) {
        if (k == "run")
            continue;
        std::printf("%s%-33s", c.differs(k) ? "*" : " ", k.c_str());
        for (const auto& r : c.runs)
            std::printf("  %-26s", cell(r, k).c_str());
        std::printf("\n");
    }
    for (const auto& name : core::finalMetricNames()) {
        bool any = false;
        for (const auto& r : c.runs)
            any = any || r.finals.count(name);
        if (!any)
            continue;
        std::printf(" %-33s", ("result: " + name).c_str());
        for (const auto& r : c.runs) {
            const auto it = r.finals.find(name);
            std::printf("  %-26s", it == r.finals.end() ? "-" : core::text::formatNumber(std::round(it->second * 1000) / 1000).c_str());
        }
        std::printf("\n");
    }
    if (!c.hasCurve(metric, axis))
        std::fprintf(stderr, "note: none of these runs has a %s curve%s\n", core::describe(metric).c_str(),
                     axis == core::CurveAxis::Seconds ? " with training times (runs made before times were recorded have none)" : "");
    if (p.has("out")) {
        for (const auto& f : writeComparisonFiles(c, metric, axis, p.value("out")))
            std::printf("wrote %s\n", f.c_str());
    }
    return 0;
}

} // namespace medsiam::cli
