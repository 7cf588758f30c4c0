"""The ``oxy`` command line. Exit codes are typed: see :class:`oxy.cli.main.ExitCode`."""
