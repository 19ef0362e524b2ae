"""Tasks a fresh emulated machine already has, outside any folder reconcile.py owns, so
that filtering to the root is always exercised: Windows' own tasks under
``\\Microsoft\\Windows\\``, a task in the root folder ``\\``, a folder whose name starts
like ``\\Orchestrator`` without being it, and a non-ASCII path (console encodings).

Written for the emulator in the style of the built-in tasks of a Windows 10 export
(shared/corpus/xml/137.xml): they go through the same registration rules as any other
task. ``SCHTASKS_EMULATOR_SEED=0`` starts with an empty machine instead."""
from __future__ import annotations

_HEAD = '<?xml version="1.0" encoding="UTF-16"?>\n'
_NS = 'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"'

SEEDS: tuple[tuple[str, str], ...] = (
    ("\\Microsoft\\Windows\\Defrag\\ScheduledDefrag", _HEAD + f"""<Task version="1.6" {_NS}>
  <RegistrationInfo>
    <Source>$(@%systemRoot%\\system32\\defragsvc.dll,-801)</Source>
    <Author>$(@%systemRoot%\\system32\\defragsvc.dll,-800)</Author>
    <Description>$(@%systemRoot%\\system32\\defragsvc.dll,-802)</Description>
  </RegistrationInfo>
  <Principals>
    <Principal id="LocalSystem">
      <UserId>S-1-5-18</UserId>
    </Principal>
  </Principals>
  <Settings>
    <AllowHardTerminate>false</AllowHardTerminate>
    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>
    <Hidden>true</Hidden>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <Priority>7</Priority>
    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>
    <MaintenanceSettings>
      <Period>P7D</Period>
      <Deadline>P1M</Deadline>
      <Exclusive>true</Exclusive>
    </MaintenanceSettings>
  </Settings>
  <Triggers />
  <Actions Context="LocalSystem">
    <Exec>
      <Command>%windir%\\system32\\defrag.exe</Command>
      <Arguments>-c -h -o -$</Arguments>
    </Exec>
  </Actions>
</Task>
"""),
    ("\\Microsoft\\Windows\\Time Synchronization\\SynchronizeTime", _HEAD + f"""<Task version="1.4" {_NS}>
  <RegistrationInfo>
    <Description>Maintains date and time synchronization.</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2008-01-01T01:00:00</StartBoundary>
      <ScheduleByWeek>
        <WeeksInterval>1</WeeksInterval>
        <DaysOfWeek>
          <Sunday />
        </DaysOfWeek>
      </ScheduleByWeek>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="LocalService">
      <UserId>LOCAL SERVICE</UserId>
    </Principal>
  </Principals>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>
  </Settings>
  <Actions Context="LocalService">
    <ComHandler>
      <ClassId>{{A31AB5F7-9B44-4F1E-8C63-6BB5E1C2D8F0}}</ClassId>
      <Data>SyncTime</Data>
    </ComHandler>
  </Actions>
</Task>
"""),
    ("\\Microsoft\\Windows\\WindowsUpdate\\Scheduled Start", _HEAD + f"""<Task version="1.4" {_NS}>
  <Principals>
    <Principal id="LocalSystem">
      <UserId>NT AUTHORITY\\SYSTEM</UserId>
    </Principal>
  </Principals>
  <Triggers>
    <EventTrigger>
      <Subscription>&lt;QueryList&gt;&lt;Query Id="0" Path="System"&gt;&lt;Select Path="System"&gt;*[System[Provider[@Name='Microsoft-Windows-Kernel-Power'] and EventID=42]]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription>
    </EventTrigger>
  </Triggers>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT5M</ExecutionTimeLimit>
  </Settings>
  <Actions Context="LocalSystem">
    <Exec>
      <Command>C:\\Windows\\system32\\sc.exe</Command>
      <Arguments>start wuauserv</Arguments>
    </Exec>
  </Actions>
</Task>
"""),
    # A user's own task in the root folder: no Principals, so the caller fills it in.
    ("\\OneDrive Reporting Task", _HEAD + f"""<Task version="1.2" {_NS}>
  <RegistrationInfo>
    <Author>Microsoft Corporation</Author>
  </RegistrationInfo>
  <Triggers>
    <TimeTrigger>
      <StartBoundary>2023-05-01T10:00:00</StartBoundary>
      <Repetition>
        <Interval>P1D</Interval>
      </Repetition>
      <RandomDelay>PT1H</RandomDelay>
    </TimeTrigger>
  </Triggers>
  <Actions>
    <Exec>
      <Command>%localappdata%\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe</Command>
      <Arguments>/reporting</Arguments>
    </Exec>
  </Actions>
</Task>
"""),
    # Starts like the default root \\Orchestrator\\ but is another folder.
    ("\\Orchestrator-old\\legacy", _HEAD + f"""<Task version="1.2" {_NS}>
  <Principals>
    <Principal id="Author">
      <UserId>SYSTEM</UserId>
    </Principal>
  </Principals>
  <Actions Context="Author">
    <Exec>
      <Command>C:\\legacy\\run.cmd</Command>
    </Exec>
  </Actions>
</Task>
"""),
    # Non-ASCII path and text: visible differences between console encodings.
    ("\\Café\\Sauvegarde nocturne", _HEAD + f"""<Task version="1.2" {_NS}>
  <RegistrationInfo>
    <Description>Sauvegarde du répertoire « Comptabilité »</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2024-01-01T23:30:00</StartBoundary>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
    </Principal>
  </Principals>
  <Actions Context="Author">
    <Exec>
      <Command>C:\\Outils\\sauvegarde.exe</Command>
      <Arguments>"D:\\Comptabilité" "E:\\Sauvegardes"</Arguments>
    </Exec>
  </Actions>
</Task>
"""),
)
