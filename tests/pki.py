"""bench/nginx.py imports ``CA`` from here (it puts tests/ on sys.path); the CA lives in support/pki.py.

Delete this file once bench/ no longer imports from tests/.
"""

from __future__ import annotations

from support.pki import CA

__all__ = ["CA"]
