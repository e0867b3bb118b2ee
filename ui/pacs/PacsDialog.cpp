#include "pacs/PacsDialog.h"

#include "common/Count.h"
#include "project/ProjectSession.h"
#include "util/Error.h"
#include "util/Text.h"

#include <QCloseEvent>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <set>

namespace medsiam::ui {

namespace {

enum Column { ColWhat, ColPatient, ColDate, ColModality, ColAccession, ColSeries, ColInstances, ColumnCount };
constexpr int kUidRole = Qt::UserRole + 1;      // study items: the Study Instance UID; series items: the Series Instance UID
constexpr int kInstancesRole = Qt::UserRole + 2; // series items: the instances the PACS listed (-1: unknown)

QString count(int n)
{
    return n < 0 ? QStringLiteral("?") : QString::number(n);
}

void showProblem(QLabel* where, const QString& text)
{
    where->setStyleSheet(QStringLiteral("QLabel { color: #b00020; }"));
    where->setText(text);
}

void showInfo(QLabel* where, const QString& text)
{
    where->setStyleSheet(QString());
    where->setText(text);
}

/// Add or edit one node: name, AE title, host, port, checked by PacsSettings::put (core's rules).
class NodeDialog : public QDialog {
public:
    NodeDialog(PacsSettings& settings, const core::PacsNode* editing, QWidget* parent) : QDialog(parent), m_settings(settings)
    {
        setWindowTitle(editing ? tr("Edit PACS node") : tr("Add PACS node"));
        m_replacing = editing ? QString::fromStdString(editing->name) : QString();
        m_name = new QLineEdit(this);
        m_name->setPlaceholderText(tr("e.g. Hospital archive"));
        m_ae = new QLineEdit(this);
        m_ae->setMaxLength(16);
        m_ae->setPlaceholderText(tr("the PACS's AE title, e.g. ORTHANC"));
        m_host = new QLineEdit(this);
        m_host->setPlaceholderText(tr("host name or IP address"));
        m_port = new QSpinBox(this);
        m_port->setRange(1, 65535);
        m_port->setValue(104);
        if (editing) {
            m_name->setText(QString::fromStdString(editing->name));
            m_ae->setText(QString::fromStdString(editing->aeTitle));
            m_host->setText(QString::fromStdString(editing->host));
            m_port->setValue(editing->port);
        }
        m_problem = new QLabel(this);
        m_problem->setWordWrap(true);
        auto* form = new QFormLayout;
        form->addRow(tr("Name:"), m_name);
        form->addRow(tr("AE title:"), m_ae);
        form->addRow(tr("Host:"), m_host);
        form->addRow(tr("Port:"), m_port);
        auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
        connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
        connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
        auto* layout = new QVBoxLayout(this);
        layout->addLayout(form);
        layout->addWidget(m_problem);
        layout->addWidget(buttons);
    }
    QString savedName() const { return m_saved; }

    void accept() override
    {
        core::PacsNode n;
        n.name = m_name->text().trimmed().toStdString();
        n.aeTitle = m_ae->text().trimmed().toStdString();
        n.host = m_host->text().trimmed().toStdString();
        n.port = m_port->value();
        if (n.name.empty() && !n.aeTitle.empty() && !n.host.empty())
            n.name = n.aeTitle + "@" + n.host; // a name when none is given
        const QString problem = m_settings.put(n, m_replacing);
        if (!problem.isEmpty()) {
            showProblem(m_problem, problem);
            return; // the dialog stays, with what was typed
        }
        m_saved = QString::fromStdString(n.name);
        QDialog::accept();
    }

private:
    PacsSettings& m_settings;
    QString m_replacing;
    QString m_saved;
    QLineEdit* m_name;
    QLineEdit* m_ae;
    QLineEdit* m_host;
    QSpinBox* m_port;
    QLabel* m_problem;
};

} // namespace

PacsDialog::PacsDialog(ProjectSession& session, QWidget* parent) : QDialog(parent), m_session(session), m_settings(PacsSettings::load())
{
    setWindowTitle(tr("Import from PACS"));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(buildNodeBox());
    layout->addWidget(buildSearchBox());
    layout->addWidget(buildResultsBox(), 1);

    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progressText = new QLabel(this);
    m_progressText->setWordWrap(true);
    m_resultText = new QLabel(this);
    m_resultText->setWordWrap(true);
    m_resultText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_retrieve = new QPushButton(tr("Retrieve and import"), this);
    m_retrieve->setToolTip(tr("Brings the ticked series into the project's pacs/ folder and imports each series as it arrives; "
                              "what is already there is not asked for again"));
    connect(m_retrieve, &QPushButton::clicked, this, &PacsDialog::retrieve);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setToolTip(tr("Stops at once; what has arrived is kept and imported, and retrieving again completes it"));
    connect(m_cancel, &QPushButton::clicked, this, &PacsDialog::cancel);
    m_close = new QPushButton(tr("Close"), this);
    connect(m_close, &QPushButton::clicked, this, &QDialog::reject);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_progress, 1);
    buttons->addWidget(m_cancel);
    buttons->addWidget(m_retrieve);
    buttons->addWidget(m_close);
    layout->addWidget(m_progressText);
    layout->addLayout(buttons);
    layout->addWidget(m_resultText);

