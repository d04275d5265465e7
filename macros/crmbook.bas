Attribute VB_Name = "crmbook"
' crmbook: the buttons on the dashboard sheet call these macros.
'
' Each one starts Python through xlwings' RunPython (the xlwings module next to this one) and calls
' the crmbook library, never a module named after the workbook, so renaming the file does not break
' a button. Where Python lives is read from the xlwings.conf sheet (INTERPRETER_WIN / INTERPRETER_MAC),
' which crmbook install-buttons fills in. crmbook.xl shows progress in the status bar and ends with a
' message box; a failure becomes a readable message, never a traceback.
Option Explicit

Public Sub CrmbookRefresh()
    RunPython "import crmbook.xl; crmbook.xl.refresh()"
End Sub

Public Sub CrmbookFindDuplicates()
    RunPython "import crmbook.xl; crmbook.xl.dedupe()"
End Sub

Public Sub CrmbookMonthlyReport()
    RunPython "import crmbook.xl; crmbook.xl.monthly_report()"
End Sub
