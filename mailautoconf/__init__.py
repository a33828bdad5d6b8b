"""mailautoconf: mail client auto-configuration for many domains from one TOML file.

The folders are the layers, in the order data flows through them; a layer
may import from the layers above it in this list, never from one below it,
and never in a circle (tests/test_layers.py holds the rule):

- the vocabulary, the modules at this level: ``model`` (frozen
  dataclasses), ``names``, ``problems``, ``files``, ``endpoints`` (every
  public path), ``dav``, ``paccspec``, ``dnsnames``, ``dnslookup``;
- ``config/``: TOML → the validated, immutable model;
- ``render/``: the model → the bytes each client is served (one module per
  format), and the signing of Apple profiles;
- ``clientrules/``: "valid, but client X refuses it";
- ``tree/``: the rendered tree on disk and in memory;
- ``pacc/``: the PACC digest in DNS and what keeps it true;
- ``reload/``: the chain load → render → publish → swap, the watcher, the self-check;
- ``serve/``, ``deploy/``, ``authoring/``: the running service; the DNS
  records, certificate names and nginx site; writing config files;
- ``probe/``: a live deployment checked the way each client checks it;
- ``cli``: argument parsing only; ``__main__`` runs it (``python -m mailautoconf``).

docs/architecture.md draws it.
"""