    reloadNodes(m_settings.currentNode);
    updateButtons();
    resize(980, 720);
}

PacsDialog::~PacsDialog() = default; // the job, if any, is cancelled and joined as it goes

QWidget* PacsDialog::buildNodeBox()
{
    auto* box = new QGroupBox(tr("PACS"), this);
    m_nodes = new QComboBox(box);
    m_nodes->setMinimumContentsLength(28);
    m_nodes->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    connect(m_nodes, &QComboBox::currentIndexChanged, this, [this] {
        if (const core::PacsNode* n = currentNode()) {
            m_settings.currentNode = QString::fromStdString(n->name);
            m_settings.save();
        }
        m_echoText->clear();
        updateButtons();
    });
    m_addNode = new QPushButton(tr("Add..."), box);
    connect(m_addNode, &QPushButton::clicked, this, [this] { editNode(true); });
    m_editNode = new QPushButton(tr("Edit..."), box);
    connect(m_editNode, &QPushButton::clicked, this, [this] { editNode(false); });
    m_removeNode = new QPushButton(tr("Remove"), box);
    connect(m_removeNode, &QPushButton::clicked, this, [this] {
        if (const core::PacsNode* n = currentNode()) {
            m_settings.remove(QString::fromStdString(n->name));
            m_settings.save();
            reloadNodes({});
        }
    });
    m_echo = new QPushButton(tr("Echo"), box);
    m_echo->setToolTip(tr("C-ECHO: can medsiam reach this PACS, and does it accept medsiam's AE title?"));
    connect(m_echo, &QPushButton::clicked, this, &PacsDialog::echo);
    m_echoText = new QLabel(box);
    m_echoText->setWordWrap(true);

    m_ourAe = new QLineEdit(m_settings.ourAeTitle, box);
    m_ourAe->setMaxLength(16);
    m_ourAe->setToolTip(tr("The AE title medsiam calls itself by; the PACS may have to know it"));
    connect(m_ourAe, &QLineEdit::editingFinished, this, &PacsDialog::saveConnection);
    m_method = new QComboBox(box);
    m_method->addItem(tr("C-GET (nothing to set up on the PACS)"), static_cast<int>(core::RetrieveMethod::Get));
    m_method->addItem(tr("C-MOVE to this workstation"), static_cast<int>(core::RetrieveMethod::Move));
    m_method->setCurrentIndex(m_settings.method == core::RetrieveMethod::Move ? 1 : 0);
    m_method->setToolTip(tr("C-MOVE: the PACS sends the images to medsiam's storage receiver, which it must know by "
                            "medsiam's AE title, this computer's address and the port"));
    connect(m_method, &QComboBox::currentIndexChanged, this, [this] {
        saveConnection();
        updateButtons();
    });
    m_storagePort = new QSpinBox(box);
    m_storagePort->setRange(1, 65535);
    m_storagePort->setValue(m_settings.storagePort);
    m_storagePort->setToolTip(tr("C-MOVE: the port medsiam's storage receiver listens on while it retrieves"));
    connect(m_storagePort, &QSpinBox::editingFinished, this, &PacsDialog::saveConnection);
    m_timeout = new QSpinBox(box);
    m_timeout->setRange(1, 3600);
    m_timeout->setSuffix(tr(" s"));
    m_timeout->setValue(m_settings.timeoutSeconds);
    m_timeout->setToolTip(tr("Give up a connection, or a PACS that stays silent, after this long"));
    connect(m_timeout, &QSpinBox::editingFinished, this, &PacsDialog::saveConnection);

    auto* nodeRow = new QHBoxLayout;
    nodeRow->addWidget(new QLabel(tr("Node:"), box));
    nodeRow->addWidget(m_nodes, 1);
    nodeRow->addWidget(m_addNode);
    nodeRow->addWidget(m_editNode);
    nodeRow->addWidget(m_removeNode);
    nodeRow->addWidget(m_echo);
    auto* usRow = new QHBoxLayout;
    usRow->addWidget(new QLabel(tr("Our AE title:"), box));
    usRow->addWidget(m_ourAe);
    usRow->addWidget(new QLabel(tr("Retrieve by:"), box));
    usRow->addWidget(m_method);
    usRow->addWidget(new QLabel(tr("Receiver port:"), box));
    usRow->addWidget(m_storagePort);
    usRow->addWidget(new QLabel(tr("Timeout:"), box));
    usRow->addWidget(m_timeout);
    usRow->addStretch(1);
    auto* layout = new QVBoxLayout(box);
    layout->addLayout(nodeRow);
    layout->addWidget(m_echoText);
    layout->addLayout(usRow);
    return box;
}

