"""Writing config files: ``import`` from Mozilla's ISP database format, ``init``, and the safe write.

Owns the way back from documents to TOML and every write of a config
file (configfile.py: atomic, keeping mode, owner and symlinks).

May import: the vocabulary, config/, clientrules/.
"""
