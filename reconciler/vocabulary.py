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
RUN_LEVEL = {"limited": "LeastPrivilege", "highest": "HighestAvailable"}
SID_TYPE = {"none": "None", "unrestricted": "Unrestricted", "default": "Default"}


def inverse(words: dict[str, str]) -> dict[str, str]:
    """Task Scheduler's value -> the manifest's word."""
    return {value: word for word, value in words.items()}