QWidget* PacsDialog::buildSearchBox()
{
    auto* box = new QGroupBox(tr("Search"), this);
    auto field = [box](const QString& placeholder, const QString& tip) {
        auto* e = new QLineEdit(box);
        e->setPlaceholderText(placeholder);
        e->setToolTip(tip);
        e->setClearButtonEnabled(true);
        return e;
    };
    const QString wildcards = tr("Wildcards: * (any characters) and ? (one character)");
    m_patientId = field(tr("any"), wildcards);
    m_patientName = field(tr("e.g. DOE^J*"), tr("Sent to the PACS to match; never shown, kept or written to the project. ") + wildcards);
    m_date = field(tr("e.g. 2024-01-01..2024-01-31"), tr("A study date (2024-01-31) or a range (2024-01-01..2024-01-31, 20240101-)"));
    m_modality = field(tr("e.g. CT"), tr("Studies holding this modality, and only their series of it"));
    m_accession = field(tr("any"), wildcards);
    m_description = field(tr("any"), tr("Study description. ") + wildcards);
    m_search = new QPushButton(tr("Search"), box);
    m_search->setDefault(true);
    connect(m_search, &QPushButton::clicked, this, &PacsDialog::search);
    for (QLineEdit* e : {m_patientId, m_patientName, m_date, m_modality, m_accession, m_description})
        connect(e, &QLineEdit::returnPressed, this, &PacsDialog::search);
    auto* grid = new QGridLayout(box);
    grid->addWidget(new QLabel(tr("Patient ID:"), box), 0, 0);
    grid->addWidget(m_patientId, 0, 1);
    grid->addWidget(new QLabel(tr("Patient name:"), box), 0, 2);
    grid->addWidget(m_patientName, 0, 3);
    grid->addWidget(new QLabel(tr("Study date:"), box), 0, 4);
    grid->addWidget(m_date, 0, 5);
    grid->addWidget(new QLabel(tr("Modality:"), box), 1, 0);
    grid->addWidget(m_modality, 1, 1);
    grid->addWidget(new QLabel(tr("Accession:"), box), 1, 2);
    grid->addWidget(m_accession, 1, 3);
    grid->addWidget(new QLabel(tr("Description:"), box), 1, 4);
    grid->addWidget(m_description, 1, 5);
    grid->addWidget(m_search, 1, 6);
    grid->setColumnStretch(1, 1);
    grid->setColumnStretch(3, 1);
    grid->setColumnStretch(5, 1);
    return box;
}

