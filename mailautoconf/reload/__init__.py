"""The chain load → check → render → publish → swap, and what sets it going.

pipeline.py runs the chain, at start and on every change, keeping the last
good render when a step fails; watch.py starts it when a config file
changes (inotify, with a poll for replaced folders and links); selfcheck.py
looks at the tree and the signing certificate between changes and repairs
what went wrong without an edit.

May import: the vocabulary, config/, clientrules/, render/, tree/, pacc/.
"""
