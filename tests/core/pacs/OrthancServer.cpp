#include "pacs/OrthancServer.h"

#include "pacs/PacsClient.h"
#include "util/Error.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>
#include <QThread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace medsiam::test {

Listener::Listener()
{
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 1) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
}

Listener::~Listener()
{
    if (fd >= 0)
        ::close(fd);
}

int freePort()
{
    return Listener().port;
}

OrthancServer::OrthancServer(QString workDir) : m_dir(std::move(workDir)) {}

OrthancServer::~OrthancServer() { stop(); }

QString OrthancServer::binary()
{
    for (const QString& p : {QStringLiteral("/usr/sbin/Orthanc"), QStandardPaths::findExecutable(QStringLiteral("Orthanc"))})
        if (!p.isEmpty() && QFile::exists(p))
            return p;
    return {};
}

core::PacsNode OrthancServer::node() const
{
    return core::PacsNode{"test", "ORTHANC", "127.0.0.1", m_dicomPort};
}

QString OrthancServer::logPath() const
{
    return QDir(m_dir).filePath(QStringLiteral("orthanc.log"));
}

QString OrthancServer::start(const QString& moveAe)
{
    if (binary().isEmpty())
        return QStringLiteral("Orthanc is not installed (scripts/install-deps.sh installs it)");
    if (!m_dicomPort) {
        m_dicomPort = freePort();
        m_httpPort = freePort();
        m_movePort = freePort();
    }
    QDir().mkpath(m_dir);
    const QString config = QDir(m_dir).filePath(QStringLiteral("orthanc.json"));
    QFile f(config);
    if (!f.open(QIODevice::WriteOnly))
        return QStringLiteral("cannot write ") + config;
    const QString storage = QDir(m_dir).filePath(QStringLiteral("orthanc-db"));
    f.write(QStringLiteral(R"({"Name":"medsiam-test","StorageDirectory":"%1","IndexDirectory":"%1","DicomAet":"ORTHANC",
"DicomPort":%2,"HttpPort":%3,"RemoteAccessAllowed":false,"AuthenticationEnabled":false,"DicomCheckCalledAet":true,
"DicomAlwaysAllowEcho":true,"DicomAlwaysAllowStore":true,"DicomAlwaysAllowFind":true,"DicomAlwaysAllowMove":true,"DicomCheckModalityHost":false,"Plugins":[],
"DicomModalities":{"medsiam":["%5","127.0.0.1",%4]}})")
                .arg(storage)
                .arg(m_dicomPort)
                .arg(m_httpPort)
                .arg(m_movePort)
                .arg(moveAe)
                .toUtf8());
    f.close();
    m_process.setProcessChannelMode(QProcess::MergedChannels);
    m_process.setStandardOutputFile(logPath(), QIODevice::Append);
    m_process.start(binary(), {config});
    if (!m_process.waitForStarted(10000))
        return QStringLiteral("Orthanc did not start: ") + m_process.errorString();
    // Ready when it answers a C-ECHO.
    for (int i = 0; i < 200; ++i) {
        try {
            core::PacsClient(node()).echo();
            return {};
        } catch (const core::UserError&) {
            if (m_process.state() == QProcess::NotRunning)
                return QStringLiteral("Orthanc exited at start; see ") + logPath();
            QThread::msleep(100);
        }
    }
    return QStringLiteral("Orthanc did not answer a C-ECHO within 20 s; see ") + logPath();
}

void OrthancServer::stop()
{
    if (m_process.state() != QProcess::NotRunning) {
        m_process.kill();
        m_process.waitForFinished(10000);
    }
}

QString OrthancServer::seed(const QString& folder)
{
    QProcess storescu;
    storescu.setProcessChannelMode(QProcess::MergedChannels);
    storescu.start(QStringLiteral("storescu"), {QStringLiteral("-aec"), QStringLiteral("ORTHANC"), QStringLiteral("-aet"),
                                                 QStringLiteral("SEEDER"), QStringLiteral("-R"), QStringLiteral("+sd"), QStringLiteral("+r"),
                                                 QStringLiteral("127.0.0.1"), QString::number(m_dicomPort), folder});
    if (!storescu.waitForFinished(120000))
        return QStringLiteral("storescu did not finish within 2 minutes");
    if (storescu.exitStatus() != QProcess::NormalExit || storescu.exitCode() != 0)
        return QStringLiteral("storescu failed: ") + QString::fromLocal8Bit(storescu.readAll());
    return {};
}

} // namespace medsiam::test
