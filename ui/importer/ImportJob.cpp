#include "importer/ImportJob.h"

#include "project/Project.h"

#include <QMetaObject>

#include <chrono>

namespace medsiam::ui {

class ImportJob::Observer : public core::ImportObserver {
public:
    explicit Observer(ImportJob* job) : m_job(job) {}
    void scanFinished(size_t files) override
    {
        QMetaObject::invokeMethod(m_job, [job = m_job, files] { Q_EMIT job->scanned(qint64(files)); }, Qt::QueuedConnection);
    }
    void progress(const core::ImportProgress& p) override
    {
        const auto now = std::chrono::steady_clock::now();
        if (p.filesDone < p.filesTotal && now - m_last < std::chrono::milliseconds(50))
            return;
        m_last = now;
        QMetaObject::invokeMethod(
            m_job,
            [job = m_job, p] {
                Q_EMIT job->progress(qint64(p.filesDone), qint64(p.filesTotal), p.itemsAdded, p.filesPerSecond, p.etaSeconds);
            },
            Qt::QueuedConnection);
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
    : QObject(parent), m_dir(std::move(projectDir)), m_options(std::move(options)), m_cancel(std::make_unique<core::CancelToken>()),
      m_observer(std::make_unique<Observer>(this))
{
    qRegisterMetaType<core::ImportSummary>();
}

ImportJob::~ImportJob()
{
    cancel();
    if (m_thread.joinable())
        m_thread.join();
}

void ImportJob::start()
{
    if (m_running)
        return;
    m_running = true;
    m_thread = std::thread([this] {
        core::ImportSummary summary;
        QString error;
        try {
            auto project = core::Project::open(m_dir.toStdString());
            summary = core::importSources(*project, m_options, m_observer.get(), m_cancel.get());
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            this,
            [this, summary, error] {
                m_thread.join();
                m_running = false;
                m_issues = std::move(m_observer->m_issues);
                if (summary.labels) {
                    for (const auto& k : summary.labels->unmatchedKeys)
                        m_issues.emplace_back(QString::fromStdString(k), tr("label CSV key matches no imported image"));
                    for (const auto& p : summary.labels->rowProblems)
                        m_issues.emplace_back(QString::fromStdString(m_options.labels->csvPath), QString::fromStdString(p));
                }
                Q_EMIT finished(summary, error);
            },
            Qt::QueuedConnection);
    });
}

void ImportJob::cancel() { m_cancel->requestStop(); }

} // namespace medsiam::ui