QWidget* PacsDialog::buildResultsBox()
{
    auto* box = new QGroupBox(tr("Studies and series"), this);
    m_searchText = new QLabel(tr("Search to list the studies on the PACS."), box);
    m_searchText->setWordWrap(true);
    m_results = new QTreeWidget(box);
    m_results->setColumnCount(ColumnCount);
    m_results->setHeaderLabels({tr("Study / series"), tr("Patient ID"), tr("Date"), tr("Modality"), tr("Accession"), tr("Series"),
                                tr("Instances")});
    m_results->setSortingEnabled(true);
    m_results->sortByColumn(ColDate, Qt::DescendingOrder);
    m_results->setUniformRowHeights(true);
    m_results->setAlternatingRowColors(true);
    m_results->header()->setSectionResizeMode(ColWhat, QHeaderView::Stretch);
    m_results->header()->setStretchLastSection(false);
    connect(m_results, &QTreeWidget::itemChanged, this, [this] { updateChecked(); });
    m_checkedText = new QLabel(box);
    auto* all = new QPushButton(tr("Tick all"), box);
    connect(all, &QPushButton::clicked, this, [this] { checkAll(true); });
    auto* none = new QPushButton(tr("Tick none"), box);
    connect(none, &QPushButton::clicked, this, [this] { checkAll(false); });
    auto* row = new QHBoxLayout;
    row->addWidget(m_checkedText, 1);
    row->addWidget(all);
    row->addWidget(none);
    auto* layout = new QVBoxLayout(box);
    layout->addWidget(m_searchText);
    layout->addWidget(m_results, 1);
    layout->addLayout(row);
    return box;
}

void PacsDialog::reloadNodes(const QString& select)
{
    const QSignalBlocker block(m_nodes);
    m_nodes->clear();
    for (const core::PacsNode& n : m_settings.nodes)
        m_nodes->addItem(QStringLiteral("%1  (%2)").arg(QString::fromStdString(n.name), QString::fromStdString(n.address())),
                         QString::fromStdString(n.name));
    const int i = m_nodes->findData(select);
    m_nodes->setCurrentIndex(i >= 0 ? i : (m_nodes->count() ? 0 : -1));
    if (m_nodes->count() == 0)
        m_nodes->setPlaceholderText(tr("No PACS yet: Add... one"));
    if (const core::PacsNode* n = currentNode())
        m_settings.currentNode = QString::fromStdString(n->name);
    m_echoText->clear();
    updateButtons();
}

const core::PacsNode* PacsDialog::currentNode() const
{
    return m_nodes->currentIndex() < 0 ? nullptr : m_settings.find(m_nodes->currentData().toString());
}

QString PacsDialog::addNode(const core::PacsNode& node)
{
    const QString problem = m_settings.put(node);
    if (!problem.isEmpty())
        return problem;
    reloadNodes(QString::fromStdString(node.name).trimmed()); // selects it: the current node
    m_settings.save();
    return {};
}

void PacsDialog::editNode(bool add)
{
    const core::PacsNode* editing = add ? nullptr : currentNode();
    if (!add && !editing)
        return;
    NodeDialog d(m_settings, editing, this);
    if (d.exec() != QDialog::Accepted)
        return;
    reloadNodes(d.savedName()); // selects it: the current node
    m_settings.save();
}

void PacsDialog::saveConnection()
{
    m_settings.ourAeTitle = m_ourAe->text().trimmed();
    m_settings.method = static_cast<core::RetrieveMethod>(m_method->currentData().toInt());
    m_settings.storagePort = m_storagePort->value();
    m_settings.timeoutSeconds = m_timeout->value();
    if (!core::aeTitleProblem(m_settings.ourAeTitle.toStdString()))
        m_settings.save(); // an AE title that is not one is not kept (connection() says why)
}

std::optional<PacsJob::Connection> PacsDialog::connection(QLabel* where) const
{
    const core::PacsNode* n = currentNode();
    if (!n) {
        showProblem(where, tr("Add a PACS node first (its AE title, host and port: ask the PACS administrator)."));
        return std::nullopt;
    }
    const std::string ae = m_ourAe->text().trimmed().toStdString();
    if (const auto problem = core::aeTitleProblem(ae)) {
        showProblem(where, tr("Our AE title: %1").arg(QString::fromStdString(*problem)));
        return std::nullopt;
    }
    PacsJob::Connection c;
    c.node = *n;
    c.ourAeTitle = ae;
    c.timeouts = core::PacsTimeouts::uniform(m_timeout->value());
    return c;
}

void PacsDialog::start(std::unique_ptr<PacsJob> job)
{
    m_job = std::move(job);
    m_progress->setRange(0, 0);
    connect(m_job.get(), &BackgroundJob::progressChanged, this, [this](double fraction, const QString& text) {
        if (fraction >= 0) {
            m_progress->setRange(0, 1000);
            m_progress->setValue(static_cast<int>(fraction * 1000.0 + 0.5));
        }
        m_progressText->setText(text);
    });
    connect(m_job.get(), &PacsJob::seriesImported, this, &PacsDialog::imagesArrived);
    connect(m_job.get(), &BackgroundJob::finished, this, &PacsDialog::onFinished);
    m_job->start();
    updateButtons();
}

