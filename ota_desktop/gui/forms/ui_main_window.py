# Generated from ui/main_window.ui by tools/build_ui.py — do not edit.
# -*- coding: utf-8 -*-

################################################################################
## Form generated from reading UI file 'main_window.ui'
##
## Created by: Qt User Interface Compiler version 6.12.0
##
## WARNING! All changes made in this file will be lost when recompiling UI file!
################################################################################

from PySide6.QtCore import (QCoreApplication, QDate, QDateTime, QLocale,
    QMetaObject, QObject, QPoint, QRect,
    QSize, QTime, QUrl, Qt)
from PySide6.QtGui import (QAction, QBrush, QColor, QConicalGradient,
    QCursor, QFont, QFontDatabase, QGradient,
    QIcon, QImage, QKeySequence, QLinearGradient,
    QPainter, QPalette, QPixmap, QRadialGradient,
    QTransform)
from PySide6.QtWidgets import (QApplication, QComboBox, QHBoxLayout, QLabel,
    QMainWindow, QMenu, QMenuBar, QSizePolicy,
    QSpacerItem, QStatusBar, QToolBar, QVBoxLayout,
    QWidget)

class Ui_MainWindow(object):
    def setupUi(self, MainWindow):
        if not MainWindow.objectName():
            MainWindow.setObjectName(u"MainWindow")
        MainWindow.resize(1180, 560)
        self.actionNew = QAction(MainWindow)
        self.actionNew.setObjectName(u"actionNew")
        self.actionOpen = QAction(MainWindow)
        self.actionOpen.setObjectName(u"actionOpen")
        self.actionQuit = QAction(MainWindow)
        self.actionQuit.setObjectName(u"actionQuit")
        self.actionNewRelease = QAction(MainWindow)
        self.actionNewRelease.setObjectName(u"actionNewRelease")
        self.actionNewDelta = QAction(MainWindow)
        self.actionNewDelta.setObjectName(u"actionNewDelta")
        self.actionHistory = QAction(MainWindow)
        self.actionHistory.setObjectName(u"actionHistory")
        self.actionCohorts = QAction(MainWindow)
        self.actionCohorts.setObjectName(u"actionCohorts")
        self.actionKeys = QAction(MainWindow)
        self.actionKeys.setObjectName(u"actionKeys")
        self.actionPaths = QAction(MainWindow)
        self.actionPaths.setObjectName(u"actionPaths")
        self.actionServe = QAction(MainWindow)
        self.actionServe.setObjectName(u"actionServe")
        self.actionServe.setCheckable(True)
        self.actionRefresh = QAction(MainWindow)
        self.actionRefresh.setObjectName(u"actionRefresh")
        self.centralWidget = QWidget(MainWindow)
        self.centralWidget.setObjectName(u"centralWidget")
        self.centralLayout = QVBoxLayout(self.centralWidget)
        self.centralLayout.setObjectName(u"centralLayout")
        self.selectorLayout = QHBoxLayout()
        self.selectorLayout.setObjectName(u"selectorLayout")
        self.cohortLabel = QLabel(self.centralWidget)
        self.cohortLabel.setObjectName(u"cohortLabel")

        self.selectorLayout.addWidget(self.cohortLabel)

        self.cohortCombo = QComboBox(self.centralWidget)
        self.cohortCombo.setObjectName(u"cohortCombo")
        self.cohortCombo.setMinimumWidth(160)

        self.selectorLayout.addWidget(self.cohortCombo)

        self.softwareTypeLabel = QLabel(self.centralWidget)
        self.softwareTypeLabel.setObjectName(u"softwareTypeLabel")

        self.selectorLayout.addWidget(self.softwareTypeLabel)

        self.softwareTypeCombo = QComboBox(self.centralWidget)
        self.softwareTypeCombo.setObjectName(u"softwareTypeCombo")
        self.softwareTypeCombo.setMinimumWidth(120)

        self.selectorLayout.addWidget(self.softwareTypeCombo)

        self.selectorSpacer = QSpacerItem(20, 10, QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

        self.selectorLayout.addItem(self.selectorSpacer)

        self.summaryLabel = QLabel(self.centralWidget)
        self.summaryLabel.setObjectName(u"summaryLabel")

        self.selectorLayout.addWidget(self.summaryLabel)


        self.centralLayout.addLayout(self.selectorLayout)

        self.matrixHost = QWidget(self.centralWidget)
        self.matrixHost.setObjectName(u"matrixHost")
        self.matrixHostLayout = QVBoxLayout(self.matrixHost)
        self.matrixHostLayout.setObjectName(u"matrixHostLayout")
        self.matrixHostLayout.setContentsMargins(0, 0, 0, 0)

        self.centralLayout.addWidget(self.matrixHost)

        self.legendLabel = QLabel(self.centralWidget)
        self.legendLabel.setObjectName(u"legendLabel")
        self.legendLabel.setTextFormat(Qt.RichText)

        self.centralLayout.addWidget(self.legendLabel)

        MainWindow.setCentralWidget(self.centralWidget)
        self.menuBar = QMenuBar(MainWindow)
        self.menuBar.setObjectName(u"menuBar")
        self.menuFile = QMenu(self.menuBar)
        self.menuFile.setObjectName(u"menuFile")
        self.menuEdit = QMenu(self.menuBar)
        self.menuEdit.setObjectName(u"menuEdit")
        self.menuRelease = QMenu(self.menuBar)
        self.menuRelease.setObjectName(u"menuRelease")
        self.menuProject = QMenu(self.menuBar)
        self.menuProject.setObjectName(u"menuProject")
        self.menuView = QMenu(self.menuBar)
        self.menuView.setObjectName(u"menuView")
        MainWindow.setMenuBar(self.menuBar)
        self.mainToolBar = QToolBar(MainWindow)
        self.mainToolBar.setObjectName(u"mainToolBar")
        self.mainToolBar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        MainWindow.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.mainToolBar)
        self.statusBar = QStatusBar(MainWindow)
        self.statusBar.setObjectName(u"statusBar")
        MainWindow.setStatusBar(self.statusBar)
