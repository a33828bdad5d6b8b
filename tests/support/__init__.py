"""What the test modules share and that is not a test: the running service, configs, helpers.

Imported as ``support.<module>``: pytest's default ("prepend") import mode
puts tests/ on sys.path for the rootdir conftest.py and every test module
(tests/ has no __init__.py), so ``support`` is found beside them.

- paths: the repository root and the shipped example config;
- service: one real ``service.py serve`` process on a free loopback port;
- pox: Autodiscover POX request bodies and the schemas clients name;
- configs: TOML configs more than one test module runs against;
- app: the in-process Flask app on a real render (no process, no socket);
- nginx: the generated nginx site around a minimal nginx.conf;
- pki, isolation, tlsnet, thunderbird: throw-away CA, the loopback-only
  namespace, the TLS/DNS network real clients see, and the real Thunderbird.
"""