bool PacsDialog::echo()
{
    if (running())
        return false;
    const auto c = connection(m_echoText);
    if (!c)
        return false;
    showInfo(m_echoText, tr("Calling %1 ...").arg(QString::fromStdString(c->node.address())));
    m_progressText->setText(m_echoText->text());
    start(PacsJob::echo(*c));
    return true;
}

bool PacsDialog::search()
{
    if (running())
        return false;
    const auto c = connection(m_searchText);
    if (!c)
        return false;
    core::PacsQuery q;
    q.patientId = m_patientId->text().trimmed().toStdString();
    q.patientName = m_patientName->text().trimmed().toStdString();
    q.modality = m_modality->text().trimmed().toUpper().toStdString();
    q.accession = m_accession->text().trimmed().toStdString();
    q.description = m_description->text().trimmed().toStdString();
    std::unique_ptr<PacsJob> job;
    try {
        if (!m_date->text().trimmed().isEmpty())
            core::parseDateRange(m_date->text().trimmed().toStdString(), q);
        job = PacsJob::search(*c, q); // checks the query
    } catch (const core::UserError& e) {
        showProblem(m_searchText, QString::fromUtf8(e.what()));
        return false;
    }
    showInfo(m_searchText, tr("Searching %1 ...").arg(QString::fromStdString(c->node.address())));
    m_progressText->setText(m_searchText->text());
    start(std::move(job));
    return true;
}

bool PacsDialog::retrieve()
{
    if (running())
        return false;
    qint64 instances = 0;
    std::vector<core::SeriesRef> series = checkedSeries(&instances);
    if (series.empty()) {
        showProblem(m_resultText, m_results->topLevelItemCount() ? tr("Tick the studies or series to retrieve.")
                                                                 : tr("Search first, then tick the studies or series to retrieve."));
        return false;
    }
    const auto c = connection(m_resultText);
    if (!c)
        return false;
    core::RetrieveOptions o;
    o.method = static_cast<core::RetrieveMethod>(m_method->currentData().toInt());
    o.storagePort = m_storagePort->value();
    saveConnection();
    showInfo(m_resultText, QString());
    m_progressText->setText(tr("Retrieving %1 (%2) from %3 by %4 ...")
                                .arg(countOf(qint64(series.size()), tr("series"), tr("series")))
                                .arg(countOf(instances, tr("instance"), tr("instances")))
                                .arg(QString::fromStdString(c->node.address()))
                                .arg(o.method == core::RetrieveMethod::Get ? QStringLiteral("C-GET") : QStringLiteral("C-MOVE")));
    start(PacsJob::retrieve(*c, m_session.dir(), std::move(series), o, core::ImportOptions{}));
    return true;
}

bool PacsDialog::running() const { return m_job && m_job->running(); }

void PacsDialog::cancel()
{
    if (running()) {
        m_job->cancel();
        m_cancel->setEnabled(false);
        m_progressText->setText(tr("Cancelling ..."));
    }
}

QString PacsDialog::echoText() const { return m_echoText->text(); }
QString PacsDialog::searchText() const { return m_searchText->text(); }
QString PacsDialog::resultText() const { return m_resultText->text(); }