#if QT_CONFIG(shortcut)
        self.cohortLabel.setBuddy(self.cohortCombo)
        self.softwareTypeLabel.setBuddy(self.softwareTypeCombo)
#endif // QT_CONFIG(shortcut)

        self.menuBar.addAction(self.menuFile.menuAction())
        self.menuBar.addAction(self.menuEdit.menuAction())
        self.menuBar.addAction(self.menuRelease.menuAction())
        self.menuBar.addAction(self.menuProject.menuAction())
        self.menuBar.addAction(self.menuView.menuAction())
        self.menuFile.addAction(self.actionNew)
        self.menuFile.addAction(self.actionOpen)
        self.menuFile.addSeparator()
        self.menuFile.addAction(self.actionQuit)
        self.menuRelease.addAction(self.actionNewRelease)
        self.menuRelease.addAction(self.actionNewDelta)
        self.menuRelease.addSeparator()
        self.menuRelease.addAction(self.actionHistory)
        self.menuProject.addAction(self.actionCohorts)
        self.menuProject.addAction(self.actionKeys)
        self.menuProject.addSeparator()
        self.menuProject.addAction(self.actionServe)
        self.menuView.addAction(self.actionPaths)
        self.menuView.addAction(self.actionRefresh)
        self.mainToolBar.addAction(self.actionNew)
        self.mainToolBar.addAction(self.actionOpen)
        self.mainToolBar.addAction(self.actionRefresh)
        self.mainToolBar.addSeparator()
        self.mainToolBar.addAction(self.actionNewRelease)
        self.mainToolBar.addAction(self.actionNewDelta)
        self.mainToolBar.addAction(self.actionHistory)
        self.mainToolBar.addAction(self.actionCohorts)
        self.mainToolBar.addAction(self.actionPaths)
        self.mainToolBar.addSeparator()
        self.mainToolBar.addAction(self.actionServe)

        self.retranslateUi(MainWindow)

        QMetaObject.connectSlotsByName(MainWindow)
    # setupUi

    def retranslateUi(self, MainWindow):
        MainWindow.setWindowTitle(QCoreApplication.translate("MainWindow", u"OTA Desktop", None))
        self.actionNew.setText(QCoreApplication.translate("MainWindow", u"&New Project\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionNew.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+N", None))
