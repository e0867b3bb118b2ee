// medsiam-cli pacs echo|find|get|listen: the PACS from the command line.
#include "ArgParser.h"
#include "Commands.h"
#include "ImportOptionsCli.h"
#include "ProgressLine.h"

#ifdef MEDSIAM_HAVE_PACS
#include "pacs/PacsImport.h"
#include "pacs/StorageReceiver.h"
#include "project/Project.h"
#include "util/Error.h"
#include "util/Text.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#endif

#include <cstdio>

namespace medsiam::cli {

#ifndef MEDSIAM_HAVE_PACS

int runPacs(const std::vector<std::string>&)
{
    std::fprintf(stderr, "medsiam-cli pacs: this build has no DICOM networking (it needs DCMTK: MEDSIAM_WITH_DCMTK=ON)\n");
    return 1;
}

#else

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void onPacsInterrupt(int)
{
    if (g_interrupted.exchange(true))
        std::_Exit(130); // a second Ctrl-C: at once
}

/// Ctrl-C and SIGTERM while it lives: the first asks `stop` (from a normal thread, not from the
/// signal handler), a second ends the process.
class InterruptGuard {
public:
    explicit InterruptGuard(std::function<void()> stop) : m_stop(std::move(stop))
    {
        g_interrupted = false;
        std::signal(SIGINT, onPacsInterrupt);
        std::signal(SIGTERM, onPacsInterrupt);
        m_thread = std::thread([this] {
            while (!m_done) {
                if (g_interrupted && !m_fired) {
                    m_fired = true;
                    m_stop();
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        });
    }
    ~InterruptGuard()
    {
        m_done = true;
        m_thread.join();
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
    }
    bool fired() const { return m_fired; }

private:
    std::function<void()> m_stop;
    std::atomic<bool> m_done{false};
    std::atomic<bool> m_fired{false};
    std::thread m_thread;
};

void addNodeOptions(ArgParser& p)
{
    p.option("node", "AE@HOST:PORT", "the PACS: its AE title, host and port (e.g. ORTHANC@pacs.example.org:4242)")
        .option("our-ae", "AE", "medsiam's AE title, as the PACS knows it", core::kDefaultOurAeTitle)
        .option("timeout", "SECONDS", "give up a connection, or a silent PACS, after this long",
                std::to_string(core::kDefaultPacsTimeoutSeconds));
}

void addFilterOptions(ArgParser& p)
{
    p.option("patient-id", "ID", "patient ID (wildcards * and ? allowed)")
        .option("patient-name", "NAME", "patient name, e.g. 'DOE^J*' (sent to the PACS only; never stored)")
        .option("date", "DATE", "study date or range: 20240131, 2024-01-01..2024-01-31, 20240101-")
        .option("modality", "MOD", "modality, e.g. CT, MR, CR")
        .option("accession", "NUMBER", "accession number")
        .option("description", "TEXT", "study description (series description at series level); wildcards allowed")
        .option("study", "UID", "Study Instance UID")
        .option("series", "UID", "Series Instance UID");
}

std::unique_ptr<core::PacsClient> clientFrom(const ArgParser& p)
{
    if (!p.has("node"))
        throw UsageError("--node AE@HOST:PORT is required (the PACS to talk to)");
    const core::PacsTimeouts t = core::PacsTimeouts::uniform(p.intValue("timeout", 1, 3600));
    return std::make_unique<core::PacsClient>(core::parseNode(p.value("node")), p.value("our-ae"), t);
}

core::PacsQuery queryFrom(const ArgParser& p, core::QueryLevel level)
{
    core::PacsQuery q;
    q.level = level;
    q.patientId = p.value("patient-id");
    q.patientName = p.value("patient-name");
    if (p.has("date"))
        core::parseDateRange(p.value("date"), q);
    q.modality = p.value("modality");
    q.accession = p.value("accession");
    q.description = p.value("description");
    q.studyUid = p.value("study");
    q.seriesUid = p.value("series");
    core::checkQuery(q);
    return q;
}

std::string count(int n)
{
    return n < 0 ? std::string("?") : std::to_string(n);
}

int runEcho(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli pacs echo --node AE@HOST:PORT [--our-ae AE]",
                "Tests a PACS node with a C-ECHO: can medsiam reach it, and does it accept medsiam's AE title?");
    addNodeOptions(p);
    if (!p.parse(args))
        return 0;
    auto client = clientFrom(p);
    const double s = client->echo();
    std::printf("%s answers (C-ECHO in %.0f ms; called as %s)\n", client->node().address().c_str(), s * 1000.0,
                client->ourAeTitle().c_str());
    return 0;
}

int runFind(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli pacs find --node AE@HOST:PORT [--level study] [filters]",
                "Searches a PACS (C-FIND) and lists what matches, with the number of series and instances.\n"
                "Patient names are matched by the PACS and never shown or stored.");
    addNodeOptions(p);
    addFilterOptions(p);
    p.option("level", "LEVEL", "patient, study or series", "study").option("limit", "N", "list at most N answers (0: all)", "0");
    if (!p.parse(args))
        return 0;
    const auto level = core::parseQueryLevel(p.value("level"));
    if (!level || *level == core::QueryLevel::Image)
        throw UsageError("--level must be patient, study or series, not '" + p.value("level") + "'");
    const core::PacsQuery q = queryFrom(p, *level);
    auto client = clientFrom(p);
    const auto records = client->find(q, static_cast<size_t>(p.intValue("limit", 0, 1000000)));
    switch (*level) {
    case core::QueryLevel::Patient:
        std::printf("%-24s %8s %8s %10s\n", "PATIENT ID", "STUDIES", "SERIES", "INSTANCES");
        for (const auto& r : records)
            std::printf("%-24s %8s %8s %10s\n", r.patientId.c_str(), count(r.relatedStudies).c_str(), count(r.relatedSeries).c_str(),
                        count(r.relatedInstances).c_str());
        break;
    case core::QueryLevel::Study:
        std::printf("%-10s  %-16s  %-10s  %6s  %9s  %-12s  %-24s  %s\n", "DATE", "PATIENT ID", "MODALITIES", "SERIES", "INSTANCES",
                    "ACCESSION", "DESCRIPTION", "STUDY UID");
        for (const auto& r : records)
            std::printf("%-10s  %-16s  %-10s  %6s  %9s  %-12s  %-24s  %s\n", core::displayDate(r.studyDate).c_str(), r.patientId.c_str(),
                        r.modality.c_str(), count(r.relatedSeries).c_str(), count(r.relatedInstances).c_str(), r.accession.c_str(),
                        r.description.c_str(), r.studyUid.c_str());
        break;
    default:
        std::printf("%-10s  %-16s  %-8s  %6s  %9s  %-24s  %s\n", "DATE", "PATIENT ID", "MODALITY", "NUMBER", "INSTANCES", "DESCRIPTION",
                    "STUDY UID / SERIES UID");
        for (const auto& r : records)
            std::printf("%-10s  %-16s  %-8s  %6s  %9s  %-24s  %s / %s\n", core::displayDate(r.studyDate).c_str(), r.patientId.c_str(),
                        r.modality.c_str(), r.seriesNumber.c_str(), count(r.relatedInstances).c_str(), r.description.c_str(),
                        r.studyUid.c_str(), r.seriesUid.c_str());
        break;
    }
    const char* noun = *level == core::QueryLevel::Patient ? "patients" : *level == core::QueryLevel::Study ? "studies" : "series";
    std::printf("%zu %s on %s\n", records.size(), records.size() == 1 && *level != core::QueryLevel::Series
                                                       ? (*level == core::QueryLevel::Patient ? "patient" : "study")
                                                       : noun,
                client->node().address().c_str());
    return 0;
}

int runGet(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli pacs get --node AE@HOST:PORT --project DIR (--study UID | --series UID | filters) [options]",
                "Retrieves the series that match (C-GET, or C-MOVE with --move) into the project's pacs/ folder and\n"
                "imports each series as it arrives. Retrieving again asks only for what is missing and imports\n"
                "nothing twice. Label tables work as for `import` (key by SOP Instance UID or PatientID).");
    addNodeOptions(p);
    addFilterOptions(p);
    p.option("project", "DIR", "project folder (created when it does not exist)")
        .flag("move", "retrieve by C-MOVE to medsiam's own storage receiver (the PACS must know --our-ae, this host and --port)")
        .option("port", "N", "with --move: the port medsiam's storage receiver listens on", std::to_string(core::kDefaultStoragePort));
    addImportOptions(p);
    if (!p.parse(args))
        return 0;
    if (!p.has("project"))
        throw UsageError("--project DIR is required");
    core::PacsQuery q = queryFrom(p, core::QueryLevel::Series);
    if (q.patientId.empty() && q.patientName.empty() && q.dateFrom.empty() && q.dateTo.empty() && q.modality.empty() &&
        q.accession.empty() && q.description.empty() && q.studyUid.empty() && q.seriesUid.empty())
        throw UsageError("say what to retrieve: --study UID, --series UID, or a filter such as --patient-id (nothing retrieves the whole PACS)");
    core::RetrieveOptions ro;
    ro.method = p.has("move") ? core::RetrieveMethod::Move : core::RetrieveMethod::Get;
    ro.storagePort = p.intValue("port", 1, 65535);
    if (p.has("port") && ro.method != core::RetrieveMethod::Move)
        throw UsageError("--port is for --move (C-GET needs no port of its own)");
    core::ImportOptions io = importOptionsFrom(p);
    auto client = clientFrom(p);

