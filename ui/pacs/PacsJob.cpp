#include "pacs/PacsJob.h"

#include "project/Project.h"
#include "util/Error.h"

#include <QCoreApplication>

namespace medsiam::ui {

PacsJob::PacsJob(Kind kind, Connection c) : m_kind(kind), m_connection(std::move(c)) {}

PacsJob::~PacsJob() { stopAndWait(); }

std::unique_ptr<PacsJob> PacsJob::echo(Connection c)
{
    return std::unique_ptr<PacsJob>(new PacsJob(Kind::Echo, std::move(c)));
}

std::unique_ptr<PacsJob> PacsJob::search(Connection c, core::PacsQuery query)
{
    core::checkQuery(query);
    std::unique_ptr<PacsJob> job(new PacsJob(Kind::Search, std::move(c)));
    query.level = core::QueryLevel::Study;
    job->m_query = std::move(query);
    return job;
}

std::unique_ptr<PacsJob> PacsJob::retrieve(Connection c, QString projectDir, std::vector<core::SeriesRef> series,
                                           core::RetrieveOptions options, core::ImportOptions importOptions)
{
    std::unique_ptr<PacsJob> job(new PacsJob(Kind::Retrieve, std::move(c)));
    job->m_projectDir = std::move(projectDir);
    job->m_series = std::move(series);
    job->m_options = options;
    job->m_importOptions = std::move(importOptions);
    return job;
}

void PacsJob::onCancel()
{
    std::lock_guard<std::mutex> lock(m_clientMutex);
    if (m_client)
        m_client->cancel();
}

BackgroundJob::Outcome PacsJob::run()
{
    core::PacsClient client(m_connection.node, m_connection.ourAeTitle, m_connection.timeouts);
    {
        std::lock_guard<std::mutex> lock(m_clientMutex);
        m_client = &client;
    }
    struct Release {
        PacsJob* job;
        ~Release()
        {
            std::lock_guard<std::mutex> lock(job->m_clientMutex);
            job->m_client = nullptr;
        }
    } release{this};
    if (cancelRequested()) // asked before the client was there to hear it
        client.cancel();
    try {
        switch (m_kind) {
        case Kind::Echo:
            m_echoSeconds = client.echo();
            return {State::Completed, {}};
        case Kind::Search:
            return runSearch(client);
        case Kind::Retrieve:
            return runRetrieve(client);
        }
    } catch (const core::UserError&) {
        if (client.cancelled())
            return {State::Cancelled, QCoreApplication::translate("medsiam::ui::PacsJob", "Cancelled")};
        throw;
    }
    return {State::Failed, {}};
}

BackgroundJob::Outcome PacsJob::runSearch(core::PacsClient& client)
{
    std::vector<core::PacsRecord> studies = client.find(m_query, kStudyLimit + 1);
    m_truncated = studies.size() > kStudyLimit;
    if (m_truncated)
        studies.resize(kStudyLimit);
    m_studies.reserve(studies.size());
    for (size_t i = 0; i < studies.size(); ++i) {
        if (cancelRequested())
            return {State::Cancelled, QCoreApplication::translate("medsiam::ui::PacsJob", "Cancelled")};
        reportProgress(static_cast<double>(i) / static_cast<double>(studies.size()),
                       QCoreApplication::translate("medsiam::ui::PacsJob", "Listing the series of study %1 of %2 ...")
                           .arg(i + 1)
                           .arg(studies.size()));
        core::PacsQuery q;
        q.level = core::QueryLevel::Series;
        q.studyUid = studies[i].studyUid;
        q.modality = m_query.modality; // a CT search lists a mixed study's CT series
        Study s{studies[i], client.find(q)};
        m_studies.push_back(std::move(s));
    }
    return {State::Completed, {}};
}

BackgroundJob::Outcome PacsJob::runRetrieve(core::PacsClient& client)
{
    auto project = core::Project::open(m_projectDir.toStdString());
    core::RetrieveCallbacks cb;
    cb.progress = [this](const core::RetrieveProgress& p) {
        const double fraction = p.instancesTotal ? static_cast<double>(p.instancesDone) / static_cast<double>(p.instancesTotal) : -1.0;
        reportProgress(fraction, QString::fromStdString(core::describeProgress(p)));
    };
    cb.seriesFinished = [this](const core::SeriesRef&, const std::string&) {
        post([this] { Q_EMIT seriesImported(); });
    };
    m_result = core::retrieveIntoProject(*project, client, m_series, m_options, m_importOptions, cb);
    const QString line = QString::fromStdString(core::describeRetrieve(m_result.retrieve));
    return {m_result.retrieve.cancelled ? State::Cancelled : State::Completed, line};
}

} // namespace medsiam::ui
