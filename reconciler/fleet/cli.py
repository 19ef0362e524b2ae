"""The fleet's part of the command line: ``--inventory``/``--host`` on the per-host
commands, and the commands ``hosts``, ``fleet report|matrix`` and ``agent
install|uninstall|run``. Parsing only; ``fleet.commands`` does the work."""
from __future__ import annotations

import argparse
from typing import Callable

Command = Callable[[str, str], argparse.ArgumentParser]


def host_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", metavar="FILE",
                        help="an Ansible inventory (YAML, or ansible-inventory --list JSON): the tasks "
                             "of one of its hosts (README \"Fleet\")")
    parser.add_argument("--host", metavar="NAME",
                        help="the inventory host to act for (default: the one this machine is)")


def _inventory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", metavar="FILE", required=True,
                        help="an Ansible inventory (YAML, or ansible-inventory --list JSON)")


def add_commands(command: Command, nested: Callable[[argparse.ArgumentParser, str], Command]) -> None:
    """``command(name, help)`` makes a subcommand; ``nested(parser, dest)`` a factory for
    the subcommands of one."""
    hosts = command("hosts", "fleet: the inventory's hosts, groups, waves and task counts")
    _inventory(hosts)
    hosts.add_argument("--dir", default="tasks.d", help="manifest folder (default tasks.d)")
    hosts.add_argument("--format", choices=["text", "json"], default="text")

    fleet = command("fleet", "fleet: merge the hosts' plans and reports; the CI matrix")
    fleet_command = nested(fleet, "fleet_command")
    report = fleet_command("report", "one table of every host's saved plan or pull report; "
                                     "exit 1 if a host is missing, failing or stale")
    report.add_argument("sources", nargs="+", metavar="PLAN.json|DIR",
                        help="saved plans (plan --host H --out FILE) or agent reports, or folders of them")
    _inventory(report)
    report.add_argument("--format", choices=["text", "json", "markdown", "html"], default="text")
    report.add_argument("--stale", metavar="DURATION", default="2h",
                        help="a plan or report older than this is stale (default 2h)")
    report.add_argument("--out", metavar="FILE", help="write to this file instead of stdout")
    matrix = fleet_command("matrix", "the hosts as a GitHub Actions matrix (JSON, one line)")
    _inventory(matrix)
    matrix.add_argument("--wave", metavar="W", help="only the hosts of this wave (reconcile_wave)")
    matrix.add_argument("--allow-empty", action="store_true",
                        help='a wave without hosts is {"include": []} (exit 0), for a job that is then '
                             "skipped, instead of an error")
    matrix.add_argument("--waves", metavar="W,W", help="the waves the workflow has jobs for: exit 1 if a host "
                                                       "is in none of them (it would never be applied)")

    agent = command("agent", "pull mode: a scheduled task that fetches the repository and plans or applies")
    agent_command = nested(agent, "agent_command")
    install = agent_command("install", "register the agent's task (in \\ReconcileAgent\\, outside the root)")
    _agent_run_options(install)
    install.add_argument("--every", default="30m", metavar="DURATION", help="how often (default 30m)")
    install.add_argument("--splay", default="5m", metavar="DURATION",
                         help="a random delay up to this, so hosts do not all pull at once (default 5m)")
    install.add_argument("--python", metavar="EXE", help="the interpreter the task runs (default: this one)")
    agent_command("uninstall", "remove the agent's task")
    run = agent_command("run", "one pull now: fetch, plan or apply, write a report (what the task runs)")
    _agent_run_options(run)


def _agent_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, metavar="URL",
                        help="the repository to fetch (read-only); without a user name or token in it: a "
                             "private repository's credential comes from git's credential helper (Git "
                             "Credential Manager) of the task's account")
    parser.add_argument("--ref", required=True, metavar="REF",
                        help="the branch or tag to follow (a host's reconcile_ref wins)")
    parser.add_argument("--mode", choices=["monitor", "apply"], default="monitor",
                        help="monitor: plan and report; apply: apply and report (default monitor)")
    parser.add_argument("--inventory", default="inventory.yml", metavar="FILE",
                        help="the inventory, as a path inside the repository (default inventory.yml)")
    parser.add_argument("--host", metavar="NAME", help="the inventory host (default: this machine's)")
    parser.add_argument("--dir", default="tasks.d", help="the manifest folder inside the repository")
    parser.add_argument("--home", metavar="DIR",
                        help="the agent's folder: checkout and reports (default %%ProgramData%%\\reconcile\\agent)")
    parser.add_argument("--report", metavar="DIR", help="where each run's JSON report goes (default HOME\\reports)")
    hook = parser.add_mutually_exclusive_group()
    hook.add_argument("--webhook", metavar="URL",
                      help="also POST each report to this URL (stored in the task's arguments: a URL with a "
                           "token in it is refused by install; use one of the next two)")
    hook.add_argument("--webhook-from-env", metavar="VAR",
                      help="the webhook URL is in this environment variable of the task's account (for "
                           "SYSTEM: a machine-wide variable); only the name is stored in the task")
    hook.add_argument("--webhook-from-credential", metavar="TARGET",
                      help="the webhook URL is the password of this generic Windows Credential Manager entry "
                           "of the task's account; only the name is stored in the task")
    parser.add_argument("--secret", action="append", default=[], metavar="VAR=TARGET",
                        help="before apply, set VAR to the password of the Windows Credential Manager "
                             "entry TARGET (repeatable; for runAs password.fromEnv)")
