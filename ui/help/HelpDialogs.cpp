#include "help/HelpDialogs.h"

#include "common/AppIcon.h"
#include "system/BuildInfo.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSet>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace medsiam::ui {

namespace {

QString plainText(QString text)
{
    text.remove(QLatin1Char('&'));
    if (text.endsWith(QStringLiteral("...")))
        text.chop(3);
    return text.trimmed();
}

QString keysOf(const QAction* a)
{
    QStringList keys;
    for (const QKeySequence& k : a->shortcuts())
        keys << k.toString(QKeySequence::NativeText);
    return keys.join(QStringLiteral(", "));
}

void walkMenu(QMenu* menu, const QString& path, QList<ShortcutEntry>& out, QSet<QAction*>& seen)
{
    for (QAction* a : menu->actions()) {
        if (a->menu()) {
            walkMenu(a->menu(), path + QStringLiteral(" > ") + plainText(a->menu()->title()), out, seen);
            continue;
        }
        if (a->isSeparator() || a->shortcuts().isEmpty() || seen.contains(a) || a->property("helpHidden").toBool())
            continue;
        seen.insert(a);
        out.push_back({keysOf(a), plainText(a->text()), path, a});
    }
}

} // namespace

QList<ShortcutEntry> collectShortcuts(QWidget* window)
{
    QList<ShortcutEntry> out;
    QSet<QAction*> seen;
    if (auto* main = qobject_cast<QMainWindow*>(window))
        for (QAction* top : main->menuBar()->actions())
            if (top->menu())
                walkMenu(top->menu(), plainText(top->menu()->title()), out, seen);
    // Actions outside the menus: the window's own (class keys without a class) and the views'.
    QList<QAction*> rest = window->findChildren<QAction*>();
    rest += window->actions();
    for (QAction* a : rest) {
        if (a->shortcuts().isEmpty() || seen.contains(a) || a->menu() || a->property("helpHidden").toBool())
            continue;
        seen.insert(a);
        const QString group = a->property("helpGroup").toString();
        out.push_back({keysOf(a), plainText(a->text()), group.isEmpty() ? QCoreApplication::translate("ShortcutsDialog", "Main window") : group, a});
    }
    return out;
}

ShortcutsDialog::ShortcutsDialog(QWidget* window, QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("Keyboard Shortcuts"));
    m_table = new QTableWidget(this);
    m_table->setColumnCount(3);
    m_table->setHorizontalHeaderLabels({tr("Keys"), tr("Does"), tr("Where")});
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
    for (const ShortcutEntry& e : collectShortcuts(window)) {
        const int r = m_table->rowCount();
        m_table->insertRow(r);
        auto* keys = new QTableWidgetItem(e.keys);
        QFont bold = keys->font();
        bold.setBold(true);
        keys->setFont(bold);
        m_table->setItem(r, 0, keys);
        auto* does = new QTableWidgetItem(e.action);
        does->setToolTip(e.source ? e.source->toolTip() : QString());
        m_table->setItem(r, 1, does);
        m_table->setItem(r, 2, new QTableWidgetItem(e.where));
    }
    auto* note = new QLabel(tr("Class keys label the selected images with the class that has the key (Label > Edit Classes sets "
                               "them). In the viewer, the mouse wheel zooms and dragging pans."),
                            this);
    note->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_table, 1);
    layout->addWidget(note);
    layout->addWidget(buttons);
    resize(620, 560);
}

AboutDialog::AboutDialog(QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("About medsiam"));
    const core::BuildInfo info = core::buildInfo();
    const QString build = QString::fromStdString(core::describeBuild(info)).trimmed();
    QString licences;
    for (const std::string& l : core::thirdPartyLicences())
        licences += QStringLiteral("<li>%1</li>").arg(QString::fromStdString(l).toHtmlEscaped());

    auto* icon = new QLabel(this);
    icon->setPixmap(appIcon().pixmap(96, 96));
    icon->setAlignment(Qt::AlignTop);
    auto* title = new QLabel(tr("<h2>medsiam %1</h2><p>Learns to tell medical images apart from many images and few labels: "
                                "self-supervised pretraining (SimSiam) on every image, transfer from Big Transfer (BiT) "
                                "models, and a classifier fine-tuned on the labeled ones.</p><p>Free software under the %2 licence.</p>")
                                 .arg(QString::fromStdString(info.version).toHtmlEscaped(), QString::fromLatin1(core::kLicence)),
                             this);
    title->setWordWrap(true);
    auto* buildLabel = new QLabel(build, this);
    buildLabel->setTextFormat(Qt::PlainText);
    buildLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    buildLabel->setWordWrap(true);
    auto* licenceLabel = new QLabel(tr("<p><b>Built on</b></p><ul style=\"margin-left:-20px\">%1</ul>"
                                       "<p>Not a medical device: a research tool. Its results are to be checked by a "
                                       "qualified person before any clinical use.</p>")
                                        .arg(licences),
                                    this);
    licenceLabel->setWordWrap(true);
    licenceLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_text = QStringLiteral("medsiam %1\n%2\n").arg(QString::fromStdString(info.version), build);
    for (const std::string& l : core::thirdPartyLicences())
        m_text += QString::fromStdString(l) + QLatin1Char('\n');

    auto* head = new QHBoxLayout;
    head->addWidget(icon);
    head->addWidget(title, 1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    QPushButton* copy = buttons->addButton(tr("Copy"), QDialogButtonBox::ActionRole);
    copy->setToolTip(tr("Copy the version and build to the clipboard, e.g. for a bug report"));
    connect(copy, &QPushButton::clicked, this, [this] { QApplication::clipboard()->setText(m_text); });
    QPushButton* qt = buttons->addButton(tr("About Qt"), QDialogButtonBox::ActionRole);
    connect(qt, &QPushButton::clicked, this, [this] { QMessageBox::aboutQt(this); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(head);
    layout->addWidget(buildLabel);
    layout->addWidget(licenceLabel, 1);
    layout->addWidget(buttons);
    setMinimumWidth(560);
}

QString userGuidePath()
{
    const QString installed = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("../share/doc/medsiam/USER_GUIDE.md"));
    if (QFileInfo::exists(installed))
        return QFileInfo(installed).canonicalFilePath();
#ifdef MEDSIAM_SOURCE_DOCS
    const QString source = QStringLiteral(MEDSIAM_SOURCE_DOCS "/USER_GUIDE.md");
    if (QFileInfo::exists(source))
        return source;
#endif
    return {};
}

UserGuideDialog::UserGuideDialog(const QString& path, QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("medsiam User Guide"));
    m_browser = new QTextBrowser(this);
    m_browser->setOpenExternalLinks(true);
    m_browser->setSearchPaths({QFileInfo(path).absolutePath()});
    m_browser->setSource(QUrl::fromLocalFile(path), QTextDocument::MarkdownResource);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_browser, 1);
    layout->addWidget(buttons);
    resize(900, 720);
}

} // namespace medsiam::ui
