"""Fleet: one repository for many machines. reconcile.py stays a single-host engine;
this package decides which tasks each host of an Ansible inventory receives
(``inventory``, ``targets``, ``hosts``), merges what the hosts report (``report``),
prints CI matrices (``matrix``) and sets up pull mode (``agent``). README "Fleet"."""