    const auto found = client->find(q);
    std::vector<core::SeriesRef> series;
    std::set<std::string> seen;
    size_t listedInstances = 0;
    for (const auto& r : found)
        if (seen.insert(r.seriesUid).second) {
            series.push_back({r.studyUid, r.seriesUid});
            listedInstances += r.relatedInstances > 0 ? static_cast<size_t>(r.relatedInstances) : 0;
        }
    if (series.empty()) {
        std::fprintf(stderr, "medsiam-cli pacs get: nothing on %s matches; see what is there with `medsiam-cli pacs find`\n",
                     client->node().address().c_str());
        return 1;
    }
    std::fprintf(stderr, "%zu series (%zu instances) on %s match; retrieving by %s\n", series.size(), listedInstances,
                 client->node().address().c_str(), ro.method == core::RetrieveMethod::Get ? "C-GET" : "C-MOVE");

    auto project = openProjectForImport(p);
    ProgressLine line;
    std::mutex lineMutex;
    core::RetrieveCallbacks cb;
    cb.progress = [&](const core::RetrieveProgress& pr) {
        std::lock_guard<std::mutex> lock(lineMutex);
        line.update(core::describeProgress(pr), pr.instancesDone == pr.instancesTotal && pr.seriesDone == pr.seriesTotal);
    };
    core::PacsImportResult result;
    {
        core::PacsClient* c = client.get();
        InterruptGuard guard([c] { c->cancel(); });
        result = core::retrieveIntoProject(*project, *client, series, ro, io, cb);
    }
    line.finish();
    const core::RetrieveSummary& s = result.retrieve;
    std::printf("Retrieved %s\n", core::describeRetrieve(s).c_str());
    printImportSummary(result.import, *project, io);
    for (const std::string& problem : s.problems)
        std::fprintf(stderr, "problem: %s\n", problem.c_str());
    if (s.cancelled)
        return 130;
    return s.complete() ? 0 : 1;
}

