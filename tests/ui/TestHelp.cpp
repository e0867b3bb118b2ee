// The Help menu as a user meets it: Keyboard Shortcuts lists every action that has a shortcut
// (read from the window, so a new one appears without anyone writing it down), About names the
// version, the build and the licences, the User Guide opens with its pictures, the window has
// its icon, and every setting of the new-run dialogs explains itself in a tooltip.
#include "UiTestSupport.h"

#include "help/HelpDialogs.h"
#include "mainwindow/MainWindow.h"
#include "project/ProjectSession.h"
#include "training/NewRunDialog.h"

#include <QAbstractSpinBox>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QMenuBar>
#include <QRegularExpression>
#include <QSet>
#include <QSettings>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextDocument>
#include <QTextFragment>
#include <QTextImageFormat>

using namespace medsiam;

namespace {

QAction* menuAction(ui::MainWindow& w, const QString& menu, const QString& text)
{
    for (QAction* m : w.menuBar()->actions())
        if (m->menu() && m->text() == menu)
            for (QAction* a : m->menu()->actions())
                if (a->text() == text)
                    return a;
    return nullptr;
}

/// The rows of the shortcuts table as "keys | does | where".
QStringList rows(QTableWidget* t)
{
    QStringList out;
    for (int r = 0; r < t->rowCount(); ++r)
        out << t->item(r, 0)->text() + " | " + t->item(r, 1)->text() + " | " + t->item(r, 2)->text();
    return out;
}

} // namespace

