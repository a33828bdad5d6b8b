"""PACC at run time: the digest in DNS and what keeps it true.

digest.py computes the TXT record a domain's PACC document needs (also
used by deploy/ and probe/); guard.py notices which providers' digests a
reload changes; schedule.py paces the DNS look-ups; watch.py looks the
digests up in DNS and counts the stale ones for /healthz and /metrics.

May import: the vocabulary, render/, tree/.
"""