int runListen(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli pacs listen --project DIR [--port N] [--our-ae AE] [--seconds N]",
                "Runs medsiam's storage receiver: a PACS or a modality can send (C-STORE) images to it, under\n"
                "--our-ae on --port. Each series is imported into the project a moment after its last image\n"
                "arrives. Runs until Ctrl-C, or for --seconds.");
    p.option("project", "DIR", "project folder (created when it does not exist)")
        .option("port", "N", "port to listen on", std::to_string(core::kDefaultStoragePort))
        .option("our-ae", "AE", "the AE title senders call", core::kDefaultOurAeTitle)
        .option("seconds", "N", "stop after N seconds (0: run until Ctrl-C)", "0")
        .option("timeout", "SECONDS", "drop a sender that stays silent this long mid-transfer", "60");
    addImportOptions(p);
    if (!p.parse(args))
        return 0;
    if (!p.has("project"))
        throw UsageError("--project DIR is required");
    core::ImportOptions io = importOptionsFrom(p);
    io.labels.reset();
    if (p.has("labels"))
        throw UsageError("pacs listen applies no label table; import it afterwards with `medsiam-cli import --labels`");
    const int seconds = p.intValue("seconds", 0, 365 * 24 * 3600);
    auto project = openProjectForImport(p);

    std::mutex mutex;
    std::map<std::string, std::chrono::steady_clock::time_point> pending; // series folder -> last arrival
    size_t received = 0, failed = 0;
    uint64_t bytes = 0;
    ProgressLine line;
    core::StorageReceiver::Options ro;
    ro.aeTitle = p.value("our-ae");
    ro.port = p.intValue("port", 1, 65535);
    ro.root = core::projectPacsFolder(*project);
    ro.dimseSeconds = p.intValue("timeout", 1, 3600);
    core::StorageReceiver receiver(
        ro,
        [&](const core::ReceivedInstance& r) {
            std::lock_guard<std::mutex> lock(mutex);
            ++received;
            bytes += r.bytes;
            pending[core::pacsSeriesFolder(ro.root, r.studyUid, r.seriesUid)] = std::chrono::steady_clock::now();
            line.update("Received " + std::to_string(received) + " instances (" + core::text::humanBytes(static_cast<double>(bytes)) +
                        "), last from " + r.callingAe);
        },
        [&](const std::string& problem) {
            std::lock_guard<std::mutex> lock(mutex);
            ++failed;
            line.finish();
            std::fprintf(stderr, "problem: %s\n", problem.c_str());
        });
    receiver.start();
    std::fprintf(stderr, "Listening as %s on port %d; files go to %s. Ctrl-C stops.\n", ro.aeTitle.c_str(), ro.port, ro.root.c_str());

    core::ImportSummary total;
    auto importReady = [&](bool all) {
        std::vector<std::string> ready;
        {
            std::lock_guard<std::mutex> lock(mutex);
            const auto now = std::chrono::steady_clock::now();
            for (auto it = pending.begin(); it != pending.end();)
                if (all || now - it->second > std::chrono::seconds(2)) {
                    ready.push_back(it->first);
                    it = pending.erase(it);
                } else {
                    ++it;
                }
        }
        for (const std::string& folder : ready) {
            core::ImportOptions o = io;
            o.sources = {folder};
            core::addImportSummary(total, core::importSources(*project, o));
        }
    };
    {
        std::atomic<bool> stop{false};
        InterruptGuard guard([&stop] { stop = true; });
        const auto t0 = std::chrono::steady_clock::now();
        while (!stop && (seconds == 0 || std::chrono::steady_clock::now() - t0 < std::chrono::seconds(seconds))) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            importReady(false);
        }
    }
    receiver.stop();
    importReady(true);
    line.finish();
    std::printf("Received %zu instances (%s)%s\n", received, core::text::humanBytes(static_cast<double>(bytes)).c_str(),
                failed ? (", " + std::to_string(failed) + " refused or cut").c_str() : "");
    printImportSummary(total, *project, io);
    return 0;
}

} // namespace

int runPacs(const std::vector<std::string>& args)
{
    const char* usage = "usage: medsiam-cli pacs echo|find|get|listen [options]   (`medsiam-cli pacs COMMAND --help` for each)\n"
                        "  echo    test a PACS node (C-ECHO)\n"
                        "  find    search it (C-FIND) by patient ID or name, date, modality, accession, description\n"
                        "  get     retrieve series into a project (C-GET, or C-MOVE with --move) and import them\n"
                        "  listen  receive images sent to medsiam (C-STORE) into a project\n";
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(usage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "echo")
        return runEcho(rest);
    if (args[0] == "find")
        return runFind(rest);
    if (args[0] == "get")
        return runGet(rest);
    if (args[0] == "listen")
        return runListen(rest);
    throw UsageError("unknown pacs command '" + args[0] + "': use echo, find, get or listen");
}

#endif

} // namespace medsiam::cli
