"""The manifest's words for Task Scheduler's values, in one place: the compiler reads
them one way, import writes them the other."""
from __future__ import annotations

WEEK = {"first": "1", "second": "2", "third": "3", "fourth": "4", "last": "Last"}
SESSION = {"lock": "SessionLock", "unlock": "SessionUnlock", "remoteConnect": "RemoteConnect",
           "remoteDisconnect": "RemoteDisconnect", "consoleConnect": "ConsoleConnect",
           "consoleDisconnect": "ConsoleDisconnect"}
MULTIPLE_INSTANCES = {"ignoreNew": "IgnoreNew", "queue": "Queue", "parallel": "Parallel",
                      "stopExisting": "StopExisting"}
LOGON = {"password": "Password", "s4u": "S4U", "interactive": "InteractiveToken",
         "interactiveOrPassword": "InteractiveTokenOrPassword"}
PASSWORD_LOGONS = ("password", "interactiveOrPassword")  # the logon types that take a password
RUN_LEVEL = {"limited": "LeastPrivilege", "highest": "HighestAvailable"}
SID_TYPE = {"none": "None", "unrestricted": "Unrestricted", "default": "Default"}

# Trigger kinds: the calendar ones are a CalendarTrigger with one ScheduleBy… element,
# the others one trigger element each.
SCHEDULE = {"daily": "ScheduleByDay", "weekly": "ScheduleByWeek", "monthly": "ScheduleByMonth",
            "monthlyByWeekday": "ScheduleByMonthDayOfWeek"}
TRIGGER = {"once": "TimeTrigger", "atStartup": "BootTrigger", "onRegistration": "RegistrationTrigger",
           "onIdle": "IdleTrigger", "atLogon": "LogonTrigger", "onSessionChange": "SessionStateChangeTrigger",
           "onEvent": "EventTrigger", "onWnfStateChange": "WnfStateChangeTrigger"}
# metadata keys -> RegistrationInfo elements (the description is TaskSpec's own field).
REGISTRATION = {"version": "Version", "securityDescriptor": "SecurityDescriptor"}

# How an element's text is read (normalize), and so how a setting's value is spelled.
BOOL, INT, STR, DUR, DATETIME, ACCOUNT, TEXT = "bool", "int", "str", "dur", "datetime", "account", "text"


def inverse(words: dict[str, str]) -> dict[str, str]:
    """Task Scheduler's value -> the manifest's word."""
    return {value: word for word, value in words.items()}
