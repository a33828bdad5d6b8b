"""mailautoconf: ``python service.py serve|render|check``, or ``service:app`` for any WSGI server.

Importing this module starts nothing. The first access to ``service.app``
renders the config named by $MAILAUTOCONF_CONFIG (default
config/autoconfig.toml) into $MAILAUTOCONF_OUTPUT (default static_xml),
starts the watcher and returns the Flask app.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from mailautoconf import cli
from mailautoconf.serve import service as wiring
from mailautoconf.serve.logs import setup_logging

_app: Any = None
_app_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    global _app
    if name != "app":
        raise AttributeError(name)
    with _app_lock:
        if _app is None:
            setup_logging()
            config_path = os.environ.get("MAILAUTOCONF_CONFIG", wiring.DEFAULT_CONFIG)
            output_dir = os.environ.get("MAILAUTOCONF_OUTPUT", wiring.DEFAULT_OUTPUT)
            _app = wiring.build_service(config_path, output_dir).app
    return _app


if __name__ == "__main__":
    sys.exit(cli.main())
