"""The serving side: the Flask app and its views, waitress, metrics, logs, systemd.

web.py builds the app from one blueprint per protocol family
(autoconfig, autodiscover, mobileconfig, pacc, davredirect, webpage,
health, metrics), documents.py answers a rendered document (bytes, ETag,
304), answers.py holds the answers every view shares, wsgi.py and channel.py what sits
between waitress and the app, service.py wires the running service
together (pipeline, watchers, app, waitress, signals, sd_notify).

May import: everything below it: the vocabulary, config/, clientrules/,
render/, tree/, pacc/, reload/. Never deploy/, authoring/ or probe/.
"""