#endif // QT_CONFIG(shortcut)
        self.actionOpen.setText(QCoreApplication.translate("MainWindow", u"&Open Project\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionOpen.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+O", None))
#endif // QT_CONFIG(shortcut)
        self.actionQuit.setText(QCoreApplication.translate("MainWindow", u"&Quit", None))
#if QT_CONFIG(shortcut)
        self.actionQuit.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+Q", None))
#endif // QT_CONFIG(shortcut)
        self.actionNewRelease.setText(QCoreApplication.translate("MainWindow", u"New &Full Release\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionNewRelease.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+Shift+F", None))
#endif // QT_CONFIG(shortcut)
        self.actionNewDelta.setText(QCoreApplication.translate("MainWindow", u"New &Delta Release\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionNewDelta.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+Shift+D", None))
#endif // QT_CONFIG(shortcut)
        self.actionHistory.setText(QCoreApplication.translate("MainWindow", u"Activation &History\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionHistory.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+H", None))
#endif // QT_CONFIG(shortcut)
        self.actionCohorts.setText(QCoreApplication.translate("MainWindow", u"&Cohorts\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionCohorts.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+Shift+C", None))
#endif // QT_CONFIG(shortcut)
        self.actionKeys.setText(QCoreApplication.translate("MainWindow", u"Project &Keys\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionKeys.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+Shift+K", None))
#endif // QT_CONFIG(shortcut)
        self.actionPaths.setText(QCoreApplication.translate("MainWindow", u"Update &Paths\u2026", None))
#if QT_CONFIG(shortcut)
        self.actionPaths.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+U", None))
#endif // QT_CONFIG(shortcut)
        self.actionServe.setText(QCoreApplication.translate("MainWindow", u"&Serve Devices\u2026", None))
#if QT_CONFIG(tooltip)
        self.actionServe.setToolTip(QCoreApplication.translate("MainWindow", u"Run the device-facing server from this desktop (factory stations)", None))
#endif // QT_CONFIG(tooltip)
#if QT_CONFIG(shortcut)
        self.actionServe.setShortcut(QCoreApplication.translate("MainWindow", u"Ctrl+Shift+S", None))
#endif // QT_CONFIG(shortcut)
        self.actionRefresh.setText(QCoreApplication.translate("MainWindow", u"&Refresh", None))
#if QT_CONFIG(shortcut)
        self.actionRefresh.setShortcut(QCoreApplication.translate("MainWindow", u"F5", None))
#endif // QT_CONFIG(shortcut)
        self.cohortLabel.setText(QCoreApplication.translate("MainWindow", u"&Cohort:", None))
#if QT_CONFIG(tooltip)
        self.cohortCombo.setToolTip(QCoreApplication.translate("MainWindow", u"The cohort whose version matrix is shown", None))
#endif // QT_CONFIG(tooltip)
        self.softwareTypeLabel.setText(QCoreApplication.translate("MainWindow", u"&Software type:", None))
        self.summaryLabel.setText("")
        self.legendLabel.setText("")
        self.menuFile.setTitle(QCoreApplication.translate("MainWindow", u"&File", None))
        self.menuEdit.setTitle(QCoreApplication.translate("MainWindow", u"&Edit", None))
        self.menuRelease.setTitle(QCoreApplication.translate("MainWindow", u"&Release", None))
        self.menuProject.setTitle(QCoreApplication.translate("MainWindow", u"&Project", None))
        self.menuView.setTitle(QCoreApplication.translate("MainWindow", u"&View", None))
        self.mainToolBar.setWindowTitle(QCoreApplication.translate("MainWindow", u"Main", None))
    # retranslateUi

