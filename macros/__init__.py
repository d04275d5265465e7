"""The VBA sources crmbook puts into macro-enabled workbooks (see crmbook.vba and crmbook.buttons)."""
