"""Stand-in for pywin32's ``win32com`` package (tests only; see taskschd_standin.py)."""