void PacsDialog::onFinished(core::JobState state, const QString& message)
{
    m_progress->setRange(0, 1);
    m_progress->setValue(state == core::JobState::Completed ? 1 : 0);
    m_progressText->clear();
    const PacsJob& job = *m_job;
    const QString address = QString::fromStdString(job.connection().node.address());
    switch (job.kind()) {
    case PacsJob::Kind::Echo:
        if (state == core::JobState::Completed)
            showInfo(m_echoText, tr("%1 answers (C-ECHO in %2 ms; called as %3).")
                                     .arg(address)
                                     .arg(job.echoSeconds() * 1000.0, 0, 'f', 0)
                                     .arg(QString::fromStdString(job.connection().ourAeTitle)));
        else
            showProblem(m_echoText, state == core::JobState::Cancelled ? tr("Echo cancelled.") : message);
        break;
    case PacsJob::Kind::Search:
        if (state == core::JobState::Completed)
            showStudies();
        else
            showProblem(m_searchText, state == core::JobState::Cancelled ? tr("Search cancelled.") : message);
        break;
    case PacsJob::Kind::Retrieve: {
        const core::PacsImportResult& r = job.result();
        QStringList lines;
        if (state == core::JobState::Failed) {
            lines << message;
        } else if (state == core::JobState::Cancelled && r.retrieve.instancesListed == 0 && r.retrieve.instancesReceived == 0) {
            lines << tr("Retrieve cancelled before any image arrived.");
        } else {
            lines << tr("Retrieved %1.").arg(QString::fromStdString(core::describeRetrieve(r.retrieve)));
            QString imported = tr("Imported %1").arg(countOf(r.import.itemsAdded, tr("image"), tr("images")));
            if (r.import.filesAlreadyPresent)
                imported += tr("; %1 already in the project").arg(countOf(qint64(r.import.filesAlreadyPresent), tr("file"), tr("files")));
            if (r.import.filesWithIssues)
                imported += tr("; %1 not imported (see the project's import issues)")
                                .arg(countOf(qint64(r.import.filesWithIssues), tr("file"), tr("files")));
            lines << imported + QLatin1Char('.');
            for (const std::string& p : r.retrieve.problems)
                lines << QString::fromStdString(p);
        }
        if (state == core::JobState::Failed || !r.retrieve.problems.empty())
            showProblem(m_resultText, lines.join(QLatin1Char('\n')));
        else
            showInfo(m_resultText, lines.join(QLatin1Char('\n')));
        Q_EMIT imagesArrived(); // the last series, and anything the label step changed
        break;
    }
    }
    updateButtons(); // the job stays until the next one starts (its results are read above)
}

void PacsDialog::showStudies()
{
    const QSignalBlocker block(m_results);
    m_results->setSortingEnabled(false);
    m_results->clear();
    const auto& studies = m_job->studies();
    int series = 0;
    qint64 instances = 0;
    bool instancesKnown = true;
    for (const PacsJob::Study& s : studies) {
        auto* study = new QTreeWidgetItem(m_results);
        const QString description = QString::fromStdString(s.study.description);
        study->setText(ColWhat, description.isEmpty() ? tr("(study without description)") : description);
        study->setToolTip(ColWhat, tr("Study Instance UID %1").arg(QString::fromStdString(s.study.studyUid)));
        study->setText(ColPatient, QString::fromStdString(s.study.patientId));
        study->setText(ColDate, QString::fromStdString(core::displayDate(s.study.studyDate)));
        study->setText(ColModality, QString::fromStdString(s.study.modality).replace(QLatin1Char('\\'), QLatin1String(", ")));
        study->setText(ColAccession, QString::fromStdString(s.study.accession));
        study->setText(ColSeries, s.study.relatedSeries >= 0 ? count(s.study.relatedSeries) : QString::number(s.series.size()));
        study->setText(ColInstances, count(s.study.relatedInstances));
        study->setData(ColWhat, kUidRole, QString::fromStdString(s.study.studyUid));
        study->setFlags(study->flags() | Qt::ItemIsUserCheckable | Qt::ItemIsAutoTristate);
        study->setCheckState(ColWhat, Qt::Unchecked);
        for (const core::PacsRecord& r : s.series) {
            auto* item = new QTreeWidgetItem(study);
            const QString d = QString::fromStdString(r.description);
            const QString number = QString::fromStdString(r.seriesNumber);
            item->setText(ColWhat, (number.isEmpty() ? QString() : tr("#%1 ").arg(number)) + (d.isEmpty() ? tr("(series without description)") : d));
            item->setToolTip(ColWhat, tr("Series Instance UID %1").arg(QString::fromStdString(r.seriesUid)));
            item->setText(ColModality, QString::fromStdString(r.modality));
            item->setText(ColInstances, count(r.relatedInstances));
            item->setData(ColWhat, kUidRole, QString::fromStdString(r.seriesUid));
            item->setData(ColWhat, kInstancesRole, r.relatedInstances);
            item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
            item->setCheckState(ColWhat, Qt::Unchecked);
            ++series;
            if (r.relatedInstances >= 0)
                instances += r.relatedInstances;
            else
                instancesKnown = false;
        }
        if (s.series.empty()) {
            study->setFlags(study->flags() & ~Qt::ItemIsUserCheckable);
            study->setData(ColWhat, Qt::CheckStateRole, QVariant());
            study->setToolTip(ColWhat, tr("No series of this study matches the search"));
        }
    }
    m_results->setSortingEnabled(true);
    if (m_results->topLevelItemCount() <= 20)
        m_results->expandAll();
    for (int c = ColPatient; c < ColumnCount; ++c)
        m_results->resizeColumnToContents(c);
    const QString address = QString::fromStdString(m_job->connection().node.address());
    if (studies.empty()) {
        showInfo(m_searchText, tr("Nothing on %1 matches.").arg(address));
    } else {
        QString text = tr("%1, %2, %3 on %4")
                           .arg(countOf(qint64(studies.size()), tr("study"), tr("studies")))
                           .arg(countOf(series, tr("series"), tr("series")))
                           .arg(instancesKnown ? countOf(instances, tr("instance"), tr("instances")) : tr("instances not counted by the PACS"))
                           .arg(address);
        if (m_job->truncated())
            text += tr(" (the first %1 studies: narrow the search to see the rest)").arg(PacsJob::kStudyLimit);
        showInfo(m_searchText, text);
    }
    updateChecked();
}