class TestHelp : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_help");
    }

    void keyboardShortcutsListsEveryActionWithAShortcut()
    {
        QTemporaryDir tmp;
        ui::MainWindow w;
        w.show();
        QVERIFY(w.createProject(tmp.filePath("p"), 32)); // the project's docks and their actions exist
        QAction* open = menuAction(w, "&Help", "&Keyboard Shortcuts");
        QVERIFY(open);
        QCOMPARE(open->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Slash));
        open->trigger();
        auto* d = w.findChild<ui::ShortcutsDialog*>();
        QVERIFY(d);
        const QStringList listed = rows(d->table());
        // Every action in the window that has a shortcut has its row, with all its keys.
        QSet<QAction*> all;
        for (QAction* a : w.findChildren<QAction*>() + w.actions())
            all.insert(a);
        int withShortcut = 0;
        for (QAction* a : all) {
            if (a->shortcuts().isEmpty() || a->menu())
                continue;
            if (a->property("helpHidden").toBool()) { // a class key that no class holds
                QVERIFY2(a->text().endsWith("(no class)"), qPrintable(a->text()));
                continue;
            }
            ++withShortcut;
            QString text = a->text().remove('&');
            if (text.endsWith("..."))
                text.chop(3);
            bool found = false;
            for (int r = 0; r < d->table()->rowCount() && !found; ++r) {
                if (d->table()->item(r, 1)->text() != text.trimmed())
                    continue;
                found = true;
                for (const QKeySequence& k : a->shortcuts())
                    found &= d->table()->item(r, 0)->text().contains(k.toString(QKeySequence::NativeText));
            }
            QVERIFY2(found, qPrintable(QString("'%1' (%2) is not listed:\n%3").arg(a->text(), a->shortcut().toString(), listed.join('\n'))));
        }
        QCOMPARE(d->table()->rowCount(), withShortcut);
        QVERIFY2(listed.contains("Ctrl+I | Import Images | File"), qPrintable(listed.join('\n')));
        QVERIFY2(listed.contains("F1 | User Guide | Help"), qPrintable(listed.join('\n')));
        QVERIFY2(listed.contains("F | Fit the whole map in the view | Embedding map"), qPrintable(listed.join('\n')));
        QVERIFY2(listed.contains("Backspace, Del | Clear label | Label"), qPrintable(listed.join('\n')));
        // A class's key is listed under the class it labels; the keys no class holds are not.
        QVERIFY(w.session()->addClass("malignant") > 0);
        d->close();
        QApplication::processEvents();
        open->trigger();
        d = w.findChild<ui::ShortcutsDialog*>();
        QVERIFY2(rows(d->table()).contains("1 | Label as \u201cmalignant\u201d | Label"), qPrintable(rows(d->table()).join('\n')));
        for (const QString& row : rows(d->table()))
            QVERIFY2(!row.contains("(no class)"), qPrintable(row));
        w.closeProject();
        d->close();
        QApplication::processEvents();

        // Generated, not written down: an action added later is listed the next time.
        auto* extra = new QAction("Toggle the test overlay", &w);
        extra->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
        w.addAction(extra);
        open->trigger();
        d = w.findChild<ui::ShortcutsDialog*>();
        QVERIFY(d);
        QVERIFY2(rows(d->table()).contains("Ctrl+Alt+O | Toggle the test overlay | Main window"), qPrintable(rows(d->table()).join('\n')));
        d->close();
    }

    void aboutNamesTheVersionTheBuildAndTheLicences()
    {
        ui::MainWindow w;
        QAction* about = menuAction(w, "&Help", "&About medsiam");
        QVERIFY(about);
        about->trigger();
        auto* d = w.findChild<ui::AboutDialog*>();
        QVERIFY(d);
        const QString text = d->text();
        QVERIFY2(QRegularExpression("^medsiam \\d+\\.\\d+\\.\\d+\\n").match(text).hasMatch(), qPrintable(text));
        QVERIFY2(QRegularExpression("LibTorch \\S+, (CPU only|CUDA \\(\\d+ devices?\\)), \\d+ threads?").match(text).hasMatch(), qPrintable(text));
        QVERIFY2(text.contains("formats:") && text.contains("built with:"), qPrintable(text));
#ifdef MEDSIAM_HAVE_DCMTK
        QVERIFY2(text.contains("DCMTK (DICOM"), qPrintable(text));
#endif
        QVERIFY2(text.contains("Qt 6: LGPL-3.0") && text.contains("LibTorch (PyTorch): BSD-3-Clause"), qPrintable(text));
        QVERIFY2(text.contains("PneumoniaMNIST") && text.contains("CC BY 4.0"), qPrintable(text));
        // One About window: asking again raises it.
        about->trigger();
        QCOMPARE(w.findChildren<ui::AboutDialog*>().size(), 1);
    }

    void theUserGuideOpensWithItsPictures()
    {
        ui::MainWindow w;
        QAction* guide = menuAction(w, "&Help", "&User Guide");
        QVERIFY(guide);
        QCOMPARE(guide->shortcut(), QKeySequence(QKeySequence::HelpContents));
        QVERIFY2(!ui::userGuidePath().isEmpty(), "the build tree's docs/USER_GUIDE.md is found");
        guide->trigger();
        auto* d = w.findChild<ui::UserGuideDialog*>();
        QVERIFY(d);
        QTextDocument* doc = d->browser()->document();
        QVERIFY2(doc->toPlainText().contains("Import images"), qPrintable(doc->toPlainText().left(400)));
        // Every picture the guide shows is there to be shown.
        int pictures = 0;
        for (QTextBlock b = doc->begin(); b != doc->end(); b = b.next())
            for (auto it = b.begin(); !it.atEnd(); ++it) {
                const QTextCharFormat f = it.fragment().charFormat();
                if (!f.isImageFormat())
                    continue;
                ++pictures;
                const QString name = f.toImageFormat().name();
                const QVariant image = doc->resource(QTextDocument::ImageResource, QUrl(name));
                QVERIFY2(image.isValid() && !image.value<QImage>().isNull(), qPrintable("the guide's picture " + name + " is missing"));
            }
        QVERIFY2(pictures >= 10, qPrintable(QString("%1 pictures").arg(pictures)));
    }

    void theWindowHasItsIcon()
    {
        ui::MainWindow w;
        const QImage icon = w.windowIcon().pixmap(48, 48).toImage();
        QVERIFY(!icon.isNull());
        QCOMPARE(icon.width(), 48);
        QVERIFY2(qAlpha(icon.pixel(24, 24)) == 255, "the icon is drawn, not transparent");
        QVERIFY2(qAlpha(icon.pixel(0, 0)) == 0, "with rounded corners");
    }

    void everySettingOfTheNewRunDialogsExplainsItself()
    {
        QTemporaryDir tmp;
        auto session = ui::ProjectSession::create(tmp.filePath("p"), 32);
        QVERIFY(session);
        for (auto kind : {ui::NewRunDialog::Kind::Pretrain, ui::NewRunDialog::Kind::Finetune}) {
            ui::NewRunDialog d(*session, kind);
            QList<QWidget*> inputs;
            for (auto* w : d.findChildren<QComboBox*>())
                inputs << w;
            for (auto* w : d.findChildren<QAbstractSpinBox*>())
                inputs << w;
            for (auto* w : d.findChildren<QCheckBox*>())
                inputs << w;
            QVERIFY(inputs.size() >= 10);
            for (QWidget* input : inputs) {
                const QString tip = input->toolTip();
                QVERIFY2(tip.size() >= 30, qPrintable(QString("%1 in %2 has no tooltip in words ('%3')")
                                                          .arg(input->metaObject()->className(), d.windowTitle(), tip)));
            }
        }
    }
};

QTEST_MAIN(TestHelp)
#include "TestHelp.moc"
