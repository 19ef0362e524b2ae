"""Task Scheduler result codes ("Last Result") in words.

Constants and values from Microsoft's table of Task Scheduler error and success
constants (Microsoft Learn, "Task Scheduler Error and Success Constants"); the wording here is ours, short enough for a
status column. Values below 0x41300 are the program's own exit code."""
from __future__ import annotations

# value -> (constant, meaning)
RESULTS: dict[int, tuple[str, str]] = {
    0x00001838: ("SCHED_E_SERVICE_NOT_LOCALSYSTEM", "the Task Scheduler service must run as SYSTEM"),
    0x00041300: ("SCHED_S_TASK_READY", "ready"),
    0x00041301: ("SCHED_S_TASK_RUNNING", "running"),
    0x00041302: ("SCHED_S_TASK_DISABLED", "disabled"),
    0x00041303: ("SCHED_S_TASK_HAS_NOT_RUN", "never run"),
    0x00041304: ("SCHED_S_TASK_NO_MORE_RUNS", "no more runs scheduled"),
    0x00041305: ("SCHED_S_TASK_NOT_SCHEDULED", "not scheduled: properties missing"),
    0x00041306: ("SCHED_S_TASK_TERMINATED", "terminated by a user"),
    0x00041307: ("SCHED_S_TASK_NO_VALID_TRIGGERS", "no valid (enabled) triggers"),
    0x00041308: ("SCHED_S_EVENT_TRIGGER", "event triggers have no set run times"),
    0x80041309: ("SCHED_E_TRIGGER_NOT_FOUND", "trigger not found"),
    0x8004130A: ("SCHED_E_TASK_NOT_READY", "not ready: properties missing"),
    0x8004130B: ("SCHED_E_TASK_NOT_RUNNING", "no running instance"),
    0x8004130C: ("SCHED_E_SERVICE_NOT_INSTALLED", "the Task Scheduler service is not installed"),
    0x8004130D: ("SCHED_E_CANNOT_OPEN_TASK", "the task cannot be opened"),
    0x8004130E: ("SCHED_E_INVALID_TASK", "not a valid task"),
    0x8004130F: ("SCHED_E_ACCOUNT_INFORMATION_NOT_SET", "no stored credentials for the account"),
    0x80041310: ("SCHED_E_ACCOUNT_NAME_NOT_FOUND", "the account does not exist"),
    0x80041311: ("SCHED_E_ACCOUNT_DBASE_CORRUPT", "the credential store was corrupt and was reset"),
    0x80041312: ("SCHED_E_NO_SECURITY_SERVICES", "security services unavailable"),
    0x80041313: ("SCHED_E_UNKNOWN_OBJECT_VERSION", "unsupported task version"),
    0x80041314: ("SCHED_E_UNSUPPORTED_ACCOUNT_OPTION", "unsupported account settings"),
    0x80041315: ("SCHED_E_SERVICE_NOT_RUNNING", "the Task Scheduler service is not running"),
    0x80041316: ("SCHED_E_UNEXPECTEDNODE", "the task XML has an unexpected element"),
    0x80041317: ("SCHED_E_NAMESPACE", "the task XML has an element from another namespace"),
    0x80041318: ("SCHED_E_INVALIDVALUE", "the task XML has an invalid value"),
    0x80041319: ("SCHED_E_MISSINGNODE", "the task XML misses a required element"),
    0x8004131A: ("SCHED_E_MALFORMEDXML", "the task XML is malformed"),
    0x0004131B: ("SCHED_S_SOME_TRIGGERS_FAILED", "registered, but some triggers will not start it"),
    0x0004131C: ("SCHED_S_BATCH_LOGON_PROBLEM", "registered, but the account lacks 'log on as a batch job'"),
    0x8004131D: ("SCHED_E_TOO_MANY_NODES", "too many elements of one kind"),
    0x8004131E: ("SCHED_E_PAST_END_BOUNDARY", "past the trigger's end boundary"),
    0x8004131F: ("SCHED_E_ALREADY_RUNNING", "already running"),
    0x80041320: ("SCHED_E_USER_NOT_LOGGED_ON", "the user is not logged on"),
    0x80041321: ("SCHED_E_INVALID_TASK_HASH", "the task image is corrupt or was tampered with"),
    0x80041322: ("SCHED_E_SERVICE_NOT_AVAILABLE", "the Task Scheduler service is not available"),
    0x80041323: ("SCHED_E_SERVICE_TOO_BUSY", "the Task Scheduler service is too busy"),
    0x80041324: ("SCHED_E_TASK_ATTEMPTED", "start attempted, but a condition prevented it"),
    0x00041325: ("SCHED_S_TASK_QUEUED", "queued"),
    0x80041326: ("SCHED_E_TASK_DISABLED", "the task is disabled"),
    0x80041327: ("SCHED_E_TASK_NOT_V1_COMPAT", "not compatible with Task Scheduler 1.0"),
    0x80041328: ("SCHED_E_START_ON_DEMAND", "the settings do not allow starting on demand"),
    0x80041329: ("SCHED_E_TASK_NOT_UBPM_COMPAT", "not compatible with the unified scheduling engine"),
    0x80041330: ("SCHED_E_DEPRECATED_FEATURE_USED", "uses a deprecated feature"),
    # Common Win32/NT codes seen as Last Result (schtasks prints them in decimal).
    0x800710E0: ("ERROR_REQUEST_REFUSED", "refused: usually an instance already running, or a condition not met"),
    0x800704DD: ("ERROR_NOT_LOGGED_ON", "the user is not logged on"),
    0x80070002: ("ERROR_FILE_NOT_FOUND", "the program was not found (check Command)"),
    0x80070569: ("ERROR_LOGON_TYPE_NOT_GRANTED", "the account lacks 'log on as a batch job'"),
    0xC000013A: ("STATUS_CONTROL_C_EXIT", "the process was ended (time limit or End)"),
}

SUCCESS = 0
NEVER_RUN = 0x00041303
RUNNING = 0x00041301


def normalize(value: int) -> int:
    """A result as an unsigned 32-bit value (schtasks prints some as negative)."""
    return value & 0xFFFFFFFF


def describe(value: int | None) -> str:
    """``running (0x41301 SCHED_S_TASK_RUNNING)``, ``success (0)``, ``exit code 2``."""
    if value is None:
        return "unknown"
    code = normalize(value)
    if code == SUCCESS:
        return "success (0)"
    if code in RESULTS:
        constant, meaning = RESULTS[code]
        return f"{meaning} (0x{code:X} {constant})"
    if code < 0x41300:
        return f"exit code {code} (0x{code:X})"
    return f"failed (0x{code:X})"


def ok(value: int | None) -> bool | None:
    """True for success and the informational states, False for failures, None if
    unknown or never run."""
    if value is None:
        return None
    code = normalize(value)
    if code == NEVER_RUN:
        return None
    return code == SUCCESS or (0x41300 <= code <= 0x41325 and code not in (0x41306,))
