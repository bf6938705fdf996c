"""The command line's client side: `supervisord-lite status | start | stop | run | logs ...`,
built on the Python client (clients/python), so there is one implementation of the protocol."""

from supervisord_lite.ctl.commands import add_commands, run_command

__all__ = ["add_commands", "run_command"]
