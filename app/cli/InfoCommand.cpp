#include "ArgParser.h"
#include "Commands.h"
#include "ResultsText.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "util/Csv.h"
#include "util/Text.h"

#include <cstdio>

namespace medsiam::cli {

namespace {
void printCounts(const char* title, const std::vector<std::pair<std::string, int64_t>>& counts)
{
    std::printf("%-14s", title);
    if (counts.empty())
        std::printf("-");
    for (size_t i = 0; i < counts.size(); ++i)
        std::printf("%s%s %lld", i ? ", " : "", counts[i].first.c_str(), static_cast<long long>(counts[i].second));
    std::printf("\n");
}
} // namespace

int runInfo(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli info DIR [--issues] [--issues-csv FILE]",
                "Summarises a project: images by format, modality, class and split, and the files that were not\n"
                "imported, grouped by reason.");
    p.positional("DIR", "project folder")
        .flag("issues", "list every file that was not imported, with its reason")
        .option("issues-csv", "FILE", "write the import issues to a CSV file (path, reason)");
    if (!p.parse(args))
        return 0;
    auto project = core::Project::open(p.value("DIR"), core::ProjectAccess::ReadOnly);
    const core::ProjectSummary s = project->summary();
    std::printf("Project       %s\n", s.path.c_str());
    std::printf("Images        %lld items from %lld files, %lld patients, %lld labeled\n", static_cast<long long>(s.images),
                static_cast<long long>(s.sourceFiles), static_cast<long long>(s.patients), static_cast<long long>(s.labeled));
    std::printf("Cache         %d x %d px, %s\n", s.cacheResolution, s.cacheResolution, core::text::humanBytes(double(s.cacheBytes)).c_str());
    printCounts("By format", s.byFormat);
    printCounts("By modality", s.byModality);
    printCounts("By class", s.byClass);
    printCounts("By split", s.bySplit);
    std::printf("Not imported  %lld\n", static_cast<long long>(s.issues));
    if (s.warnings > 0)
        std::printf("Warnings      %lld files imported with a warning (see --issues)\n", static_cast<long long>(s.warnings));
    for (size_t i = 0; i < s.issuesByReason.size() && i < 12; ++i)
        std::printf("  %5lld  %s\n", static_cast<long long>(s.issuesByReason[i].second), s.issuesByReason[i].first.c_str());
    if (s.issuesByReason.size() > 12)
        std::printf("  ... %zu more reasons (use --issues)\n", s.issuesByReason.size() - 12);
    const auto issues = (p.has("issues") || p.has("issues-csv")) ? project->issues() : decltype(project->issues()){};
    if (p.has("issues")) {
        for (const auto& [path, reason] : issues)
            std::printf("%s\t%s\n", path.c_str(), reason.c_str());
        for (const auto& [path, warning] : project->warnings())
            std::printf("%s\twarning (imported): %s\n", path.c_str(), warning.c_str());
    }
    if (p.has("issues-csv")) {
        FILE* f = std::fopen(p.value("issues-csv").c_str(), "w");
        if (!f) {
            std::fprintf(stderr, "error: cannot write '%s'\n", p.value("issues-csv").c_str());
            return 1;
        }
        std::fprintf(f, "path,reason\n");
        for (const auto& [path, reason] : issues)
            std::fprintf(f, "%s,%s\n", core::csvField(path).c_str(), core::csvField(reason).c_str());
        std::fclose(f);
    }
    return 0;
}

int runRuns(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli runs PROJECT [--delete RUN] [--describe RUN [--name TEXT] [--note TEXT]]",
                "Lists the project's training runs: id, kind, state, parent run, the name and notes given to it, and\n"
                "its summary. A run whose training process was killed shows as interrupted (`medsiam-cli resume`\n"
                "continues it). --delete removes a run: its folder, checkpoints, curves, predictions and maps.\n"
                "--describe names a run and keeps notes on it (as the desktop app's Name & Notes); its id stays.");
    p.positional("PROJECT", "project folder")
        .multiOption("delete", "RUN", "delete this run")
        .option("describe", "RUN", "set the name (--name) and notes (--note) of this run")
        .option("name", "TEXT", "with --describe: the run's name (one line; empty removes it)")
        .option("note", "TEXT", "with --describe: notes on the run");
    if (!p.parse(args))
        return 0;
    if ((p.has("name") || p.has("note")) && !p.has("describe"))
        throw core::UserError("--name and --note go with --describe RUN (which run to name)");
    if (p.has("describe")) {
        auto project = core::Project::open(p.value("PROJECT"));
        core::RunStore store(*project);
        const std::string id = p.value("describe");
        store.require(id);
        const auto r = store.find(id);
        store.describe(id, p.has("name") ? p.value("name") : r->title, p.has("note") ? p.value("note") : r->note);
        std::printf("run %s: %s\n", id.c_str(), store.find(id)->title.empty() ? "(no name)" : store.find(id)->title.c_str());
        return 0;
    }
    if (p.has("delete")) {
        auto project = core::Project::open(p.value("PROJECT"));
        core::RunStore store(*project);
        for (const auto& id : p.values("delete")) {
            store.remove(id);
            std::printf("deleted run %s\n", id.c_str());
        }
        return 0;
    }
    auto project = core::Project::open(p.value("PROJECT"), core::ProjectAccess::ReadOnly);
    const auto runs = core::RunStore(*project).list();
    if (runs.empty())
        std::printf("no runs yet\n");
    for (const auto& r : runs) {
        std::printf("%-28s %-17s %-10s %s%s\n", r.id.c_str(), r.kind.c_str(), r.state.c_str(), r.parent.empty() ? "" : "from ",
                    r.parent.c_str());
        if (!r.title.empty())
            std::printf("  name: %s\n", r.title.c_str());
        if (!r.note.empty()) {
            std::string note = r.note; // later lines under the first
            for (size_t at = note.find('\n'); at != std::string::npos; at = note.find('\n', at + 1))
                note.insert(at + 1, "         ");
            std::printf("  notes: %s\n", note.c_str());
        }
        const auto summary = core::FinetuneSummary::read(r.summary);
        // A classifier's results in words, its warnings next to them; other runs' summaries as stored.
        if (summary.val || summary.test)
            printClassifierResults("  ", summary, false);
        else
            std::printf("  %s\n", r.summary.c_str());
    }
    return 0;
}

} // namespace medsiam::cli
