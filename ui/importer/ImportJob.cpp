#include "importer/ImportJob.h"

#include "project/Project.h"

#include <chrono>

namespace medsiam::ui {

class ImportJob::Observer : public core::ImportObserver {
public:
    explicit Observer(ImportJob* job) : m_job(job) {}
    void scanFinished(size_t files) override
    {
        m_job->post([job = m_job, files] { Q_EMIT job->scanned(qint64(files)); });
    }
    void progress(const core::ImportProgress& p) override
    {
        const auto now = std::chrono::steady_clock::now();
        if (p.filesDone < p.filesTotal && now - m_last < std::chrono::milliseconds(50))
            return;
        m_last = now;
        m_job->post([job = m_job, p] {
            Q_EMIT job->progress(qint64(p.filesDone), qint64(p.filesTotal), p.itemsAdded, p.filesPerSecond, p.etaSeconds);
        });
    }
    void issue(const std::string& path, const std::string& reason) override
    {
        m_issues.emplace_back(QString::fromStdString(path), QString::fromStdString(reason));
    }
    std::vector<std::pair<QString, QString>> m_issues; // worker thread until finished

private:
    ImportJob* m_job;
    std::chrono::steady_clock::time_point m_last{};
};

ImportJob::ImportJob(QString projectDir, core::ImportOptions options, QObject* parent)
    : BackgroundJob(parent), m_dir(std::move(projectDir)), m_options(std::move(options)), m_observer(std::make_unique<Observer>(this))
{
}

ImportJob::~ImportJob() { stopAndWait(); }

BackgroundJob::Outcome ImportJob::run()
{
    auto project = core::Project::open(m_dir.toStdString());
    m_summary = core::importSources(*project, m_options, m_observer.get(), &cancelToken());
    return {m_summary.cancelled ? State::Cancelled : State::Completed, QString()};
}

void ImportJob::onFinished(const Outcome&)
{
    m_issues = std::move(m_observer->m_issues);
    if (m_summary.labels) {
        for (const auto& k : m_summary.labels->unmatchedKeys)
            m_issues.emplace_back(QString::fromStdString(k), tr("label CSV key matches no imported image"));
        for (const auto& p : m_summary.labels->rowProblems)
            m_issues.emplace_back(QString::fromStdString(m_options.labels->csvPath), QString::fromStdString(p));
    }
}

} // namespace medsiam::ui