std::vector<core::SeriesRef> PacsDialog::checkedSeries(qint64* instances) const
{
    std::vector<core::SeriesRef> out;
    std::set<std::string> seen;
    *instances = 0;
    for (int i = 0; i < m_results->topLevelItemCount(); ++i) {
        const QTreeWidgetItem* study = m_results->topLevelItem(i);
        for (int j = 0; j < study->childCount(); ++j) {
            const QTreeWidgetItem* s = study->child(j);
            if (s->checkState(ColWhat) != Qt::Checked)
                continue;
            const std::string uid = s->data(ColWhat, kUidRole).toString().toStdString();
            if (!seen.insert(uid).second)
                continue;
            out.push_back({study->data(ColWhat, kUidRole).toString().toStdString(), uid});
            *instances += std::max(0, s->data(ColWhat, kInstancesRole).toInt());
        }
    }
    return out;
}

void PacsDialog::checkAll(bool checked)
{
    for (int i = 0; i < m_results->topLevelItemCount(); ++i) {
        QTreeWidgetItem* study = m_results->topLevelItem(i);
        for (int j = 0; j < study->childCount(); ++j)
            study->child(j)->setCheckState(ColWhat, checked ? Qt::Checked : Qt::Unchecked);
    }
    updateChecked();
}

void PacsDialog::updateChecked()
{
    qint64 instances = 0;
    const auto series = checkedSeries(&instances);
    m_checkedText->setText(series.empty() ? tr("Tick the studies or series to retrieve.")
                                          : tr("%1 ticked (%2)")
                                                .arg(countOf(qint64(series.size()), tr("series"), tr("series")))
                                                .arg(countOf(instances, tr("instance"), tr("instances"))));
    updateButtons();
}

void PacsDialog::updateButtons()
{
    const bool busy = running();
    const bool node = currentNode() != nullptr;
    m_nodes->setEnabled(!busy);
    m_addNode->setEnabled(!busy);
    m_editNode->setEnabled(!busy && node);
    m_removeNode->setEnabled(!busy && node);
    m_echo->setEnabled(!busy && node);
    m_search->setEnabled(!busy && node);
    m_ourAe->setEnabled(!busy);
    m_method->setEnabled(!busy);
    m_storagePort->setEnabled(!busy && m_method->currentIndex() == 1);
    m_timeout->setEnabled(!busy);
    m_results->setEnabled(!busy);
    qint64 instances = 0;
    m_retrieve->setEnabled(!busy && node && !checkedSeries(&instances).empty());
    m_cancel->setEnabled(busy);
    m_close->setEnabled(!busy);
}

void PacsDialog::closeEvent(QCloseEvent* event)
{
    if (running()) {
        // Closing asks the work to stop; the dialog goes once it has (a moment: every wait is cancellable).
        cancel();
        event->ignore();
        return;
    }
    QDialog::closeEvent(event);
}

void PacsDialog::reject()
{
    if (running()) {
        cancel(); // Escape while working cancels; the dialog stays until the job has stopped
        return;
    }
    QDialog::reject();
}

} // namespace medsiam::ui
