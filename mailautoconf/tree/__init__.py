"""The rendered tree: on disk (publish.py: versions, links, the lock, repair) and in memory (store.py).

Owns what a render becomes once it is kept: the folder per domain that
nginx can serve, written beside the old one and switched by links, and the
store the web layer reads its bytes from, swapped by reference.

May import: the vocabulary at the package's top level, render/.
"""
